# Roster: build, run, test and benchmark.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rosterhq/roster/cli.Version=$(VERSION)

.PHONY: build run test bench fmt

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/roster .

# A single agent with no flags is a working single-node cluster; its data
# lives in ~/.local/state/roster and survives restarts.
run: build
	./bin/roster agent

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./fsm/

fmt:
	gofmt -w $$(git ls-files '*.go')
