package fs_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"statelite/fs"
)

// userXattrs reports whether the filesystem of dir supports user extended attributes
// (the engine records a copied-up object's file id in one).
func userXattrs(t *testing.T, dir string) bool {
	t.Helper()
	f := filepath.Join(dir, "xattr-probe")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f)
	return syscall.Setxattr(f, "user.statelite.probe", []byte("1"), 0) == nil
}

func id(t *testing.T, v *fs.View, p string) uint64 {
	t.Helper()
	a := mustAttr(t, v, p)
	if a.FileID == 0 {
		t.Errorf("%s: file id 0", p)
	}
	return a.FileID
}

func sameID(t *testing.T, what string, a, b uint64) {
	t.Helper()
	if a != b {
		t.Errorf("%s: file id changed %x -> %x", what, a, b)
	}
}

func otherID(t *testing.T, what string, a, b uint64) {
	t.Helper()
	if a == b {
		t.Errorf("%s: file id %x stayed the same for a different object", what, a)
	}
}

var idRows = []string{"/tmp/ tmpfs", "/etc/f.conf tmpfs", "/etc/p.conf persistent", "/srv/pd/ persistent",
	"/etc/motd con", "/etc/synth tmpfs", "/opt/sd/ tmpfs", "/etc/ro.conf ro", "/etc/sel.conf tmpfs"}

func idEnv(t *testing.T) *env {
	e := newEnv(t, idRows...)
	put(t, e.T1, "etc/f.conf=t1 f\n", "etc/p.conf=t1 p\n", "srv/pd/a=t1 a\n", "srv/pd/sub/b=t1 b\n",
		"etc/motd=t1 motd\n", "etc/ro.conf=t1 ro\n")
	put(t, e.T2, "etc/motd=t2 motd\n", "etc/sel.conf=t2 sel\n")
	put(t, e.R, "tmp/lower=img lower\n")
	return e
}

var idPaths = []string{"/", "/etc", "/etc/passwd", "/usr/bin/tool", "/tmp", "/tmp/lower", "/etc/f.conf", "/etc/p.conf",
	"/srv", "/srv/pd", "/srv/pd/a", "/srv/pd/sub", "/srv/pd/sub/b", "/etc/motd", "/etc/synth", "/opt", "/opt/sd",
	"/etc/ro.conf", "/etc/sel.conf", "/etc/mtab"}

func allIDs(t *testing.T, v *fs.View) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, p := range idPaths {
		m[p] = id(t, v, p)
	}
	return m
}

func TestIDsStable(t *testing.T) {
	e := idEnv(t)
	v := e.view("n1")
	before := allIDs(t, v)
	seen := map[uint64]string{}
	for p, i := range before {
		if q, dup := seen[i]; dup {
			t.Errorf("%s and %s share file id %x", p, q, i)
		}
		seen[i] = p
	}
	for range 3 {
		for p, i := range allIDs(t, v) {
			sameID(t, "repeated getattr of "+p, before[p], i)
		}
	}
	// ReadDir reports the same ids as Getattr.
	ents, err := v.ReadDir("/etc")
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		if want, ok := before["/etc/"+de.Name]; ok {
			sameID(t, "readdir /etc/"+de.Name, want, de.Attr.FileID)
		}
	}
	// A table reload that leaves the objects the same (an unrelated row added).
	e.setLitefile(append(append([]string{}, idRows...), "/var/unrelated/ tmpfs")...)
	for p, i := range allIDs(t, v) {
		sameID(t, "table reload, "+p, before[p], i)
	}
	// A server restart.
	e.start()
	v = e.view("n1")
	for p, i := range allIDs(t, v) {
		sameID(t, "restart, "+p, before[p], i)
	}
	// A source edited in place keeps its identity; n2 sees the same ids for shared
	// lower objects.
	put(t, e.T1, "etc/f.conf=t1 f edited\n")
	sameID(t, "source edited in place", before["/etc/f.conf"], id(t, v, "/etc/f.conf"))
}

