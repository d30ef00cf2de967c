package fs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"statelite/fs"
)

// canaries are files outside the cluster's layers that no view operation may read,
// create, change or delete: one directory elsewhere ("outside") and files beside the
// cluster directory.
type canaries struct {
	Outside string   // an absolute directory outside every layer
	Beside  string   // the directory holding the cluster directory
	cluster string   // the cluster directory (it changes: the layers are there)
	files   []string // canary files inside the cluster directory, beside the layers
	snap    map[string]string
}

const canaryText = "CANARY-SECRET\n"

func newCanaries(t *testing.T, e *env) *canaries {
	t.Helper()
	c := &canaries{Outside: t.TempDir(), Beside: filepath.Dir(e.Dir), cluster: e.Dir}
	put(t, c.Outside, "canary="+canaryText, "dir/inner="+canaryText, "emptydir/")
	put(t, c.Beside, "canary="+canaryText)
	// Files beside the upper and persistent roots too.
	c.files = []string{filepath.Join(e.State, "volatile", "canary"), filepath.Join(e.StateMnt, "canary"), filepath.Join(e.Dir, "canary")}
	for _, f := range c.files {
		put(t, filepath.Dir(f), "canary="+canaryText)
	}
	c.snap = c.take(t)
	return c
}

// take records every file below the canary places (name, mode, size, mtime, content).
func (c *canaries) take(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	walk := func(root string, deep bool) {
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return nil
			}
			if p != root && fi.IsDir() && !deep {
				return filepath.SkipDir
			}
			if !deep && p != root && filepath.Dir(p) != root {
				return nil
			}
			st := fi.Sys().(*syscall.Stat_t)
			s := fmt.Sprintf("%v %d %d:%d %d", fi.Mode(), fi.Size(), st.Uid, st.Gid, fi.ModTime().UnixNano())
			if fi.Mode().IsRegular() && strings.Contains(fi.Name(), "canary") {
				b, _ := os.ReadFile(p)
				s += " " + string(b)
			}
			m[p] = s
			return nil
		})
	}
	walk(c.Outside, true)
	walk(c.Beside, false)
	for _, f := range c.files {
		walk(f, false)
	}
	return m
}

