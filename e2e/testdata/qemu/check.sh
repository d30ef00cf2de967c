#!/bin/sh
# The qemu NFS-root test's checks, run as the node's init (pid 1) on its root mounted from
# statelite's NFS server (TestQemuNFSRoot and TestQemuPXEBoot copy this file into the demo image as
# /sbin/statelite-check). Uses busybox applets only. One line per check on the console:
#   CHECK <name> OK
#   CHECK <name> FAIL <detail>
# then ALLDONE, then power off. The kernel command line says which boot this is:
#   statelite.node=NODE
#   statelite.phase=first    n1's first boot: reads, writes, errors, links…; leaves markers
#   statelite.phase=second   n1's next boot: persistent markers kept, volatile ones gone
#   statelite.phase=other    another node: sees none of n1's files
# A PXE boot (e2e/pxe_test.go) has the kernel command line the server renders from
# the tables: the node comes from NODE= and, without statelite.phase=, the phase from what
# the node sees: other for a node other than n1, second when n1's persistent marker
# /root/marker is there, else first (the test checks which phase ran).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
cd /
exec </dev/null

node= phase= rnode=
for a in $(cat /proc/cmdline); do
	case $a in
	statelite.node=*) node=${a#*=} ;;
	statelite.phase=*) phase=${a#*=} ;;
	NODE=*) rnode=${a#*=} ;;
	esac
done
[ -n "$node" ] || node=$rnode
how=
if [ -z "$phase" ]; then
	how=" (detected)"
	if [ "$node" != n1 ]; then
		phase=other
	elif [ -e /root/marker ]; then
		phase=second
	else
		phase=first
	fi
fi
echo "BOOT node=$node phase=$phase$how uptime=$(cut -d' ' -f1 /proc/uptime)"
echo "BOOT root $(grep ' / nfs' /proc/mounts | head -n1)"
echo "BOOT cmdline $(cat /proc/cmdline)"

ok() { echo "CHECK $1 OK"; }
bad() {
	n=$1
	shift
	echo "CHECK $n FAIL $(echo "$*" | tr '\n' ' ')"
}
# eq NAME GOT WANT
eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got [$2] want [$3]"; fi
}
# has NAME TEXT WORD: TEXT contains WORD.
has() {
	case $2 in
	*"$3"*) ok "$1" ;;
	*) bad "$1" "[$2] lacks [$3]" ;;
	esac
}
# run NAME CMD…: CMD succeeds.
run() {
	n=$1
	shift
	if out=$("$@" 2>&1); then ok "$n"; else bad "$n" "$* failed: $out"; fi
}
# erofs NAME SCRIPT: SCRIPT fails with "Read-only file system".
erofs() {
	if out=$(sh -c "$2" 2>&1); then
		bad "$1" "[$2] succeeded"
	else
		has "$1" "$out" "Read-only file system"
	fi
}
# gone NAME PATH: PATH does not exist.
gone() {
	if [ -e "$2" ] || [ -L "$2" ]; then bad "$1" "$2 exists"; else ok "$1"; fi
}
dropcaches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# Reads every boot does.
has read_image "$(cat /etc/passwd)" "alice:x:1000:1000"
has readdir_image "$(ls /bin)" "busybox"
eq read_ro "$(cat /opt/app/app.cfg)" "threads=4"
eq read_tmpfs "$(cat /etc/fstab)" "proc /proc proc defaults 0 0"
motd=$(cat /etc/motd)
has read_con_common "$motd" "Site notice from the common litetree."
case $node in
n1) has read_con_node "$motd" "n1's own notice." ;;
*) case $motd in *"n1's own notice."*) bad read_con_node "n1's notice in $node's motd" ;; *) ok read_con_node ;; esac ;;
esac
eq stat_setuid "$(stat -c %a /usr/bin/passwd)" "4755"
eq stat_shadow "$(stat -c '%a %u' /etc/shadow)" "600 0"
has shadow_root "$(cat /etc/shadow 2>&1)" "root:"
eq su_alice "$(su alice -c 'id -u' 2>&1)" "1000"
if out=$(su alice -c 'cat /etc/shadow' 2>&1); then
	bad shadow_alice "alice read /etc/shadow: $out"
else
	has shadow_alice "$out" "Permission denied"
fi
erofs rofs_passwd 'echo x | dd of=/usr/bin/passwd bs=1 seek=34 conv=notrunc,fsync'
erofs rofs_passwd_truncate 'truncate -s 0 /usr/bin/passwd'
erofs rofs_passwd_chmod 'chmod 0755 /usr/bin/passwd'
# A shell's ">>" ignores the EROFS that close() returns (the server refuses the WRITE at
# flush time): the file must be unchanged all the same.
echo x >>/usr/bin/passwd 2>/dev/null
dropcaches
eq rofs_passwd_unchanged "$(cat /usr/bin/passwd | tr '\n' ' ')" "#!/bin/sh echo demo setuid binary "
erofs rofs_bin 'echo x >/bin/statelite-new'
erofs rofs_ro_path 'echo threads=9 >/opt/app/app.cfg'
erofs rofs_rm_image 'rm /etc/passwd'

