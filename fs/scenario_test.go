package fs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"statelite/fs"
)

// classKind groups the litefile options by what
// docs/behaviour.md#what-a-node-sees-at-each-path promises for them.
type classKind int

const (
	kVolatile   classKind = iota // tmpfs family: copy-on-write over the live source, reset at boot
	kPersistent                  // PR/key wins, else the live source until the first write
	kReadOnly                    // ro, link,ro, localdisk: live, EROFS
	kCon                         // concatenation of every litetree match, copy-on-write
)

var optionClasses = []struct {
	opt  string
	kind classKind
}{
	{"tmpfs", kVolatile}, {"rw", kVolatile}, {"link", kVolatile}, {"tmpfs,rw", kVolatile}, {"", kVolatile},
	{"bind", kVolatile}, {"tempfs", kVolatile},
	{"persistent", kPersistent}, {"link,persistent", kPersistent},
	{"ro", kReadOnly}, {"link,ro", kReadOnly}, {"localdisk", kReadOnly},
	{"con", kCon}, {"link,con", kCon},
}

func optName(o string) string {
	if o == "" {
		return "blank"
	}
	return strings.ReplaceAll(o, ",", "_")
}

// TestClassFile runs one file entry of every option class through its life: first view,
// live source changes, the first write, isolation from n2, a server restart, a reset and
// a delete.
func TestClassFile(t *testing.T) {
	for _, c := range optionClasses {
		t.Run(optName(c.opt), func(t *testing.T) {
			e := newEnv(t, "/etc/f.conf "+c.opt)
			put(t, e.T1, "etc/f.conf=t1 f\n")
			put(t, e.T2, "etc/f.conf=t2 f\n")
			put(t, e.D, "etc/f.conf=d f\n")
			put(t, e.R, "etc/f.conf=r f\n")
			v1, v2 := e.view("n1"), e.view("n2")
			src := func(t1 string) string {
				if c.kind == kCon {
					return t1 + "t2 f\n"
				}
				return t1
			}
			wantContent(t, v1, "/etc/f.conf", src("t1 f\n"))
			a := mustAttr(t, v1, "/etc/f.conf")
			if !a.IsRegular() || a.Mode&0o7777 != 0o644 {
				t.Errorf("/etc/f.conf mode %o, want a regular file 0644 (link options present real files)", a.Mode)
			}

			// docs/behaviour.md#volatile-files: the source is live until the node writes.
			put(t, e.T1, "etc/f.conf=t1 f v2\n")
			wantContent(t, v1, "/etc/f.conf", src("t1 f v2\n"))
			wantContent(t, v2, "/etc/f.conf", src("t1 f v2\n"))

			if c.kind == kReadOnly {
				_, err := v1.Open("/etc/f.conf", os.O_RDWR)
				wantErrno(t, "open rw", err, syscall.EROFS)
				_, err = v1.Open("/etc/f.conf", os.O_WRONLY|os.O_TRUNC)
				wantErrno(t, "open trunc", err, syscall.EROFS)
				_, err = v1.Setattr("/etc/f.conf", fs.SetAttr{Mode: u32(0o600)})
				wantErrno(t, "chmod", err, syscall.EROFS)
				_, err = v1.Setattr("/etc/f.conf", fs.SetAttr{Size: u64(0)})
				wantErrno(t, "truncate", err, syscall.EROFS)
				wantErrno(t, "remove", v1.Remove("/etc/f.conf"), syscall.EROFS)
				wantErrno(t, "rename", v1.Rename("/etc/f.conf", "/etc/g.conf"), syscall.EROFS)
				wantContent(t, v1, "/etc/f.conf", "t1 f v2\n")
				if exists(filepath.Join(e.PR("n1"), "etc")) {
					t.Error("a read-only entry wrote into PR")
				}
				if s, _ := hostRead(filepath.Join(e.T1, "etc/f.conf")); s != "t1 f v2\n" {
					t.Errorf("source changed: %q", s)
				}
				return
			}

			// The first write copies the one file up; it is private to n1.
			mustWrite(t, v1, "/etc/f.conf", "n1 data\n")
			wantContent(t, v1, "/etc/f.conf", "n1 data\n")
			wantContent(t, v2, "/etc/f.conf", src("t1 f v2\n"))
			put(t, e.T1, "etc/f.conf=t1 f v3\n")
			wantContent(t, v1, "/etc/f.conf", "n1 data\n")
			wantContent(t, v2, "/etc/f.conf", src("t1 f v3\n"))
			for _, l := range []string{e.T1, e.T2, e.D, e.R} {
				if s, _ := hostRead(filepath.Join(l, "etc/f.conf")); strings.Contains(s, "n1") {
					t.Errorf("n1's write reached layer %s", l)
				}
			}
			pr, inPR := hostRead(filepath.Join(e.PR("n1"), "etc/f.conf"))
			if c.kind == kPersistent {
				if pr != "n1 data\n" {
					t.Errorf("PR(n1)/etc/f.conf = %q, %v; want n1's data", pr, inPR)
				}
			} else if inPR {
				t.Errorf("volatile write went to PR")
			}
			if exists(filepath.Join(e.PR("n2"), "etc/f.conf")) {
				t.Error("n2 got a persistent copy without writing")
			}

			// A restart of the filesystem object keeps both volatile and persistent data.
			e.start()
			v1, v2 = e.view("n1"), e.view("n2")
			wantContent(t, v1, "/etc/f.conf", "n1 data\n")
			wantContent(t, v2, "/etc/f.conf", src("t1 f v3\n"))

			// Reset (boot) drops volatile changes only.
			e.reset("n1")
			if c.kind == kPersistent {
				wantContent(t, v1, "/etc/f.conf", "n1 data\n")
				// PR/key wins over the source for good.
				put(t, e.T1, "etc/f.conf=t1 f v4\n")
				wantContent(t, v1, "/etc/f.conf", "n1 data\n")
				// The entry's own path is a mount point on xCAT nodes.
				wantErrno(t, "remove persistent entry", v1.Remove("/etc/f.conf"), syscall.EBUSY)
				return
			}
			wantContent(t, v1, "/etc/f.conf", src("t1 f v3\n"))
			put(t, e.T1, "etc/f.conf=t1 f v4\n")
			wantContent(t, v1, "/etc/f.conf", src("t1 f v4\n"))

			// Deletes leave a whiteout; a re-create works and is private.
			wantOK(t, "remove", v1.Remove("/etc/f.conf"))
			wantGone(t, v1, "/etc/f.conf")
			wantContent(t, v2, "/etc/f.conf", src("t1 f v4\n"))
			if n := mustNames(t, v1, "/etc"); strings.Contains(n, "f.conf") {
				t.Errorf("ls /etc after delete: %s", n)
			}
			mustWrite(t, v1, "/etc/f.conf", "again\n")
			wantContent(t, v1, "/etc/f.conf", "again\n")
			e.reset("n1")
			wantContent(t, v1, "/etc/f.conf", src("t1 f v4\n"))
		})
	}
}

