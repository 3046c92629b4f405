# orgsync. The two commands a new checkout needs: `make demo` and `make test`.
GO      ?= go
BIN     := bin/orgsync
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: all build test test-short lint fmt vet bench demo fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/orgsync

# Everything: formatting, vet, then every test with the race detector,
# including the integration tests against real slapd, Samba AD DC and the
# WeCom emulator over HTTP. ORGSYNC_REQUIRE_SERVERS=1 (set by .ci/run) turns a
# missing server binary into a failure instead of a skip.
test: lint
	$(GO) test -race -count=1 -timeout 40m $(PKGS)

# Unit tests only (integration tests that need slapd or Samba are skipped).
test-short:
	$(GO) test -short -count=1 $(PKGS)

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# Speed and memory targets live here, never in timed unit tests.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m $(PKGS)

# A short fuzz run of every parser; FUZZTIME=5m for a longer one.
FUZZTIME ?= 20s
fuzz:
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$t/*_test.go | sed 's/func //'); do \
	    echo "== $$t $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$t || exit 1; \
	  done; done

demo: build
	./scripts/demo.sh

clean:
	rm -rf bin

# .deb and .rpm packages in dist/ (binary, systemd unit, example config as a
# conffile, state directory), built with nfpm through the Go module proxy.
# nfpm is pinned to v2.43.0: later releases need modules (go.digitalxero.dev)
# the public proxy does not serve.
NFPM_VERSION ?= v2.43.0
NFPM         ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
PKG_ARCH     ?= $(shell $(GO) env GOARCH)
# Versions sort in commit order (deploy/nfpm/version.sh): an upgrade is never
# a downgrade, and a snapshot (0.0.0~git<time>.<hash>) is older than any release.
PKG_VERSION  ?= $(shell ./deploy/nfpm/version.sh)
PKG_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
PKG_FORMATS  ?= deb rpm

.PHONY: package
# The packaged binary reports the package's version and commit
# (orgsync version, orgsync_build_info).
package: LDFLAGS = -s -w -X main.version=$(PKG_VERSION) -X main.revision=$(PKG_REVISION)
package: build
	mkdir -p dist
	rm -rf dist/docs && $(BIN) gen-docs --out dist/docs >/dev/null
	gzip -9nf dist/docs/man/man1/*.1
	gzip -9nc deploy/nfpm/changelog > dist/docs/changelog.gz
	for f in $(PKG_FORMATS); do \
	  PKG_VERSION='$(PKG_VERSION)' PKG_ARCH='$(PKG_ARCH)' $(NFPM) package -f deploy/nfpm/nfpm.yaml -p $$f -t dist/ || exit 1; \
	done

# The proof harness of issue 9 (see RELIABILITY.md): the full form of
# ./reliability (20 real SIGKILLs, chaos, faulty sources with real slapd,
# the bad-input corpus, the secret scan), then every fuzz target for
# RELIABILITY_FUZZTIME each (as `make fuzz`), then govulncheck, which needs vuln.go.dev (a
# machine that cannot reach it says so and the target goes on).
# `make test` runs the short form of ./reliability with the other packages.
RELIABILITY_FUZZTIME ?= 20s
.PHONY: reliability
reliability:
	@rc=0; \
	ORGSYNC_RELIABILITY=full ORGSYNC_REQUIRE_SERVERS=$${ORGSYNC_REQUIRE_SERVERS:-1} \
	  $(GO) test -count=1 -v -timeout 40m ./reliability/ || rc=1; \
	for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$t/*_test.go | sed 's/func //'); do \
	    echo "== $$t $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(RELIABILITY_FUZZTIME) $$t || rc=1; \
	  done; done; \
	$(GO) run golang.org/x/vuln/cmd/govulncheck@latest ./... || \
	  echo "govulncheck failed or found something (it needs https://vuln.go.dev); see RELIABILITY.md"; \
	exit $$rc
