# tether — cluster heartbeat and interconnect health agent.
#
#   make demo    build, run a 3-node / 2-network cluster in network
#                namespaces, pull a cable, show what tetherstat says (root)
#   make test    every test: lint, unit, fuzz seeds, end-to-end (root for e2e)
#   make bench   benchmarks (detection latency, time to name every reason,
#                CPU, frame cost, tcp channel, messages, the simulator of
#                large clusters, 64 real agents); see docs/BENCHMARKS.md
#   make fuzz    run every fuzz target for FUZZTIME each
#   make failover-suite  the Jepsen-style failover suite, SUITE_TRIALS
#                trials of every fault per driver (make test runs one);
#                results in bench/results/failover-suite.jsonl

SHELL     := /bin/bash
GO        ?= go
BIN       := $(CURDIR)/bin
TOOLS     := $(CURDIR)/bin/tools
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/tether-ha/tether/agent.Version=$(VERSION)
FUZZTIME  ?= 30s
SUITE_TRIALS ?= 20
SUITE_FLAGS  ?=
STATICCHECK_VERSION := v0.8.2
export GOFLAGS := -buildvcs=false

.PHONY: all build deps tools lint unit e2e test demo bench fuzz clean install deb failover-suite

all: build

build:
	$(GO) build $(BUILDFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

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

# Install in FHS paths under DESTDIR: binaries, the systemd unit, the
# example configuration (as /etc/tether/tether.yaml unless one is there),
# the Prometheus alert rules, the Grafana dashboard, the Wireshark
# dissector and the documentation.
DESTDIR   ?=
UNITDIR   ?= /lib/systemd/system
install: build
	install -d $(DESTDIR)/usr/sbin $(DESTDIR)/usr/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/tether \
	  $(DESTDIR)/usr/share/doc/tether/examples $(DESTDIR)/usr/share/tether/wireshark \
	  $(DESTDIR)/usr/share/tether/prometheus $(DESTDIR)/usr/share/tether/grafana
	install -m 0755 $(BIN)/tetherd $(DESTDIR)/usr/sbin/tetherd
	install -m 0755 $(BIN)/tetherstat $(BIN)/tetherctl $(DESTDIR)/usr/bin/
	install -m 0644 contrib/systemd/tetherd.service $(DESTDIR)$(UNITDIR)/tetherd.service
	[ -e $(DESTDIR)/etc/tether/tether.yaml ] || install -m 0644 contrib/examples/tether.yaml $(DESTDIR)/etc/tether/tether.yaml
	install -m 0644 contrib/examples/*.yaml $(DESTDIR)/usr/share/doc/tether/examples/
	install -m 0644 contrib/wireshark/tether.lua $(DESTDIR)/usr/share/tether/wireshark/
	install -m 0644 contrib/prometheus/tether.rules.yml $(DESTDIR)/usr/share/tether/prometheus/
	install -m 0644 contrib/grafana/tether.json $(DESTDIR)/usr/share/tether/grafana/
	install -m 0644 README.md docs/EVENTS.md docs/METRICS.md $(DESTDIR)/usr/share/doc/tether/

# A Debian package in $(DEBDIR) (default bin/): make install into a staging
# tree with stripped position-independent binaries (built in bin/debbin),
# plus the maintainer scripts, the copyright file and a changelog;
# /etc/tether/tether.yaml is a conffile.
DEBDIR     ?= $(BIN)
DEBVERSION ?= 0.0.0+git$(shell git rev-parse --short HEAD 2>/dev/null || echo 0)
deb:
	rm -rf $(BIN)/deb && mkdir -p $(BIN)/deb/DEBIAN $(DEBDIR)
	$(MAKE) --no-print-directory install DESTDIR=$(BIN)/deb BIN=$(BIN)/debbin BUILDFLAGS=-buildmode=pie LDFLAGS='$(LDFLAGS) -s -w'
	install -m 0644 contrib/debian/copyright $(BIN)/deb/usr/share/doc/tether/copyright
	sed -e 's/@VERSION@/$(DEBVERSION)/' -e "s/@DATE@/$$(date -R)/" contrib/debian/changelog.in | gzip -9n > $(BIN)/deb/usr/share/doc/tether/changelog.gz
	gzip -9n $(BIN)/deb/usr/share/doc/tether/README.md $(BIN)/deb/usr/share/doc/tether/EVENTS.md $(BIN)/deb/usr/share/doc/tether/METRICS.md
	install -m 0755 contrib/debian/postinst contrib/debian/prerm contrib/debian/postrm $(BIN)/deb/DEBIAN/
	echo /etc/tether/tether.yaml > $(BIN)/deb/DEBIAN/conffiles
	glibc=$$(objdump -T $(BIN)/deb/usr/sbin/tetherd $(BIN)/deb/usr/bin/* | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 | cut -d_ -f2); \
	sed -e 's/@VERSION@/$(DEBVERSION)/' -e "s/@ARCH@/$$(dpkg --print-architecture)/" -e "s/@GLIBC@/$$glibc/" \
	  -e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(BIN)/deb | cut -f1)/" contrib/debian/control.in > $(BIN)/deb/DEBIAN/control
	dpkg-deb --root-owner-group --build $(BIN)/deb $(DEBDIR)/tether_$(DEBVERSION)_$$(dpkg --print-architecture).deb

# Benchmarks (root; about 70 minutes). Pass flags to the programs with
# DETECT_FLAGS, REASONS_FLAGS, TCP_FLAGS, OPERATE_FLAGS and MIRROR_FLAGS,
# e.g. make bench TCP_FLAGS='-only msg -count 500' MIRROR_FLAGS='-gib 0.25'.
bench: build
	./.ci/deps --bench
	mkdir -p bench/results
	set -o pipefail; $(GO) test -run='^$$' -bench=. -benchmem -count=5 ./llt/ | tee bench/results/codec.txt
	$(GO) run ./bench/detect -bin $(BIN) -out bench/results $(DETECT_FLAGS)
	$(GO) run ./bench/reasons -bin $(BIN) -out bench/results $(REASONS_FLAGS)
	$(GO) run ./bench/tcp -bin $(BIN) -out bench/results $(TCP_FLAGS)
	$(GO) run ./bench/operate -bin $(BIN) -out bench/results $(OPERATE_FLAGS)
	$(GO) run ./bench/mirror -bin $(BIN) -out bench/results $(MIRROR_FLAGS)
	set -o pipefail; $(GO) run ./bench/sim -codec=false -out bench/results/sim.json $(SIM_FLAGS) | tee bench/results/sim.md

# The suite without the race detector (its timings are the benchmark's);
# SUITE_FLAGS, e.g. SUITE_FLAGS='-suite.drivers=redis -suite.faults=kill,pause'.
failover-suite: build
	./.ci/deps
	mkdir -p bench/results
	rm -f bench/results/failover-suite.jsonl
	TETHER_BIN_DIR=$(BIN) TETHER_PERF_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 6h -v -run '^TestFailoverSuite$$' ./e2e/ \
	  -args -suite.trials=$(SUITE_TRIALS) -suite.out=$(CURDIR)/bench/results/failover-suite.jsonl $(SUITE_FLAGS)
	$(GO) run ./bench/suitereport bench/results/failover-suite.jsonl

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf $(BIN) e2e.log