// TestClassDir runs a directory entry of every class that may name a directory.
func TestClassDir(t *testing.T) {
	for _, c := range optionClasses {
		if c.kind == kCon {
			continue // con is for files only
		}
		t.Run(optName(c.opt), func(t *testing.T) {
			e := newEnv(t, "/srv/d/ "+c.opt)
			put(t, e.T1, "srv/d/a=t1 a\n", "srv/d/sub/b=t1 b\n")
			put(t, e.T2, "srv/d/c=t2 c\n")
			put(t, e.D, "srv/d/z=d z\n")
			v1, v2 := e.view("n1"), e.view("n2")
			// docs/behaviour.md#litetree-sources-and-priorities: first match only, no merge.
			wantNames(t, v1, "/srv/d", "a sub")
			wantNames(t, v1, "/srv", "d")
			put(t, e.T1, "srv/d/new=t1 new\n")
			wantNames(t, v1, "/srv/d", "a new sub")
			wantContent(t, v1, "/srv/d/new", "t1 new\n")

			if c.kind == kReadOnly {
				_, _, err := v1.Create("/srv/d/x", 0o644, fs.Root)
				wantErrno(t, "create", err, syscall.EROFS)
				_, err = v1.Mkdir("/srv/d/y", 0o755, fs.Root)
				wantErrno(t, "mkdir", err, syscall.EROFS)
				wantErrno(t, "remove", v1.Remove("/srv/d/a"), syscall.EROFS)
				wantErrno(t, "rmdir", v1.Rmdir("/srv/d/sub"), syscall.EROFS)
				wantErrno(t, "rename", v1.Rename("/srv/d/a", "/srv/d/a2"), syscall.EROFS)
				_, err = v1.Symlink("a", "/srv/d/l", fs.Root)
				wantErrno(t, "symlink", err, syscall.EROFS)
				_, err = v1.Link("/srv/d/a", "/srv/d/h")
				wantErrno(t, "link", err, syscall.EROFS)
				_, err = v1.Mknod("/srv/d/p", syscall.S_IFIFO|0o644, 0, fs.Root)
				wantErrno(t, "mknod", err, syscall.EROFS)
				_, err = v1.Open("/srv/d/sub/b", os.O_WRONLY)
				wantErrno(t, "open", err, syscall.EROFS)
				wantNames(t, v1, "/srv/d", "a new sub")
				return
			}

			mustWrite(t, v1, "/srv/d/a", "n1 a\n")
			mustWrite(t, v1, "/srv/d/x", "n1 x\n")
			wantNames(t, v1, "/srv/d", "a new sub x")
			wantNames(t, v2, "/srv/d", "a new sub")
			wantContent(t, v2, "/srv/d/a", "t1 a\n")

			// Source changes after the first write: live for volatile (only the written file
			// is the node's), hidden for persistent (docs/behaviour.md#persistent-files: the
			// directory was copied whole).
			put(t, e.T1, "srv/d/later=t1 later\n", "srv/d/sub/b=t1 b v2\n")
			if c.kind == kPersistent {
				wantNames(t, v1, "/srv/d", "a new sub x")
				wantContent(t, v1, "/srv/d/sub/b", "t1 b\n")
				if s, _ := hostRead(filepath.Join(e.PR("n1"), "srv/d/sub/b")); s != "t1 b\n" {
					t.Errorf("PR(n1)/srv/d/sub/b = %q: the directory was not copied whole", s)
				}
			} else {
				wantNames(t, v1, "/srv/d", "a later new sub x")
				wantContent(t, v1, "/srv/d/sub/b", "t1 b v2\n")
				if exists(filepath.Join(e.PR("n1"), "srv")) {
					t.Error("volatile write went to PR")
				}
			}
			wantNames(t, v2, "/srv/d", "a later new sub")

			// rmdir of a non-empty directory; a directory re-created after its delete is
			// opaque: the lower files that were deleted do not come back.
			wantErrno(t, "rmdir sub", v1.Rmdir("/srv/d/sub"), syscall.ENOTEMPTY)
			wantOK(t, "remove sub/b", v1.Remove("/srv/d/sub/b"))
			wantOK(t, "rmdir sub", v1.Rmdir("/srv/d/sub"))
			wantGone(t, v1, "/srv/d/sub")
			_, err := v1.Mkdir("/srv/d/sub", 0o750, fs.Root)
			wantOK(t, "mkdir sub", err)
			wantNames(t, v1, "/srv/d/sub", "")
			if a := mustAttr(t, v1, "/srv/d/sub"); a.Mode&0o7777 != 0o750 || !a.IsDir() {
				t.Errorf("re-created sub mode %o", a.Mode)
			}
			put(t, e.T1, "srv/d/sub/c=t1 c\n")
			wantNames(t, v1, "/srv/d/sub", "")
			wantNames(t, v2, "/srv/d/sub", "b c")

			// Delete and re-create a file.
			wantOK(t, "remove a", v1.Remove("/srv/d/a"))
			wantGone(t, v1, "/srv/d/a")
			wantContent(t, v2, "/srv/d/a", "t1 a\n")
			mustWrite(t, v1, "/srv/d/a", "a again\n")
			wantContent(t, v1, "/srv/d/a", "a again\n")

			e.start()
			v1 = e.view("n1")
			wantContent(t, v1, "/srv/d/a", "a again\n")
			wantNames(t, v1, "/srv/d/sub", "")

			e.reset("n1")
			if c.kind == kPersistent {
				wantNames(t, v1, "/srv/d", "a new sub x")
				wantContent(t, v1, "/srv/d/a", "a again\n")
				wantErrno(t, "rmdir entry", v1.Rmdir("/srv/d"), syscall.EBUSY)
			} else {
				wantNames(t, v1, "/srv/d", "a later new sub")
				wantContent(t, v1, "/srv/d/a", "t1 a\n")
				wantNames(t, v1, "/srv/d/sub", "b c")
			}
		})
	}
}

