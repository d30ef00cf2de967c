#!/bin/sh
# The guest side of the qemu image-generations test (e2e/generations_test.go, which copies
# this file into the demo image's working copy as /sbin/statelite-generations before it
# commits the first generation): run as the node's init (pid 1) on its root mounted from
# statelite's NFS server, it reads two plain image files (no litefile entry covers them)
# in a loop while the host makes a new generation of the image with both files changed.
# Uses busybox applets only. On the console:
#   BOOT generations uptime=N                  the loop starts
#   BOOT root <the root's line of /proc/mounts>
#   SEEN <n> a=[<a.txt>] b=[<b.txt>] uptime=N  every 0.5 s: what the node reads
#   ALLDONE uptime=N                           after statelite.genlimit= seconds (default
#                                              90), then power off
# The host usually stops qemu before that, once it has seen enough.
#
# Every round drops the kernel's caches first (echo 3 > drop_caches: page cache, dentries,
# inodes), so each read looks the path up and reads the file from the server again rather
# than from what the client kept.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
cd /
exec </dev/null

limit=90
for a in $(cat /proc/cmdline); do
	case $a in
	statelite.genlimit=*) limit=${a#*=} ;;
	esac
done
up() { cut -d' ' -f1 /proc/uptime; }
# get PATH: PATH's content on one line, or <absent>.
get() {
	if [ -e "$1" ]; then
		v=$(cat "$1" 2>&1 | tr '\n' ' ')
		echo "${v% }"
	else
		echo "<absent>"
	fi
}

echo "BOOT generations uptime=$(up)"
echo "BOOT root $(grep ' / nfs' /proc/mounts | head -n1)"
start=$(cut -d. -f1 /proc/uptime)
n=0
while :; do
	n=$((n + 1))
	echo 3 >/proc/sys/vm/drop_caches
	a=$(get /usr/share/gentest/a.txt)
	b=$(get /usr/share/gentest/b.txt)
	echo "SEEN $n a=[$a] b=[$b] uptime=$(up)"
	[ $(($(cut -d. -f1 /proc/uptime) - start)) -lt "$limit" ] || break
	sleep 0.5
done

echo "ALLDONE uptime=$(up)"
poweroff -f
