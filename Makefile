# Roster: build, run, test and benchmark.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rosterhq/roster/cli.Version=$(VERSION)
# gin links a MessagePack binding (ugorji/go/codec) that Roster never uses:
# 6 MB of code, resident in every agent (the kernel maps the whole binary).
# gin's nomsgpack tag leaves it out. Exported, so that the binaries the
# tests and the bench build with `go build` are the same as bin/roster.
override GOFLAGS := $(strip $(GOFLAGS) -tags=nomsgpack)
export GOFLAGS

.PHONY: build etcdload image demi-image run dev test fuzz bench chaos fmt

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/roster .

# The etcd side of `make bench`, beside bin/roster (its own module).
etcdload:
	cd bench/etcdload && $(GO) build -o ../../bin/etcdload .

# The container image roster:latest (and roster:VERSION) from the static
# binary, FROM scratch: nothing is pulled. `docker-compose up -d` then
# starts a three-node cluster (compose.yaml).
image:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/roster-static .
	docker build -t roster:latest -t roster:$(VERSION) .

# The DeMi example's stand-in service (examples/demi): FROM scratch.
demi-image:
	CGO_ENABLED=0 $(GO) build -o examples/demi/server-bin ./examples/demi/server
	docker build -t roster-demi-example:latest examples/demi

# Three agent processes on loopback, node1 on the default 127.0.0.1:11337;
# Ctrl-C stops them, their data stays in ~/.local/state/roster-testcluster.
# (A lone `./bin/roster agent` is a working single-node cluster too.)
run: build
	./bin/roster testcluster up --nodes 3

# A throwaway single-node cluster: loopback only, data removed on exit.
dev: build
	./bin/roster agent --dev

# Unit and cluster tests with the race detector (the short chaos campaign
# and the container suite included), then a few seconds of every fuzz target.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz

# Every decoder of outside input, fuzzed for FUZZTIME each; crashers land in
# the package's testdata/fuzz and are kept as seed corpus.
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target
# with "context deadline exceeded" when a duration runs out while a worker
# is mid-input (golang/go#75804, fixed in Go 1.27); a count has no
# deadline. 10000x is a few seconds per target on 2 cores.
FUZZTIME ?= 10000x
FUZZ_TARGETS := fsm:FuzzApplyCommand fsm:FuzzRestore fsm:FuzzFastDecodeAgreesWithTheCodec gossip:FuzzDecodeMsg \
	httpapi:FuzzRegisterBody httpapi:FuzzStatusBatchBody cli:FuzzLoadDefinitions
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/ ; \
	done

# One table: a 3-node process cluster on loopback, medians of repeated runs,
# next to this disk's fsync ceiling, and rows beside a three-member etcd
# cluster (Debian's etcd-server, installed here when missing; the rows say
# so when it cannot be) loaded by its own Go client (bench/etcdload, a
# module of its own: the roster binary does not link etcd). About 10-15
# minutes on 2 cores.
bench: build etcdload
	@command -v etcd >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; } \
		|| echo "bench: etcd-server is not installed and could not be (apt-get install etcd-server as root): the etcd rows are skipped"
	./bin/roster bench suite
	$(GO) test -run '^$$' -bench . -benchmem ./fsm/
	$(GO) test -run '^$$' -bench BenchmarkWebUIAtScale -benchtime 1x -timeout 10m ./testcluster/

# A long randomized fault campaign on in-process clusters: rounds of ROUND,
# one seed each from SEED, until DURATION; prints a summary table.
# make chaos SEED=100 DURATION=30m [ROUND=2m NODES=5 CLIENTS=4 GOFLAGS=-race]
# (NODES servers and CLIENTS client agents a round)
SEED     ?= 1
DURATION ?= 10m
ROUND    ?= 2m
NODES    ?= 3
CLIENTS  ?= 2
chaos:
	$(GO) test -count=1 -timeout 0 -run '^TestChaosCampaign$$' -v ./testcluster/ \
		-chaos.seed=$(SEED) -chaos.duration=$(DURATION) -chaos.round=$(ROUND) -chaos.nodes=$(NODES) -chaos.clients=$(CLIENTS)

fmt:
	gofmt -w $$(git ls-files '*.go')
