#!/bin/sh
# The guest side of the qemu crash test (e2e/crash_test.go, which copies this file into
# the demo image as /sbin/statelite-crash): run as the node's init (pid 1) on its root
# mounted hard (the default: the client retries while the server is down) from a
# `statelite serve` that the test kills with kill -9 and restarts 2 s later, it runs a
# workload and checks the exit status of every operation. Busybox applets only.
#
# The workload, round after round (statelite.rounds=, default 14): a persistent append
# with fsync (/root/crash/log, through `dd conv=fsync`: the write and the fsync in one
# process, on one descriptor), a volatile create read back (/tmp/crash/v<round>), image
# reads (/etc/passwd, /bin/busybox after dropping the page cache), and from round
# statelite.heldat= (default 5) on, a write + fsync through descriptor 3 of
# /root/crash/held, a file created and opened just before that round. On the console:
#   ROUND <r> append          right before round r's persistent append (the test kills
#                             the server on ROUND <statelite.killat> append)
#   OPENED held               right after the create+open of /root/crash/held (the
#                             test kills the server as soon as it sees it)
#   HELD <i>                  right before the i-th write through descriptor 3
#   ACK log <line>            <line> was appended to /root/crash/log and fsync'd
#   ACK held <line>           <line> was written through descriptor 3 and fsync'd
#   FAIL <op>: <error>        an operation failed (its exit status, its stderr)
#   CHECK <name> OK|FAIL …    the read-back at the end
#   FAILS <n>                 how many operations failed
# then WORKLOAD exit=<status>, the kernel's messages about NFS (DMESG …), ALLDONE and
# power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
cd /
exec </dev/null

# As init, run the workload in a child shell: a shell that exits (a failed `exec 3>>`
# does) must not take pid 1 with it.
if [ "$$" = 1 ]; then
	sh "$0" workload
	echo "WORKLOAD exit=$?"
	# What the kernel said about the server (not on the console: the kernel runs quiet).
	busybox dmesg | busybox grep -i -e nfs -e rpc -e stale | busybox tail -n 20 | while read -r l; do
		echo "DMESG $l"
	done
	echo "ALLDONE uptime=$(cut -d' ' -f1 /proc/uptime)"
	poweroff -f
	sleep 30
fi

rounds=14 heldat=5 killat=3
for a in $(cat /proc/cmdline); do
	case $a in
	statelite.rounds=*) rounds=${a#*=} ;;
	statelite.heldat=*) heldat=${a#*=} ;;
	statelite.killat=*) killat=${a#*=} ;;
	esac
done
up() { cut -d' ' -f1 /proc/uptime; }
echo "BOOT crash uptime=$(up) rounds=$rounds heldat=$heldat killat=$killat"
echo "BOOT root $(grep ' / nfs' /proc/mounts | head -n1)"

fails=0
# try NAME CMD…: CMD succeeds, else a FAIL line with its status and output.
try() {
	n=$1
	shift
	if out=$("$@" 2>&1); then
		return 0
	else
		st=$?
		fails=$((fails + 1))
		echo "FAIL $n: exit $st: $(echo "$out" | tr '\n' ' ') (uptime $(up)s)"
		return 1
	fi
}
# append FILE LINE: LINE appended to FILE and fsync'd (one descriptor for both).
append() { echo "$2" | dd conv=fsync status=none >>"$1"; }
# held LINE: LINE written through descriptor 3 and fsync'd through it (dd's stdout is
# a duplicate of descriptor 3: the same open file).
held() { echo "$1" | dd conv=fsync status=none >&3; }
dropcaches() { echo 3 >/proc/sys/vm/drop_caches; }

try mkdir_root mkdir -p /root/crash
try mkdir_tmp mkdir -p /tmp/crash
bbsum=$(md5sum </bin/busybox)
i=0
r=1
while [ "$r" -le "$rounds" ]; do
	if [ "$r" -eq "$heldat" ]; then
		# Created and opened just before the fault: the test kills the server as soon as
		# it reads the next line.
		if exec 3>>/root/crash/held; then
			echo "OPENED held"
		else
			fails=$((fails + 1))
			echo "FAIL create_held: exec 3>>/root/crash/held failed (uptime $(up)s)"
		fi
		echo "OPENED uptime=$(up)"
	fi
	echo "ROUND $r append"
	line="log-$r"
	try "append $line" append /root/crash/log "$line" && echo "ACK log $line"
	if [ "$r" -ge "$heldat" ]; then
		i=$((i + 1))
		echo "HELD $i"
		line="held-$i"
		try "write_held $line" held "$line" && echo "ACK held $line"
	fi
	try "create_volatile v$r" sh -c 'echo "volatile-$0" >/tmp/crash/v$0' "$r"
	got=$(cat /tmp/crash/v$r 2>&1) || got="cat failed: $got"
	[ "$got" = "volatile-$r" ] || {
		fails=$((fails + 1))
		echo "FAIL read_volatile v$r: got [$got] (uptime $(up)s)"
	}
	try "dropcaches $r" dropcaches
	got=$(cat /etc/passwd 2>&1) || got="cat failed: $got"
	case $got in
	*alice:x:1000:1000*) ;;
	*)
		fails=$((fails + 1))
		echo "FAIL read_image /etc/passwd: got [$(echo "$got" | head -n2 | tr '\n' ' ')] (uptime $(up)s)"
		;;
	esac
	got=$(md5sum </bin/busybox 2>&1) || got="md5sum failed: $got"
	[ "$got" = "$bbsum" ] || {
		fails=$((fails + 1))
		echo "FAIL read_image /bin/busybox: md5 [$got] want [$bbsum] (uptime $(up)s)"
	}
	echo "ROUND $r done uptime=$(up)"
	r=$((r + 1))
	sleep 0.3
done
exec 3>&-

# Read back, from the server (the page cache dropped): every line, in order.
try "sync" sync
dropcaches
want_log=
r=1
while [ "$r" -le "$rounds" ]; do
	want_log="$want_log log-$r"
	r=$((r + 1))
done
want_held=
j=1
while [ "$j" -le "$i" ]; do
	want_held="$want_held held-$j"
	j=$((j + 1))
done
got=$(cat /root/crash/log 2>&1 | tr '\n' ' ')
if [ "$got" = "${want_log# } " ]; then echo "CHECK readback_log OK"; else echo "CHECK readback_log FAIL got [$got] want [${want_log# } ]"; fi
got=$(cat /root/crash/held 2>&1 | tr '\n' ' ')
if [ "$got" = "${want_held# } " ]; then echo "CHECK readback_held OK"; else echo "CHECK readback_held FAIL got [$got] want [${want_held# } ]"; fi
# Every volatile file of the boot, written through whichever server served it then.
want_vol=
got_vol=
r=1
while [ "$r" -le "$rounds" ]; do
	want_vol="$want_vol volatile-$r"
	got_vol="$got_vol $(cat /tmp/crash/v$r 2>&1)"
	r=$((r + 1))
done
if [ "$got_vol" = "$want_vol" ]; then echo "CHECK readback_volatile OK"; else echo "CHECK readback_volatile FAIL got [$got_vol] want [$want_vol]"; fi
echo "FAILS $fails"
[ "$fails" -eq 0 ]
