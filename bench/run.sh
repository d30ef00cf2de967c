#!/usr/bin/env bash
# make bench-all: every benchmark of bench/ from one command (as root), bounded in time.
#   1. (BENCH_RECORD=1 only) record a real boot again: Debian's kernel under qemu (TCG)
#      boots a node's root from `statelite serve --record` (go run ./bench record) into
#      bench/testdata/boot-trace.jsonl; otherwise the committed trace is used
#   2. throughput against nfs-ganesha 4.3: read/write 200 MiB, list and stat 5,000 entries
#      through (a) a node view with the Cookbook's litefile, (b) a single-row litefile,
#      ganesha, with libnfs and a Go client (bench/cmd/nfsbench, in a private netns)
#   3. boot storms: the trace replayed from 10, 100 and 1,000 nodes at once, the memory of
#      1,000 idle nodes, a litetree change during a 100-node storm (go run ./bench storm)
#   4. the whole cluster (BENCH_CLUSTER=0 skips it): 10,000 nodes in the tables, storms of
#      1,000 and 10,000 of them against a cold server, a server restarted on the handle log
#      the 10,000 left, a litetree change during a 10,000-node storm (bench/results/cluster/)
#   5. bench/results/report.md and the SVG plots (go run ./bench report)
#   6. (BENCH_SYSTEMD=0 skips it) a systemd boot storm: `statelite genimage` builds a
#      Debian 12 image with debootstrap (kept in $BENCH_WORK/debian for the next run),
#      a real boot of it under qemu (its own kernel, our initrd, systemd) is recorded
#      through `serve --record`, and replayed from 10, 100 and 1,000 nodes at once
#      (bench/results/systemd/); skipped with a message when the image cannot be built
# Installs the Debian packages it needs with apt-get when missing (as CI does).
# Flags: BENCH_STORM_FLAGS (e.g. '-n 10,100'), BENCH_RUNS (nfsbench runs, default 9),
# BENCH_OUT (default bench/results), BENCH_WORK (default /tmp/statelite-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

if [ "$(id -u)" != 0 ]; then
	echo "bench-all: must run as root (namespaces, tmpfs, rpcbind; the server chowns files)" >&2
	exit 1
fi
export PATH=$PATH:/usr/sbin:/sbin:/usr/local/go/bin
missing=()
need() { # need TOOL-OR-PATH PACKAGE
	if [ "${1#/}" != "$1" ]; then
		[ -e "$1" ] || missing+=("$2")
	else
		command -v "$1" >/dev/null 2>&1 || missing+=("$2")
	fi
}
need ganesha.nfsd nfs-ganesha
need /usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so nfs-ganesha-vfs
need rpcbind rpcbind
need nfs-cp libnfs-utils
need unshare util-linux
need ip iproute2
need busybox busybox-static
if [ "${BENCH_RECORD:-0}" = 1 ] || [ "${BENCH_SYSTEMD:-1}" = 1 ]; then
	need qemu-system-x86_64 qemu-system-x86
	need cpio cpio
	need depmod kmod
fi
if [ "${BENCH_SYSTEMD:-1}" = 1 ]; then
	need debootstrap debootstrap
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench-all: installing ${missing[*]} (apt-get)" >&2
	timeout 600 apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

GO=${GO:-go}
out=${BENCH_OUT:-bench/results}
work=${BENCH_WORK:-/tmp/statelite-bench}
mkdir -p bin "$out"
"$GO" build -o bin/statelite ./cmd/statelite
"$GO" build -o bin/bench ./bench
"$GO" build -o bin/nfsbench ./bench/cmd/nfsbench
"$GO" build -o bin/gonfs ./bench/cmd/gonfs

if [ "${BENCH_RECORD:-0}" = 1 ]; then
	timeout -k 15 900 ./bin/bench record -bin bin/statelite -work "$work/record"
fi
# Throughput first, on a quiet machine: after the storms, the kernel still writes back
# their thousands of files for a while.
timeout -k 15 600 ./bin/nfsbench -statelite bin/statelite -work "$work/nfsbench" -n "${BENCH_RUNS:-9}" \
	-out "$out/throughput.md" -json "$out/throughput.json"
# shellcheck disable=SC2086
timeout -k 15 900 ./bin/bench storm -bin bin/statelite -work "$work/storm" -out "$out" ${BENCH_STORM_FLAGS:-}
if [ "${BENCH_CLUSTER:-1}" = 1 ]; then
	mkdir -p "$out/cluster"
	# shellcheck disable=SC2086
	timeout -k 15 2400 ./bin/bench storm -bin bin/statelite -work "$work/storm-cluster" -out "$out/cluster" \
		-cluster 10000 -n 1000,10000 -restart -flip-n 10000 -flip-boots 1 -idle-n 0 -timeout 15m ${BENCH_CLUSTER_FLAGS:-}
	./bin/bench report -out "$out/cluster"
fi
./bin/bench report -out "$out"

if [ "${BENCH_SYSTEMD:-1}" = 1 ]; then
	img=$work/debian
	if [ ! -x "$img/rootimg/sbin/init" ] || [ ! -s "$img/initrd-statelite.gz" ]; then
		rm -rf "$img" "$work/debian-tables"
		mkdir -p "$work/debian-tables"
		./bin/statelite image defaults --overwrite "$work/debian-defaults" >/dev/null
		if ! timeout -k 15 900 ./bin/statelite --tables "$work/debian-tables" genimage -o debian12 -p compute \
			--postinstall "$work/debian-defaults/debian/compute.postinstall,bench/storm/record.postinstall" \
			--rootimgdir "$img" >"$work/genimage.log" 2>&1; then
			echo "bench-all: systemd storm skipped: genimage failed (see $work/genimage.log)" >&2
			img=
		fi
	fi
	if [ -n "$img" ]; then
		mkdir -p "$out/systemd"
		timeout -k 15 900 ./bin/bench record -bin bin/statelite -image "$img" -work "$work/record-systemd" \
			-out "$out/systemd/boot-trace.jsonl"
		# shellcheck disable=SC2086
		timeout -k 15 1500 ./bin/bench storm -bin bin/statelite -image "$img" -trace "$out/systemd/boot-trace.jsonl" -timeout 20m \
			-flip-n 0 -idle-n 0 -work "$work/storm-systemd" -out "$out/systemd" ${BENCH_SYSTEMD_FLAGS:-}
	fi
fi
echo "bench-all: done in $(($(date +%s) - start)) s; report: $out/report.md"