func (c *canaries) check(t *testing.T) {
	t.Helper()
	now := c.take(t)
	var keys []string
	for k := range now {
		keys = append(keys, k)
	}
	for k := range c.snap {
		if _, ok := now[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if now[k] != c.snap[k] && k != c.cluster {
			t.Errorf("outside the layers, %s changed: %q -> %q", k, c.snap[k], now[k])
		}
	}
	for _, p := range []string{"/newfile", "/newdir", "/newlink", "/fifo", "/planted", "/hard"} {
		if exists(p) {
			t.Errorf("the host root got %s", p)
		}
	}
}

// noCanary fails when a view read returned a canary.
func noCanary(t *testing.T, what, got string, err error) {
	t.Helper()
	if err == nil && strings.Contains(got, "CANARY") {
		t.Errorf("%s read a canary outside the layers: %q", what, got)
	}
}

// tryThrough runs every operation through the view path base (a symlink or a path that
// leads through one) and checks none succeeds.
func tryThrough(t *testing.T, v *fs.View, base, rel string) {
	t.Helper()
	target := base + rel // the canary file, were the link followed
	got, err := read(v, target)
	noCanary(t, "read "+target, got, err)
	if err == nil {
		t.Errorf("read %s succeeded: %q", target, got)
	}
	if a, err := v.Getattr(target); err == nil {
		t.Errorf("getattr %s succeeded: mode %o size %d", target, a.Mode, a.Size)
	}
	if ents, err := v.ReadDir(base + pathDir(rel)); err == nil {
		for _, e := range ents {
			if strings.Contains(e.Name, "canary") {
				t.Errorf("readdir %s listed %s", base+pathDir(rel), e.Name)
			}
		}
	}
	if err := write(v, target, "pwned\n"); err == nil {
		t.Errorf("write %s succeeded", target)
	}
	if h, err := v.Open(target, os.O_RDWR); err == nil {
		h.Close()
		t.Errorf("open rw %s succeeded", target)
	}
	if h, _, err := v.Create(base+"/newfile", 0o644, fs.Root); err == nil {
		h.Close()
		t.Errorf("create %s/newfile succeeded", base)
	}
	if _, err := v.Mkdir(base+"/newdir", 0o755, fs.Root); err == nil {
		t.Errorf("mkdir %s/newdir succeeded", base)
	}
	if _, err := v.Symlink("x", base+"/newlink", fs.Root); err == nil {
		t.Errorf("symlink %s/newlink succeeded", base)
	}
	if _, err := v.Mknod(base+"/fifo", syscall.S_IFIFO|0o644, 0, fs.Root); err == nil {
		t.Errorf("mknod %s/fifo succeeded", base)
	}
	if err := v.Remove(target); err == nil {
		t.Errorf("remove %s succeeded", target)
	}
	if err := v.Rmdir(base + pathDir(rel) + "/emptydir"); err == nil {
		t.Errorf("rmdir through %s succeeded", base)
	}
	if err := v.Rename(target, "/tmp/stolen"); err == nil {
		t.Errorf("rename %s away succeeded", target)
	}
	if err := v.Rename("/tmp/plantme", base+"/planted"); err == nil {
		t.Errorf("rename into %s succeeded", base)
	}
	if _, err := v.Setattr(target, fs.SetAttr{Mode: u32(0o777)}); err == nil {
		t.Errorf("chmod %s succeeded", target)
	}
	if _, err := v.Setattr(target, fs.SetAttr{Size: u64(0)}); err == nil {
		t.Errorf("truncate %s succeeded", target)
	}
	uid := uint32(4242)
	if _, err := v.Setattr(target, fs.SetAttr{UID: &uid}); err == nil {
		t.Errorf("chown %s succeeded", target)
	}
	mt := time.Unix(1, 0)
	if _, err := v.Setattr(target, fs.SetAttr{Mtime: &mt}); err == nil {
		t.Errorf("utimes %s succeeded", target)
	}
	if _, err := v.Link(target, "/tmp/hardstolen"); err == nil {
		t.Errorf("link %s succeeded", target)
	}
	if _, err := v.Link("/tmp/plantme", base+"/hard"); err == nil {
		t.Errorf("link into %s succeeded", base)
	}
	if _, err := v.Readlink(target); err == nil {
		t.Errorf("readlink %s succeeded", target)
	}
}

func pathDir(rel string) string {
	i := strings.LastIndexByte(rel, '/')
	if i <= 0 {
		return ""
	}
	return rel[:i]
}

// deepUp is a relative target that climbs to the host's root from anywhere.
var deepUp = strings.TrimSuffix(strings.Repeat("../", 40), "/")

// TestEscapeNodeSymlinks: symlinks the node makes in its own layers (volatile and
// persistent) are never followed by the server.
func TestEscapeNodeSymlinks(t *testing.T) {
	e := newEnv(t, "/tmp/ tmpfs", "/srv/pd/ persistent", "/etc/pfile persistent")
	c := newCanaries(t, e)
	put(t, e.T1, "srv/pd/keep=t1 keep\n", "etc/pfile=t1 pfile\n")
	v := e.view("n1")
	mustWrite(t, v, "/tmp/plantme", "plant\n")
	mustWrite(t, v, "/srv/pd/keep", "n1 keep\n") // PR(n1)/srv/pd now exists
	mustWrite(t, v, "/etc/pfile", "n1 pfile\n")

	links := []struct{ link, target, through string }{
		{"/tmp/root", "/", c.Outside + "/canary"},
		{"/tmp/out", c.Outside, "/canary"},
		{"/tmp/outfile", c.Outside + "/canary", ""},
		{"/tmp/shadow", "/etc/shadow", ""},
		{"/tmp/up", "../..", "/canary"},                  // the volatile layer's parent: volatile/<node>
		{"/tmp/up3", "../../..", "/canary"},              // State/volatile
		{"/tmp/deep", deepUp, c.Outside + "/canary"},     // the host's root
		{"/tmp/self", ".", "/plantme"},                   // inside the layer: still not followed
		{"/srv/pd/root", "/", c.Outside + "/canary"},     // in PR
		{"/srv/pd/up", "../../..", "/canary"},            // PR(n1)/.. = statemnt
		{"/srv/pd/in", "../..", "/etc/pfile"},            // PR(n1) itself
		{"/srv/pd/deep", deepUp, c.Outside + "/canary"},  // the host's root
		{"/srv/pd/dot", ".", "/keep"},                    // inside the entry
		{"/srv/pd/outdir", c.Outside + "/dir", "/inner"}, // a directory outside
	}
	for _, l := range links {
		a, err := v.Symlink(l.target, l.link, fs.Root)
		if err != nil {
			t.Fatalf("symlink %s -> %s: %v", l.link, l.target, err)
		}
		if !a.IsSymlink() {
			t.Errorf("%s: mode %o", l.link, a.Mode)
		}
	}
	for _, l := range links {
		t.Run(strings.ReplaceAll(strings.TrimPrefix(l.link, "/"), "/", "_"), func(t *testing.T) {
			if got, err := v.Readlink(l.link); err != nil || got != l.target {
				t.Errorf("readlink %s = %q, %v; want %q", l.link, got, err, l.target)
			}
			// Reading or opening the link itself never reads its target.
			got, err := read(v, l.link)
			noCanary(t, "read "+l.link, got, err)
			if err == nil {
				t.Errorf("read of symlink %s succeeded: %q", l.link, got)
			}
			if _, err := v.ReadDir(l.link); err == nil {
				t.Errorf("readdir of symlink %s succeeded", l.link)
			}
			if h, err := v.Open(l.link, os.O_WRONLY); err == nil {
				h.Close()
				t.Errorf("open for write of symlink %s succeeded", l.link)
			}
			if _, err := v.Setattr(l.link, fs.SetAttr{Size: u64(0)}); err == nil {
				t.Errorf("truncate of symlink %s succeeded", l.link)
			}
			if l.through != "" {
				tryThrough(t, v, l.link, l.through)
			}
			// Pinned: a trailing "/" is cleaned away, so "link/" names the link itself
			// (its own attributes, never its target's).
			if a, err := v.Getattr(l.link + "/"); err == nil && !a.IsSymlink() {
				t.Errorf("getattr %s/ gave mode %o, not the link", l.link, a.Mode)
			}
		})
	}
	c.check(t)
	if s, _ := hostRead(filepath.Join(e.PR("n1"), "etc/pfile")); s != "n1 pfile\n" {
		t.Errorf("PR(n1)/etc/pfile = %q", s)
	}
	wantContent(t, v, "/srv/pd/keep", "n1 keep\n")
	wantContent(t, v, "/tmp/plantme", "plant\n")

	// The engine keeps file ids in an xattr: a link's id never comes from its target's.
	planted := []byte{0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41}
	if err := syscall.Setxattr(c.Outside+"/canary", "user.statelite.origin", planted, 0); err == nil {
		if a := mustAttr(t, v, "/tmp/outfile"); a.FileID == 0x4141414141414141 {
			t.Error("the file id of /tmp/outfile was read from its target's xattr outside the layers")
		}
		c.snap = c.take(t)
	}
	// Chmod and chown of a link act on the link; its target is untouched.
	uid := uint32(1234)
	_, err := v.Setattr("/tmp/outfile", fs.SetAttr{UID: &uid, Mode: u32(0o777)})
	wantOK(t, "chown link", err)
	if a := mustAttr(t, v, "/tmp/outfile"); !a.IsSymlink() || a.UID != 1234 {
		t.Errorf("link after chown: mode %o uid %d", a.Mode, a.UID)
	}
	_, err = v.Setattr("/srv/pd/outdir", fs.SetAttr{UID: &uid})
	wantOK(t, "chown persistent link", err)
	// Rename and remove of a link act on the link.
	wantOK(t, "rename link", v.Rename("/tmp/out", "/tmp/out2"))
	if got, _ := v.Readlink("/tmp/out2"); got != c.Outside {
		t.Errorf("renamed link reads %q", got)
	}
	wantGone(t, v, "/tmp/out")
	wantOK(t, "remove link", v.Remove("/tmp/out2"))
	wantOK(t, "remove link", v.Remove("/tmp/root"))
	wantOK(t, "remove link", v.Remove("/tmp/self"))
	wantErrno(t, "rmdir a link", v.Rmdir("/tmp/up"), syscall.ENOTDIR)
	wantOK(t, "rename persistent link", v.Rename("/srv/pd/outdir", "/srv/pd/outdir2"))
	wantOK(t, "remove persistent link", v.Remove("/srv/pd/outdir2"))
	wantOK(t, "remove persistent link", v.Remove("/srv/pd/dot"))
	wantOK(t, "remove persistent link", v.Remove("/srv/pd/in"))
	// A link to a directory inside the view: removing the link keeps the directory.
	_, err = v.Mkdir("/tmp/realdir", 0o755, fs.Root)
	wantOK(t, "mkdir", err)
	mustWrite(t, v, "/tmp/realdir/f", "f\n")
	_, err = v.Symlink("/tmp/realdir", "/tmp/dl", fs.Root)
	wantOK(t, "symlink", err)
	wantErrno(t, "rmdir link to dir", v.Rmdir("/tmp/dl"), syscall.ENOTDIR)
	wantOK(t, "remove link to dir", v.Remove("/tmp/dl"))
	wantContent(t, v, "/tmp/realdir/f", "f\n")
	c.check(t)
	if fi, err := os.Stat(c.Outside + "/canary"); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("outside canary: %v %v", fi, err)
	}
	// After a reset and a restart nothing has leaked either.
	e.reset("n1")
	e.start()
	c.check(t)
}

