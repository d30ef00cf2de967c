#!/bin/sh
# The guest side of the qemu live-change test (e2e/live_test.go, which copies this
# file into the demo image as /sbin/statelite-live): run as the node's init (pid 1) on
# its root mounted from statelite's NFS server with short attribute caching
# (statelite.mntopts=actimeo=1), it watches paths the host changes while the node runs.
# Uses busybox applets only. On the console:
#   LIVE <name> before [<what the node sees>]       once per watch, before WAITING
#   CHECK <name>_before OK|FAIL <detail>            the state before the host's changes
#   WAITING                                         the host may now change things
#   LIVE <name> now [<what it sees>] (uptime Ns)    whenever what a watch sees changes
#   CHECK <name> OK (uptime Ns, after N polls)      the watch sees what it waits for
#   CHECK <name> FAIL <detail>                      not within the timeout
# then ALLDONE and power off. Each watch is polled every 0.5 s for up to
# statelite.livetimeout= seconds (default 60) after WAITING. <what it sees> is one line:
# a file's content with newlines as spaces, or <absent>.
#
# The watches, each with what it sees before and what it waits for (the test makes the
# changes; keep both in step):
#   live_litetree    /opt/app/app.cfg (ro, litetree common), replaced by rename on the host
#   live_con         /etc/motd (con of litetree n1 + common), n1's part rewritten in place
#   live_image_new   /etc/live-marker, a new file in the image
#   live_image_edit  /etc/live-image.txt, an image file rewritten in place
#   live_ls_image    new-file, a new image file, in the listing of /srv/live
#   live_table       /etc/live-tree.cfg, a new litefile row (ro) whose source is only in
#                    litetree common (the host writes the source first: the node must
#                    not see it before the table change)
#   live_ls_table    tree.cfg, another new litefile row (ro) of a source only in litetree
#                    common, in the listing of /srv/live
# Lookups and listings are of different directories: opening a directory to list it
# revalidates its attributes (close-to-open), which would hide how long the node's
# lookups of a new name in /etc go on finding the name absent (a negative dentry, kept
# until the node refreshes /etc's attributes, after acdirmin..acdirmax).
#   live_table_con   /etc/motd after the same table change puts litetree common first
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
cd /
exec </dev/null

timeout=60
for a in $(cat /proc/cmdline); do
	case $a in
	statelite.livetimeout=*) timeout=${a#*=} ;;
	esac
done
up() { cut -d' ' -f1 /proc/uptime; }
echo "BOOT live uptime=$(up)"
echo "BOOT root $(grep ' / nfs' /proc/mounts | head -n1)"

# get PATH: PATH's content on one line, or <absent>.
get() {
	if [ -e "$1" ]; then
		cat "$1" 2>&1 | tr '\n' ' '
	else
		echo "<absent>"
	fi
}
# listed DIR NAME: NAME when a listing of DIR has it.
listed() { ls -a "$1" | grep -x "$2" | tr -d '\n'; }

watches="live_litetree live_con live_image_new live_image_edit live_ls_image live_table live_ls_table live_table_con"
n1motd="n1's own notice. Site notice from the common litetree. "
c_live_litetree='get /opt/app/app.cfg'
b_live_litetree='threads=4 '
w_live_litetree='threads=8 '
c_live_con='get /etc/motd'
b_live_con=$n1motd
w_live_con="n1's new notice. Site notice from the common litetree. "
c_live_image_new='get /etc/live-marker'
b_live_image_new='<absent>'
w_live_image_new='a new image file '
c_live_image_edit='get /etc/live-image.txt'
b_live_image_edit='image v1 '
w_live_image_edit='image v2 '
c_live_ls_image='listed /srv/live new-file'
b_live_ls_image=''
w_live_ls_image='new-file'
c_live_table='get /etc/live-tree.cfg'
b_live_table='<absent>'
w_live_table='from litetree common by a new litefile row '
c_live_ls_table='listed /srv/live tree.cfg'
b_live_ls_table=''
w_live_ls_table='tree.cfg'
c_live_table_con='get /etc/motd'
b_live_table_con=$n1motd
w_live_table_con="Site notice from the common litetree. n1's new notice. "

for w in $watches; do
	eval "c=\$c_$w b=\$b_$w"
	got=$(eval "$c")
	eval "last_$w=\$got"
	echo "LIVE $w before [$got]"
	if [ "$got" = "$b" ]; then
		echo "CHECK ${w}_before OK"
	else
		echo "CHECK ${w}_before FAIL got [$got] want [$b]"
	fi
done

echo "WAITING uptime=$(up)"
start=$(cut -d. -f1 /proc/uptime)
pending=$watches
polls=0
while :; do
	polls=$((polls + 1))
	left=
	for w in $pending; do
		eval "c=\$c_$w want=\$w_$w last=\$last_$w"
		got=$(eval "$c")
		if [ "$got" != "$last" ]; then
			echo "LIVE $w now [$got] (uptime $(up)s)"
			eval "last_$w=\$got"
		fi
		if [ "$got" = "$want" ]; then
			echo "CHECK $w OK (uptime $(up)s, after $polls polls)"
		else
			left="$left $w"
		fi
	done
	pending=$left
	[ -n "$pending" ] || break
	if [ $(($(cut -d. -f1 /proc/uptime) - start)) -ge "$timeout" ]; then
		for w in $pending; do
			eval "want=\$w_$w last=\$last_$w"
			echo "CHECK $w FAIL not within ${timeout}s: sees [$last], want [$want]"
		done
		break
	fi
	sleep 0.5
done

echo "ALLDONE uptime=$(up)"
poweroff -f
