# tether — cluster heartbeat and interconnect health agent.
#
#   make demo    build, run a 3-node / 2-network cluster in network
#                namespaces, pull a cable, show what tetherstat says (root)
#   make test    every test: lint, unit, fuzz seeds, end-to-end (root for e2e)
#   make bench   benchmarks (detection latency, time to name every reason,
#                CPU, frame cost, tcp channel, messages); see docs/BENCHMARKS.md
#   make fuzz    run every fuzz target for FUZZTIME each

SHELL     := /bin/bash
GO        ?= go
BIN       := $(CURDIR)/bin
TOOLS     := $(CURDIR)/bin/tools
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/tether-ha/tether/agent.Version=$(VERSION)
FUZZTIME  ?= 30s
STATICCHECK_VERSION := v0.8.2
export GOFLAGS := -buildvcs=false

.PHONY: all build deps tools lint unit e2e test demo bench fuzz clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# System packages the end-to-end tests and the demo need (installed when
# missing and running as root), and the Go modules.
deps:
	./.ci/deps
	$(GO) mod download

tools:
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

# Unit tests (race detector on), fuzz seed corpora included.
unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

# End-to-end tests: real tetherd processes in network namespaces. They need
# root; under CI=true they fail instead of skipping. tetherd is built with
# the race detector and dies on the first race (GORACE=halt_on_error=1), so
# a data race in the agent fails the test that provoked it. Tests whose
# outcome depends on speed (a flood) run the normal build.
e2e: build
	$(GO) build -race -ldflags '$(LDFLAGS)' -o $(BIN)/race/ ./cmd/...
	GORACE=halt_on_error=1 TETHER_BIN_DIR=$(BIN)/race TETHER_PERF_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 40m -v ./e2e/

test: deps lint unit e2e

demo: build
	$(GO) run ./testbed/demo -bin $(BIN)

# Benchmarks (root; about 40 minutes). Pass flags to the programs with
# DETECT_FLAGS, REASONS_FLAGS and TCP_FLAGS, e.g. make bench TCP_FLAGS='-only msg -count 500'.
bench: build
	mkdir -p bench/results
	set -o pipefail; $(GO) test -run='^$$' -bench=. -benchmem -count=5 ./llt/ | tee bench/results/codec.txt
	$(GO) run ./bench/detect -bin $(BIN) -out bench/results $(DETECT_FLAGS)
	$(GO) run ./bench/reasons -bin $(BIN) -out bench/results $(REASONS_FLAGS)
	$(GO) run ./bench/tcp -bin $(BIN) -out bench/results $(TCP_FLAGS)

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf $(BIN) e2e.log
