package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestBuildBodyFollowsTheSeedRules(t *testing.T) {
	body, err := buildBody([][2]string{
		{"url", "http://user-service:8080"}, {"port", "443"}, {"ok", "true"}, {"ratio", "0.5"},
		{"tags", `["dev", "user-service"]`}, {"definition", `{"id": "my-svc", "image": {"name": "nginx:latest", "internalPorts": [80]}}`},
		{"a.b.c", "x"}, {"id", "5"}, {"id", "6"}, {"name", "0x10"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(body)
	want := `{"a":{"b":{"c":"x"}},"definition":{"id":"my-svc","image":{"internalPorts":[80],"name":"nginx:latest"}},"id":[5,6],"name":"0x10","ok":true,"port":443,"ratio":0.5,"tags":["dev","user-service"],"url":"http://user-service:8080"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	solo, err := buildBody([][2]string{{"tags", "solo"}, {"url", "http://a:1"}})
	if b, _ := json.Marshal(solo); err != nil || string(b) != `{"tags":["solo"],"url":"http://a:1"}` {
		t.Fatalf("a single tag is a one-element list: %s %v", b, err)
	}
	if _, err := buildBody([][2]string{{"x", "{not json"}}); err == nil {
		t.Fatal("accepted broken JSON literal")
	}
	if _, err := buildBody([][2]string{{"a", "1"}, {"a.b", "2"}}); err == nil {
		t.Fatal("accepted a key that is both a value and an object")
	}
}

func TestApplyEnvValidatesLikeFlags(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	voters := fs.Int("voters", 3, "")
	join := fs.StringArray("join", nil, "")
	region := fs.String("region", "", "")
	t.Setenv("ROSTER_VOTERS", "5")
	t.Setenv("ROSTER_JOIN", "a:1, b:2")
	t.Setenv("OB_REGION", "us-east-1")
	if err := applyEnv(fs); err != nil || *voters != 5 || len(*join) != 2 || (*join)[1] != "b:2" || *region != "us-east-1" {
		t.Fatalf("%v %d %v %q", err, *voters, *join, *region)
	}
	t.Setenv("ROSTER_VOTERS", "many")
	fs2 := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs2.Int("voters", 3, "")
	if err := applyEnv(fs2); err == nil || !strings.Contains(err.Error(), "ROSTER_VOTERS") {
		t.Fatalf("bad env accepted or unnamed: %v", err)
	}
}

func TestUsageAndUnreachableExitCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{
		{"instances", "ls", "extra"}, {"frobnicate"}, {"instances", "frobnicate"}, {"nodes", "frob", "x"},
		{"status", "--bogus"}, {"instances", "set-status"}, {"nodes", "ls", "-o", "xml"}, {"bench", "--clients", "0"},
	} {
		errOut.Reset()
		if code := Run(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "Usage:") {
			t.Fatalf("%q: exit %d, %q", args, code, errOut.String())
		}
	}
	out.Reset()
	if code := Run(context.Background(), []string{"instances"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "Available Commands") {
		t.Fatalf("a group without a subcommand should print its help: exit %d, %q", code, out.String())
	}
	errOut.Reset()
	code := Run(context.Background(), []string{"--addr", "http://127.0.0.1:1", "status"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "cannot reach the node at http://127.0.0.1:1") || strings.Contains(errOut.String(), "goroutine") {
		t.Fatalf("unreachable: exit %d, %q", code, errOut.String())
	}
}

// Text from the cluster never splits a table row or shifts its columns.
func TestTableCellsEscapeControlCharacters(t *testing.T) {
	for in, want := range map[string]string{"": "-", "plain": "plain", "a\nb": `a\nb`, "x\ty": `x\ty`, "\x1b[2J": `\x1b[2J`} {
		if got := dash(in); got != want {
			t.Errorf("dash(%q) = %q, want %q", in, got, want)
		}
	}
}

// Local inputs over a node's limits are refused by the CLI with what is
// wrong, before anything is sent or a whole file is read: a value piped in
// past 512 KiB (the node would be sent the limit and one byte, and name
// that length), a file far larger than any backup.
func TestOversizedLocalInputsAreRefusedBeforeSending(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.Write(make([]byte, 600<<10))
		w.Close()
	}()
	stdin := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = stdin }()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"--addr", "http://127.0.0.1:1", "kv", "put", "k", "-"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "standard input holds more than 524288 bytes") {
		t.Fatalf("a 600 KiB value: exit %d, %q", code, errOut.String())
	}

	f := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(f, make([]byte, 101), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readUpTo(f, 100); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Fatalf("101 bytes against 100: %v", err)
	}
	if b, err := readUpTo(f, 101); err != nil || len(b) != 101 {
		t.Fatalf("101 bytes against 101: %d %v", len(b), err)
	}
}

// A --dns that is not a host name is refused before a certificate is
// written: it would be written into it and fail only when a client
// connects. Names, wildcards and the IP flag pass.
func TestACertificateTakesOnlyHostNames(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"tls", "ca", "create", "--dir", dir}, &out, &errOut); code != 0 {
		t.Fatalf("ca create: exit %d %s", code, errOut.String())
	}
	for dns, says := range map[string]string{
		"https://node1.example.com:8443": "not a DNS name",
		"bad name!":                      "not a DNS name",
		"node1.example.com:8443":         "not a DNS name",
		"-lead.example.com":              "not a DNS name",
		"10.0.0.5":                       "give it with --ip",
	} {
		errOut.Reset()
		code := Run(context.Background(), []string{"tls", "cert", "create", "--dir", dir, "--node-id", "node1", "--dns", dns}, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), says) {
			t.Errorf("--dns %q: exit %d %q, want %s", dns, code, errOut.String(), says)
		}
		if _, err := os.Stat(filepath.Join(dir, "node1.pem")); err == nil {
			t.Fatalf("--dns %q: a certificate was written", dns)
		}
	}
	errOut.Reset()
	if code := Run(context.Background(), []string{"tls", "cert", "create", "--dir", dir, "--node-id", "node1",
		"--dns", "node1.example.com", "--dns", "*.roster.example", "--ip", "10.0.0.5"}, &out, &errOut); code != 0 {
		t.Fatalf("good names: exit %d %s", code, errOut.String())
	}
}

// An --allow-origin that no browser's Origin header can equal is refused:
// it would be kept and silently match nothing.
func TestAnAllowedOriginIsAnOrigin(t *testing.T) {
	for _, o := range []string{"*", "ui.example.com", "not a url", "https://ui.example.com/app", "https://ui.example.com?x=1", "ftp://ui.example.com", "https://user@ui.example.com"} {
		if got, err := parseOrigin(o); err == nil {
			t.Errorf("%q accepted as %q", o, got)
		}
	}
	for o, want := range map[string]string{"https://ui.example.com": "https://ui.example.com", "http://localhost:3000/": "http://localhost:3000",
		"https://ui.example.com:443": "https://ui.example.com", "http://[::1]:80/": "http://[::1]", "https://ui.example.com:8443": "https://ui.example.com:8443"} {
		if got, err := parseOrigin(o); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", o, got, err, want)
		}
	}
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"agent", "--data-dir", t.TempDir(), "--insecure", "--allow-origin", "https://ui.example.com/app"}, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), `--allow-origin "https://ui.example.com/app"`) {
		t.Fatalf("exit %d %q", code, errOut.String())
	}
}
