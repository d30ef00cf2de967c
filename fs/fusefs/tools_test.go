package fusefs

import (
	"crypto/rand"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// makeTree builds a small tree with every kind of object on the host.
func makeTree(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"a/b/c", "empty", "priv"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 3<<20+12345) // several FUSE writes, a short last one
	rand.Read(big)
	files := []struct {
		p    string
		mode uint32
		data []byte
	}{
		{"top.txt", 0o644, []byte("top\n")},
		{"a/one", 0o600, []byte("one\n")},
		{"a/b/two", 0o755, []byte("#!/bin/sh\necho two\n")},
		{"a/b/c/big.bin", 0o644, big},
		{"a/suid", 0o4755, []byte("suid\n")},
		{"a/sgid", 0o2750, []byte("sgid\n")},
		{"priv/alice", 0o640, []byte("alice's\n")},
		{"zero", 0o444, nil},
	}
	for _, f := range files {
		p := filepath.Join(root, f.p)
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	must(t, "chown", "-R", "1000:1000", filepath.Join(root, "priv"))
	must(t, "chmod", "1777", filepath.Join(root, "empty"))
	must(t, "ln", filepath.Join(root, "a/one"), filepath.Join(root, "a/b/one-link"))
	must(t, "ln", "-s", "b/two", filepath.Join(root, "a/rel-link"))
	must(t, "ln", "-s", "/nowhere", filepath.Join(root, "dangling"))
	must(t, "mkfifo", "-m", "0620", filepath.Join(root, "a/fifo"))
	must(t, "touch", "-h", "-d", "2001-02-03 04:05:06.789", filepath.Join(root, "top.txt"), filepath.Join(root, "a"))
}

// listing describes a tree as find prints it, symlink times left out (the view keeps
// the times of symlinks it creates).
func listing(t *testing.T, root string, dirLinks bool) string {
	t.Helper()
	nlink := "%n"
	if !dirLinks {
		nlink = "-"
	}
	a := must(t, "find", root, "-mindepth", "1", "-type", "d", "-printf", "%P %y %m %U:%G "+nlink+" %T@\n")
	b := must(t, "find", root, "-mindepth", "1", "!", "-type", "d", "!", "-type", "l", "-printf", "%P %y %m %U:%G %s %n %T@\n")
	c := must(t, "find", root, "-mindepth", "1", "-type", "l", "-printf", "%P %y %U:%G %l\n")
	lines := strings.Split(strings.TrimSpace(a+b+c), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestCopyTreeInAndOut(t *testing.T) {
	d := mountDemo(t)
	src := filepath.Join(d.out, "src")
	makeTree(t, src)
	want := listing(t, src, true)

	must(t, "cp", "-a", src, d.p("/tmp/tree"))
	if got := listing(t, d.p("/tmp/tree"), true); got != want {
		t.Errorf("tree in the view differs from the source:\n got:\n%s\nwant:\n%s", got, want)
	}
	back := filepath.Join(d.out, "back")
	must(t, "cp", "-a", d.p("/tmp/tree"), back)
	if got := listing(t, back, true); got != want {
		t.Errorf("tree copied back out differs from the source:\n got:\n%s\nwant:\n%s", got, want)
	}
	if r := run(t, "diff", "-r", "--no-dereference", "-x", "fifo", src, back); r.err != nil {
		t.Errorf("diff -r: %v\n%s", r.err, r)
	}
	// The hard link pair is one file in the view.
	st := must(t, "stat", "-c", "%i %h", d.p("/tmp/tree/a/one"), d.p("/tmp/tree/a/b/one-link"))
	if l := strings.Split(strings.TrimSpace(st), "\n"); len(l) != 2 || l[0] != l[1] || !strings.HasSuffix(l[0], " 2") {
		t.Errorf("hard link pair in the view: %q", st)
	}
	// The engine agrees.
	a, err := d.view.Getattr("/tmp/tree/a/suid")
	if err != nil || a.Mode&0o7777 != 0o4755 {
		t.Errorf("engine sees /tmp/tree/a/suid mode %o, %v", a.Mode, err)
	}

	must(t, "rm", "-r", d.p("/tmp/tree"))
	if r := run(t, "ls", "-A", d.p("/tmp")); r.err != nil || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("/tmp after rm -r: %q %v", r.stdout, r.err)
	}
	if _, err := d.view.Getattr("/tmp/tree"); err == nil {
		t.Error("engine still has /tmp/tree after rm -r")
	}
}

func TestTarEtc(t *testing.T) {
	d := mountDemo(t)
	tarball := filepath.Join(d.out, "etc.tar")
	r := run(t, "tar", "-C", d.mnt, "-cf", tarball, "etc")
	if r.err != nil || r.stderr != "" {
		t.Fatalf("tar c: %v\n%s", r.err, r)
	}
	list := must(t, "tar", "-tvf", tarball)
	for _, w := range []string{"etc/shadow", "etc/motd", "etc/ssh/sshd_config", "etc/mtab -> /proc/self/mounts"} {
		if !strings.Contains(list, w) {
			t.Errorf("tar lacks %s:\n%s", w, list)
		}
	}
	x := filepath.Join(d.out, "x")
	os.Mkdir(x, 0o755)
	must(t, "tar", "-C", x, "-xpf", tarball)
	if b, err := os.ReadFile(filepath.Join(x, "etc/motd")); err != nil || string(b) != conMotd {
		t.Errorf("motd from tar = %q, %v", b, err)
	}
	if got := strings.TrimSpace(must(t, "stat", "-c", "%a %U", filepath.Join(x, "etc/shadow"))); got != "600 root" {
		t.Errorf("shadow from tar: %s", got)
	}
}

// walk counts the objects of the view below p through the engine.
func walk(t *testing.T, d *demoMount, p string) int {
	ents, err := d.view.ReadDir(p)
	if err != nil {
		t.Fatalf("engine readdir %s: %v", p, err)
	}
	n := len(ents)
	for _, e := range ents {
		if e.Attr.IsDir() {
			n += walk(t, d, path.Join(p, e.Name))
		}
	}
	return n
}

func TestFindWholeView(t *testing.T) {
	d := mountDemo(t)
	r := run(t, "find", d.mnt)
	if r.err != nil || r.stderr != "" {
		t.Fatalf("find: %v\n%s", r.err, r)
	}
	got := len(strings.Split(strings.TrimSpace(r.stdout), "\n"))
	if want := 1 + walk(t, d, "/"); got != want {
		t.Errorf("find lists %d entries, the engine %d", got, want)
	}
	// ls -lR reads every attribute too, and finds no dangling inode.
	if r := run(t, "ls", "-lRa", d.mnt); r.err != nil || r.stderr != "" {
		t.Errorf("ls -lRa: %v\n%s", r.err, r.stderr)
	}
	if r := run(t, "du", "-s", d.mnt); r.err != nil || r.stderr != "" {
		t.Errorf("du: %v\n%s", r.err, r.stderr)
	}
	if out := must(t, "df", "-P", d.mnt); !strings.Contains(out, "statelite:n1") {
		t.Errorf("df: %s", out)
	}
}

func TestLinks(t *testing.T) {
	d := mountDemo(t)
	must(t, "sh", "-c", "echo first > "+d.p("/tmp/a"))
	must(t, "ln", d.p("/tmp/a"), d.p("/tmp/b"))
	st := must(t, "stat", "-c", "%i %h", d.p("/tmp/a"), d.p("/tmp/b"))
	l := strings.Split(strings.TrimSpace(st), "\n")
	if len(l) != 2 || l[0] != l[1] || !strings.HasSuffix(l[0], " 2") {
		t.Errorf("ln: stat a b = %q, want one inode with 2 links", st)
	}
	must(t, "sh", "-c", "echo second >> "+d.p("/tmp/b"))
	if got := must(t, "cat", d.p("/tmp/a")); got != "first\nsecond\n" {
		t.Errorf("write through the second name: a = %q", got)
	}
	must(t, "rm", d.p("/tmp/a"))
	if got := strings.TrimSpace(must(t, "stat", "-c", "%h", d.p("/tmp/b"))); got != "1" {
		t.Errorf("links after rm a: %s", got)
	}

	must(t, "ln", "-s", "/etc/motd", d.p("/tmp/s"))
	if got := strings.TrimSpace(must(t, "readlink", d.p("/tmp/s"))); got != "/etc/motd" {
		t.Errorf("readlink = %q", got)
	}
	if got := strings.TrimSpace(must(t, "stat", "-c", "%F", d.p("/tmp/s"))); got != "symbolic link" {
		t.Errorf("ln -s made a %s", got)
	}
	must(t, "ln", "-s", "b", d.p("/tmp/rel"))
	if got := must(t, "cat", d.p("/tmp/rel")); got != "first\nsecond\n" {
		t.Errorf("cat through a relative symlink = %q", got)
	}
	// A hard link from the volatile /tmp into the read-only image is refused.
	mustFail(t, "", "ln", d.p("/tmp/b"), d.p("/usr/bin/b"))
	if got := strings.TrimSpace(must(t, "readlink", d.p("/etc/mtab"))); got != "/proc/self/mounts" {
		t.Errorf("/etc/mtab -> %q", got)
	}
}

func TestMkfifo(t *testing.T) {
	d := mountDemo(t)
	f := d.p("/tmp/fifo")
	must(t, "mkfifo", "-m", "0640", f)
	if got := strings.TrimSpace(must(t, "stat", "-c", "%F %a", f)); got != "fifo 640" {
		t.Errorf("mkfifo made %q", got)
	}
	if got := must(t, "sh", "-c", "echo through > "+f+" & cat "+f+"; wait"); got != "through\n" {
		t.Errorf("fifo carried %q", got)
	}
	a, err := d.view.Getattr("/tmp/fifo")
	if err != nil || a.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		t.Errorf("engine: /tmp/fifo mode %o, %v", a.Mode, err)
	}
}

func TestChmodChownTruncate(t *testing.T) {
	d := mountDemo(t)
	f := d.p("/tmp/prog")
	must(t, "sh", "-c", "printf 'hello world' > "+f)
	for _, m := range []string{"4755", "2711", "755", "0", "1777", "6755"} {
		must(t, "chmod", m, f)
		want, _ := strconv.ParseUint(m, 8, 32)
		if got := strings.TrimSpace(must(t, "stat", "-c", "%a", f)); got != strconv.FormatUint(want, 8) {
			t.Errorf("chmod %s: stat says %s", m, got)
		}
	}
	if got := strings.TrimSpace(must(t, "ls", "-l", f)); !strings.HasPrefix(got, "-rwsr-sr-x") {
		t.Errorf("ls -l after chmod 6755: %s", got)
	}
	must(t, "chown", "1000:1000", f)
	if got := strings.TrimSpace(must(t, "stat", "-c", "%u:%g", f)); got != "1000:1000" {
		t.Errorf("chown: %s", got)
	}
	must(t, "truncate", "-s", "5", f)
	if got := must(t, "cat", f); got != "hello" {
		t.Errorf("after truncate -s 5: %q", got)
	}
	must(t, "truncate", "-s", "8", f)
	if got := must(t, "cat", f); got != "hello\x00\x00\x00" {
		t.Errorf("after truncate -s 8: %q", got)
	}
	must(t, "touch", "-d", "1999-12-31 23:59:59", f)
	if got := strings.TrimSpace(must(t, "stat", "-c", "%Y", f)); got != "946684799" {
		t.Errorf("touch -d: mtime %s", got)
	}
	// Directories too; a persistent file is copied up by chmod.
	must(t, "mkdir", "-m", "2770", d.p("/tmp/dir"))
	if got := strings.TrimSpace(must(t, "stat", "-c", "%a", d.p("/tmp/dir"))); got != "2770" {
		t.Errorf("mkdir -m 2770: %s", got)
	}
	must(t, "chmod", "600", d.p("/etc/hostname"))
	if got := strings.TrimSpace(must(t, "stat", "-c", "%a", d.p("/etc/hostname"))); got != "600" {
		t.Errorf("chmod on the persistent /etc/hostname: %s", got)
	}
	if fi, err := os.Stat(filepath.Join(d.cl.State, "n1", "etc", "hostname")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("persistent copy: %v %v", fi, err)
	}
	mustFail(t, "Read-only file system", "chmod", "700", d.p("/usr/bin/passwd"))
	mustFail(t, "Read-only file system", "chown", "1000", d.p("/etc/shadow"))
}

func TestReadOnlyImage(t *testing.T) {
	d := mountDemo(t)
	mustFail(t, "Read-only file system", "sh", "-c", "echo x > "+d.p("/usr/bin/passwd"))
	mustFail(t, "Read-only file system", "sh", "-c", "echo x >> "+d.p("/etc/passwd"))
	mustFail(t, "Read-only file system", "touch", d.p("/usr/bin/new"))
	mustFail(t, "Read-only file system", "mkdir", d.p("/opt/app/new"))
	mustFail(t, "Read-only file system", "rm", d.p("/usr/bin/passwd"))
	mustFail(t, "Read-only file system", "mv", d.p("/etc/passwd"), d.p("/etc/passwd2"))
	mustFail(t, "Read-only file system", "ln", "-s", "x", d.p("/bin/x"))
	mustFail(t, "Read-only file system", "mkfifo", d.p("/usr/fifo"))
	if got := must(t, "cat", d.p("/usr/bin/passwd")); got != "#!/bin/sh\necho demo setuid binary\n" {
		t.Errorf("passwd changed: %q", got)
	}
	// Writable paths next to them work, and the image file itself is untouched.
	must(t, "sh", "-c", "echo n1 > "+d.p("/etc/hostname"))
	if got := must(t, "cat", d.p("/etc/hostname")); got != "n1\n" {
		t.Errorf("persistent /etc/hostname = %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(d.cl.Root, "etc/hostname")); string(b) != "demo\n" {
		t.Errorf("image hostname changed: %q", b)
	}
	must(t, "sh", "-c", "echo 'options rotate' >> "+d.p("/etc/resolv.conf"))
	if got := must(t, "cat", d.p("/etc/resolv.conf")); got != "nameserver 127.0.0.53\noptions rotate\n" {
		t.Errorf("volatile resolv.conf = %q", got)
	}
}

func TestRenameAndRemove(t *testing.T) {
	d := mountDemo(t)
	must(t, "mkdir", "-p", d.p("/tmp/d1/sub"))
	must(t, "sh", "-c", "echo x > "+d.p("/tmp/d1/sub/f"))
	must(t, "mv", d.p("/tmp/d1"), d.p("/tmp/d2"))
	if got := must(t, "cat", d.p("/tmp/d2/sub/f")); got != "x\n" {
		t.Errorf("after mv: %q", got)
	}
	// The moved subtree still works through inodes the kernel already knew.
	must(t, "sh", "-c", "echo y >> "+d.p("/tmp/d2/sub/f")+" && mkdir "+d.p("/tmp/d2/sub/new"))
	if _, err := d.view.Getattr("/tmp/d2/sub/new"); err != nil {
		t.Errorf("mkdir in a moved directory: %v", err)
	}
	mustFail(t, "Directory not empty", "rmdir", d.p("/tmp/d2"))
	must(t, "sh", "-c", "echo z > "+d.p("/tmp/other"))
	must(t, "mv", "-f", d.p("/tmp/other"), d.p("/tmp/d2/sub/f"))
	if got := must(t, "cat", d.p("/tmp/d2/sub/f")); got != "z\n" {
		t.Errorf("mv over a file: %q", got)
	}
	// mv -n uses RENAME_NOREPLACE.
	must(t, "sh", "-c", "echo keep > "+d.p("/tmp/k1")+" && echo other > "+d.p("/tmp/k2"))
	run(t, "mv", "-n", d.p("/tmp/k2"), d.p("/tmp/k1"))
	if got := must(t, "cat", d.p("/tmp/k1")); got != "keep\n" {
		t.Errorf("mv -n replaced the target: %q", got)
	}
	// Image files under a volatile entry can be renamed within it, not out of it.
	must(t, "mv", d.p("/etc/ssh/sshd_config"), d.p("/etc/ssh/sshd_config.old"))
	mustFail(t, "No such file", "cat", d.p("/etc/ssh/sshd_config"))
	if got := must(t, "cat", d.p("/etc/ssh/sshd_config.old")); got != "PermitRootLogin prohibit-password\n" {
		t.Errorf("renamed sshd_config: %q", got)
	}
	mustFail(t, "Read-only file system", "mv", d.p("/etc/fstab"), d.p("/etc/fstab.old"))
	must(t, "rm", d.p("/etc/fstab"))
	mustFail(t, "No such file", "cat", d.p("/etc/fstab"))
	// Moving between storages (volatile /tmp to persistent /root) is EXDEV: mv copies.
	must(t, "mv", d.p("/tmp/k2"), d.p("/root/k2"))
	if got := must(t, "cat", d.p("/root/k2")); got != "other\n" {
		t.Errorf("mv across storages: %q", got)
	}
	must(t, "rm", "-rf", d.p("/tmp/d2"))
	if r := run(t, "ls", d.p("/tmp")); strings.Contains(r.stdout, "d2") {
		t.Errorf("rm -rf left %q", r.stdout)
	}
	// A reset (the node boots) brings the image files back and empties /tmp.
	if err := d.srv.Reset("n1"); err != nil {
		t.Fatal(err)
	}
	d.m.Invalidate()
	if got := must(t, "cat", d.p("/etc/fstab")); got != "proc /proc proc defaults 0 0\n" {
		t.Errorf("fstab after reset: %q", got)
	}
	if r := run(t, "ls", d.p("/tmp")); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("/tmp after reset: %q", r.stdout)
	}
}

func TestPermissions(t *testing.T) {
	d := mountDemo(t)
	as := func(uid string, args ...string) result {
		return run(t, "setpriv", append([]string{"--reuid=" + uid, "--regid=" + uid, "--clear-groups"}, args...)...)
	}
	if r := as("1000", "cat", d.p("/etc/motd")); r.err != nil || r.stdout != conMotd {
		t.Fatalf("uid 1000 cannot read /etc/motd: %v\n%s", r.err, r)
	}
	r := as("1000", "cat", d.p("/etc/shadow"))
	if r.err == nil || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("uid 1000 reading the 0600 root /etc/shadow: %v\n%s", r.err, r)
	}
	if got := must(t, "cat", d.p("/etc/shadow")); !strings.HasPrefix(got, "root:*:") {
		t.Errorf("root reads /etc/shadow: %q", got)
	}
	// New files belong to their maker; sticky /tmp protects them from others.
	if r := as("1000", "sh", "-c", "umask 022 && echo mine > "+d.p("/tmp/u1000")); r.err != nil {
		t.Fatalf("uid 1000 creating in /tmp: %v\n%s", r.err, r)
	}
	if got := strings.TrimSpace(must(t, "stat", "-c", "%u:%g %a", d.p("/tmp/u1000"))); got != "1000:1000 644" {
		t.Errorf("file made by uid 1000: %s", got)
	}
	if r := as("1000", "mkdir", d.p("/tmp/d1000")); r.err != nil {
		t.Errorf("uid 1000 mkdir: %v\n%s", r.err, r)
	}
	must(t, "sh", "-c", "echo root > "+d.p("/tmp/rootfile"))
	if r := as("1000", "rm", "-f", d.p("/tmp/rootfile")); r.err == nil || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("uid 1000 removing root's file from sticky /tmp: %v\n%s", r.err, r)
	}
	if r := as("1000", "sh", "-c", "echo x >> "+d.p("/tmp/rootfile")); r.err == nil || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("uid 1000 writing root's 0644 file: %v\n%s", r.err, r)
	}
	if r := as("1000", "chmod", "777", d.p("/tmp/rootfile")); r.err == nil || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("uid 1000 chmod of root's file: %v\n%s", r.err, r)
	}
	if r := as("1000", "touch", d.p("/root/x")); r.err == nil || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("uid 1000 creating in /root (0755 root): %v\n%s", r.err, r)
	}
	// Another user's home in the image, alice's directory, is read-only anyway.
	if r := as("65534", "ls", d.p("/home/alice")); r.err != nil {
		t.Errorf("nobody listing /home/alice: %v\n%s", r.err, r)
	}
}