func TestIDsCopyUp(t *testing.T) {
	e := idEnv(t)
	if !userXattrs(t, e.State) || !userXattrs(t, e.StateMnt) {
		t.Skip("the state directory's filesystem has no user xattrs: file ids change at copy-up")
	}
	v := e.view("n1")
	before := allIDs(t, v)
	mustWrite(t, v, "/etc/f.conf", "n1 f\n")
	mustWrite(t, v, "/tmp/lower", "n1 lower\n")
	mustWrite(t, v, "/etc/p.conf", "n1 p\n")
	mustWrite(t, v, "/srv/pd/sub/new", "n1 new\n") // copies /srv/pd whole
	mustWrite(t, v, "/etc/motd", "n1 motd\n")
	mustWrite(t, v, "/etc/synth", "n1 synth\n")
	mustWrite(t, v, "/opt/sd/x", "x\n") // copies up the synthetic directory
	_, err := v.Setattr("/etc", fs.SetAttr{Mode: u32(0o700)})
	wantErrno(t, "chmod image dir", err, syscall.EROFS)
	after := allIDs(t, v)
	for _, p := range idPaths {
		sameID(t, "copy-up, "+p, before[p], after[p])
	}
	e.start()
	v = e.view("n1")
	for p, i := range allIDs(t, v) {
		sameID(t, "copy-up then restart, "+p, before[p], i)
	}
	// A rename keeps the object.
	i := id(t, v, "/tmp/lower")
	wantOK(t, "rename", v.Rename("/tmp/lower", "/tmp/moved"))
	sameID(t, "rename", i, id(t, v, "/tmp/moved"))
	i = id(t, v, "/srv/pd/a")
	wantOK(t, "rename persistent", v.Rename("/srv/pd/a", "/srv/pd/a2"))
	sameID(t, "rename persistent", i, id(t, v, "/srv/pd/a2"))
}

func TestIDsChange(t *testing.T) {
	e := idEnv(t)
	v := e.view("n1")
	// Delete and create: a different object, also when the file system reuses the inode.
	mustWrite(t, v, "/tmp/x", "one\n")
	for range 5 {
		i := id(t, v, "/tmp/x")
		wantOK(t, "remove", v.Remove("/tmp/x"))
		mustWrite(t, v, "/tmp/x", "two\n")
		otherID(t, "delete + create /tmp/x", i, id(t, v, "/tmp/x"))
	}
	i := id(t, v, "/tmp/lower")
	wantOK(t, "remove lower", v.Remove("/tmp/lower"))
	mustWrite(t, v, "/tmp/lower", "new\n")
	otherID(t, "delete + create over a lower file", i, id(t, v, "/tmp/lower"))
	_, err := v.Mkdir("/tmp/d", 0o755, fs.Root)
	wantOK(t, "mkdir", err)
	for range 3 {
		i = id(t, v, "/tmp/d")
		wantOK(t, "rmdir", v.Rmdir("/tmp/d"))
		_, err = v.Mkdir("/tmp/d", 0o755, fs.Root)
		wantOK(t, "mkdir", err)
		otherID(t, "rmdir + mkdir", i, id(t, v, "/tmp/d"))
	}
	// A table change selecting another litetree source for the path.
	i = id(t, v, "/etc/ro.conf")
	put(t, e.T2, "etc/ro.conf=t2 ro\n")
	sameID(t, "a lower-priority source appears", i, id(t, v, "/etc/ro.conf"))
	e.setTable("litetree", hdrLitetree+`"1","ALL","`+e.T2+`",,,`+"\n"+`"2","ALL","`+e.T1+`",,,`+"\n")
	wantContent(t, v, "/etc/ro.conf", "t2 ro\n")
	otherID(t, "another litetree source", i, id(t, v, "/etc/ro.conf"))
	// An option change from ro to tmpfs over the same source keeps the object.
	i = id(t, v, "/etc/ro.conf")
	rows := append([]string{}, idRows...)
	rows[7] = "/etc/ro.conf tmpfs"
	e.setLitefile(rows...)
	sameID(t, "ro -> tmpfs over the same source", i, id(t, v, "/etc/ro.conf"))
	// The admin replaces a source file (a new inode): a new object.
	i = id(t, v, "/etc/sel.conf")
	tmp := filepath.Join(e.T2, "etc/sel.conf.new")
	os.WriteFile(tmp, []byte("replaced\n"), 0o644)
	os.Rename(tmp, filepath.Join(e.T2, "etc/sel.conf"))
	otherID(t, "source replaced by rename", i, id(t, v, "/etc/sel.conf"))
	// Reset making a fresh file: the node's own file is gone, the re-created one is new.
	mustWrite(t, v, "/tmp/fresh", "before reset\n")
	i = id(t, v, "/tmp/fresh")
	e.reset("n1")
	wantGone(t, v, "/tmp/fresh")
	mustWrite(t, v, "/tmp/fresh", "after reset\n")
	otherID(t, "reset + create", i, id(t, v, "/tmp/fresh"))
	// Persistent: delete + create.
	mustWrite(t, v, "/srv/pd/new", "p\n")
	for range 3 {
		i = id(t, v, "/srv/pd/new")
		wantOK(t, "remove", v.Remove("/srv/pd/new"))
		mustWrite(t, v, "/srv/pd/new", "p2\n")
		otherID(t, "persistent delete + create", i, id(t, v, "/srv/pd/new"))
	}
	// Different nodes' own files differ.
	v2 := e.view("n2")
	mustWrite(t, v2, "/tmp/fresh", "n2\n")
	otherID(t, "n1 and n2 own files", id(t, v, "/tmp/fresh"), id(t, v2, "/tmp/fresh"))
}
