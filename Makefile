# Roster: build, run, test and benchmark.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rosterhq/roster/cli.Version=$(VERSION)

.PHONY: build run test bench fmt

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/roster .

# Three agent processes on loopback, node1 on the default 127.0.0.1:11337;
# Ctrl-C stops them, their data stays in ~/.local/state/roster-testcluster.
# (A lone `./bin/roster agent` is a working single-node cluster too.)
run: build
	./bin/roster testcluster up --nodes 3

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# One table: a 3-node process cluster on loopback, medians of repeated runs,
# next to this disk's fsync ceiling (about 5-10 minutes on 2 cores).
bench: build
	./bin/roster bench suite
	$(GO) test -run '^$$' -bench . -benchmem ./fsm/

fmt:
	gofmt -w $$(git ls-files '*.go')
