#!/usr/bin/env bash
# build.sh OUTDIR: build the boot files of the qemu NFS-root test into OUTDIR:
#   OUTDIR/vmlinuz    Debian's kernel (linux-image-6.1.*-amd64, from linux-image-amd64)
#   OUTDIR/initrd.gz  busybox-static + the NFS and virtio-net modules + statelite's initrd
#                     init and udhcpc script (image/initramfs/, shared with genimage's
#                     initrd), as a gzipped newc cpio archive
#   OUTDIR/kver       the kernel version
# Idempotent: nothing is redone while OUTDIR/stamp matches this script and init; the
# downloaded .debs are kept in OUTDIR/debs, so a rebuild needs no network.
# Needs: apt-get (Debian's lists: apt-get update), dpkg-deb, depmod and modprobe (kmod),
# cpio, gzip. Nothing is installed on the host.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# The init of statelite's NFS-root initrd, shared with image.BuildInitrd (genimage).
initdir=$(cd "$here/../../../image/initramfs" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

die() { echo "build.sh: $*" >&2; exit 1; }
for t in apt-get dpkg-deb depmod modprobe cpio gzip sha256sum flock; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

exec 9>"$out/.lock"
flock 9

key=$(cat "$here/build.sh" "$initdir/init" "$initdir/udhcpc.script" | sha256sum | cut -c1-16)
if [[ -s $out/vmlinuz && -s $out/initrd.gz && "$(cat "$out/stamp" 2>/dev/null)" == "$key" ]]; then
	echo "build.sh: $out is up to date"
	exit 0
fi

# fetch PKG: download PKG's .deb into debs/ unless one is there already.
updated=
fetch() {
	local pkg=$1
	compgen -G "$out/debs/${pkg}_*.deb" >/dev/null && return 0
	mkdir -p "$out/debs"
	if ! (cd "$out/debs" && apt-get download "$pkg" >/dev/null 2>&1); then
		# Debian's package lists may be missing on a fresh machine.
		[[ -z $updated && $(id -u) == 0 ]] || die "apt-get download $pkg failed"
		updated=1
		apt-get update >/dev/null || die "apt-get update failed"
		(cd "$out/debs" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
	fi
}

fetch linux-image-amd64
meta=$(compgen -G "$out/debs/linux-image-amd64_*.deb" | head -n1)
kpkg=$(dpkg-deb -f "$meta" Depends | grep -o 'linux-image-[0-9][^ ,]*-amd64' | head -n1)
[[ -n $kpkg ]] || die "no versioned kernel package in the Depends of $meta"
fetch "$kpkg"
fetch busybox-static
kver=${kpkg#linux-image-}

work=$out/work
rm -rf "$work"
mkdir -p "$work/kernel" "$work/bb" "$work/root"
dpkg-deb -x "$(compgen -G "$out/debs/${kpkg}_*.deb" | head -n1)" "$work/kernel"
dpkg-deb -x "$(compgen -G "$out/debs/busybox-static_*.deb" | head -n1)" "$work/bb"

kroot=$work/kernel
[[ -d $kroot/lib/modules/$kver ]] || kroot=$work/kernel/usr
[[ -d $kroot/lib/modules/$kver ]] || die "no lib/modules/$kver in $kpkg"
depmod -b "$kroot" "$kver"

# The modules of the NFSv3 client and of virtio-net, with their dependencies, in
# load order (modprobe --show-depends prints "insmod PATH" lines, dependencies first).
r=$work/root
mkdir -p "$r/bin" "$r/etc" "$r/lib/modules" "$r/dev" "$r/proc" "$r/sys" "$r/newroot" "$r/run" "$r/tmp"
: >"$r/lib/modules/load"
for m in virtio_pci virtio_net nfsv3; do
	modprobe -d "$kroot" -S "$kver" --show-depends "$m" | while read -r verb path _; do
		[[ $verb == insmod ]] || continue
		name=$(basename "$path")
		name=${name%.xz}
		name=${name%.zst}
		name=${name%.gz}
		grep -qx "$name" "$r/lib/modules/load" && continue
		case $path in
		*.xz) xz -dc "$path" >"$r/lib/modules/$name" ;;
		*.zst) zstd -dc "$path" >"$r/lib/modules/$name" ;;
		*.gz) gzip -dc "$path" >"$r/lib/modules/$name" ;;
		*) cp "$path" "$r/lib/modules/$name" ;;
		esac
		echo "$name" >>"$r/lib/modules/load"
	done
done
grep -qx nfsv3.ko "$r/lib/modules/load" || die "nfsv3.ko not found for $kver"
grep -qx virtio_net.ko "$r/lib/modules/load" || die "virtio_net.ko not found for $kver"

bb=$work/bb/bin/busybox
[[ -x $bb ]] || bb=$work/bb/usr/bin/busybox
[[ -x $bb ]] || die "no busybox in busybox-static"
cp "$bb" "$r/bin/busybox"
cp "$initdir/init" "$r/init"
cp "$initdir/udhcpc.script" "$r/etc/udhcpc.script"
chmod 0755 "$r/init" "$r/etc/udhcpc.script" "$r/bin/busybox"
# /dev/console for the kernel's first open (the init re-opens it after mounting devtmpfs).
mknod -m 0600 "$r/dev/console" c 5 1 2>/dev/null || true

(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9) >"$out/initrd.gz.tmp"
vmlinuz=$(compgen -G "$work/kernel/boot/vmlinuz-$kver" | head -n1)
[[ -n $vmlinuz ]] || die "no boot/vmlinuz-$kver in $kpkg"
cp "$vmlinuz" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
echo "$kver" >"$out/kver"
echo "$key" >"$out/stamp"
n=$(wc -l <"$r/lib/modules/load")
rm -rf "$work"
echo "build.sh: built $out/vmlinuz ($kver) and $out/initrd.gz ($n modules)"
