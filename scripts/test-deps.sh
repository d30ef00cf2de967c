#!/usr/bin/env bash
# What `make test` needs of the machine, in one place (.ci/run runs `make test`, which
# runs this first). Each line: a Debian/Ubuntu package and how to tell it is there (a
# program in PATH, or a file glob), then why the tests need it.
#
#   bash scripts/test-deps.sh          as root on Debian/Ubuntu: install what is missing;
#                                      elsewhere: name what is missing and exit 1
#   STATELITE_DEPS_NO_INSTALL=1 …      only check (name what is missing, exit 1)
set -euo pipefail

deps='
make            cmd:make                  the Makefile
gcc             cmd:gcc                   go test -race (cgo)
postgresql      file:/usr/lib/postgresql/*/bin/initdb   internal/pgtest: throw-away PostgreSQL clusters (tables, nfsd, server, cmd/cli)
libnfs-utils    cmd:nfs-ls                nfsd and cmd/cli: a real NFS client (nfs-ls, nfs-cat, nfs-cp)
qemu-system-x86 cmd:qemu-system-x86_64    e2e: a real Linux kernel as the NFS client, under TCG
busybox-static  file:/bin/busybox         the demo image'"'"'s userland (e2e, bench storm)
cpio            cmd:cpio                  e2e/testdata/qemu/build.sh: the test initramfs
kmod            cmd:depmod                e2e/testdata/qemu/build.sh: the kernel modules of the initramfs
pxelinux        file:/usr/lib/PXELINUX/pxelinux.0        e2e: PXE boots
syslinux-common file:/usr/lib/syslinux/modules/bios/ldlinux.c32   e2e: pxelinux'"'"'s ldlinux.c32
ipxe-qemu       file:/usr/lib/ipxe/qemu/efi-virtio.rom   e2e: qemu'"'"'s iPXE boot ROM
debootstrap     cmd:debootstrap           genimage tests; packaging: a clean Debian root
iproute2        cmd:ip                    e2e.TestQemuDHCP, boot makedhcp: TAP devices in network namespaces
util-linux      cmd:nsenter               network namespaces (unshare, nsenter), setpriv
dnsmasq-base    cmd:dnsmasq               e2e.TestQemuDHCP (proxyDHCP beside dnsmasq), makedhcp: dnsmasq --test
isc-dhcp-server cmd:dhcpd                 makedhcp: dhcpd -t accepts the ISC output
systemd         cmd:systemd-analyze       packaging: systemd-analyze verify accepts the unit
rpm             cmd:rpm                   packaging: rpm -qp reads the .rpm, rpm --root installs it; image diff of rpm images
'

have() {
	local probe=$1
	case $probe in
	cmd:*) command -v "${probe#cmd:}" >/dev/null 2>&1 ;;
	file:*) compgen -G "${probe#file:}" >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}

missing() {
	local pkg probe why
	while read -r pkg probe why; do
		[ -n "$pkg" ] || continue
		have "$probe" || echo "$pkg"
	done <<<"$deps"
}

miss=$(missing | tr '\n' ' ')
miss=${miss% }
[ -z "$miss" ] && exit 0

if [ -z "${STATELITE_DEPS_NO_INSTALL:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "make test: installing what the tests need: $miss"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $miss
	miss=$(missing | tr '\n' ' ')
	miss=${miss% }
	[ -z "$miss" ] && exit 0
	echo "make test: still missing after apt-get install: $miss" >&2
	exit 1
fi

{
	echo "make test: the tests need these packages, which are missing: $miss"
	while read -r pkg probe why; do
		case " $miss " in *" $pkg "*) printf '  %-16s %-40s %s\n' "$pkg" "($probe)" "$why" ;; esac
	done <<<"$deps"
	echo "Install them (Debian/Ubuntu: apt-get install $miss), or run make test as root on Debian/Ubuntu, which installs them."
} >&2
exit 1