// TestEscapeAdminSymlinks: symlinks an admin left in a litetree source, the default
// tree, the image or a persistent source pointing outside are never followed.
func TestEscapeAdminSymlinks(t *testing.T) {
	for _, opt := range []string{"ro", "tmpfs", "persistent", "con"} {
		t.Run(optName(opt), func(t *testing.T) {
			e := newEnv(t, "/srv/adm/ "+opt, "/tmp/ tmpfs", "/opt/app/ tmpfs", "/etc/lnk.conf "+opt)
			if opt == "con" {
				e.setLitefile("/srv/adm/ tmpfs", "/tmp/ tmpfs", "/opt/app/ tmpfs", "/etc/lnk.conf con")
			}
			c := newCanaries(t, e)
			relOut, err := filepath.Rel(filepath.Join(e.T1, "srv/adm"), c.Outside)
			if err != nil {
				t.Fatal(err)
			}
			put(t, e.T1, "srv/adm/ok=ok\n", "srv/adm/abs->"+c.Outside, "srv/adm/absfile->"+c.Outside+"/canary",
				"srv/adm/rel->"+relOut, "srv/adm/relfile->"+relOut+"/canary", "srv/adm/root->/",
				"opt->"+c.Outside, // a link in the middle of an entry path
				"etc/lnk.conf->"+c.Outside+"/canary")
			put(t, e.T2, "etc/lnk.conf->"+relOut+"/canary")
			put(t, e.R, "etc/evil->"+c.Outside, "etc/evilrel->"+deepUp+c.Outside)
			v := e.view("n1")
			mustWrite(t, v, "/tmp/plantme", "plant\n")
			for link, target := range map[string]string{"/srv/adm/abs": c.Outside, "/srv/adm/rel": relOut,
				"/srv/adm/absfile": c.Outside + "/canary", "/etc/evil": c.Outside} {
				a, err := v.Getattr(link)
				if err != nil || !a.IsSymlink() {
					t.Errorf("%s: %v mode %o, want a symlink", link, err, a.Mode)
				}
				if got, err := v.Readlink(link); err != nil || got != target {
					t.Errorf("readlink %s = %q, %v; want %q", link, got, err, target)
				}
			}
			for _, l := range []struct{ base, rel string }{
				{"/srv/adm/abs", "/canary"}, {"/srv/adm/rel", "/canary"}, {"/srv/adm/root", c.Outside + "/canary"},
				{"/etc/evil", "/canary"}, {"/etc/evilrel", "/canary"},
			} {
				tryThrough(t, v, l.base, l.rel)
			}
			for _, p := range []string{"/srv/adm/absfile", "/srv/adm/relfile", "/etc/lnk.conf"} {
				got, err := read(v, p)
				noCanary(t, "read "+p, got, err)
			}
			// The entry under a linked-away source directory is not served from outside.
			if n, err := names(v, "/opt/app"); err == nil && strings.Contains(strings.Join(n, " "), "canary") {
				t.Errorf("/opt/app lists the outside: %v", n)
			}
			got, err := read(v, "/opt/app/canary")
			noCanary(t, "read /opt/app/canary", got, err)
			if opt != "ro" {
				// Writing the link path copies the link, not its target.
				uid := uint32(77)
				if _, err := v.Setattr("/srv/adm/abs", fs.SetAttr{UID: &uid}); err != nil {
					t.Errorf("chown link: %v", err)
				}
				if got, _ := v.Readlink("/srv/adm/abs"); got != c.Outside {
					t.Errorf("copied link reads %q", got)
				}
				mustWrite(t, v, "/srv/adm/new", "new\n")
				tryThrough(t, v, "/srv/adm/abs", "/canary")
				tryThrough(t, v, "/srv/adm/rel", "/canary")
				wantOK(t, "remove admin link", v.Remove("/srv/adm/rel"))
				if !exists(filepath.Join(e.T1, "srv/adm/rel")) {
					t.Error("removing the view's link removed the source's")
				}
				got, err = read(v, "/etc/lnk.conf")
				noCanary(t, "read /etc/lnk.conf", got, err)
				if h, err := v.Open("/etc/lnk.conf", os.O_WRONLY|os.O_TRUNC); err == nil {
					h.WriteAt([]byte("pwned\n"), 0)
					h.Close()
				}
			}
			c.check(t)
		})
	}
}