// TestImagePaths: paths no entry covers are the image, live and read-only.
func TestImagePaths(t *testing.T) {
	e := newEnv(t, "/tmp/ tmpfs")
	v := e.view("n1")
	wantContent(t, v, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
	put(t, e.R, "etc/passwd=root:x:0:0::/root:/bin/sh\n", "etc/newfile=new\n")
	wantContent(t, v, "/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
	wantContent(t, v, "/etc/newfile", "new\n")
	_, err := v.Open("/etc/passwd", os.O_WRONLY)
	wantErrno(t, "open", err, syscall.EROFS)
	_, _, err = v.Create("/etc/x", 0o644, fs.Root)
	wantErrno(t, "create", err, syscall.EROFS)
	_, err = v.Mkdir("/etc/d", 0o755, fs.Root)
	wantErrno(t, "mkdir", err, syscall.EROFS)
	_, err = v.Symlink("/x", "/etc/l", fs.Root)
	wantErrno(t, "symlink", err, syscall.EROFS)
	_, err = v.Mknod("/etc/p", syscall.S_IFIFO|0o644, 0, fs.Root)
	wantErrno(t, "mknod", err, syscall.EROFS)
	_, err = v.Link("/etc/passwd", "/etc/p2")
	wantErrno(t, "link", err, syscall.EROFS)
	wantErrno(t, "remove", v.Remove("/etc/passwd"), syscall.EROFS)
	wantErrno(t, "rmdir", v.Rmdir("/usr/bin"), syscall.EROFS)
	wantErrno(t, "rename", v.Rename("/etc/passwd", "/etc/passwd2"), syscall.EROFS)
	_, err = v.Setattr("/etc/passwd", fs.SetAttr{Mode: u32(0o600)})
	wantErrno(t, "chmod", err, syscall.EROFS)
	_, err = v.Setattr("/usr/bin/tool", fs.SetAttr{Size: u64(0)})
	wantErrno(t, "truncate", err, syscall.EROFS)
	if s, _ := hostRead(filepath.Join(e.R, "etc/passwd")); s != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("image changed: %q", s)
	}
	wantGone(t, v, "/etc/x")
	wantGone(t, v, "/nonexistent")
	// The default tree is not part of the view's namespace at /.default? It is a
	// directory of the image like any other: read-only.
	_, _, err = v.Create("/.default/x", 0o644, fs.Root)
	if err == nil {
		t.Error("create under /.default succeeded")
	}
}

// TestNested: each entry governs its own subtree with its own option
// (docs/behaviour.md#nested-entries).
func TestNested(t *testing.T) {
	e := newEnv(t, "/var/ tmpfs", "/var/lib/app/ persistent", "/var/ro/ ro")
	// T1 holds the children's trees, so it is skipped for /var/ (child-skip rule, docs/behaviour.md#nested-entries:
	// it contains the direct child /var/ro); /var/ comes from the default tree.
	put(t, e.T1, "var/lib/app/db=t1 db\n", "var/ro/f=t1 ro\n")
	put(t, e.D, "var/log/x=d log\n", "var/lib/other=d other\n", "var/spool/")
	v1, v2 := e.view("n1"), e.view("n2")
	wantNames(t, v1, "/var", "lib log ro spool")
	wantNames(t, v1, "/var/lib", "app other")
	wantContent(t, v1, "/var/lib/app/db", "t1 db\n")
	wantContent(t, v1, "/var/ro/f", "t1 ro\n")

	mustWrite(t, v1, "/var/log/x", "n1 log\n")
	mustWrite(t, v1, "/var/newfile", "n1 new\n")
	mustWrite(t, v1, "/var/lib/app/db", "n1 db\n")
	mustWrite(t, v1, "/var/lib/app/more", "n1 more\n")
	wantErrno(t, "write ro child", write(v1, "/var/ro/f", "x"), syscall.EROFS)
	wantErrno(t, "create in ro child", write(v1, "/var/ro/new", "x"), syscall.EROFS)
	if s, _ := hostRead(filepath.Join(e.PR("n1"), "var/lib/app/db")); s != "n1 db\n" {
		t.Errorf("PR(n1)/var/lib/app/db = %q", s)
	}
	if exists(filepath.Join(e.PR("n1"), "var/log")) {
		t.Error("volatile parent data went to PR")
	}
	// The directories leading to child entries cannot go away.
	wantErrno(t, "rmdir /var/lib", v1.Rmdir("/var/lib"), syscall.EBUSY)
	wantErrno(t, "rename /var/lib", v1.Rename("/var/lib", "/var/lib2"), syscall.EBUSY)
	wantErrno(t, "rmdir /var/ro", v1.Rmdir("/var/ro"), syscall.EROFS)
	// Renames between classes.
	wantErrno(t, "rename volatile->persistent", v1.Rename("/var/log/x", "/var/lib/app/x"), syscall.EXDEV)
	wantErrno(t, "rename persistent->volatile", v1.Rename("/var/lib/app/db", "/var/log/db"), syscall.EXDEV)
	wantErrno(t, "rename volatile->ro", v1.Rename("/var/log/x", "/var/ro/x"), syscall.EROFS)
	wantErrno(t, "rename volatile->image", v1.Rename("/var/log/x", "/etc/x"), syscall.EROFS)
	wantContent(t, v1, "/var/log/x", "n1 log\n")

	wantContent(t, v2, "/var/log/x", "d log\n")
	wantNames(t, v2, "/var/lib/app", "db")

	e.reset("n1")
	wantContent(t, v1, "/var/log/x", "d log\n")
	wantGone(t, v1, "/var/newfile")
	wantContent(t, v1, "/var/lib/app/db", "n1 db\n")
	wantNames(t, v1, "/var/lib/app", "db more")
	wantNames(t, v1, "/var", "lib log ro spool")
}

// TestRenameVolatile: renames inside volatile areas, of files and directories.
func TestRenameVolatile(t *testing.T) {
	e := newEnv(t, "/tmp/ tmpfs", "/srv/ tmpfs")
	put(t, e.R, "tmp/a=img a\n", "tmp/dir/f=img f\n", "tmp/dir/g=img g\n", "tmp/over=img over\n")
	v := e.view("n1")
	wantOK(t, "rename file", v.Rename("/tmp/a", "/tmp/b"))
	wantGone(t, v, "/tmp/a")
	wantContent(t, v, "/tmp/b", "img a\n")
	wantOK(t, "rename over existing", v.Rename("/tmp/b", "/tmp/over"))
	wantContent(t, v, "/tmp/over", "img a\n")
	wantGone(t, v, "/tmp/b")
	wantOK(t, "rename dir", v.Rename("/tmp/dir", "/srv/dir2"))
	wantGone(t, v, "/tmp/dir")
	wantNames(t, v, "/srv/dir2", "f g")
	wantContent(t, v, "/srv/dir2/g", "img g\n")
	wantNames(t, v, "/tmp", "over")
	// A directory renamed onto an empty one replaces it.
	_, err := v.Mkdir("/tmp/empty", 0o755, fs.Root)
	wantOK(t, "mkdir", err)
	wantOK(t, "rename dir over empty dir", v.Rename("/srv/dir2", "/tmp/empty"))
	wantNames(t, v, "/tmp/empty", "f g")
	_, err = v.Mkdir("/tmp/full", 0o755, fs.Root)
	wantOK(t, "mkdir", err)
	mustWrite(t, v, "/tmp/full/x", "x")
	wantErrno(t, "rename onto non-empty", v.Rename("/tmp/empty", "/tmp/full"), syscall.ENOTEMPTY)
	wantErrno(t, "rename into itself", v.Rename("/tmp/full", "/tmp/full/sub"), syscall.EINVAL)
	// The image underneath is untouched; a reset brings it back.
	if !exists(filepath.Join(e.R, "tmp/dir/f")) || !exists(filepath.Join(e.R, "tmp/a")) {
		t.Error("rename changed the image")
	}
	e.reset("n1")
	wantNames(t, v, "/tmp", "a dir over")
	wantNames(t, v, "/srv", "")
}

// TestMissingEntries: entries found nowhere are empty files or directories (docs/behaviour.md#missing-paths), and
// the directories leading to entries exist even where the image lacks them.
func TestMissingEntries(t *testing.T) {
	e := newEnv(t, "/etc/nothere tmpfs", "/opt/nodir/ tmpfs", "/etc/pmissing persistent", "/etc/romissing ro",
		"/new/deep/file.conf tmpfs", "/cfg/sub/ ro")
	v := e.view("n1")
	for _, p := range []string{"/etc/nothere", "/etc/pmissing", "/etc/romissing", "/new/deep/file.conf"} {
		a := mustAttr(t, v, p)
		if !a.IsRegular() || a.Mode&0o7777 != 0o644 || a.UID != 0 || a.GID != 0 || a.Size != 0 {
			t.Errorf("%s: mode %o uid %d gid %d size %d, want an empty 0644 root file", p, a.Mode, a.UID, a.GID, a.Size)
		}
		wantContent(t, v, p, "")
	}
	for _, p := range []string{"/opt/nodir", "/new", "/new/deep", "/cfg", "/cfg/sub"} {
		a := mustAttr(t, v, p)
		if !a.IsDir() || a.Mode&0o7777 != 0o755 || a.UID != 0 {
			t.Errorf("%s: mode %o uid %d, want a 0755 root directory", p, a.Mode, a.UID)
		}
	}
	wantNames(t, v, "/opt/nodir", "")
	wantNames(t, v, "/new", "deep")
	wantNames(t, v, "/new/deep", "file.conf")
	if n := mustNames(t, v, "/"); !strings.Contains(" "+n+" ", " new ") || !strings.Contains(" "+n+" ", " opt ") {
		t.Errorf("ls / = %s", n)
	}
	mustWrite(t, v, "/etc/nothere", "now here\n")
	wantContent(t, v, "/etc/nothere", "now here\n")
	mustWrite(t, v, "/etc/pmissing", "p\n")
	if s, _ := hostRead(filepath.Join(e.PR("n1"), "etc/pmissing")); s != "p\n" {
		t.Errorf("PR/etc/pmissing = %q", s)
	}
	wantErrno(t, "write ro missing", write(v, "/etc/romissing", "x"), syscall.EROFS)
	mustWrite(t, v, "/opt/nodir/f", "f\n")
	wantNames(t, v, "/opt/nodir", "f")
	mustWrite(t, v, "/new/deep/file.conf", "deep\n")
	// The made-up directories on the way are image paths: read-only.
	wantErrno(t, "create in synthetic parent", write(v, "/new/x", "x"), syscall.EROFS)
	wantErrno(t, "create in ro synthetic", write(v, "/cfg/sub/x", "x"), syscall.EROFS)
	e.reset("n1")
	wantContent(t, v, "/etc/nothere", "")
	wantContent(t, v, "/etc/pmissing", "p\n")
	wantNames(t, v, "/opt/nodir", "")
	// A source appearing later is seen at once.
	put(t, e.T2, "etc/nothere=t2 here\n")
	wantContent(t, v, "/etc/nothere", "t2 here\n")
}

func TestMtab(t *testing.T) {
	for _, rows := range [][]string{{"/tmp/ tmpfs"}, {"/etc/mtab tmpfs"}, {"/etc/mtab persistent"}, {"/etc/ tmpfs"}} {
		t.Run(optName(strings.Join(rows, ",")), func(t *testing.T) {
			e := newEnv(t, rows...)
			put(t, e.R, "etc/mtab=a regular file in the image\n")
			v := e.view("n1")
			a := mustAttr(t, v, "/etc/mtab")
			if !a.IsSymlink() {
				t.Errorf("/etc/mtab mode %o, want a symlink", a.Mode)
			}
			l, err := v.Readlink("/etc/mtab")
			if err != nil || l != "/proc/self/mounts" {
				t.Errorf("readlink /etc/mtab = %q, %v", l, err)
			}
			if n := mustNames(t, v, "/etc"); !strings.Contains(n, "mtab") {
				t.Errorf("ls /etc = %s", n)
			}
		})
	}
}

func TestSpecialFiles(t *testing.T) {
	e := newEnv(t, "/tmp/ tmpfs", "/etc/f.conf tmpfs")
	put(t, e.T1, "etc/f.conf=t1 f\n")
	v := e.view("n1")
	// Hard link within /tmp.
	mustWrite(t, v, "/tmp/a", "a\n")
	a, err := v.Link("/tmp/a", "/tmp/b")
	wantOK(t, "link", err)
	if a.Nlink != 2 {
		t.Errorf("nlink after link = %d", a.Nlink)
	}
	if err := appendTo(v, "/tmp/b", "via b\n"); err != nil {
		t.Fatal(err)
	}
	wantContent(t, v, "/tmp/a", "a\nvia b\n")
	if x, y := mustAttr(t, v, "/tmp/a"), mustAttr(t, v, "/tmp/b"); x.FileID != y.FileID {
		t.Errorf("hard links have file ids %x and %x", x.FileID, y.FileID)
	}
	_, err = v.Link("/tmp/a", "/etc/a")
	wantErrno(t, "link into image", err, syscall.EROFS)
	_, err = v.Link("/tmp", "/tmp/dirlink")
	wantErrno(t, "link a directory", err, syscall.EPERM)
	_, err = v.Link("/etc/passwd", "/tmp/pw")
	if err == nil {
		t.Error("hard link from an image file into /tmp succeeded")
	}

	// fifo and character device (we run as root).
	a, err = v.Mknod("/tmp/fifo", syscall.S_IFIFO|0o640, 0, fs.Root)
	wantOK(t, "mknod fifo", err)
	if a.Mode&syscall.S_IFMT != syscall.S_IFIFO || a.Mode&0o7777 != 0o640 {
		t.Errorf("fifo mode %o", a.Mode)
	}
	if os.Geteuid() == 0 {
		dev := uint64(1<<8 | 3) // 1,3 = /dev/null
		a, err = v.Mknod("/tmp/null", syscall.S_IFCHR|0o666, dev, fs.Root)
		wantOK(t, "mknod chr", err)
		if a.Mode&syscall.S_IFMT != syscall.S_IFCHR || a.Rdev != dev {
			t.Errorf("char device mode %o rdev %x", a.Mode, a.Rdev)
		}
	}
	_, err = v.Mknod("/tmp/reg", syscall.S_IFREG|0o644, 0, fs.Root)
	wantErrno(t, "mknod regular", err, syscall.EINVAL)

	// setuid set by Setattr, on a new file and on a copied-up lower file.
	mustWrite(t, v, "/tmp/suid", "#!/bin/sh\n")
	a, err = v.Setattr("/tmp/suid", fs.SetAttr{Mode: u32(0o4755)})
	wantOK(t, "chmod 4755", err)
	if a.Mode&0o7777 != 0o4755 || mustAttr(t, v, "/tmp/suid").Mode&0o7777 != 0o4755 {
		t.Errorf("mode after chmod 4755 = %o", mustAttr(t, v, "/tmp/suid").Mode)
	}
	_, err = v.Setattr("/etc/f.conf", fs.SetAttr{Mode: u32(0o2750)})
	wantOK(t, "chmod lower file", err)
	if m := mustAttr(t, v, "/etc/f.conf").Mode & 0o7777; m != 0o2750 {
		t.Errorf("lower file mode after chmod = %o", m)
	}
	wantContent(t, v, "/etc/f.conf", "t1 f\n")
	if fi, _ := os.Stat(filepath.Join(e.T1, "etc/f.conf")); fi.Mode().Perm() != 0o644 {
		t.Errorf("chmod reached the source: %v", fi.Mode())
	}
	// Directories with the sticky bit.
	_, err = v.Mkdir("/tmp/sticky", 0o1777, fs.Root)
	wantOK(t, "mkdir 1777", err)
	if m := mustAttr(t, v, "/tmp/sticky").Mode & 0o7777; m != 0o1777 {
		t.Errorf("sticky dir mode %o", m)
	}
	// Owners come from the caller.
	_, ca, err := v.Create("/tmp/owned", 0o600, fs.Cred{UID: 1000, GID: 100})
	wantOK(t, "create as 1000", err)
	if ca.UID != 1000 || ca.GID != 100 || ca.Mode&0o7777 != 0o600 {
		t.Errorf("created attr uid %d gid %d mode %o", ca.UID, ca.GID, ca.Mode)
	}
	// A symlink is stored verbatim.
	_, err = v.Symlink("../etc/passwd", "/tmp/l", fs.Root)
	wantOK(t, "symlink", err)
	if l, err := v.Readlink("/tmp/l"); l != "../etc/passwd" || err != nil {
		t.Errorf("readlink = %q, %v", l, err)
	}
	// Truncate through Setattr.
	_, err = v.Setattr("/tmp/a", fs.SetAttr{Size: u64(1)})
	wantOK(t, "truncate", err)
	wantContent(t, v, "/tmp/b", "a")
	// Times set on a lower file (a copy-up).
	mt := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	_, err = v.Setattr("/etc/f.conf", fs.SetAttr{Mtime: &mt})
	wantOK(t, "utimes", err)
	if a := mustAttr(t, v, "/etc/f.conf"); !a.Mtime.Equal(mt) {
		t.Errorf("mtime %v, want %v", a.Mtime, mt)
	}
	// A hard link to a lower file copies it up first; the source keeps one link.
	put(t, e.R, "tmp/lowerfile=lower\n")
	_, err = v.Link("/tmp/lowerfile", "/tmp/lowerlink")
	wantOK(t, "link lower file", err)
	wantContent(t, v, "/tmp/lowerlink", "lower\n")
	if a := mustAttr(t, v, "/tmp/lowerfile"); a.Nlink != 2 {
		t.Errorf("nlink %d", a.Nlink)
	}
	if fi, _ := os.Stat(filepath.Join(e.R, "tmp/lowerfile")); fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		t.Error("the image file got a link")
	}
}

