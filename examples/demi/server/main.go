// Command server stands in for a DeMi service in the example (examples/demi)
// and in the registrator's tests: a static binary for an image FROM
// scratch that answers 200 on every path of every port it is given.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	ports := os.Args[1:]
	if len(ports) == 0 {
		ports = []string{"8000"}
	}
	errs := make(chan error)
	for _, p := range ports {
		go func() {
			errs <- http.ListenAndServe(":"+p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "demiserver port %s path %s\n", p, r.URL.Path)
			}))
		}()
	}
	fmt.Fprintln(os.Stderr, <-errs)
	os.Exit(1)
}