// TestEscapePersistentCopiedLink: a whole persistent directory copied at its first write
// brings an admin's symlink into PR; a child entry below that link must not be created
// through it (outside PR).
func TestEscapePersistentCopiedLink(t *testing.T) {
	for _, kind := range []string{"abs", "rel"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, "/var/ persistent", "/var/lib/app/ persistent", "/tmp/ tmpfs")
			c := newCanaries(t, e)
			target := c.Outside
			if kind == "rel" {
				// From PR(n1)/var, climb to the host's root.
				target = deepUp + c.Outside
			}
			put(t, e.D, "var/x=d x\n", "var/lib->"+target)
			v := e.view("n1")
			mustWrite(t, v, "/var/x", "n1 x\n") // copies /var whole, with the link
			if fi, err := os.Lstat(filepath.Join(e.PR("n1"), "var/lib")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("PR(n1)/var/lib: %v %v", fi, err)
			}
			err := write(v, "/var/lib/app/f", "pwned\n")
			if err == nil {
				t.Error("a write below a copied admin link succeeded")
			}
			_, err = v.Mkdir("/var/lib/app/d", 0o755, fs.Root)
			if err == nil {
				t.Error("mkdir below a copied admin link succeeded")
			}
			if err := write(v, "/var/lib/app/canary", "pwned\n"); err == nil {
				t.Error("write of /var/lib/app/canary succeeded")
			}
			if _, err := os.Lstat(filepath.Join(c.Outside, "app")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the server created %s/app: %v", c.Outside, err)
			}
			c.check(t)
		})
	}
}