// TestStatemntMissing: with the statemnt directory gone (an unmounted export), a
// persistent write fails instead of landing on whatever lies beneath (xCAT issue 1873).
func TestStatemntMissing(t *testing.T) {
	e := newEnv(t, "/etc/p.conf persistent", "/srv/pd/ persistent")
	put(t, e.T1, "etc/p.conf=t1\n")
	if err := os.Remove(e.StateMnt); err != nil {
		t.Fatal(err)
	}
	v := e.view("n1")
	wantContent(t, v, "/etc/p.conf", "t1\n")
	if err := write(v, "/etc/p.conf", "n1\n"); err == nil {
		t.Error("persistent write succeeded without the statemnt directory")
	}
	if err := write(v, "/srv/pd/x", "n1\n"); err == nil {
		t.Error("persistent create succeeded without the statemnt directory")
	}
	if exists(e.StateMnt) {
		t.Error("the server made the statemnt directory")
	}
	wantContent(t, v, "/etc/p.conf", "t1\n")
}

// TestTableSwitch: a new snapshot changes a path's behaviour at once.
func TestTableSwitch(t *testing.T) {
	e := newEnv(t, "/etc/sw.conf tmpfs", "/etc/p.conf persistent")
	put(t, e.T1, "etc/sw.conf=t1 sw\n", "etc/p.conf=t1 p\n", "etc/ro.conf=t1 ro\n")
	v := e.view("n1")
	mustWrite(t, v, "/etc/sw.conf", "n1 sw\n")
	wantContent(t, v, "/etc/sw.conf", "n1 sw\n")
	e.setLitefile("/etc/sw.conf ro", "/etc/p.conf persistent", "/etc/ro.conf tmpfs")
	wantContent(t, v, "/etc/sw.conf", "t1 sw\n")
	wantErrno(t, "write after switch to ro", write(v, "/etc/sw.conf", "x"), syscall.EROFS)
	wantContent(t, v, "/etc/ro.conf", "t1 ro\n")
	mustWrite(t, v, "/etc/ro.conf", "now writable\n")
	// An image path that a new entry covers.
	wantGone(t, v, "/etc/old.conf")
	e.setLitefile("/etc/sw.conf tmpfs")
	// Pinned: the node's volatile layer is not dropped by a table change (only a boot
	// drops it), so the earlier write shows again when the path is volatile again.
	wantContent(t, v, "/etc/sw.conf", "n1 sw\n")
	// /etc/p.conf is an image path now (the image has none).
	wantGone(t, v, "/etc/p.conf")
	wantErrno(t, "create image path", write(v, "/etc/p.conf", "x"), syscall.EROFS)
	// A litetree change: a new first source for a path.
	e.setLitefile("/etc/sw.conf tmpfs", "/etc/t.conf ro")
	put(t, e.T2, "etc/t.conf=t2 t\n")
	wantContent(t, v, "/etc/t.conf", "t2 t\n")
	e.setTable("litetree", hdrLitetree+`"1","ALL","`+e.T2+`",,,`+"\n")
	put(t, e.T1, "etc/t.conf=t1 t\n")
	wantContent(t, v, "/etc/t.conf", "t2 t\n")
	e.setTable("litetree", hdrLitetree+`"1","ALL","`+e.T1+`",,,`+"\n"+`"2","ALL","`+e.T2+`",,,`+"\n")
	wantContent(t, v, "/etc/t.conf", "t1 t\n")
}

