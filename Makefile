# statelite: `make run` serves a demo cluster on loopback; `make test` runs every test.
GO      ?= go
BIN     := bin/statelite
DEMO    ?= demo

.PHONY: build run deps test test-fresh-debian vet bench bench-nfs e2e-debian bench-all clean

# statelite version names the commit and its date (the build may have no VCS stamping).
LDFLAGS := -X statelite/internal/version.Commit=$(shell git rev-parse --short=12 HEAD 2>/dev/null) \
	-X statelite/internal/version.Date=$(shell git log -1 --format=%cI 2>/dev/null)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/statelite

# A demo already in $(DEMO) is reused with its edits (the demo says so); FRESH=1 builds it anew.
run: build
	./$(BIN) demo --dir $(DEMO) $(if $(FRESH),--fresh) --serve 127.0.0.1:20490

# gofmt, go vet and staticcheck (honnef.co/go/tools, a tool of go.mod), for every
# architecture we build for: linux/amd64, arm64 and ppc64le.
ARCHES ?= amd64 arm64 ppc64le

vet:
	gofmt -l . | tee /dev/stderr | (! read _)
	$(GO) build -o bin/staticcheck honnef.co/go/tools/cmd/staticcheck
	@set -e; for a in $(ARCHES); do echo "vet, staticcheck: linux/$$a"; \
		GOOS=linux GOARCH=$$a $(GO) vet ./...; GOOS=linux GOARCH=$$a bin/staticcheck ./...; done

# make test sets itself up: scripts/test-deps.sh installs the packages the tests need (as
# root on Debian/Ubuntu) or names the missing ones and stops. Under make test a test that
# needs a real part (a tool, root, FUSE, PostgreSQL) fails instead of skipping
# (STATELITE_TEST_STRICT=1, internal/need).
deps:
	bash scripts/test-deps.sh

# The same in a fresh Debian 12 root (debootstrap, chroot; root; ~30 min): a manual
# check that make test sets up a new machine by itself. Not part of CI.
test-fresh-debian:
	bash scripts/test-fresh-debian.sh

test: deps vet
	STATELITE_TEST_STRICT=1 $(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)
	STATELITE_TEST_STRICT=1 $(GO) test -count=1 -p 1 -timeout 30m ./e2e/...
	@if [ -n "$$CI" ] && [ "$$CI" != false ]; then $(MAKE) fuzz FUZZBUDGET=180s; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./tables ./resolver

# Fuzzing, not part of test (which runs the seed corpora; under CI it fuzzes for 3
# minutes): every target in turn for FUZZTIME each, or a total
# FUZZBUDGET (seconds, or minutes with m) split evenly over them: make fuzz FUZZBUDGET=180s.
# One fuzzing process at a time (-parallel 1), new inputs minimized for 1 s at most (the
# image targets spent whole runs minimizing); the corpus found stays in the Go cache,
# crashers land in the package's testdata/fuzz/<target>/ (keep them: go test runs them).
# scripts/fuzz.sh runs them and tells Go 1.26's end-of-fuzztime race from a failure.
FUZZTIME     ?= 60s
FUZZBUDGET   ?=
FUZZ_TARGETS := ./nfsd:FuzzRecordReader ./nfsd:FuzzNFSArgs ./tables:FuzzParse ./tables:FuzzNoderange ./tables:FuzzTemplate \
	./boot:FuzzRender ./boot:FuzzDHCP ./image:FuzzImport ./image:FuzzApplyLayer

.PHONY: fuzz
fuzz:
	@set -e; targets="$(FUZZ_TARGETS)"; n=$$(echo $$targets | wc -w); t="$(FUZZTIME)"; \
	if [ -n "$(FUZZBUDGET)" ]; then \
		b="$(FUZZBUDGET)"; case "$$b" in *m) b=$$(( $${b%m} * 60 ));; *s) b=$${b%s};; esac; \
		t="$$(( b / n > 0 ? b / n : 1 ))s"; \
	fi; \
	GO="$(GO)" bash scripts/fuzz.sh "$$t" $$targets

# Side by side with nfs-ganesha 4.3 over NFSv3, libnfs client (root; installs nfs-ganesha,
# nfs-ganesha-vfs, rpcbind and libnfs-utils with apt-get when missing). Not part of test.
# Results: bench/results.md. Flags for the harness: make bench-nfs NFSBENCH_FLAGS='-n 5'.
bench-nfs:
	bash bench/ganesha/run.sh $(NFSBENCH_FLAGS)

# Images (issue 9), not part of test: it takes minutes. As root: statelite genimage
# debootstraps a Debian 12 image from Debian's mirror, and qemu (TCG) PXE-boots it through
# our TFTP and NFS servers to the image's systemd. Needs debootstrap, qemu-system-x86,
# ipxe-qemu, pxelinux, syslinux-common (.ci/run installs them). STATELITE_E2E_DIR=DIR keeps
# the image (a second run updates it instead of bootstrapping again).
e2e-debian:
	STATELITE_E2E_DEBIAN=1 $(GO) test -count=1 -run TestE2EDebianPXE -timeout 30m -v ./image

# Everything of bench/ from one command (root; installs what it needs with apt-get):
# boot storms of 10, 100 and 1,000 nodes replaying a recorded qemu boot, idle-node
# memory, a litetree change under load, throughput against nfs-ganesha; report and SVG
# plots in bench/results/. BENCH_RECORD=1 records the boot again under qemu first.
bench-all:
	bash bench/run.sh

clean:
	rm -rf bin dist $(DEMO)

# Packages (issue 18, docs/packaging.md): a .deb and an .rpm for each of $(ARCHES) in
# $(DIST)/, built by packaging/main.go (cross-compiled, static; nfpm as a library: no tool
# to install). PACKAGE_VERSION=1.2.0 sets the version (default: from git describe --tags).
DIST    ?= dist
PACKAGE_VERSION ?=

.PHONY: package
package:
	$(GO) run ./packaging -out $(DIST) -arch "$(ARCHES)" $(if $(PACKAGE_VERSION),-version $(PACKAGE_VERSION))
