// Command roster is a peer-to-peer service registry: every machine runs the
// same daemon (`roster agent`) and the same binary drives it from the shell.
package main

import (
	"os"

	"github.com/rosterhq/roster/cli"
)

func main() {
	os.Exit(cli.Execute())
}
