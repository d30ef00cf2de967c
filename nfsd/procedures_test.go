package nfsd_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"

	"statelite/internal/testenv"
	"statelite/nfsd"
	"statelite/nfsd/wire"
)

const (
	n1Motd    = "n1's own notice.\nSite notice from the common litetree.\n"
	demoPass  = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
	shadowTxt = "root:*:19000:0:99999:7:::\nalice:*:19000:0:99999:7:::\n"
)

// errStatus maps a go-nfs-client error back to its NFS status.
func errStatus(err error) uint32 {
	var ne *nfs.Error
	switch {
	case err == nil:
		return wire.NFS3OK
	case errors.Is(err, os.ErrNotExist):
		return wire.NFS3ErrNoEnt
	case errors.Is(err, os.ErrExist):
		return wire.NFS3ErrExist
	case errors.Is(err, os.ErrPermission):
		return wire.NFS3ErrPerm
	case errors.As(err, &ne):
		return ne.ErrorNum
	}
	return 1<<32 - 1
}

// goMount mounts dirpath with go-nfs-client (MOUNT and NFS on one connection).
func goMount(t *testing.T, addr, dirpath string, uid, gid uint32) *nfs.Target {
	t.Helper()
	c := testenv.DialGoNFSClient(t, addr)
	t.Cleanup(c.Close)
	m := nfs.Mount{Client: c}
	tgt, err := m.Mount(dirpath, rpc.NewAuthUnix("n1", uid, gid).Auth())
	if err != nil {
		t.Fatalf("mount %s: %v", dirpath, err)
	}
	return tgt
}

