package nfsd_test

// Shared helpers of the nfsd acceptance tests: a demo cluster with an in-process server
// on 127.0.0.1:0, and a small raw ONC-RPC/NFSv3 client (record marking, AUTH_SYS,
// optional local address so a test can act as a node's address 127.0.0.N).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/willscott/go-nfs-client/nfs/rpc"

	"statelite/fs"
	"statelite/internal/demo"
	"statelite/internal/testenv"
	"statelite/nfsd"
	"statelite/resolver"
	"statelite/tables"
)

func TestMain(m *testing.M) {
	// go-nfs-client retries a call up to 100 times per timeout: keep a dead server from
	// blocking a test for minutes.
	rpc.DefaultReadTimeout = 3 * time.Second
	if os.Getenv(childServeEnv) != "" {
		childServe() // this process is a server a test kills (crash_test.go)
		return
	}
	os.Exit(m.Run())
}

// Protocol numbers used by the tests.
const (
	progPortmap = 100000
	progNFS     = 100003
	progMount   = 100005

	procNull        = 0
	procGetattr     = 1
	procSetattr     = 2
	procLookup      = 3
	procAccess      = 4
	procReadlink    = 5
	procRead        = 6
	procWrite       = 7
	procCreate      = 8
	procMkdir       = 9
	procSymlink     = 10
	procMknod       = 11
	procRemove      = 12
	procRmdir       = 13
	procRename      = 14
	procLink        = 15
	procReaddir     = 16
	procReaddirplus = 17
	procFsstat      = 18
	procFsinfo      = 19
	procPathconf    = 20
	procCommit      = 21

	mntMnt     = 1
	mntDump    = 2
	mntUmnt    = 3
	mntUmntAll = 4
	mntExport  = 5

	nfsOK          = 0
	nfsPerm        = 1
	nfsNoEnt       = 2
	nfsAcces       = 13
	nfsExist       = 17
	nfsXDev        = 18
	nfsNotDir      = 20
	nfsIsDir       = 21
	nfsInval       = 22
	nfsROFS        = 30
	nfsNameTooLong = 63
	nfsNotEmpty    = 66
	nfsStale       = 70
	nfsBadHandle   = 10001

	mntOK     = 0
	mntNoEnt  = 2
	mntAcces  = 13
	mntNotDir = 20

	// file types
	nf3Reg  = 1
	nf3Dir  = 2
	nf3Chr  = 4
	nf3Lnk  = 5
	nf3Fifo = 7

	// accept_stat
	acceptSuccess      = 0
	acceptProgUnavail  = 1
	acceptProgMismatch = 2
	acceptProcUnavail  = 3
	acceptGarbageArgs  = 4
	acceptSystemErr    = 5
)

// ---------------------------------------------------------------------------------------
// The cluster and the server.

// testCluster is a demo cluster (tables, image, litetrees) with an fs server over it.
type testCluster struct {
	env     *testenv.Cluster
	cl      *demo.Cluster
	store   *tables.DirStore
	fsState string // fs.Config.State
	nfState string // nfsd.Config.State
	mnt     string // resolver.Config.Mnt
	fsrv    *fs.Server
}

func newTestCluster(t testing.TB) *testCluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the views chown new files to their callers: run as root")
	}
	env := testenv.New(t)
	return &testCluster{env: env, cl: env.Cluster, store: env.Store, fsState: env.FSState,
		nfState: filepath.Join(env.Dir, "srvstate"), mnt: env.Mnt, fsrv: env.FS}
}

// resolver loads the tables afresh and returns a resolver over them.
func (tc *testCluster) resolver(t testing.TB) *resolver.Resolver { return tc.env.Resolver(t) }

// newFS returns a new fs server on the cluster's fs state (as a restarted daemon has).
func (tc *testCluster) newFS(t testing.TB) *fs.Server { return tc.env.NewFS(t) }