case $phase in
first)
	eq read_persistent "$(cat /etc/hostname)" "demo"
	gone clean_root_marker /root/marker
	# Writes.
	run write_tmp sh -c 'echo "tmp-$0" >/tmp/boot1' "$node"
	eq read_tmp "$(cat /tmp/boot1)" "tmp-$node"
	run write_tmpfs sh -c 'echo "tmpfs /scratch tmpfs defaults 0 0" >>/etc/fstab'
	has read_tmpfs_written "$(cat /etc/fstab)" "tmpfs /scratch"
	run write_persistent sh -c 'echo "$0-boot1" >/etc/hostname' "$node"
	eq read_persistent_written "$(cat /etc/hostname)" "$node-boot1"
	run write_root sh -c 'echo "root-$0" >/root/marker' "$node"
	eq read_root "$(cat /root/marker)" "root-$node"
	has read_root_image "$(cat /root/.profile)" "PS1"
	run delete_tmpfs rm /etc/ssh/sshd_config
	gone delete_tmpfs_gone /etc/ssh/sshd_config
	# Big file: WRITE/COMMIT then READ from the server after dropping the page cache.
	run write_big dd if=/dev/urandom of=/tmp/big bs=65536 count=64
	sum1=$(md5sum </tmp/big)
	dropcaches
	eq read_big "$(md5sum </tmp/big)" "$sum1"
	eq size_big "$(stat -c %s /tmp/big)" "4194304"
	# Links, fifos, trees, renames.
	echo one >/tmp/a
	run hardlink ln /tmp/a /tmp/a2
	eq hardlink_nlink "$(stat -c %h /tmp/a)" "2"
	eq hardlink_inode "$(stat -c %i /tmp/a2)" "$(stat -c %i /tmp/a)"
	echo two >>/tmp/a2
	dropcaches
	eq hardlink_shared "$(cat /tmp/a | tr '\n' ' ')" "one two "
	run symlink ln -s /etc/hostname /tmp/sl
	eq readlink "$(readlink /tmp/sl)" "/etc/hostname"
	eq symlink_follow "$(cat /tmp/sl)" "$node-boot1"
	run mkfifo mkfifo /tmp/fifo
	if [ -p /tmp/fifo ]; then ok fifo_type; else bad fifo_type "$(ls -l /tmp/fifo 2>&1)"; fi
	(echo through-fifo >/tmp/fifo) &
	eq fifo_io "$(cat /tmp/fifo)" "through-fifo"
	wait
	run mkdir_tree mkdir -p /tmp/tree/a/b/c /tmp/tree/d
	for f in /tmp/tree/x /tmp/tree/a/y /tmp/tree/a/b/z /tmp/tree/a/b/c/w; do echo "$f" >"$f"; done
	ln -s x /tmp/tree/d/l
	run rm_tree rm -r /tmp/tree
	gone rm_tree_gone /tmp/tree
	run mv_file mv /tmp/a /tmp/moved
	gone mv_old /tmp/a
	eq mv_new "$(head -n1 /tmp/moved)" "one"
	mkdir -p /tmp/d1 /tmp/d2
	echo m >/tmp/d1/f
	run mv_dir_to_dir mv /tmp/d1/f /tmp/d2/f
	run mv_dir mv /tmp/d2 /tmp/d3
	eq mv_dir_content "$(cat /tmp/d3/f)" "m"
	echo over >/tmp/target
	run mv_replace mv /tmp/d3/f /tmp/target
	eq mv_replace_content "$(cat /tmp/target)" "m"
	# Ownership, modes, permissions of other users.
	run chmod_setuid chmod 4755 /tmp/target
	eq chmod_setuid_mode "$(stat -c %a /tmp/target)" "4755"
	run chown chown alice /tmp/target
	eq chown_uid "$(stat -c %u /tmp/target)" "1000"
	run alice_write_tmp su alice -c 'echo hi >/tmp/alice'
	eq alice_owner "$(stat -c %u /tmp/alice)" "1000"
	echo root >/tmp/rootfile
	if out=$(su alice -c 'rm -f /tmp/rootfile' 2>&1); then
		bad sticky_tmp "alice removed root's file in /tmp: $out"
	else
		ok sticky_tmp
	fi
	if out=$(su alice -c 'echo x >/etc/fstab' 2>&1); then
		bad alice_write_fstab "alice wrote /etc/fstab (0644 root)"
	else
		has alice_write_fstab "$out" "Permission denied"
	fi
	run touch touch /tmp/touched
	has ls_tmp "$(ls /tmp | tr '\n' ' ')" "boot1"
	;;
second)
	eq persistent_hostname "$(cat /etc/hostname)" "$node-boot1"
	eq persistent_root "$(cat /root/marker 2>&1)" "root-$node"
	gone volatile_tmp /tmp/boot1
	gone volatile_tmp_big /tmp/big
	eq volatile_tmpfs "$(cat /etc/fstab)" "proc /proc proc defaults 0 0"
	has volatile_whiteout "$(cat /etc/ssh/sshd_config 2>&1)" "PermitRootLogin"
	eq tmp_empty "$(ls -A /tmp | tr '\n' ' ')" ""
	;;
other)
	eq other_hostname "$(cat /etc/hostname)" "demo"
	gone other_root /root/marker
	gone other_tmp /tmp/boot1
	eq other_tmpfs "$(cat /etc/fstab)" "proc /proc proc defaults 0 0"
	has other_sshd "$(cat /etc/ssh/sshd_config 2>&1)" "PermitRootLogin"
	;;
*)
	bad phase "unknown statelite.phase=$phase"
	;;
esac

sync
echo "ALLDONE uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
