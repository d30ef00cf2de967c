package billyfs_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/util"

	"statelite/fs"
	"statelite/fs/billyfs"
	"statelite/internal/testenv"
)

const (
	demoHostname = "demo\n"
	demoShadow   = "root:*:19000:0:99999:7:::\nalice:*:19000:0:99999:7:::\n"
)

// newFS builds the demo cluster and returns n1's billy filesystem (acting as root) and
// the server.
func newFS(t *testing.T) (*billyfs.FS, *fs.Server) {
	t.Helper()
	srv := testenv.New(t).FS
	v, err := srv.View("n1")
	if err != nil {
		t.Fatal(err)
	}
	return billyfs.New(v, fs.Root), srv
}

func readFile(t *testing.T, b billy.Basic, name string) string {
	t.Helper()
	data, err := util.ReadFile(b, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(data)
}

func writeFile(t *testing.T, b billy.Basic, name, data string) {
	t.Helper()
	if err := util.WriteFile(b, name, []byte(data), 0o644); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
}

func attrOf(t *testing.T, fi os.FileInfo) fs.Attr {
	t.Helper()
	a, ok := fi.Sys().(fs.Attr)
	if !ok {
		t.Fatalf("%s: Sys() is %T, want fs.Attr", fi.Name(), fi.Sys())
	}
	return a
}

func TestInterfaces(t *testing.T) {
	b, _ := newFS(t)
	var _ billy.Filesystem = b
	var _ billy.Change = b
	if !billy.CapabilityCheck(b, billy.AllCapabilities) {
		t.Errorf("capabilities = %v, want all", b.Capabilities())
	}
	if b.Root() != "/" {
		t.Errorf("Root() = %q", b.Root())
	}
	if got := b.Join("/tmp", "a", "../b"); got != "/tmp/b" {
		t.Errorf("Join = %q", got)
	}
}

func TestWriteReadTmp(t *testing.T) {
	b, srv := newFS(t)
	writeFile(t, b, "/tmp/a/b/hello.txt", "hello, view\n") // parents are made
	if got := readFile(t, b, "/tmp/a/b/hello.txt"); got != "hello, view\n" {
		t.Errorf("read back %q", got)
	}
	// A relative name is the same file; ".." never leaves the root.
	if got := readFile(t, b, "tmp/a/b/hello.txt"); got != "hello, view\n" {
		t.Errorf("relative read %q", got)
	}
	if got := readFile(t, b, "../../tmp/a/./b/hello.txt"); got != "hello, view\n" {
		t.Errorf("dotted read %q", got)
	}
	// The engine sees it in n1's view, not in n2's.
	v1, _ := srv.View("n1")
	if a, err := v1.Getattr("/tmp/a/b/hello.txt"); err != nil || a.Size != 12 {
		t.Errorf("engine getattr: %+v %v", a, err)
	}
	v2, _ := srv.View("n2")
	if _, err := v2.Getattr("/tmp/a/b/hello.txt"); err == nil {
		t.Error("n2 sees n1's /tmp")
	}
	// Overwrite with O_TRUNC shrinks.
	writeFile(t, b, "/tmp/a/b/hello.txt", "hi\n")
	if got := readFile(t, b, "/tmp/a/b/hello.txt"); got != "hi\n" {
		t.Errorf("after truncating write %q", got)
	}
	fi, err := b.Stat("/tmp/a/b/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Name() != "hello.txt" || fi.Size() != 3 || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 || fi.IsDir() {
		t.Errorf("stat: name %q size %d mode %v", fi.Name(), fi.Size(), fi.Mode())
	}
	a := attrOf(t, fi)
	if a.FileID == 0 || a.Nlink != 1 || a.UID != 0 {
		t.Errorf("attr %+v", a)
	}
	// Writing a persistent path (/etc/hostname) and a volatile image file (/etc/fstab).
	writeFile(t, b, "/etc/hostname", "n1\n")
	writeFile(t, b, "etc/fstab", "# n1\n")
	if got := readFile(t, b, "/etc/hostname"); got != "n1\n" {
		t.Errorf("hostname %q", got)
	}
	if got := readFile(t, b, "/etc/fstab"); got != "# n1\n" {
		t.Errorf("fstab %q", got)
	}
	b2 := billyfs.New(v2, fs.Root)
	if got := readFile(t, b2, "/etc/hostname"); got != demoHostname {
		t.Errorf("n2 hostname %q", got)
	}
}

func TestFileOps(t *testing.T) {
	b, _ := newFS(t)
	f, err := b.Create("/tmp/f")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "/tmp/f" {
		t.Errorf("Name() = %q", f.Name())
	}
	// go-nfs' CREATE takes post-op attributes from Lstat(file.Name()).
	if _, err := b.Lstat(f.Name()); err != nil {
		t.Errorf("lstat of Name(): %v", err)
	}
	if _, err := f.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if off, err := f.Seek(2, io.SeekStart); err != nil || off != 2 {
		t.Fatalf("seek %d %v", off, err)
	}
	if _, err := f.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != 4 {
		t.Errorf("offset after write %d", off)
	}
	buf := make([]byte, 3)
	if n, err := f.Read(buf); err != nil || string(buf[:n]) != "456" {
		t.Errorf("read %q %v", buf[:n], err)
	}
	if n, err := f.ReadAt(buf, 0); err != nil || string(buf[:n]) != "01a" {
		t.Errorf("readat %q %v", buf[:n], err)
	}
	if n, err := f.ReadAt(buf, 8); err != io.EOF || string(buf[:n]) != "89" {
		t.Errorf("readat at end %q %v", buf[:n], err)
	}
	if end, err := f.Seek(-1, io.SeekEnd); err != nil || end != 9 {
		t.Errorf("seek end %d %v", end, err)
	}
	if _, err := f.Seek(-1, io.SeekStart); err == nil {
		t.Error("negative seek allowed")
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	f.Seek(0, io.SeekStart)
	all, err := io.ReadAll(f)
	if err != nil || string(all) != "01ab4" {
		t.Errorf("after truncate %q %v", all, err)
	}
	if n, err := f.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("read at EOF: %d %v", n, err)
	}
	if err := f.Lock(); err != nil {
		t.Error(err)
	}
	if err := f.Unlock(); err != nil {
		t.Error(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second close: %v", err)
	}
	if _, err := f.Read(buf); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}

	// O_APPEND writes at the end, whatever the offset.
	af, err := b.OpenFile("/tmp/f", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	af.Write([]byte("X"))
	af.Seek(0, io.SeekStart)
	af.Write([]byte("Y"))
	if _, err := af.Read(buf); !errors.Is(err, syscall.EBADF) {
		t.Errorf("read of a write-only file: %v", err)
	}
	af.Close()
	if got := readFile(t, b, "/tmp/f"); got != "01ab4XY" {
		t.Errorf("after append %q", got)
	}
	// A read-only file refuses writes and truncation.
	rf, err := b.Open("/tmp/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rf.Write([]byte("z")); !errors.Is(err, syscall.EBADF) {
		t.Errorf("write to a read-only file: %v", err)
	}
	if err := rf.Truncate(0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("truncate of a read-only file: %v", err)
	}
	rf.Close()
	// Seek+Write through O_RDWR without O_TRUNC keeps the rest (go-nfs WRITE).
	wf, err := b.OpenFile("/tmp/f", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	wf.Seek(1, io.SeekStart)
	wf.Write([]byte("__"))
	wf.Close()
	if got := readFile(t, b, "/tmp/f"); got != "0__b4XY" {
		t.Errorf("after seek+write %q", got)
	}
	// Reading a con file (/etc/motd: two litetree files concatenated) in small pieces.
	mf, err := b.Open("/etc/motd")
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	small := make([]byte, 5)
	for {
		n, err := mf.Read(small)
		sb.Write(small[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mf.Close()
	if want := "n1's own notice.\nSite notice from the common litetree.\n"; sb.String() != want {
		t.Errorf("motd %q", sb.String())
	}
	// Opening a directory gives a file that can't be read or written.
	df, err := b.Open("/etc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := df.Read(small); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("read of a directory: %v", err)
	}
	df.Close()
	if _, err := b.OpenFile("/tmp", os.O_RDWR, 0); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("write open of a directory: %v", err)
	}
}

func TestWalk(t *testing.T) {
	b, _ := newFS(t)
	writeFile(t, b, "/tmp/w/x", "x")
	seen := map[string]os.FileMode{}
	err := util.Walk(b, "/", func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if fi.Name() != filepath.Base(p) {
			t.Errorf("%s: Name() = %q", p, fi.Name())
		}
		attrOf(t, fi)
		seen[p] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/etc", "/etc/hostname", "/etc/motd", "/etc/mtab", "/usr/bin/passwd", "/tmp/w/x", "/opt/app/app.cfg", "/root/.profile"} {
		if _, ok := seen[p]; !ok {
			t.Errorf("walk missed %s", p)
		}
	}
	if m := seen["/etc/mtab"]; m&os.ModeSymlink == 0 {
		t.Errorf("/etc/mtab mode %v", m)
	}
	if m := seen["/usr/bin/passwd"]; m&os.ModeSetuid == 0 || m.Perm() != 0o755 {
		t.Errorf("/usr/bin/passwd mode %v", m)
	}
	if m := seen["/tmp"]; m&os.ModeSticky == 0 || !m.IsDir() {
		t.Errorf("/tmp mode %v", m)
	}
	t.Logf("walked %d names", len(seen))

	// ReadDir is sorted and describes names, not link targets.
	ents, err := b.ReadDir("/etc")
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("ReadDir not sorted: %v", names)
	}
	if _, err := b.ReadDir("/etc/hostname"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("ReadDir of a file: %v", err)
	}
}

func TestSymlinks(t *testing.T) {
	b, _ := newFS(t)
	// Absolute target: resolved inside the view, not on the host.
	if err := b.Symlink("/etc/hostname", "/tmp/h"); err != nil {
		t.Fatal(err)
	}
	if tg, err := b.Readlink("/tmp/h"); err != nil || tg != "/etc/hostname" {
		t.Errorf("readlink %q %v", tg, err)
	}
	lfi, err := b.Lstat("/tmp/h")
	if err != nil {
		t.Fatal(err)
	}
	if lfi.Mode()&os.ModeSymlink == 0 || lfi.Size() != int64(len("/etc/hostname")) || lfi.Name() != "h" {
		t.Errorf("lstat: %v size %d name %q", lfi.Mode(), lfi.Size(), lfi.Name())
	}
	sfi, err := b.Stat("/tmp/h")
	if err != nil {
		t.Fatal(err)
	}
	if !sfi.Mode().IsRegular() || sfi.Size() != int64(len(demoHostname)) || sfi.Name() != "h" {
		t.Errorf("stat: %v size %d name %q", sfi.Mode(), sfi.Size(), sfi.Name())
	}
	if got := readFile(t, b, "/tmp/h"); got != demoHostname {
		t.Errorf("through absolute link %q", got)
	}

	// Relative targets climbing above the root stay clamped in the view.
	if err := b.Symlink("../../../../etc/shadow", "/tmp/deep/s"); err != nil { // makes /tmp/deep
		t.Fatal(err)
	}
	if got := readFile(t, b, "/tmp/deep/s"); got != demoShadow {
		t.Errorf("clamped relative link read %q", got)
	}
	if _, err := b.Lstat("/tmp/deep"); err != nil {
		t.Errorf("Symlink did not make the parent: %v", err)
	}

	// Links in directory components are followed, also by Lstat.
	if err := b.Symlink("../etc", "/tmp/etc"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, b, "/tmp/etc/hostname"); got != demoHostname {
		t.Errorf("via dir link %q", got)
	}
	if fi, err := b.Lstat("/tmp/etc/hostname"); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("lstat via dir link: %v", err)
	}
	if err := b.Symlink("/", "/tmp/root"); err != nil {
		t.Fatal(err)
	}
	if fi, err := b.Stat("/tmp/root"); err != nil || !fi.IsDir() || attrOf(t, fi).FileID != mustAttr(t, b, "/").FileID {
		t.Errorf("stat of a link to /: %v", err)
	}
	if got := readFile(t, b, "/tmp/root/tmp/root/tmp/h"); got != demoHostname {
		t.Errorf("chained links %q", got)
	}
	ents, err := b.ReadDir("/tmp/etc")
	if err != nil || len(ents) == 0 {
		t.Errorf("ReadDir via link: %d %v", len(ents), err)
	}

	// The image's /etc/mtab -> /proc/self/mounts: dangling in the view.
	if fi, err := b.Lstat("/etc/mtab"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("lstat mtab: %v", err)
	}
	if _, err := b.Stat("/etc/mtab"); !os.IsNotExist(err) {
		t.Errorf("stat of mtab (dangling in the view): %v", err)
	}

	// Loops.
	if err := b.Symlink("loop", "/tmp/loop"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat("/tmp/loop"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("stat of a loop: %v", err)
	}
	if _, err := b.Open("/tmp/loop"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("open of a loop: %v", err)
	}
	if _, err := b.Lstat("/tmp/loop"); err != nil {
		t.Errorf("lstat of a loop: %v", err)
	}
	// A chain of 40 links resolves, 41 do not.
	for i := 1; i <= 41; i++ {
		if err := b.Symlink(fmt.Sprintf("c%d", i-1), fmt.Sprintf("/tmp/c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, b, "/tmp/c0", "end")
	if got := readFile(t, b, "/tmp/c40"); got != "end" {
		t.Errorf("40 hops: %q", got)
	}
	if _, err := b.Stat("/tmp/c41"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("41 hops: %v", err)
	}

	// A symlink name that exists gives EEXIST; Readlink of a file gives EINVAL.
	if err := b.Symlink("x", "/tmp/h"); !os.IsExist(err) {
		t.Errorf("symlink over a link: %v", err)
	}
	if _, err := b.Readlink("/etc/hostname"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("readlink of a file: %v", err)
	}
	// Writing through a link writes the target (inside the view).
	writeFile(t, b, "/tmp/wl-target", "old")
	b.Symlink("wl-target", "/tmp/wl")
	writeFile(t, b, "/tmp/wl", "new")
	if got := readFile(t, b, "/tmp/wl-target"); got != "new" {
		t.Errorf("write through link: %q", got)
	}
	if fi, _ := b.Lstat("/tmp/wl"); fi == nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("link replaced by write")
	}
	// A file under a non-directory.
	if _, err := b.Stat("/etc/hostname/x"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("stat under a file: %v", err)
	}
}

func mustAttr(t *testing.T, b billy.Filesystem, name string) fs.Attr {
	t.Helper()
	fi, err := b.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	return attrOf(t, fi)
}

func TestChange(t *testing.T) {
	b, _ := newFS(t)
	writeFile(t, b, "/tmp/suid", "#!/bin/sh\n")
	if err := b.Chmod("/tmp/suid", 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	fi, err := b.Stat("/tmp/suid")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("after chmod 04755: %v", fi.Mode())
	}
	if m := attrOf(t, fi).Mode; m&0o7777 != 0o4755 || m&syscall.S_IFMT != syscall.S_IFREG {
		t.Errorf("attr mode %o", m)
	}
	b.MkdirAll("/tmp/sticky", 0o755)
	if err := b.Chmod("/tmp/sticky", 0o1777|os.ModeSticky|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if fi, _ := b.Stat("/tmp/sticky"); fi.Mode()&(os.ModeSticky|os.ModeSetgid) != os.ModeSticky|os.ModeSetgid || !fi.IsDir() {
		t.Errorf("sticky dir: %v", fi.Mode())
	}

	mt := time.Date(2020, 2, 3, 4, 5, 6, 7000, time.UTC)
	at := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := b.Chtimes("/tmp/suid", at, mt); err != nil {
		t.Fatal(err)
	}
	fi, _ = b.Stat("/tmp/suid")
	if !fi.ModTime().Equal(mt) || !attrOf(t, fi).Atime.Equal(at) {
		t.Errorf("times: mtime %v atime %v", fi.ModTime(), attrOf(t, fi).Atime)
	}

	// Lchown changes the link, Chown its target.
	b.Symlink("suid", "/tmp/suid-link")
	if err := b.Lchown("/tmp/suid-link", 1000, 1001); err != nil {
		t.Fatal(err)
	}
	if a := mustAttr(t, b, "/tmp/suid-link"); a.UID != 1000 || a.GID != 1001 {
		t.Errorf("link owner %d:%d", a.UID, a.GID)
	}
	if a := mustAttr(t, b, "/tmp/suid"); a.UID != 0 || a.GID != 0 {
		t.Errorf("Lchown changed the target: %d:%d", a.UID, a.GID)
	}
	if err := b.Chown("/tmp/suid-link", 2000, -1); err != nil {
		t.Fatal(err)
	}
	if a := mustAttr(t, b, "/tmp/suid"); a.UID != 2000 || a.GID != 0 {
		t.Errorf("chown through link: %d:%d", a.UID, a.GID)
	}
	// Chmod through a link changes the target.
	if err := b.Chmod("/tmp/suid-link", 0o600); err != nil {
		t.Fatal(err)
	}
	if a := mustAttr(t, b, "/tmp/suid"); a.Mode&0o7777 != 0o600 {
		t.Errorf("chmod through link: %o", a.Mode)
	}
	// Copy-up of an image file keeps setuid (volatile /etc/fstab has no setuid; use
	// Chmod on it and check the image is untouched for n2).
	if err := b.Chmod("/etc/fstab", 0o640); err != nil {
		t.Fatal(err)
	}
	if a := mustAttr(t, b, "/etc/fstab"); a.Mode&0o7777 != 0o640 {
		t.Errorf("fstab mode %o", a.Mode)
	}
	if err := b.Chmod("/tmp/nope", 0o644); !os.IsNotExist(err) {
		t.Errorf("chmod of a missing file: %v", err)
	}
}

func TestNewObjectsOwnedByCred(t *testing.T) {
	_, srv := newFS(t)
	v, _ := srv.View("n1")
	b := billyfs.New(v, fs.Cred{UID: 1000, GID: 1000})
	writeFile(t, b, "/tmp/alice/f", "x")
	for _, p := range []string{"/tmp/alice", "/tmp/alice/f"} {
		if a := mustAttr(t, b, p); a.UID != 1000 || a.GID != 1000 {
			t.Errorf("%s owned by %d:%d", p, a.UID, a.GID)
		}
	}
	if a := mustAttr(t, b, "/tmp/alice/f"); a.Mode&0o777 != 0o644 {
		t.Errorf("mode %o (perm taken verbatim, no umask)", a.Mode)
	}
}

func TestRenameRemoveMkdir(t *testing.T) {
	b, _ := newFS(t)
	writeFile(t, b, "/tmp/r1", "rename me")
	if err := b.Rename("/tmp/r1", "/tmp/sub/r2"); err != nil { // makes /tmp/sub
		t.Fatal(err)
	}
	if _, err := b.Stat("/tmp/r1"); !os.IsNotExist(err) {
		t.Errorf("old name: %v", err)
	}
	if got := readFile(t, b, "/tmp/sub/r2"); got != "rename me" {
		t.Errorf("new name %q", got)
	}
	// Replacing an existing file.
	writeFile(t, b, "/tmp/r3", "other")
	if err := b.Rename("/tmp/r3", "/tmp/sub/r2"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, b, "/tmp/sub/r2"); got != "other" {
		t.Errorf("replaced %q", got)
	}
	// A directory.
	if err := b.Rename("/tmp/sub", "/tmp/sub2"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, b, "/tmp/sub2/r2"); got != "other" {
		t.Errorf("in renamed dir %q", got)
	}
	// A symlink is renamed itself.
	b.Symlink("sub2/r2", "/tmp/ln")
	if err := b.Rename("/tmp/ln", "/tmp/ln2"); err != nil {
		t.Fatal(err)
	}
	if tg, err := b.Readlink("/tmp/ln2"); err != nil || tg != "sub2/r2" {
		t.Errorf("renamed link %q %v", tg, err)
	}
	if _, err := b.Stat("/tmp/sub2/r2"); err != nil {
		t.Errorf("link target moved: %v", err)
	}
	if err := b.Rename("/tmp/missing", "/tmp/x"); !os.IsNotExist(err) {
		t.Errorf("rename of a missing file: %v", err)
	}
	if err := b.Rename("/usr/bin/passwd", "/tmp/passwd"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("rename out of the image: %v", err)
	}

	// Remove: a link (not its target), a file, an empty dir; not a full one.
	if err := b.Remove("/tmp/ln2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat("/tmp/sub2/r2"); err != nil {
		t.Errorf("removing a link removed its target: %v", err)
	}
	if err := b.Remove("/tmp/sub2"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("remove of a full dir: %v", err)
	}
	if err := b.Remove("/tmp/sub2/r2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove("/tmp/sub2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lstat("/tmp/sub2"); !os.IsNotExist(err) {
		t.Errorf("removed dir: %v", err)
	}
	if err := b.Remove("/tmp/sub2"); !os.IsNotExist(err) {
		t.Errorf("remove of a missing dir: %v", err)
	}
	// Removing an image file under a volatile entry hides it (whiteout).
	if err := b.Remove("/etc/fstab"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat("/etc/fstab"); !os.IsNotExist(err) {
		t.Errorf("removed fstab: %v", err)
	}

	// MkdirAll.
	if err := b.MkdirAll("/tmp/x/y/z", 0o750); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/tmp/x", "/tmp/x/y", "/tmp/x/y/z"} {
		fi, err := b.Stat(p)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
			t.Errorf("%s: %v %v", p, fi, err)
		}
	}
	if err := b.MkdirAll("/tmp/x/y", 0o700); err != nil {
		t.Errorf("MkdirAll of an existing dir: %v", err)
	}
	if err := b.MkdirAll("/tmp/raw", 0o2775); err != nil { // Unix setgid bit given raw
		t.Fatal(err)
	}
	if fi, _ := b.Stat("/tmp/raw"); fi.Mode()&os.ModeSetgid == 0 || fi.Mode().Perm() != 0o775 {
		t.Errorf("MkdirAll 02775: %v", fi.Mode())
	}
	if err := b.MkdirAll("etc", 0o755); err != nil {
		t.Errorf("MkdirAll of an image dir: %v", err)
	}
	writeFile(t, b, "/tmp/file", "")
	if err := b.MkdirAll("/tmp/file/sub", 0o755); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("MkdirAll under a file: %v", err)
	}
	if err := b.MkdirAll("/usr/newdir", 0o755); !errors.Is(err, syscall.EROFS) {
		t.Errorf("MkdirAll in the image: %v", err)
	}
	// Through a directory link.
	b.Symlink("x/y", "/tmp/xy")
	if err := b.MkdirAll("/tmp/xy/w", 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := b.Lstat("/tmp/x/y/w"); err != nil || !fi.IsDir() {
		t.Errorf("MkdirAll through a link: %v", err)
	}
}

func TestReadOnlyAndErrors(t *testing.T) {
	b, _ := newFS(t)
	err := util.WriteFile(b, "/usr/bin/passwd", []byte("pwned"), 0o755)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("WriteFile to the image: %v", err)
	}
	if _, err := b.OpenFile("/usr/bin/passwd", os.O_RDWR, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("O_RDWR open: %v", err)
	}
	if _, err := b.OpenFile("/usr/bin/passwd", os.O_WRONLY|os.O_APPEND, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("append open: %v", err)
	}
	if _, err := b.Create("/usr/bin/newtool"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("create in the image: %v", err)
	}
	if err := b.Chmod("/usr/bin/passwd", 0o777); !errors.Is(err, syscall.EROFS) {
		t.Errorf("chmod in the image: %v", err)
	}
	if err := b.Lchown("/usr/bin/passwd", 1000, 1000); !errors.Is(err, syscall.EROFS) {
		t.Errorf("lchown in the image: %v", err)
	}
	if err := b.Remove("/usr/bin/passwd"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("remove in the image: %v", err)
	}
	if err := b.Symlink("x", "/usr/bin/ln-x"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("symlink in the image: %v", err)
	}
	if err := util.WriteFile(b, "/opt/app/app.cfg", []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write to an ro entry: %v", err)
	}
	if got := readFile(t, b, "/usr/bin/passwd"); got != "#!/bin/sh\necho demo setuid binary\n" {
		t.Errorf("passwd changed: %q", got)
	}
	if fi, err := b.Stat("/usr/bin/passwd"); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("passwd mode: %v %v", fi, err)
	}

	// O_EXCL.
	writeFile(t, b, "/tmp/exists", "x")
	if _, err := b.OpenFile("/tmp/exists", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !os.IsExist(err) {
		t.Errorf("O_EXCL of an existing file: %v", err)
	}
	b.Symlink("dangling-target", "/tmp/dangling")
	if _, err := b.OpenFile("/tmp/dangling", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !os.IsExist(err) {
		t.Errorf("O_EXCL of a dangling link: %v", err)
	}
	if _, err := b.OpenFile("/etc/hostname", os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644); !os.IsExist(err) {
		t.Errorf("O_EXCL of an image file: %v", err)
	}
	f, err := b.OpenFile("/tmp/fresh", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// O_CREATE without O_EXCL on a dangling link creates the target (in the view).
	writeFile(t, b, "/tmp/dangling", "made")
	if got := readFile(t, b, "/tmp/dangling-target"); got != "made" {
		t.Errorf("dangling target %q", got)
	}

	// Missing names.
	if _, err := b.Stat("/tmp/nope"); !os.IsNotExist(err) {
		t.Errorf("stat of a missing file: %v", err)
	}
	if _, err := b.Lstat("/nope/deeper/still"); !os.IsNotExist(err) {
		t.Errorf("lstat under a missing dir: %v", err)
	}
	if _, err := b.Open("/tmp/nope"); !os.IsNotExist(err) {
		t.Errorf("open of a missing file: %v", err)
	}
	if _, err := b.ReadDir("/tmp/nope"); !os.IsNotExist(err) {
		t.Errorf("readdir of a missing dir: %v", err)
	}
	if _, err := b.Readlink("/tmp/nope"); !os.IsNotExist(err) {
		t.Errorf("readlink of a missing name: %v", err)
	}
	var pe *os.PathError
	if _, err := b.Stat("/tmp/nope"); !errors.As(err, &pe) || pe.Path != "/tmp/nope" {
		t.Errorf("error %#v does not name the billy path", err)
	}
}

func TestTempFile(t *testing.T) {
	b, _ := newFS(t)
	seen := map[string]bool{}
	for range 20 {
		f, err := b.TempFile("/tmp/tmpd", "pre-")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(f.Name(), "/tmp/tmpd/pre-") || seen[f.Name()] {
			t.Errorf("temp name %q", f.Name())
		}
		seen[f.Name()] = true
		f.Write([]byte("t"))
		f.Close()
		if fi, err := b.Stat(f.Name()); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("temp file %s: %v %v", f.Name(), fi, err)
		}
	}
	f, err := util.TempFile(b, "/tmp", "util-")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("payload"))
	f.Close()
	if got := readFile(t, b, f.Name()); got != "payload" {
		t.Errorf("util.TempFile read %q", got)
	}
	// Renaming a temp file into place (the usual atomic-replace pattern).
	if err := b.Rename(f.Name(), "/tmp/final"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, b, "/tmp/final"); got != "payload" {
		t.Errorf("final %q", got)
	}
	if _, err := b.TempFile("/usr/bin", "x"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("TempFile in the image: %v", err)
	}
}

func TestChroot(t *testing.T) {
	b, _ := newFS(t)
	etc, err := b.Chroot("/etc")
	if err != nil {
		t.Fatal(err)
	}
	if etc.Root() != "/etc" {
		t.Errorf("Root() = %q", etc.Root())
	}
	for _, name := range []string{"hostname", "/hostname", "../hostname", "ssh/../hostname"} {
		if got := readFile(t, etc, name); got != demoHostname {
			t.Errorf("chroot read %s: %q", name, got)
		}
	}
	fi, err := etc.Stat("hostname")
	if err != nil || fi.Name() != "hostname" {
		t.Errorf("chroot stat: %v %v", fi, err)
	}
	ents, err := etc.ReadDir("/")
	if err != nil || len(ents) == 0 {
		t.Errorf("chroot readdir: %d %v", len(ents), err)
	}
	if err := util.Walk(etc, "/", func(p string, fi os.FileInfo, err error) error { return err }); err != nil {
		t.Errorf("walk of the chroot: %v", err)
	}
	// /etc/mtab -> /proc/self/mounts resolves against the chroot root: missing.
	if _, err := etc.Stat("mtab"); !os.IsNotExist(err) {
		t.Errorf("chroot mtab: %v", err)
	}

	// Links inside a chroot resolve against it; Change works through it.
	b.MkdirAll("/tmp/jail/etc", 0o755)
	writeFile(t, b, "/tmp/jail/etc/hostname", "jailed\n")
	jail, err := b.Chroot("tmp/jail")
	if err != nil {
		t.Fatal(err)
	}
	if err := jail.Symlink("/etc/hostname", "abs"); err != nil {
		t.Fatal(err)
	}
	if err := jail.Symlink("../../../../etc/hostname", "rel"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"abs", "rel"} {
		if got := readFile(t, jail, name); got != "jailed\n" {
			t.Errorf("jail %s: %q", name, got)
		}
	}
	if tg, _ := jail.Readlink("abs"); tg != "/etc/hostname" {
		t.Errorf("jail readlink %q (stored verbatim)", tg)
	}
	if tg, _ := b.Readlink("/tmp/jail/abs"); tg != "/etc/hostname" {
		t.Errorf("outer readlink %q", tg)
	}
	if err := jail.(billy.Change).Chmod("abs", 0o4700); err != nil {
		t.Fatal(err)
	}
	if fi, _ := b.Stat("/tmp/jail/etc/hostname"); fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("chmod via jail: %v", fi.Mode())
	}
	f, err := jail.Create("new")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "new" {
		t.Errorf("jail file name %q", f.Name())
	}
	f.Close()
	if _, err := b.Stat("/tmp/jail/new"); err != nil {
		t.Errorf("jail create: %v", err)
	}
	sub, err := jail.Chroot("etc")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Root() != "/tmp/jail/etc" {
		t.Errorf("nested Root() = %q", sub.Root())
	}
	if got := readFile(t, sub, "hostname"); got != "jailed\n" {
		t.Errorf("nested chroot %q", got)
	}
	if _, err := b.Chroot("/etc/hostname"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("chroot to a file: %v", err)
	}
	if _, err := b.Chroot("/nope"); !os.IsNotExist(err) {
		t.Errorf("chroot to a missing dir: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	b, _ := newFS(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := fmt.Sprintf("/tmp/c%d", i)
			for j := range 10 {
				name := fmt.Sprintf("%s/f%d", dir, j)
				want := fmt.Sprintf("%d-%d", i, j)
				if err := util.WriteFile(b, name, []byte(want), 0o644); err != nil {
					errs <- err
					return
				}
				got, err := util.ReadFile(b, name)
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("%s: %q %v", name, got, err)
					return
				}
				if _, err := b.ReadDir("/etc"); err != nil {
					errs <- err
					return
				}
			}
			if err := util.RemoveAll(b, dir); err != nil {
				errs <- err
			}
		}()
	}
	// One file shared by all, through one File.
	f, err := b.Create("/tmp/shared")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := f.Write([]byte{byte('a' + i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f.Close()
	if fi, err := b.Stat("/tmp/shared"); err != nil || fi.Size() != 40 {
		t.Errorf("shared file: %v %v", fi, err)
	}
	if ents, _ := b.ReadDir("/tmp"); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("/tmp after RemoveAll: %v", names)
	}
}

func TestFileMode(t *testing.T) {
	for _, c := range []struct {
		unix uint32
		want os.FileMode
	}{
		{syscall.S_IFREG | 0o644, 0o644},
		{syscall.S_IFREG | 0o4755, os.ModeSetuid | 0o755},
		{syscall.S_IFDIR | 0o1777, os.ModeDir | os.ModeSticky | 0o777},
		{syscall.S_IFDIR | 0o2755, os.ModeDir | os.ModeSetgid | 0o755},
		{syscall.S_IFLNK | 0o777, os.ModeSymlink | 0o777},
		{syscall.S_IFIFO | 0o600, os.ModeNamedPipe | 0o600},
		{syscall.S_IFSOCK | 0o755, os.ModeSocket | 0o755},
		{syscall.S_IFCHR | 0o666, os.ModeDevice | os.ModeCharDevice | 0o666},
		{syscall.S_IFBLK | 0o660, os.ModeDevice | 0o660},
	} {
		if got := billyfs.FileMode(c.unix); got != c.want {
			t.Errorf("FileMode(%o) = %v, want %v", c.unix, got, c.want)
		}
	}
}
