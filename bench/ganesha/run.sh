#!/usr/bin/env bash
# Side-by-side NFS benchmark: statelite vs nfs-ganesha 4.3 (VFS FSAL), libnfs client.
# Usage: bench/ganesha/run.sh [nfsbench flags…]   (as root; `make bench-nfs` runs it)
# Installs the Debian packages it needs when missing, builds statelite and the harness
# (bench/cmd/nfsbench), and runs the harness in a private network and mount namespace.
# Results: stdout and bench/results.md. Work files: $NFSBENCH_WORK (default
# /tmp/statelite-nfsbench).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
	echo "bench-nfs: must run as root (namespaces, tmpfs mounts, rpcbind)" >&2
	exit 1
fi
missing=()
for t in ganesha.nfsd:nfs-ganesha /usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so:nfs-ganesha-vfs rpcbind:rpcbind nfs-cp:libnfs-utils unshare:util-linux ip:iproute2; do
	bin=${t%%:*} pkg=${t##*:}
	if [ "${bin#/}" != "$bin" ]; then
		[ -e "$bin" ] || missing+=("$pkg")
	else
		command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$pkg")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench-nfs: installing missing packages: ${missing[*]} (apt-get)" >&2
	timeout 600 apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin:/sbin

GO=${GO:-go}
mkdir -p bin
"$GO" build -o bin/statelite ./cmd/statelite
"$GO" build -o bin/nfsbench ./bench/cmd/nfsbench
"$GO" build -o bin/gonfs ./bench/cmd/gonfs

# The whole run is bounded; the harness stops every process it started.
exec timeout -k 15 ${NFSBENCH_TIMEOUT:-1200} ./bin/nfsbench \
	-statelite bin/statelite -work "${NFSBENCH_WORK:-/tmp/statelite-nfsbench}" \
	-out bench/results.md "$@"