// TestPersistentWithoutStatelite: a persistent entry of a node without a statelite row is
// served as volatile (docs/behaviour.md#persistent-files).
func TestPersistentWithoutStatelite(t *testing.T) {
	e := newEnv(t, "/etc/p.conf persistent", "/srv/pd/ persistent")
	e.setTable("statelite", hdrStatelite+`"n2",,"`+e.StateMnt+`",,,`+"\n")
	put(t, e.T1, "etc/p.conf=t1 p\n", "srv/pd/a=t1 a\n")
	v1, v2 := e.view("n1"), e.view("n2")
	mustWrite(t, v1, "/etc/p.conf", "n1 p\n")
	mustWrite(t, v1, "/srv/pd/b", "n1 b\n")
	mustWrite(t, v2, "/etc/p.conf", "n2 p\n")
	wantContent(t, v1, "/etc/p.conf", "n1 p\n")
	if exists(e.PR("n1")) {
		t.Error("n1 has a persistent root without a statelite row")
	}
	if s, _ := hostRead(filepath.Join(e.PR("n2"), "etc/p.conf")); s != "n2 p\n" {
		t.Errorf("PR(n2)/etc/p.conf = %q", s)
	}
	// Volatile: later source files still show through (no whole-directory copy).
	put(t, e.T1, "srv/pd/c=t1 c\n")
	wantNames(t, v1, "/srv/pd", "a b c")
	e.start()
	v1, v2 = e.view("n1"), e.view("n2")
	wantContent(t, v1, "/etc/p.conf", "n1 p\n")
	e.reset("n1")
	e.reset("n2")
	wantContent(t, v1, "/etc/p.conf", "t1 p\n")
	wantNames(t, v1, "/srv/pd", "a c")
	wantContent(t, v2, "/etc/p.conf", "n2 p\n")
}