func goRead(t *testing.T, tgt *nfs.Target, p string) string {
	t.Helper()
	f, err := tgt.Open(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

// TestGoNFSClient drives the server with go-nfs-client's own procedures.
func TestGoNFSClient(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	tgt := goMount(t, srv.addr, "/nodes/n1", 0, 0)

	// FSINFO (done by Mount; again here).
	fi, err := tgt.FSInfo()
	if err != nil {
		t.Fatal(err)
	}
	if fi.RTMax != 1<<20 || fi.WTMax != 1<<20 {
		t.Errorf("FSINFO rtmax/wtmax = %d/%d, want 1 MiB", fi.RTMax, fi.WTMax)
	}

	// GETATTR: setuid survives; 0600 root shadow.
	a, err := tgt.Getattr("/usr/bin/passwd")
	if err != nil {
		t.Fatal(err)
	}
	if a.FileMode != 0o4755 || a.Type != wire.NF3Reg || a.UID != 0 {
		t.Errorf("passwd: type %d mode %o uid %d, want regular 04755 root", a.Type, a.FileMode, a.UID)
	}
	if a, err := tgt.Getattr("/etc/shadow"); err != nil || a.FileMode != 0o600 || a.UID != 0 {
		t.Errorf("shadow: %+v %v", a, err)
	}

	// LOOKUP.
	if _, _, err := tgt.Lookup("/etc/nosuch"); errStatus(err) != wire.NFS3ErrNoEnt {
		t.Errorf("lookup nosuch: %v", err)
	}
	if fi, _, err := tgt.Lookup("/etc"); err != nil || !fi.IsDir() {
		t.Errorf("lookup /etc: %v %v", fi, err)
	}

	// ACCESS: root reads and writes the 0600 root shadow; uid 1000 gets nothing.
	const rwx = nfs.ACCESS3_READ | nfs.ACCESS3_MODIFY | nfs.ACCESS3_EXTEND | nfs.ACCESS3_EXECUTE
	got, err := tgt.Access("/etc/shadow", rwx)
	if err != nil || got != nfs.ACCESS3_READ|nfs.ACCESS3_MODIFY|nfs.ACCESS3_EXTEND {
		t.Errorf("root ACCESS shadow = %#x %v, want READ|MODIFY|EXTEND", got, err)
	}
	user := goMount(t, srv.addr, "/nodes/n1", 1000, 1000)
	if got, err := user.Access("/etc/shadow", rwx); err != nil || got != 0 {
		t.Errorf("uid 1000 ACCESS shadow = %#x %v, want 0", got, err)
	}
	if got, err := user.Access("/etc/passwd", rwx); err != nil || got != nfs.ACCESS3_READ {
		t.Errorf("uid 1000 ACCESS passwd = %#x %v, want READ", got, err)
	}
	if got, err := user.Access("/tmp", nfs.ACCESS3_READ|nfs.ACCESS3_LOOKUP|nfs.ACCESS3_MODIFY|nfs.ACCESS3_DELETE); err != nil || got != nfs.ACCESS3_READ|nfs.ACCESS3_LOOKUP|nfs.ACCESS3_MODIFY|nfs.ACCESS3_DELETE {
		t.Errorf("uid 1000 ACCESS /tmp = %#x %v", got, err)
	}

	// READLINK.
	f, err := tgt.Open("/etc/mtab")
	if err != nil {
		t.Fatal(err)
	}
	if l, err := f.Readlink(); err != nil || l != "/proc/self/mounts" {
		t.Errorf("readlink /etc/mtab = %q %v", l, err)
	}

	// READ: an image file, a con file.
	if got := goRead(t, tgt, "/etc/passwd"); got != demoPass {
		t.Errorf("passwd = %q", got)
	}
	if got := goRead(t, tgt, "/etc/motd"); got != n1Motd {
		t.Errorf("con motd = %q", got)
	}
	if _, err := io.ReadAll(mustOpen(t, user, "/etc/shadow")); errStatus(err) != wire.NFS3ErrAcces {
		t.Errorf("uid 1000 read shadow: %v, want ACCES", err)
	}

	// WRITE (FILE_SYNC) and COMMIT (Close), read back.
	w, err := tgt.OpenFile("/tmp/gnc.txt", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB
	if n, err := w.Write(payload); err != nil || n != len(payload) {
		t.Fatalf("write: %d %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if got := goRead(t, tgt, "/tmp/gnc.txt"); got != string(payload) {
		t.Errorf("read back %d bytes, want %d", len(got), len(payload))
	}

	// CREATE, MKDIR, SYMLINK, RENAME, REMOVE, RMDIR.
	fh, err := tgt.Create("/tmp/c.txt", 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := tgt.GetAttr(fh); err != nil || a.FileMode != 0o640 || a.Type != wire.NF3Reg {
		t.Errorf("created: %+v %v", a, err)
	}
	if _, err := tgt.Create("/usr/bin/evil", 0o755); errStatus(err) != wire.NFS3ErrROFS {
		t.Errorf("create in /usr/bin: %v, want ROFS", err)
	}
	if _, err := tgt.Mkdir("/tmp/d", 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.Mkdir("/tmp/d", 0o750); errStatus(err) != wire.NFS3ErrExist {
		t.Errorf("mkdir again: %v, want EXIST", err)
	}
	if err := tgt.Symlink("../c.txt", "/tmp/d/l"); err != nil {
		t.Fatal(err)
	}
	lf, err := tgt.Open("/tmp/d/l")
	if err != nil {
		t.Fatal(err)
	}
	if l, err := lf.Readlink(); err != nil || l != "../c.txt" {
		t.Errorf("readlink = %q %v", l, err)
	}
	if err := tgt.RmDir("/tmp/d"); !nfs.IsNotEmptyError(err) {
		t.Errorf("rmdir non-empty: %v, want NOTEMPTY", err)
	}
	if err := tgt.Rename("/tmp/c.txt", "/tmp/d/c2.txt"); err != nil {
		t.Fatal(err)
	}
	if a, err := tgt.GetAttr(fh); err != nil || a.FileMode != 0o640 {
		t.Errorf("handle after rename: %+v %v", a, err)
	}
	if err := tgt.Rename("/tmp/d/c2.txt", "/root/c3.txt"); errStatus(err) != wire.NFS3ErrXDev {
		t.Errorf("rename /tmp -> /root: %v, want XDEV", err)
	}
	if err := tgt.Rename("/tmp/d/c2.txt", "/usr/c3.txt"); errStatus(err) != wire.NFS3ErrROFS {
		t.Errorf("rename onto /usr: %v, want ROFS", err)
	}
	for _, p := range []string{"/tmp/d/l", "/tmp/d/c2.txt"} {
		if err := tgt.Remove(p); err != nil {
			t.Errorf("remove %s: %v", p, err)
		}
	}
	if err := tgt.RmDir("/tmp/d"); err != nil {
		t.Errorf("rmdir: %v", err)
	}
	if _, err := tgt.GetAttr(fh); errStatus(err) != wire.NFS3ErrStale {
		t.Errorf("handle of a removed file: %v, want STALE", err)
	}

	// SETATTR: chmod with setuid, chown, truncate, times.
	fh, err = tgt.Create("/tmp/s.bin", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := tgt.SetAttr(fh, nfs.Sattr3{Mode: nfs.SetMode{SetIt: true, Mode: 0o4755}}); err != nil || a.FileMode != 0o4755 {
		t.Errorf("chmod 04755: %+v %v", a, err)
	}
	if a, err := tgt.SetAttr(fh, nfs.Sattr3{UID: nfs.SetUID{SetIt: true, UID: 1000}, GID: nfs.SetUID{SetIt: true, UID: 1000}}); err != nil || a.UID != 1000 || a.GID != 1000 {
		t.Errorf("chown: %+v %v", a, err)
	}
	wf, _ := tgt.OpenFile("/tmp/s.bin", 0o644)
	wf.Write([]byte("hello world"))
	if a, err := tgt.SetAttr(fh, nfs.Sattr3{Size: nfs.SetSize{SetIt: true, Size: 5}}); err != nil || a.Filesize != 5 {
		t.Errorf("truncate: %+v %v", a, err)
	}
	if got := goRead(t, tgt, "/tmp/s.bin"); got != "hello" {
		t.Errorf("after truncate: %q", got)
	}
	at, mt := nfs.NFS3Time{Seconds: 1_000_000_000, Nseconds: 5}, nfs.NFS3Time{Seconds: 1_200_000_000, Nseconds: 7}
	if a, err := tgt.SetAttr(fh, nfs.Sattr3{Atime: nfs.SetTime{SetIt: nfs.SetToClientTime, Time: at}, Mtime: nfs.SetTime{SetIt: nfs.SetToClientTime, Time: mt}}); err != nil || a.Atime != at || a.Mtime != mt {
		t.Errorf("times: %+v %v", a, err)
	}
	if _, err := user.SetAttr(fh, nfs.Sattr3{Mode: nfs.SetMode{SetIt: true, Mode: 0o777}}); err != nil {
		t.Errorf("owner (uid 1000) chmod: %v", err)
	}
	if _, err := user.SetAttr(fh, nfs.Sattr3{UID: nfs.SetUID{SetIt: true, UID: 0}}); errStatus(err) != wire.NFS3ErrPerm {
		t.Errorf("uid 1000 chown to root: %v, want PERM", err)
	}

	// READDIRPLUS over a big directory (go-nfs-client pages with maxcount 4096).
	if _, err := tgt.Mkdir("/tmp/many", 0o755); err != nil {
		t.Fatal(err)
	}
	raw := newClient(t, srv.addr, "", authSys(0, 0))
	dir := raw.walk(raw.mustMount("/nodes/n1"), "/tmp/many")
	createMany(t, raw, dir, 300)
	ents, err := tgt.ReadDirPlus("/tmp/many")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	checkNames(t, names, 300)
}

func mustOpen(t *testing.T, tgt *nfs.Target, p string) *nfs.File {
	t.Helper()
	f, err := tgt.Open(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	return f
}

func entryName(i int) string { return fmt.Sprintf("entry-%05d", i) }

// createMany creates n empty files in dir, pipelining the CREATE calls.
func createMany(t *testing.T, c *nfsClient, dir []byte, n int) {
	t.Helper()
	const batch = 32
	for i := 0; i < n; i += batch {
		var xids []uint32
		for j := i; j < n && j < i+batch; j++ {
			args := new(wire.W).Opaque(dir).Str(entryName(j)).U32(1).Sattr(wire.Sattr{Mode: u32p(0o644)}).B
			xids = append(xids, c.rc.send(wire.ProgNFS, 3, wire.ProcCreate, c.cred, args))
		}
		for range xids {
			rp := c.rc.recv()
			if rp.denied || rp.acceptStat != wire.AcceptSuccess {
				t.Fatalf("CREATE: %+v", rp)
			}
			if st := rp.body.U32(); st != wire.NFS3OK {
				t.Fatalf("CREATE: status %d", st)
			}
		}
	}
}

// checkNames wants entry-00000 … entry-<n-1>, each exactly once, and nothing else.
func checkNames(t *testing.T, names []string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, nm := range names {
		if nm == "." || nm == ".." {
			continue
		}
		seen[nm]++
	}
	for i := 0; i < n; i++ {
		if seen[entryName(i)] != 1 {
			t.Errorf("%s listed %d times", entryName(i), seen[entryName(i)])
		}
		delete(seen, entryName(i))
	}
	if len(seen) > 0 {
		keys := make([]string, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("unexpected names: %v", keys)
	}
}

// TestProceduresRaw covers every NFSv3 procedure with hand-encoded calls, including
// those go-nfs-client lacks (LINK, MKNOD, READDIR, FSSTAT, PATHCONF, UNSTABLE WRITE,
// GUARDED/EXCLUSIVE CREATE).
func TestProceduresRaw(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	user := c.as(authSys(1000, 1000))

	// NULL on both programs.
	for _, prog := range []uint32{wire.ProgNFS, wire.ProgMount} {
		if r := c.rpc(prog, wire.ProcNull, nil); len(r.B) != 0 {
			t.Errorf("NULL %d: %d bytes of result", prog, len(r.B))
		}
	}

	root := c.mustMount("/nodes/n1")
	ra := c.mustGetattr(root)
	if ra.Type != wire.NF3Dir {
		t.Errorf("root type %d", ra.Type)
	}
	tmp := c.walk(root, "/tmp")
	if a := c.mustGetattr(tmp); a.Mode != 0o1777 {
		t.Errorf("/tmp mode %o, want 01777", a.Mode)
	}

	// LOOKUP "." and "..".
	if fh, _, st := c.lookup(tmp, "."); st != wire.NFS3OK || !bytes.Equal(fh, tmp) {
		t.Errorf("lookup . = %x %d", fh, st)
	}
	if fh, _, st := c.lookup(tmp, ".."); st != wire.NFS3OK || !bytes.Equal(fh, root) {
		t.Errorf("lookup .. = %x %d", fh, st)
	}

	// GETATTR of the setuid binary.
	passwd := c.walk(root, "/usr/bin/passwd")
	if a := c.mustGetattr(passwd); a.Mode != 0o4755 {
		t.Errorf("passwd mode %o", a.Mode)
	}

	// WRITE UNSTABLE, then COMMIT with the same verifier; FILE_SYNC.
	f := c.mustCreate(tmp, "w.bin", 0o644)
	n, committed, verf, st := c.write(f, 0, []byte("unstable data"), 0)
	if st != wire.NFS3OK || n != 13 || committed != 0 {
		t.Errorf("WRITE UNSTABLE: n=%d committed=%d st=%d", n, committed, st)
	}
	cverf, st := c.commit(f)
	if st != wire.NFS3OK || !bytes.Equal(cverf, verf) {
		t.Errorf("COMMIT: verf %x (write verf %x) st %d", cverf, verf, st)
	}
	n, committed, verf2, st := c.write(f, 13, []byte(" + synced"), 2)
	if st != wire.NFS3OK || n != 9 || committed != 2 || !bytes.Equal(verf2, verf) {
		t.Errorf("WRITE FILE_SYNC: n=%d committed=%d verf=%x st=%d", n, committed, verf2, st)
	}
	if got := c.readAll(f); got != "unstable data + synced" {
		t.Errorf("read back %q", got)
	}
	if data, eof, st := c.read(f, 9, 4); st != wire.NFS3OK || string(data) != "data" || eof {
		t.Errorf("READ at 9: %q eof=%v st=%d", data, eof, st)
	}
	if data, eof, st := c.read(f, 100, 4); st != wire.NFS3OK || len(data) != 0 || !eof {
		t.Errorf("READ past end: %q eof=%v st=%d", data, eof, st)
	}
	// READ of an image file and of the con file.
	if got := c.readAll(c.walk(root, "/etc/passwd")); got != demoPass {
		t.Errorf("passwd = %q", got)
	}
	if got := c.readAll(c.walk(root, "/etc/motd")); got != n1Motd {
		t.Errorf("motd = %q", got)
	}

	// CREATE: UNCHECKED on an existing file applies the size; GUARDED → EXIST;
	// EXCLUSIVE twice with one verifier → the same file; another verifier → EXIST.
	if _, a, st := c.create(tmp, "w.bin", 0, wire.Sattr{Size: u64p(4)}); st != wire.NFS3OK || a.Size != 4 {
		t.Errorf("UNCHECKED on existing: size %d st %d", a.Size, st)
	}
	if _, _, st := c.create(tmp, "w.bin", 1, wire.Sattr{Mode: u32p(0o644)}); st != wire.NFS3ErrExist {
		t.Errorf("GUARDED on existing: %d, want EXIST", st)
	}
	v1 := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	e1, ea, st := c.createExclusive(tmp, "excl", v1)
	if st != wire.NFS3OK {
		t.Fatalf("EXCLUSIVE: %d", st)
	}
	e2, _, st := c.createExclusive(tmp, "excl", v1)
	if st != wire.NFS3OK || !bytes.Equal(e1, e2) {
		t.Errorf("EXCLUSIVE retransmitted: st %d same handle %v", st, bytes.Equal(e1, e2))
	}
	if _, _, st := c.createExclusive(tmp, "excl", [8]byte{9}); st != wire.NFS3ErrExist {
		t.Errorf("EXCLUSIVE other verifier: %d, want EXIST", st)
	}
	// The client then sets the real attributes (as Linux does after EXCLUSIVE).
	if a, st := c.setattr(e1, wire.Sattr{Mode: u32p(0o600), ServerTimes: true}); st != wire.NFS3OK || a.Mode != 0o600 {
		t.Errorf("SETATTR after EXCLUSIVE: %+v %d (created %+v)", a, st, ea)
	}

	// MKDIR, SYMLINK.
	d, da, st := c.mkdir(tmp, "dir", 0o755)
	if st != wire.NFS3OK || da.Type != wire.NF3Dir || da.Mode != 0o755 {
		t.Fatalf("MKDIR: %+v %d", da, st)
	}
	if _, _, st := c.mkdir(tmp, "dir", 0o755); st != wire.NFS3ErrExist {
		t.Errorf("MKDIR existing: %d", st)
	}
	sl, sa, st := c.symlink(d, "link", "/etc/passwd")
	if st != wire.NFS3OK || sa.Type != wire.NF3Lnk {
		t.Fatalf("SYMLINK: %+v %d", sa, st)
	}
	st, r := c.nfs(wire.ProcReadlink, new(wire.W).Opaque(sl).B)
	r.PostOp()
	if target := r.Str(wire.NoLimit); st != wire.NFS3OK || target != "/etc/passwd" {
		t.Errorf("READLINK: %q %d", target, st)
	}
	st, r = c.nfs(wire.ProcReadlink, new(wire.W).Opaque(c.walk(root, "/etc/mtab")).B)
	r.PostOp()
	if target := r.Str(wire.NoLimit); st != wire.NFS3OK || target != "/proc/self/mounts" {
		t.Errorf("READLINK mtab: %q %d", target, st)
	}

	// MKNOD: fifo as a user; chr as root only.
	_, fa, st := user.mknod(tmp, "fifo", wire.NF3Fifo, 0o640, 0, 0)
	if st != wire.NFS3OK || fa.Type != wire.NF3Fifo || fa.Mode != 0o640 || fa.UID != 1000 {
		t.Errorf("MKNOD fifo: %+v %d", fa, st)
	}
	_, ca, st := c.mknod(tmp, "null", wire.NF3Chr, 0o666, 1, 3)
	if st != wire.NFS3OK || ca.Type != wire.NF3Chr || ca.Major != 1 || ca.Minor != 3 {
		t.Errorf("MKNOD chr: %+v %d", ca, st)
	}
	if _, _, st := user.mknod(tmp, "null2", wire.NF3Chr, 0o666, 1, 3); st != wire.NFS3ErrPerm {
		t.Errorf("MKNOD chr as uid 1000: %d, want PERM", st)
	}
	if _, _, st := c.mknod(tmp, "bad", 99, 0, 0, 0); st != 10007 {
		t.Errorf("MKNOD type 99: %d, want BADTYPE", st)
	}

	// LINK: a hard link in /tmp; both names show nlink 2.
	hf := c.mustCreate(tmp, "hard", 0o644)
	la, st := c.link(hf, tmp, "hard2")
	if st != wire.NFS3OK || la.Nlink != 2 {
		t.Errorf("LINK: nlink %d st %d", la.Nlink, st)
	}
	h2 := c.walk(tmp, "hard2")
	if a := c.mustGetattr(h2); a.Nlink != 2 || a.FileID != c.mustGetattr(hf).FileID {
		t.Errorf("hard2: %+v", a)
	}
	if _, st := c.link(passwd, tmp, "passwd-link"); st == wire.NFS3OK {
		t.Errorf("LINK of an image file into /tmp succeeded")
	}

	// RENAME within /tmp, to the persistent /root (XDEV), onto /usr (ROFS).
	if st := c.rename(tmp, "hard2", d, "moved"); st != wire.NFS3OK {
		t.Errorf("RENAME in /tmp: %d", st)
	}
	if a := c.mustGetattr(h2); a.FileID != c.mustGetattr(hf).FileID {
		t.Errorf("renamed handle: %+v", a)
	}
	rootDir := c.walk(root, "/root")
	if st := c.rename(d, "moved", rootDir, "moved"); st != wire.NFS3ErrXDev {
		t.Errorf("RENAME /tmp -> /root: %d, want XDEV", st)
	}
	if st := c.rename(d, "moved", c.walk(root, "/usr"), "moved"); st != wire.NFS3ErrROFS {
		t.Errorf("RENAME onto /usr: %d, want ROFS", st)
	}

	// REMOVE, RMDIR.
	if st := c.rmdir(tmp, "dir"); st != wire.NFS3ErrNotEmpty {
		t.Errorf("RMDIR non-empty: %d, want NOTEMPTY", st)
	}
	for _, nm := range []string{"moved", "link"} {
		if st := c.remove(d, nm); st != wire.NFS3OK {
			t.Errorf("REMOVE %s: %d", nm, st)
		}
	}
	if st := c.rmdir(tmp, "dir"); st != wire.NFS3OK {
		t.Errorf("RMDIR: %d", st)
	}
	if st := c.rmdir(tmp, "dir"); st != wire.NFS3ErrNoEnt {
		t.Errorf("RMDIR again: %d, want NOENT", st)
	}

	// FSSTAT, FSINFO, PATHCONF.
	st, r = c.nfs(wire.ProcFsstat, new(wire.W).Opaque(root).B)
	r.PostOp()
	tbytes, fbytes, abytes, tfiles, ffiles, afiles := r.U64(), r.U64(), r.U64(), r.U64(), r.U64(), r.U64()
	r.U32()
	c.check(r, "FSSTAT")
	if st != wire.NFS3OK || tbytes == 0 || fbytes > tbytes || abytes > fbytes || tfiles == 0 || afiles > ffiles {
		t.Errorf("FSSTAT: st %d bytes %d/%d/%d files %d/%d/%d", st, tbytes, fbytes, abytes, tfiles, ffiles, afiles)
	}
	st, r = c.nfs(wire.ProcFsinfo, new(wire.W).Opaque(root).B)
	r.PostOp()
	rtmax, rtpref, _, wtmax := r.U32(), r.U32(), r.U32(), r.U32()
	if st != wire.NFS3OK || rtmax != 1<<20 || wtmax != 1<<20 || rtpref == 0 {
		t.Errorf("FSINFO: st %d rtmax %d wtmax %d", st, rtmax, wtmax)
	}
	st, r = c.nfs(wire.ProcPathconf, new(wire.W).Opaque(root).B)
	r.PostOp()
	linkmax, namemax := r.U32(), r.U32()
	noTrunc := r.Bool()
	c.check(r, "PATHCONF")
	if st != wire.NFS3OK || namemax != 255 || linkmax < 2 || !noTrunc {
		t.Errorf("PATHCONF: st %d linkmax %d name_max %d no_trunc %v", st, linkmax, namemax, noTrunc)
	}

	// READDIR and READDIRPLUS over 3,000 entries with small pages.
	big, _, st := c.mkdir(tmp, "big", 0o755)
	if st != wire.NFS3OK {
		t.Fatal(st)
	}
	const nEnt = 3000
	start := time.Now()
	createMany(t, c, big, nEnt)
	t.Logf("created %d files in %v", nEnt, time.Since(start))
	for _, plus := range []bool{false, true} {
		start := time.Now()
		ents, pages := c.readdirAll(big, plus, 1024, 2048)
		var names []string
		cookies := map[uint64]bool{}
		for _, e := range ents {
			names = append(names, e.name)
			if cookies[e.cookie] {
				t.Errorf("cookie %d repeated", e.cookie)
			}
			cookies[e.cookie] = true
			if plus && e.name != "." && e.name != ".." {
				if e.attr == nil || e.fh == nil || e.attr.FileID != e.fileid || e.attr.Type != wire.NF3Reg {
					t.Fatalf("READDIRPLUS entry %s without attributes/handle: %+v", e.name, e)
				}
			}
		}
		checkNames(t, names, nEnt)
		if len(ents) != nEnt+2 || ents[0].name != "." || ents[1].name != ".." || ents[0].fileid != c.mustGetattr(big).FileID || ents[1].fileid != c.mustGetattr(tmp).FileID {
			t.Errorf("plus=%v: %d entries, first %+v %+v", plus, len(ents), ents[0], ents[1])
		}
		if plus && (!bytes.Equal(ents[0].fh, big) || !bytes.Equal(ents[1].fh, tmp)) {
			t.Errorf("READDIRPLUS handles of . and ..: %x %x", ents[0].fh, ents[1].fh)
		}
		t.Logf("plus=%v: %d entries in %d pages, %v", plus, len(ents), pages, time.Since(start))
		if pages < 20 {
			t.Errorf("plus=%v: only %d pages", plus, pages)
		}
		// A handle from READDIRPLUS works.
		if plus {
			for _, e := range ents {
				if e.name == entryName(1234) {
					if a := c.mustGetattr(e.fh); a.FileID != e.fileid {
						t.Errorf("handle from READDIRPLUS: %+v", a)
					}
				}
			}
		}
	}
	// A page too small for one entry.
	if _, _, _, st := c.readdirPage(big, false, 0, nil, 0, 60); st != 10005 {
		t.Errorf("READDIR count 60: %d, want TOOSMALL", st)
	}
	// READDIR on a file.
	if _, _, _, st := c.readdirPage(f, false, 0, nil, 0, 4096); st != wire.NFS3ErrNotDir {
		t.Errorf("READDIR on a file: %d, want NOTDIR", st)
	}
}

// TestErrorMapping checks the NFS status for each error class.
func TestErrorMapping(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	user := c.as(authSys(1000, 1000))
	root := c.mustMount("/nodes/n1")
	tmp := c.walk(root, "tmp")
	etc := c.walk(root, "etc")
	passwd := c.walk(etc, "passwd")

	check := func(what string, got, want uint32) {
		t.Helper()
		if got != want {
			t.Errorf("%s: status %d, want %d", what, got, want)
		}
	}
	_, _, st := c.lookup(etc, "nosuch")
	check("NOENT lookup", st, wire.NFS3ErrNoEnt)
	check("NOENT remove", c.remove(tmp, "nosuch"), wire.NFS3ErrNoEnt)
	_, _, st = c.mkdir(root, "etc", 0o755)
	check("EXIST mkdir", st, wire.NFS3ErrExist)
	_, _, st = c.create(c.walk(root, "usr/bin"), "x", 1, wire.Sattr{})
	check("ROFS create", st, wire.NFS3ErrROFS)
	check("ROFS remove", c.remove(etc, "passwd"), wire.NFS3ErrROFS)
	_, st = c.setattr(passwd, wire.Sattr{Mode: u32p(0o777)})
	check("ROFS chmod", st, wire.NFS3ErrROFS)
	_, _, _, st = c.write(passwd, 0, []byte("x"), 2)
	check("ROFS write", st, wire.NFS3ErrROFS)
	f := c.mustCreate(tmp, "f", 0o644)
	check("XDEV rename", c.rename(tmp, "f", c.walk(root, "root"), "f"), wire.NFS3ErrXDev)
	if _, _, st := c.mkdir(tmp, "d", 0o755); st != wire.NFS3OK {
		t.Fatal(st)
	}
	c.mustCreate(c.walk(tmp, "d"), "x", 0o644)
	check("NOTEMPTY rmdir", c.rmdir(tmp, "d"), wire.NFS3ErrNotEmpty)
	_, _, st = c.read(etc, 0, 10)
	check("ISDIR read", st, wire.NFS3ErrIsDir)
	check("ISDIR remove", c.remove(tmp, "d"), wire.NFS3ErrIsDir)
	_, _, st = c.lookup(passwd, "x")
	check("NOTDIR lookup", st, wire.NFS3ErrNotDir)
	check("NOTDIR rmdir", c.rmdir(tmp, "f"), wire.NFS3ErrNotDir)
	_, _, st = c.create(f, "x", 0, wire.Sattr{})
	check("NOTDIR create", st, wire.NFS3ErrNotDir)
	long := strings.Repeat("n", 256)
	_, _, st = c.create(tmp, long, 0, wire.Sattr{})
	check("NAMETOOLONG create", st, wire.NFS3ErrNameTooLong)
	_, _, st = c.lookup(tmp, long)
	check("NAMETOOLONG lookup", st, wire.NFS3ErrNameTooLong)
	if _, _, st := c.create(tmp, strings.Repeat("n", 255), 0, wire.Sattr{}); st != wire.NFS3OK {
		t.Errorf("255-char name: %d", st)
	}
	_, _, st = user.read(c.walk(etc, "shadow"), 0, 100)
	check("ACCES read shadow", st, wire.NFS3ErrAcces)
	_, _, st = user.create(etc, "x", 0, wire.Sattr{})
	check("ACCES create in /etc", st, wire.NFS3ErrAcces)
	_, st = user.setattr(passwd, wire.Sattr{Mode: u32p(0o777)})
	check("PERM chmod of another's file", st, wire.NFS3ErrPerm)
	_, _, st = c.lookup(tmp, "a/b")
	check("INVAL name with /", st, wire.NFS3ErrInval)

	// STALE: the handle of a deleted file.
	gone := c.mustCreate(tmp, "gone", 0o644)
	check("remove", c.remove(tmp, "gone"), wire.NFS3OK)
	_, st = c.getattr(gone)
	check("STALE getattr", st, wire.NFS3ErrStale)
	_, _, st = c.read(gone, 0, 1)
	check("STALE read", st, wire.NFS3ErrStale)

	// BADHANDLE: a garbled handle is refused, whatever byte is changed.
	for i := range passwd {
		_, st := c.getattr(flip(passwd, i))
		if st == wire.NFS3OK {
			t.Errorf("handle with byte %d flipped accepted", i)
		} else if st != wire.NFS3ErrBadHandle && st != wire.NFS3ErrStale {
			t.Errorf("handle with byte %d flipped: %d", i, st)
		}
		// Bytes 1-3 are the node's tag: no node has the changed one (STALE), or another
		// node has it and the MAC is not that node's (BADHANDLE).
		if (i == 0 || i >= 4) && st != wire.NFS3ErrBadHandle {
			t.Errorf("handle with byte %d flipped: %d, want BADHANDLE", i, st)
		}
	}
	if len(passwd) != 20 {
		t.Errorf("handle of %d bytes, want 20", len(passwd))
	}
	for _, fh := range [][]byte{nil, passwd[:len(passwd)-1], append(append([]byte(nil), passwd...), 0, 0, 0, 0)} {
		if _, st := c.getattr(fh); st != wire.NFS3ErrBadHandle {
			t.Errorf("handle of %d bytes: %d, want BADHANDLE", len(fh), st)
		}
	}
	// A handle of a well-formed shape for another node's tag is refused too.
	other := flip(passwd, 2)
	if _, st := c.getattr(other); st == wire.NFS3OK {
		t.Error("handle with another node id accepted")
	}
}

// TestReaddirCookieZeroIsFresh: a listing restarted at cookie 0 shows the directory as
// it is now, even when the client sends the verifier of an earlier listing (Linux keeps
// the directory's verifier until it sees the directory change).
func TestReaddirCookieZeroIsFresh(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	tmp := c.walk(c.mustMount("/nodes/n1"), "tmp")
	c.mustCreate(tmp, "one", 0o644)
	for _, plus := range []bool{false, true} {
		_, verf, eof, st := c.readdirPage(tmp, plus, 0, nil, 4096, 8192)
		if st != wire.NFS3OK || !eof {
			t.Fatalf("READDIR: %d eof=%v", st, eof)
		}
		name := "two"
		if plus {
			name = "three"
		}
		c.mustCreate(tmp, name, 0o644)
		ents, _, _, st := c.readdirPage(tmp, plus, 0, verf, 4096, 8192)
		found := false
		for _, e := range ents {
			found = found || e.name == name
		}
		if st != wire.NFS3OK || !found {
			t.Errorf("plus=%v: a new listing with the old verifier lacks %s (%d entries)", plus, name, len(ents))
		}
	}
}

// TestSetattrGuard: SETATTR with a ctime guard applies only when the ctime matches.
func TestSetattrGuard(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	f := c.mustCreate(c.walk(c.mustMount("/nodes/n1"), "tmp"), "g", 0o644)
	a := c.mustGetattr(f)
	guarded := func(ctime time.Time, mode uint32) uint32 {
		st, r := c.nfs(wire.ProcSetattr, new(wire.W).Opaque(f).Sattr(wire.Sattr{Mode: u32p(mode)}).Bool(true).U32(uint32(ctime.Unix())).U32(uint32(ctime.Nanosecond())).B)
		r.Wcc()
		c.check(r, "SETATTR")
		return st
	}
	if st := guarded(a.Ctime.Add(-time.Second), 0o600); st != 10002 {
		t.Errorf("wrong guard: %d, want NOT_SYNC", st)
	}
	if m := c.mustGetattr(f).Mode; m != 0o644 {
		t.Errorf("mode changed to %o despite NOT_SYNC", m)
	}
	if st := guarded(a.Ctime, 0o600); st != wire.NFS3OK {
		t.Errorf("right guard: %d", st)
	}
	if m := c.mustGetattr(f).Mode; m != 0o600 {
		t.Errorf("mode %o after a guarded SETATTR", m)
	}
}

// TestCommitDoesNotCopyUp: COMMIT (sent by go-nfs-client's Close even after reads) must
// not copy an unmodified image file into the node's volatile or persistent layer.
func TestCommitDoesNotCopyUp(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	for _, p := range []string{"/etc/fstab", "/etc/hostname", "/etc/passwd", "/etc/motd"} {
		if _, st := c.commit(c.walk(root, p)); st != wire.NFS3OK {
			t.Errorf("COMMIT %s: %d", p, st)
		}
	}
	// Nothing of n1's own: no copy in the volatile layer or the persistent root.
	for _, dir := range []string{filepath.Join(tc.fsState, "volatile", "n1"), filepath.Join(tc.cl.State, "n1")} {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && (fi.Name() == "fstab" || fi.Name() == "hostname") {
				t.Errorf("COMMIT copied up: %s", p)
			}
			return nil
		})
	}
	// The image's content still shows through: change the pristine copy and read it.
	if err := os.WriteFile(filepath.Join(tc.cl.Root, ".default", "etc", "fstab"), []byte("changed in the image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := c.readAll(c.walk(root, "/etc/fstab")); got != "changed in the image\n" {
		t.Errorf("/etc/fstab after COMMIT and an image change: %q", got)
	}
	// A COMMIT after an UNSTABLE write still succeeds with the write verifier.
	f := c.mustCreate(c.walk(root, "tmp"), "u", 0o644)
	_, _, verf, _ := c.write(f, 0, []byte("x"), 0)
	if v, st := c.commit(f); st != wire.NFS3OK || !bytes.Equal(v, verf) {
		t.Errorf("COMMIT after WRITE: %x %d", v, st)
	}
}

// TestCreateEdgeCases: UNCHECKED CREATE over existing objects of other types, and
// renames that cannot be.
func TestCreateEdgeCases(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	tmp := c.walk(c.mustMount("/nodes/n1"), "tmp")
	if _, _, st := c.symlink(tmp, "dangling", "/etc/created-through-a-link"); st != wire.NFS3OK {
		t.Fatal(st)
	}
	if _, _, st := c.mknod(tmp, "fifo", wire.NF3Fifo, 0o666, 0, 0); st != wire.NFS3OK {
		t.Fatal(st)
	}
	d, _, st := c.mkdir(tmp, "d", 0o755)
	if st != wire.NFS3OK {
		t.Fatal(st)
	}
	for name, want := range map[string]uint32{"dangling": wire.NFS3ErrExist, "fifo": wire.NFS3ErrExist, "d": wire.NFS3ErrIsDir} {
		if _, a, st := c.create(tmp, name, 0, wire.Sattr{Mode: u32p(0o644)}); st != want {
			t.Errorf("UNCHECKED CREATE over %s: %d (%+v), want %d", name, st, a, want)
		}
	}
	if _, _, st := c.lookup(c.walk(c.mustMount("/nodes/n1"), "etc"), "created-through-a-link"); st != wire.NFS3ErrNoEnt {
		t.Errorf("a file was created through the symlink: %d", st)
	}
	// UNCHECKED on an existing regular file keeps it (and its handle).
	f, _, _ := c.create(tmp, "reg", 1, wire.Sattr{Mode: u32p(0o600)})
	c.write(f, 0, []byte("keep"), 2)
	if g, a, st := c.create(tmp, "reg", 0, wire.Sattr{Mode: u32p(0o777)}); st != wire.NFS3OK || !bytes.Equal(f, g) || a.Size != 4 || a.Mode != 0o600 {
		t.Errorf("UNCHECKED CREATE over a file: %d same=%v %+v", st, bytes.Equal(f, g), a)
	}
	// A directory cannot move into itself.
	if st := c.rename(tmp, "d", d, "inside"); st != wire.NFS3ErrInval {
		t.Errorf("RENAME of a directory into itself: %d, want INVAL", st)
	}
	// Renaming a file over a directory and a directory over a file.
	if st := c.rename(tmp, "reg", tmp, "d"); st != wire.NFS3ErrIsDir {
		t.Errorf("RENAME file over dir: %d, want ISDIR", st)
	}
	if st := c.rename(tmp, "d", tmp, "reg"); st != wire.NFS3ErrNotDir {
		t.Errorf("RENAME dir over file: %d, want NOTDIR", st)
	}
	// LINK of a directory is refused.
	if _, st := c.link(d, tmp, "dlink"); st == wire.NFS3OK {
		t.Error("LINK of a directory succeeded")
	}
}

// TestRenameDuringListing: a listing continued from the server's cached copy, after a
// file in it was renamed, must not point the file's handle back at its old name.
func TestRenameDuringListing(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	tmp := c.walk(c.mustMount("/nodes/n1"), "tmp")
	d, _, _ := c.mkdir(tmp, "d", 0o755)
	createMany(t, c, d, 100)
	fh, _, st := c.lookup(d, entryName(90))
	if st != wire.NFS3OK {
		t.Fatal(st)
	}
	for _, plus := range []bool{false, true} {
		ents, verf, eof, st := c.readdirPage(d, plus, 0, nil, 512, 1024)
		if st != wire.NFS3OK || eof {
			t.Fatalf("first page: %d eof=%v", st, eof)
		}
		old, renamed := entryName(90), entryName(90)+".renamed"
		if plus {
			old, renamed = renamed, entryName(90)
		}
		if st := c.rename(d, old, d, renamed); st != wire.NFS3OK {
			t.Fatal(st)
		}
		cookie := ents[len(ents)-1].cookie
		for !eof {
			ents, verf, eof, st = c.readdirPage(d, plus, cookie, verf, 512, 1024)
			if st != wire.NFS3OK || len(ents) == 0 {
				t.Fatalf("page: %d", st)
			}
			cookie = ents[len(ents)-1].cookie
		}
		if _, st := c.getattr(fh); st != wire.NFS3OK {
			t.Errorf("plus=%v: the renamed file's handle after the listing: %d", plus, st)
		}
	}
}