// TestWhiteoutNames: the node cannot see or make the names the overlay uses for itself.
func TestWhiteoutNames(t *testing.T) {
	e := newEnv(t, "/tmp/ tmpfs", "/srv/pd/ persistent")
	put(t, e.R, "tmp/a=a\n")
	v := e.view("n1")
	wantOK(t, "remove", v.Remove("/tmp/a"))
	wantNames(t, v, "/tmp", "")
	for _, p := range []string{"/tmp/.wh.a", "/tmp/.wh..opq", "/tmp/.wh..statelite-copy-1"} {
		if _, err := v.Getattr(p); err == nil {
			t.Errorf("getattr %s succeeded", p)
		}
		if err := write(v, p, "x"); err == nil {
			t.Errorf("create %s succeeded", p)
		}
		if _, err := v.Mkdir(p, 0o755, fs.Root); err == nil {
			t.Errorf("mkdir %s succeeded", p)
		}
	}
	wantGone(t, v, "/tmp/a")
	for _, p := range []string{"../etc", "tmp/x", "/tmp/../etc/passwd", "/tmp/./x", "//tmp"} {
		if _, err := v.Getattr(p); err == nil {
			t.Errorf("getattr %q succeeded", p)
		}
		if err := write(v, p, "x"); err == nil {
			t.Errorf("write %q succeeded", p)
		}
	}
}