// setHosts rewrites the hosts table (node -> ip) in the test's copy of the tables.
func (tc *testCluster) setHosts(t *testing.T, ips map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("#node,ip,comments,disable\n")
	for n, ip := range ips {
		fmt.Fprintf(&b, "%q,%q,,\n", n, ip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := tc.store.Edit(ctx, func(*tables.Snapshot) (map[string]*tables.Table, error) {
		tab, err := tables.Parse("hosts", strings.NewReader(b.String()))
		if err != nil {
			return nil, err
		}
		return map[string]*tables.Table{"hosts": tab}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tc.fsrv.SetResolver(tc.resolver(t))
}

// lockedBuffer collects server logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runningServer is an nfsd server serving on 127.0.0.1:<port>.
type runningServer struct {
	*nfsd.Server
	addr   string
	port   int
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// serve starts an nfsd server over tc's fs server (FS, State and Log are filled in when
// unset); it is stopped at the end of the test.
func (tc *testCluster) serve(t testing.TB, cfg nfsd.Config) *runningServer {
	t.Helper()
	if cfg.FS == nil {
		cfg.FS = tc.fsrv
	}
	if cfg.State == "" {
		cfg.State = tc.nfState
	}
	logs := &lockedBuffer{}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := nfsd.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningServer{Server: srv, addr: l.Addr().String(), port: l.Addr().(*net.TCPAddr).Port,
		logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { rs.done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		rs.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return rs
}

// stop cancels the server, waits for Serve to return and closes it.
func (rs *runningServer) stop(t testing.TB) {
	t.Helper()
	rs.once.Do(func() {
		rs.cancel()
		select {
		case err := <-rs.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10s of cancel")
		}
		if err := rs.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func allowOnly(prefixes ...string) []netip.Prefix {
	out := []netip.Prefix{}
	for _, p := range prefixes {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// ---------------------------------------------------------------------------------------
// XDR.

type xw struct{ b []byte }

func (w *xw) u32(v uint32) *xw { w.b = binary.BigEndian.AppendUint32(w.b, v); return w }
func (w *xw) u64(v uint64) *xw { w.b = binary.BigEndian.AppendUint64(w.b, v); return w }
func (w *xw) fixed(v []byte) *xw {
	w.b = append(w.b, v...)
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
	return w
}
func (w *xw) opaque(v []byte) *xw { w.u32(uint32(len(v))); return w.fixed(v) }
func (w *xw) str(s string) *xw    { return w.opaque([]byte(s)) }
func (w *xw) boolean(v bool) *xw {
	if v {
		return w.u32(1)
	}
	return w.u32(0)
}

// sattr is a sattr3 to encode (nil: don't set).
type sattr struct {
	mode, uid, gid *uint32
	size           *uint64
	atime, mtime   *time.Time
	serverTimes    bool // SET_TO_SERVER_TIME for both times
}

func u32p(v uint32) *uint32 { return &v }
func u64p(v uint64) *uint64 { return &v }

func (w *xw) sattr(s sattr) *xw {
	for _, p := range []*uint32{s.mode, s.uid, s.gid} {
		w.boolean(p != nil)
		if p != nil {
			w.u32(*p)
		}
	}
	w.boolean(s.size != nil)
	if s.size != nil {
		w.u64(*s.size)
	}
	for _, tp := range []*time.Time{s.atime, s.mtime} {
		switch {
		case s.serverTimes:
			w.u32(1)
		case tp != nil:
			w.u32(2).u32(uint32(tp.Unix())).u32(uint32(tp.Nanosecond()))
		default:
			w.u32(0)
		}
	}
	return w
}

// xr decodes XDR; errors stick and are reported by check.
type xr struct {
	b   []byte
	err error
}

func (r *xr) u32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}
func (r *xr) u64() uint64   { return uint64(r.u32())<<32 | uint64(r.u32()) }
func (r *xr) boolean() bool { return r.u32() != 0 }
func (r *xr) fixed(n int) []byte {
	if r.err != nil {
		return nil
	}
	pad := (4 - n%4) % 4
	if len(r.b) < n+pad {
		r.err = io.ErrUnexpectedEOF
		return nil
	}
	v := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n+pad:]
	return v
}
func (r *xr) opaque() []byte {
	n := r.u32()
	if n > 1<<24 {
		r.err = fmt.Errorf("opaque of %d bytes", n)
		return nil
	}
	return r.fixed(int(n))
}
func (r *xr) str() string { return string(r.opaque()) }

func (r *xr) time() time.Time {
	s, ns := r.u32(), r.u32()
	return time.Unix(int64(s), int64(ns))
}

// fattr is a decoded fattr3.
type fattr struct {
	Type, Mode, Nlink, UID, GID uint32
	Size, Used                  uint64
	Major, Minor                uint32
	FSID, FileID                uint64
	Atime, Mtime, Ctime         time.Time
}

func (r *xr) fattr() fattr {
	var a fattr
	a.Type, a.Mode, a.Nlink, a.UID, a.GID = r.u32(), r.u32(), r.u32(), r.u32(), r.u32()
	a.Size, a.Used = r.u64(), r.u64()
	a.Major, a.Minor = r.u32(), r.u32()
	a.FSID, a.FileID = r.u64(), r.u64()
	a.Atime, a.Mtime, a.Ctime = r.time(), r.time(), r.time()
	return a
}

func (r *xr) postOp() *fattr {
	if !r.boolean() {
		return nil
	}
	a := r.fattr()
	return &a
}

func (r *xr) wcc() (before bool, after *fattr) {
	if before = r.boolean(); before {
		r.u64()
		r.time()
		r.time()
	}
	return before, r.postOp()
}

func (r *xr) postOpFH() []byte {
	if !r.boolean() {
		return nil
	}
	return r.opaque()
}

// ---------------------------------------------------------------------------------------
// Raw ONC-RPC over TCP.

type auth struct {
	flavor uint32
	body   []byte
}

var authNone = auth{}

func authSys(uid, gid uint32, gids ...uint32) auth {
	w := new(xw).u32(uint32(time.Now().Unix())).str("testhost").u32(uid).u32(gid).u32(uint32(len(gids)))
	for _, g := range gids {
		w.u32(g)
	}
	return auth{flavor: 1, body: w.b}
}

// callMsg encodes an RPC call message (without record marking).
func callMsg(xid, rpcvers, prog, vers, proc uint32, cred auth, args []byte) []byte {
	w := new(xw).u32(xid).u32(0).u32(rpcvers).u32(prog).u32(vers).u32(proc)
	w.u32(cred.flavor).opaque(cred.body)
	w.u32(0).opaque(nil) // verifier: AUTH_NONE
	w.b = append(w.b, args...)
	return w.b
}

// reply is a decoded RPC reply.
type reply struct {
	xid        uint32
	denied     bool
	acceptStat uint32 // when accepted
	rejectStat uint32 // when denied
	body       *xr    // what follows accept_stat / reject_stat
	at         time.Time
}

// rconn is one TCP connection to an RPC server.
type rconn struct {
	t   testing.TB
	c   net.Conn
	br  *bufio.Reader
	wmu sync.Mutex
	xid uint32
}

// dialRPC connects to addr, from local address local when not empty.
func dialRPC(t testing.TB, addr, local string) *rconn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", addr, local, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rconn{t: t, c: c, br: bufio.NewReader(c), xid: uint32(time.Now().UnixNano())}
}

// writeFrags writes one record as the given fragments (the last one is marked last).
func (rc *rconn) writeFrags(frags ...[]byte) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	var buf []byte
	for i, f := range frags {
		h := uint32(len(f))
		if i == len(frags)-1 {
			h |= 0x80000000
		}
		buf = binary.BigEndian.AppendUint32(buf, h)
		buf = append(buf, f...)
	}
	rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := rc.c.Write(buf)
	return err
}

// send writes a call and returns its xid.
func (rc *rconn) send(prog, vers, proc uint32, cred auth, args []byte) uint32 {
	rc.t.Helper()
	rc.xid++
	xid := rc.xid
	if err := rc.writeFrags(callMsg(xid, 2, prog, vers, proc, cred, args)); err != nil {
		rc.t.Fatalf("send: %v", err)
	}
	return xid
}

// readRecord reads one whole record (all fragments) within timeout.
func (rc *rconn) readRecord(timeout time.Duration) ([]byte, error) {
	rc.c.SetReadDeadline(time.Now().Add(timeout))
	var rec []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(rc.br, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		frag := make([]byte, h&0x7fffffff)
		if _, err := io.ReadFull(rc.br, frag); err != nil {
			return nil, err
		}
		rec = append(rec, frag...)
		if h&0x80000000 != 0 {
			return rec, nil
		}
	}
}

// recv reads and decodes the next reply.
func (rc *rconn) recv() reply {
	rc.t.Helper()
	rec, err := rc.readRecord(15 * time.Second)
	if err != nil {
		rc.t.Fatalf("recv: %v", err)
	}
	return decodeReply(rc.t, rec)
}

func decodeReply(t testing.TB, rec []byte) reply {
	t.Helper()
	r := &xr{b: rec}
	rp := reply{at: time.Now()}
	rp.xid = r.u32()
	if mt := r.u32(); mt != 1 {
		t.Fatalf("message type %d, want REPLY", mt)
	}
	switch r.u32() {
	case 0:
		r.u32()    // verifier flavor
		r.opaque() // verifier body
		rp.acceptStat = r.u32()
	case 1:
		rp.denied = true
		rp.rejectStat = r.u32()
	default:
		t.Fatalf("bad reply_stat")
	}
	if r.err != nil {
		t.Fatalf("short reply: %v", r.err)
	}
	rp.body = r
	return rp
}

// call sends one call and returns its reply (which must carry its xid).
func (rc *rconn) call(prog, vers, proc uint32, cred auth, args []byte) reply {
	rc.t.Helper()
	xid := rc.send(prog, vers, proc, cred, args)
	rp := rc.recv()
	if rp.xid != xid {
		rc.t.Fatalf("reply xid %d, want %d", rp.xid, xid)
	}
	return rp
}

// ---------------------------------------------------------------------------------------
// An NFSv3/MOUNT client on a raw connection.

type nfsClient struct {
	t    testing.TB
	rc   *rconn
	cred auth
}

func newClient(t testing.TB, addr, local string, cred auth) *nfsClient {
	t.Helper()
	return &nfsClient{t: t, rc: dialRPC(t, addr, local), cred: cred}
}

// as returns a client on the same connection with another credential.
func (c *nfsClient) as(cred auth) *nfsClient { return &nfsClient{t: c.t, rc: c.rc, cred: cred} }

// rpc makes a call that must be accepted with SUCCESS and returns the result body.
func (c *nfsClient) rpc(prog, proc uint32, args []byte) *xr {
	c.t.Helper()
	rp := c.rc.call(prog, 3, proc, c.cred, args)
	if rp.denied || rp.acceptStat != acceptSuccess {
		c.t.Fatalf("call %d/%d: denied=%v accept_stat=%d reject_stat=%d", prog, proc, rp.denied, rp.acceptStat, rp.rejectStat)
	}
	return rp.body
}

// nfs makes an NFS call and returns its status and the rest of the result.
func (c *nfsClient) nfs(proc uint32, args []byte) (uint32, *xr) {
	c.t.Helper()
	r := c.rpc(progNFS, proc, args)
	st := r.u32()
	if r.err != nil {
		c.t.Fatalf("proc %d: no status: %v", proc, r.err)
	}
	return st, r
}

func (c *nfsClient) check(r *xr, what string) {
	c.t.Helper()
	if r.err != nil {
		c.t.Fatalf("%s: decoding the result: %v", what, r.err)
	}
}

func (c *nfsClient) mount(dirpath string) ([]byte, uint32) {
	c.t.Helper()
	r := c.rpc(progMount, mntMnt, new(xw).str(dirpath).b)
	st := r.u32()
	if st != mntOK {
		return nil, st
	}
	fh := r.opaque()
	n := r.u32()
	for i := uint32(0); i < n; i++ {
		r.u32()
	}
	c.check(r, "MNT")
	return fh, st
}

func (c *nfsClient) mustMount(dirpath string) []byte {
	c.t.Helper()
	fh, st := c.mount(dirpath)
	if st != mntOK {
		c.t.Fatalf("MNT %s: status %d", dirpath, st)
	}
	return fh
}

func (c *nfsClient) getattr(fh []byte) (fattr, uint32) {
	c.t.Helper()
	st, r := c.nfs(procGetattr, new(xw).opaque(fh).b)
	if st != nfsOK {
		return fattr{}, st
	}
	a := r.fattr()
	c.check(r, "GETATTR")
	return a, st
}

func (c *nfsClient) mustGetattr(fh []byte) fattr {
	c.t.Helper()
	a, st := c.getattr(fh)
	if st != nfsOK {
		c.t.Fatalf("GETATTR: status %d", st)
	}
	return a
}

func (c *nfsClient) lookup(dir []byte, name string) ([]byte, fattr, uint32) {
	c.t.Helper()
	st, r := c.nfs(procLookup, new(xw).opaque(dir).str(name).b)
	if st != nfsOK {
		return nil, fattr{}, st
	}
	fh := r.opaque()
	a := r.postOp()
	r.postOp()
	c.check(r, "LOOKUP")
	if a == nil {
		c.t.Fatalf("LOOKUP %s: no attributes", name)
	}
	return fh, *a, st
}

// walk looks up a slash-separated path below dir.
func (c *nfsClient) walk(dir []byte, p string) []byte {
	c.t.Helper()
	fh := dir
	for _, comp := range strings.Split(strings.Trim(p, "/"), "/") {
		if comp == "" {
			continue
		}
		var st uint32
		fh, _, st = c.lookup(fh, comp)
		if st != nfsOK {
			c.t.Fatalf("LOOKUP %s (in %s): status %d", comp, p, st)
		}
	}
	return fh
}

func (c *nfsClient) access(fh []byte, mask uint32) (uint32, uint32) {
	c.t.Helper()
	st, r := c.nfs(procAccess, new(xw).opaque(fh).u32(mask).b)
	if st != nfsOK {
		return 0, st
	}
	r.postOp()
	got := r.u32()
	c.check(r, "ACCESS")
	return got, st
}

func (c *nfsClient) read(fh []byte, off uint64, count uint32) ([]byte, bool, uint32) {
	c.t.Helper()
	st, r := c.nfs(procRead, new(xw).opaque(fh).u64(off).u32(count).b)
	if st != nfsOK {
		return nil, false, st
	}
	r.postOp()
	n := r.u32()
	eof := r.boolean()
	data := r.opaque()
	c.check(r, "READ")
	if int(n) != len(data) {
		c.t.Fatalf("READ: count %d, %d bytes", n, len(data))
	}
	return data, eof, st
}

func (c *nfsClient) readAll(fh []byte) string {
	c.t.Helper()
	var out []byte
	for {
		data, eof, st := c.read(fh, uint64(len(out)), 64<<10)
		if st != nfsOK {
			c.t.Fatalf("READ: status %d", st)
		}
		out = append(out, data...)
		if eof || len(data) == 0 {
			return string(out)
		}
	}
}

// write returns count, committed and the write verifier.
func (c *nfsClient) write(fh []byte, off uint64, data []byte, stable uint32) (uint32, uint32, []byte, uint32) {
	c.t.Helper()
	st, r := c.nfs(procWrite, new(xw).opaque(fh).u64(off).u32(uint32(len(data))).u32(stable).opaque(data).b)
	if st != nfsOK {
		return 0, 0, nil, st
	}
	r.wcc()
	n, committed, verf := r.u32(), r.u32(), r.fixed(8)
	c.check(r, "WRITE")
	return n, committed, verf, st
}

func (c *nfsClient) commit(fh []byte) ([]byte, uint32) {
	c.t.Helper()
	st, r := c.nfs(procCommit, new(xw).opaque(fh).u64(0).u32(0).b)
	if st != nfsOK {
		return nil, st
	}
	r.wcc()
	verf := r.fixed(8)
	c.check(r, "COMMIT")
	return verf, st
}

// newObj decodes the result of CREATE/MKDIR/SYMLINK/MKNOD.
func (c *nfsClient) newObj(st uint32, r *xr, what string) ([]byte, fattr, uint32) {
	c.t.Helper()
	if st != nfsOK {
		return nil, fattr{}, st
	}
	fh := r.postOpFH()
	a := r.postOp()
	r.wcc()
	c.check(r, what)
	if fh == nil || a == nil {
		c.t.Fatalf("%s: no handle or attributes", what)
	}
	return fh, *a, st
}

// create with how UNCHECKED (0) or GUARDED (1).
func (c *nfsClient) create(dir []byte, name string, how uint32, sa sattr) ([]byte, fattr, uint32) {
	c.t.Helper()
	st, r := c.nfs(procCreate, new(xw).opaque(dir).str(name).u32(how).sattr(sa).b)
	return c.newObj(st, r, "CREATE")
}

func (c *nfsClient) createExclusive(dir []byte, name string, verf [8]byte) ([]byte, fattr, uint32) {
	c.t.Helper()
	st, r := c.nfs(procCreate, new(xw).opaque(dir).str(name).u32(2).fixed(verf[:]).b)
	return c.newObj(st, r, "CREATE EXCLUSIVE")
}

func (c *nfsClient) mustCreate(dir []byte, name string, mode uint32) []byte {
	c.t.Helper()
	fh, _, st := c.create(dir, name, 1, sattr{mode: u32p(mode)})
	if st != nfsOK {
		c.t.Fatalf("CREATE %s: status %d", name, st)
	}
	return fh
}

func (c *nfsClient) mkdir(dir []byte, name string, mode uint32) ([]byte, fattr, uint32) {
	c.t.Helper()
	st, r := c.nfs(procMkdir, new(xw).opaque(dir).str(name).sattr(sattr{mode: u32p(mode)}).b)
	return c.newObj(st, r, "MKDIR")
}

func (c *nfsClient) symlink(dir []byte, name, target string) ([]byte, fattr, uint32) {
	c.t.Helper()
	st, r := c.nfs(procSymlink, new(xw).opaque(dir).str(name).sattr(sattr{}).str(target).b)
	return c.newObj(st, r, "SYMLINK")
}

func (c *nfsClient) mknod(dir []byte, name string, typ, mode, maj, min uint32) ([]byte, fattr, uint32) {
	c.t.Helper()
	w := new(xw).opaque(dir).str(name).u32(typ)
	switch typ {
	case 3, 4: // BLK, CHR
		w.sattr(sattr{mode: u32p(mode)}).u32(maj).u32(min)
	case 6, 7: // SOCK, FIFO
		w.sattr(sattr{mode: u32p(mode)})
	}
	st, r := c.nfs(procMknod, w.b)
	return c.newObj(st, r, "MKNOD")
}

func (c *nfsClient) remove(dir []byte, name string) uint32 {
	c.t.Helper()
	st, _ := c.nfs(procRemove, new(xw).opaque(dir).str(name).b)
	return st
}

func (c *nfsClient) rmdir(dir []byte, name string) uint32 {
	c.t.Helper()
	st, _ := c.nfs(procRmdir, new(xw).opaque(dir).str(name).b)
	return st
}

func (c *nfsClient) rename(fromDir []byte, from string, toDir []byte, to string) uint32 {
	c.t.Helper()
	st, r := c.nfs(procRename, new(xw).opaque(fromDir).str(from).opaque(toDir).str(to).b)
	r.wcc()
	r.wcc()
	c.check(r, "RENAME")
	return st
}

func (c *nfsClient) link(file, dir []byte, name string) (fattr, uint32) {
	c.t.Helper()
	st, r := c.nfs(procLink, new(xw).opaque(file).opaque(dir).str(name).b)
	a := r.postOp()
	r.wcc()
	c.check(r, "LINK")
	if st != nfsOK {
		return fattr{}, st
	}
	if a == nil {
		c.t.Fatal("LINK: no attributes")
	}
	return *a, st
}

func (c *nfsClient) setattr(fh []byte, sa sattr) (fattr, uint32) {
	c.t.Helper()
	st, r := c.nfs(procSetattr, new(xw).opaque(fh).sattr(sa).boolean(false).b)
	_, after := r.wcc()
	c.check(r, "SETATTR")
	if st != nfsOK {
		return fattr{}, st
	}
	if after == nil {
		c.t.Fatal("SETATTR: no attributes after")
	}
	return *after, st
}

// dirEntry is one READDIR(PLUS) entry.
type dirEntry struct {
	fileid uint64
	name   string
	cookie uint64
	attr   *fattr
	fh     []byte
}

// readdirPage reads one page; count is READDIR's count or READDIRPLUS's maxcount.
func (c *nfsClient) readdirPage(dir []byte, plus bool, cookie uint64, verf []byte, dircount, count uint32) ([]dirEntry, []byte, bool, uint32) {
	c.t.Helper()
	if verf == nil {
		verf = make([]byte, 8)
	}
	w := new(xw).opaque(dir).u64(cookie).fixed(verf)
	proc := uint32(procReaddir)
	if plus {
		proc = procReaddirplus
		w.u32(dircount)
	}
	w.u32(count)
	st, r := c.nfs(proc, w.b)
	if st != nfsOK {
		return nil, nil, false, st
	}
	r.postOp()
	nv := r.fixed(8)
	var ents []dirEntry
	for r.boolean() {
		e := dirEntry{fileid: r.u64(), name: r.str(), cookie: r.u64()}
		if plus {
			e.attr = r.postOp()
			e.fh = r.postOpFH()
		}
		ents = append(ents, e)
		if r.err != nil {
			break
		}
	}
	eof := r.boolean()
	c.check(r, "READDIR")
	return ents, nv, eof, st
}

// readdirAll lists dir page by page and returns the entries and the number of pages.
func (c *nfsClient) readdirAll(dir []byte, plus bool, dircount, count uint32) ([]dirEntry, int) {
	c.t.Helper()
	var all []dirEntry
	var cookie uint64
	var verf []byte
	for pages := 1; ; pages++ {
		ents, nv, eof, st := c.readdirPage(dir, plus, cookie, verf, dircount, count)
		if st != nfsOK {
			c.t.Fatalf("READDIR page %d: status %d", pages, st)
		}
		all = append(all, ents...)
		if eof {
			return all, pages
		}
		if len(ents) == 0 {
			c.t.Fatalf("READDIR page %d: no entries and no eof", pages)
		}
		if pages > 100000 {
			c.t.Fatal("READDIR does not end")
		}
		cookie, verf = ents[len(ents)-1].cookie, nv
	}
}

// flip returns a copy of b with byte i changed.
func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x5a
	return out
}
