#!/bin/sh
# The boot that bench/ records (storm.Build installs this file in the bench
# cluster's image as /sbin/statelite-boot and boots Debian's kernel under qemu with it as
# init, its root over NFS from `statelite serve --record`). It does what a diskless
# node's init scripts do at boot, with busybox applets: read its configuration (image,
# ro, con and litetree files, the probe directory /etc/gen of the storm's live-change
# check), set its host name, write logs, pid and lock files and a random seed to its
# volatile paths and its host name and history to persistent ones, create, rename and
# remove temporary files, list and stat the system directories, run a few commands; then
# ALLDONE on the console and power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
cd /
exec </dev/null
up() { cut -d' ' -f1 /proc/uptime; }
node=
for a in $(cat /proc/cmdline); do
	case $a in
	statelite.node=*) node=${a#*=} ;;
	esac
done
echo "BOOT node=$node uptime=$(up)"

# Configuration, as rc scripts read it.
for f in /etc/hostname /etc/fstab /etc/passwd /etc/group /etc/resolv.conf /etc/motd \
	/etc/ssh/sshd_config /opt/app/app.cfg /etc/ntp.conf /etc/inittab /etc/adjtime; do
	[ -r "$f" ] && cat "$f" >/dev/null
done
# The probe: two files of one litetree entry, and its listing.
echo "PROBE $(cat /etc/gen/a.conf /etc/gen/b.conf | tr '\n' ' ')"
echo "PROBE ls $(ls /etc/gen | tr '\n' ' ')"

hostname "$node"
echo "$node" >/etc/hostname

mkdir -p /var/log /var/run /var/lock/subsys /var/lib/dhclient /var/tmp
i=0
while [ $i -lt 20 ]; do
	echo "$(up) $node init: boot message $i" >>/var/log/messages
	i=$((i + 1))
done
echo 1 >/var/run/init.pid
echo "$$" >/var/run/syslogd.pid
touch /var/lock/subsys/network /var/lock/subsys/sshd
dd if=/dev/urandom of=/var/lib/random-seed bs=512 count=1 2>/dev/null
echo "lease { interface eth0; }" >/var/lib/dhclient/dhclient.leases
cp /etc/ssh/sshd_config /var/tmp/sshd_config.bak

mkdir -p /tmp/boot.$$
echo x >/tmp/boot.$$/a
mv /tmp/boot.$$/a /tmp/boot.$$/b
ln -s b /tmp/boot.$$/c
rm -r /tmp/boot.$$
echo 0 >/tmp/.X0-lock
rm -f /tmp/.X0-lock

ls -lR /etc /var >/dev/null
ls -l /bin /sbin /usr/bin >/dev/null
stat /usr/bin/passwd /etc/shadow >/dev/null
id >/dev/null
uname -a >/dev/null
ps >/dev/null
df >/dev/null 2>&1
echo "boot $(up)" >>/root/.history

sync
echo "ALLDONE uptime=$(up)"
poweroff -f
sleep 30
