#!/usr/bin/env bash
# A full `make test` in a fresh Debian root, as a new admin's machine would be: not part
# of CI (it debootstraps Debian 12 from Debian's mirror and runs every test, ~30 min).
#
#   sudo bash scripts/test-fresh-debian.sh [DIR]     (make test-fresh-debian)
#
# DIR (default /var/tmp/statelite-fresh) gets a minbase Debian root with nothing but
# what debootstrap puts there; this checkout and the Go toolchain are bind-mounted into
# it, then `make test` runs inside (chroot), which must install what it needs itself
# (scripts/test-deps.sh) and pass. /proc, /sys, /dev (FUSE, TUN, KVM if any) come from the
# host; everything is unmounted at the end.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/.." && pwd)
goroot=$(go env GOROOT)
dir=${1:-/var/tmp/statelite-fresh}
if [ ! -x "$dir/bin/bash" ]; then
	debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian
fi
mounts=()
bind() { mkdir -p "$dir$2"; mount --bind "$1" "$dir$2"; mounts=("$dir$2" "${mounts[@]}"); }
cleanup() { for m in "${mounts[@]}"; do umount -l "$m" || true; done; }
trap cleanup EXIT
bind /proc /proc
bind /sys /sys
bind /dev /dev
bind /dev/pts /dev/pts
bind "$repo" /src
bind "$goroot" /usr/local/go
cp /etc/resolv.conf "$dir/etc/resolv.conf"
chroot "$dir" /usr/bin/env -i HOME=/root PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	CI="${CI:-}" GOFLAGS=-buildvcs=false bash -c 'apt-get update && apt-get install -y make && cd /src && make test'