// TestPersistentPRWins: an existing PR/key (e.g. an xCAT state directory) is used as is.
func TestPersistentPRWins(t *testing.T) {
	e := newEnv(t, "/etc/p.conf persistent", "/srv/pd/ persistent")
	put(t, e.T1, "etc/p.conf=t1 p\n", "srv/pd/a=t1 a\n")
	put(t, e.PR("n1"), "etc/p.conf=old xcat p\n", "srv/pd/old=old\n")
	v1, v2 := e.view("n1"), e.view("n2")
	wantContent(t, v1, "/etc/p.conf", "old xcat p\n")
	wantNames(t, v1, "/srv/pd", "old")
	wantContent(t, v2, "/etc/p.conf", "t1 p\n")
	wantNames(t, v2, "/srv/pd", "a")
	// n2's first write into the directory copies it whole.
	mustWrite(t, v2, "/srv/pd/new", "n2 new\n")
	if got := strings.Join(dirNames(t, filepath.Join(e.PR("n2"), "srv/pd")), " "); got != "a new" {
		t.Errorf("PR(n2)/srv/pd = %s", got)
	}
	// Reading does not copy.
	mustRead(t, v2, "/etc/p.conf")
	if exists(filepath.Join(e.PR("n2"), "etc/p.conf")) {
		t.Error("a read copied the file to PR")
	}
	// Setattr is a write.
	_, err := v2.Setattr("/etc/p.conf", fs.SetAttr{Mode: u32(0o600)})
	wantOK(t, "chmod", err)
	if fi, err := os.Stat(filepath.Join(e.PR("n2"), "etc/p.conf")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("PR(n2)/etc/p.conf after chmod: %v %v", fi, err)
	}
	// Deleting PR/key re-seeds from the source.
	os.RemoveAll(filepath.Join(e.PR("n1"), "srv/pd"))
	wantNames(t, v1, "/srv/pd", "a")
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestConcurrentWriters: 8 goroutines copy up and write the same file and their own
// files at once (run with -race).
func TestConcurrentWriters(t *testing.T) {
	e := newEnv(t, "/etc/shared.conf tmpfs", "/srv/ tmpfs", "/var/p/ persistent")
	const n, block = 8, 512
	put(t, e.T1, "etc/shared.conf="+strings.Repeat(".", n*block))
	for i := 0; i < n; i++ {
		put(t, e.T1, fmt.Sprintf("srv/f%d=lower %d\n", i, i), fmt.Sprintf("var/p/f%d=lower %d\n", i, i))
	}
	for round := 0; round < 5; round++ {
		v := e.view("n1")
		var wg sync.WaitGroup
		errs := make(chan error, 10*n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				// Each goroutine writes its own block of the shared file.
				h, err := v.Open("/etc/shared.conf", os.O_RDWR)
				if err != nil {
					errs <- err
					return
				}
				if _, err := h.WriteAt([]byte(strings.Repeat(string(rune('A'+i)), block)), int64(i*block)); err != nil {
					errs <- err
				}
				if err := h.Close(); err != nil {
					errs <- err
				}
				if err := appendTo(v, fmt.Sprintf("/srv/f%d", i), "more\n"); err != nil {
					errs <- err
				}
				if err := appendTo(v, fmt.Sprintf("/var/p/f%d", i), "more\n"); err != nil {
					errs <- err
				}
				if err := write(v, fmt.Sprintf("/srv/new%d", i), "new\n"); err != nil {
					errs <- err
				}
				if _, err := v.ReadDir("/srv"); err != nil {
					errs <- err
				}
				if _, err := read(v, "/etc/shared.conf"); err != nil {
					errs <- err
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		var want strings.Builder
		for i := 0; i < n; i++ {
			want.WriteString(strings.Repeat(string(rune('A'+i)), block))
		}
		wantContent(t, v, "/etc/shared.conf", want.String())
		for i := 0; i < n; i++ {
			wantContent(t, v, fmt.Sprintf("/srv/f%d", i), fmt.Sprintf("lower %d\nmore\n", i))
			wantContent(t, v, fmt.Sprintf("/var/p/f%d", i), fmt.Sprintf("lower %d\n", i)+strings.Repeat("more\n", round+1))
			wantContent(t, v, fmt.Sprintf("/srv/new%d", i), "new\n")
		}
		e.reset("n1")
	}
}

// TestConcurrentNodes: several nodes and resets at once.
func TestConcurrentNodes(t *testing.T) {
	e := newEnv(t, "/tmp/ tmpfs", "/etc/p.conf persistent")
	put(t, e.T1, "etc/p.conf=t1\n")
	var wg sync.WaitGroup
	for _, node := range []string{"n1", "n2"} {
		v := e.view(node)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for j := 0; j < 20; j++ {
					p := fmt.Sprintf("/tmp/%d-%d", i, j)
					if err := write(v, p, node); err != nil {
						t.Errorf("%s %s: %v", node, p, err)
						return
					}
					if s, err := read(v, p); err != nil && !errors.Is(err, syscall.ENOENT) {
						t.Errorf("%s read %s: %v", node, p, err)
					} else if err == nil && s != node {
						t.Errorf("%s read %s = %q", node, p, s)
					}
					if i == 0 && j%5 == 0 {
						if err := v.Reset(); err != nil {
							t.Error(err)
						}
					}
				}
			}(i)
		}
	}
	wg.Wait()
	if s, _ := read(e.view("n2"), "/etc/p.conf"); s != "t1\n" {
		t.Errorf("n2 p.conf = %q", s)
	}
}

// TestSourceChain: the first litetree match, else the default tree, else the image, else
// an empty object (docs/behaviour.md#missing-paths), followed live as the admin removes each.
func TestSourceChain(t *testing.T) {
	for _, opt := range []string{"tmpfs", "ro", "persistent", "con"} {
		t.Run(optName(opt), func(t *testing.T) {
			e := newEnv(t, "/etc/c.conf "+opt, "/srv/cd/ "+opt)
			if opt == "con" {
				e.setLitefile("/etc/c.conf con", "/srv/cd/ tmpfs")
			}
			for _, l := range []struct{ root, tag string }{{e.T1, "t1"}, {e.T2, "t2"}, {e.D, "d"}, {e.R, "r"}} {
				put(t, l.root, "etc/c.conf="+l.tag+"\n", "srv/cd/"+l.tag+"=x\n")
			}
			v := e.view("n1")
			steps := []struct{ file, dir string }{{"t1\n", "t1"}, {"t2\n", "t2"}, {"d\n", "d"}, {"r\n", "r"}, {"", ""}}
			if opt == "con" {
				steps[0].file = "t1\nt2\n"
			}
			for i, s := range steps {
				wantContent(t, v, "/etc/c.conf", s.file)
				wantNames(t, v, "/srv/cd", s.dir)
				if i == 0 {
					// An empty directory in a source does not match: the next one does.
					os.Remove(filepath.Join(e.T1, "srv/cd/t1"))
					wantNames(t, v, "/srv/cd", "t2")
				}
				if i < 4 {
					root := []string{e.T1, e.T2, e.D, e.R}[i]
					os.Remove(filepath.Join(root, "etc/c.conf"))
					os.RemoveAll(filepath.Join(root, "srv/cd"))
				}
			}
			if opt == "ro" {
				wantErrno(t, "write ro", write(v, "/etc/c.conf", "x"), syscall.EROFS)
				return
			}
			// Found nowhere, and still writable.
			mustWrite(t, v, "/etc/c.conf", "n1\n")
			mustWrite(t, v, "/srv/cd/n1", "n1\n")
			wantContent(t, v, "/etc/c.conf", "n1\n")
			wantNames(t, v, "/srv/cd", "n1")
		})
	}
}

// TestConNoMatch: a con entry no litetree source has is the image's file, writable
// copy-on-write (docs/behaviour.md#concatenated-files; xCAT leaves a plain con read-only
// there).
func TestConNoMatch(t *testing.T) {
	e := newEnv(t, "/etc/motd con", "/etc/issue link,con")
	put(t, e.R, "etc/motd=image motd\n")
	put(t, e.D, "etc/issue=default issue\n")
	v1, v2 := e.view("n1"), e.view("n2")
	wantContent(t, v1, "/etc/motd", "image motd\n")
	wantContent(t, v1, "/etc/issue", "default issue\n")
	put(t, e.R, "etc/motd=image motd v2\n")
	wantContent(t, v1, "/etc/motd", "image motd v2\n")
	if err := appendTo(v1, "/etc/motd", "n1 line\n"); err != nil {
		t.Fatal(err)
	}
	wantContent(t, v1, "/etc/motd", "image motd v2\nn1 line\n")
	wantContent(t, v2, "/etc/motd", "image motd v2\n")
	if s, _ := hostRead(filepath.Join(e.R, "etc/motd")); s != "image motd v2\n" {
		t.Errorf("the image changed: %q", s)
	}
	// A litetree source appearing later is used at once by nodes that did not write.
	put(t, e.T2, "etc/motd=t2 motd\n")
	put(t, e.T1, "etc/motd=t1 motd\n")
	wantContent(t, v2, "/etc/motd", "t1 motd\nt2 motd\n")
	wantContent(t, v1, "/etc/motd", "image motd v2\nn1 line\n")
	e.reset("n1")
	wantContent(t, v1, "/etc/motd", "t1 motd\nt2 motd\n")
	if a := mustAttr(t, v1, "/etc/motd"); a.Size != uint64(len("t1 motd\nt2 motd\n")) {
		t.Errorf("con size %d", a.Size)
	}
}

// TestEntryBelowImageFile: where the image has a file on the way to an entry, the view
// shows a directory (else the entry could not be reached). Pinned: an image symlink on
// the way stays a symlink (the node follows it, as an xCAT node's bind mounts did), so
// an entry below it is not reachable by its literal path.
func TestEntryBelowImageFile(t *testing.T) {
	e := newEnv(t, "/new/deep/x tmpfs", "/lnk/sub/ tmpfs")
	put(t, e.R, "new=a file\n", "lnk->etc")
	v := e.view("n1")
	if a := mustAttr(t, v, "/new"); !a.IsDir() {
		t.Errorf("/new mode %o, want a directory", a.Mode)
	}
	wantNames(t, v, "/new", "deep")
	mustWrite(t, v, "/new/deep/x", "x\n")
	wantContent(t, v, "/new/deep/x", "x\n")
	if a := mustAttr(t, v, "/lnk"); !a.IsSymlink() {
		t.Errorf("/lnk mode %o, want the image's symlink", a.Mode)
	}
	if err := write(v, "/lnk/sub/y", "y"); err == nil {
		t.Error("a write through the image's symlink succeeded")
	}
	if exists(filepath.Join(e.R, "etc/sub")) {
		t.Error("the image changed")
	}
}

// TestImageDirReplaced: image files are described afresh at every lookup; a directory
// an admin replaces in the image (rsync into a new tree, then rename) shows within a
// second (lookups keep image directories open for up to a second).
func TestImageDirReplaced(t *testing.T) {
	e := newEnv(t, "/tmp/ tmpfs")
	v := e.view("n1")
	put(t, e.R, "opt/app/conf=one\n")
	wantContent(t, v, "/opt/app/conf", "one\n")
	put(t, e.R, "opt/app/conf=one, longer\n") // in place: seen at once
	if a := mustAttr(t, v, "/opt/app/conf"); a.Size != 12 {
		t.Fatalf("size after an in-place edit: %d, want 12", a.Size)
	}
	put(t, e.R, "opt/app.new/conf=two, the new tree\n")
	if err := os.Rename(filepath.Join(e.R, "opt/app"), filepath.Join(e.R, "opt/app.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.R, "opt/app.new"), filepath.Join(e.R, "opt/app")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for mustAttr(t, v, "/opt/app/conf").Size != 18 {
		if time.Now().After(deadline) {
			t.Fatal("the replaced image directory is not seen after 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantContent(t, v, "/opt/app/conf", "two, the new tree\n")
	// Removing the directory altogether: gone within a second too.
	if err := os.RemoveAll(filepath.Join(e.R, "opt/app")); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(3 * time.Second)
	for {
		if _, err := v.Getattr("/opt/app/conf"); err != nil {
			wantErrno(t, "getattr", err, syscall.ENOENT)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a removed image directory's file is still there after 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPersistentDirRemoved: an admin removes a node's persistent directory while the
// node runs; its persistent files are gone, and its next write makes the directory anew
// and is there at once (not after the layers' periodic re-check).
func TestPersistentDirRemoved(t *testing.T) {
	e := newEnv(t, "/root/ persistent", "/tmp/ tmpfs")
	v := e.view("n1")
	mustWrite(t, v, "/root/a", "1")
	if err := os.RemoveAll(e.PR("n1")); err != nil {
		t.Fatal(err)
	}
	wantGone(t, v, "/root/a")
	mustWrite(t, v, "/root/b", "2")
	wantContent(t, v, "/root/b", "2")
	wantNames(t, v, "/root", "b")
	if s, ok := hostRead(filepath.Join(e.PR("n1"), "root/b")); !ok || s != "2" {
		t.Fatalf("PR(n1)/root/b: %q %v", s, ok)
	}
}
