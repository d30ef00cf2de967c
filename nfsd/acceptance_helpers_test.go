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
	"statelite/internal/need"
	"statelite/internal/testenv"
	"statelite/nfsd"
	"statelite/nfsd/wire"
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
		need.Skip(t, "the views chown new files to their callers: run as root")
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

// ---------------------------------------------------------------------------------------
// Raw ONC-RPC over TCP.

type auth struct {
	flavor uint32
	body   []byte
}

var authNone = auth{}

func authSys(uid, gid uint32, gids ...uint32) auth {
	return auth{flavor: wire.FlavorSys, body: wire.AuthSys(uint32(time.Now().Unix()), "testhost", uid, gid, gids...)}
}

// callMsg encodes an RPC call message (without record marking), of RPC version rpcvers
// (2, unless a test asks for a mismatch).
func callMsg(xid, rpcvers, prog, vers, proc uint32, cred auth, args []byte) []byte {
	w := new(wire.W).Call(xid, prog, vers, proc, cred.flavor, cred.body)
	if rpcvers != wire.RPCVersion {
		binary.BigEndian.PutUint32(w.B[8:], rpcvers)
	}
	return append(w.B, args...)
}

// reply is a decoded RPC reply.
type reply struct {
	xid        uint32
	denied     bool
	acceptStat uint32  // when accepted
	rejectStat uint32  // when denied
	body       *wire.R // what follows accept_stat / reject_stat
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
	return wire.ReadRecord(rc.br, nil, 64<<20)
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
	r := &wire.R{B: rec}
	h := r.Reply()
	if r.Err != nil {
		t.Fatalf("reply: %v", r.Err)
	}
	rp := reply{at: time.Now(), xid: h.XID, denied: h.Denied}
	if h.Denied {
		rp.rejectStat = h.Stat
	} else {
		rp.acceptStat = h.Stat
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
func (c *nfsClient) rpc(prog, proc uint32, args []byte) *wire.R {
	c.t.Helper()
	rp := c.rc.call(prog, 3, proc, c.cred, args)
	if rp.denied || rp.acceptStat != wire.AcceptSuccess {
		c.t.Fatalf("call %d/%d: denied=%v accept_stat=%d reject_stat=%d", prog, proc, rp.denied, rp.acceptStat, rp.rejectStat)
	}
	return rp.body
}

// nfs makes an NFS call and returns its status and the rest of the result.
func (c *nfsClient) nfs(proc uint32, args []byte) (uint32, *wire.R) {
	c.t.Helper()
	r := c.rpc(wire.ProgNFS, proc, args)
	st := r.U32()
	if r.Err != nil {
		c.t.Fatalf("proc %d: no status: %v", proc, r.Err)
	}
	return st, r
}

func (c *nfsClient) check(r *wire.R, what string) {
	c.t.Helper()
	if r.Err != nil {
		c.t.Fatalf("%s: decoding the result: %v", what, r.Err)
	}
}

func (c *nfsClient) mount(dirpath string) ([]byte, uint32) {
	c.t.Helper()
	r := c.rpc(wire.ProgMount, wire.MntMnt, new(wire.W).Str(dirpath).B)
	st := r.U32()
	if st != wire.MNT3OK {
		return nil, st
	}
	fh := r.Opaque(wire.NoLimit)
	n := r.U32()
	for i := uint32(0); i < n; i++ {
		r.U32()
	}
	c.check(r, "MNT")
	return fh, st
}

func (c *nfsClient) mustMount(dirpath string) []byte {
	c.t.Helper()
	fh, st := c.mount(dirpath)
	if st != wire.MNT3OK {
		c.t.Fatalf("MNT %s: status %d", dirpath, st)
	}
	return fh
}

func (c *nfsClient) getattr(fh []byte) (wire.Attr, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcGetattr, new(wire.W).Opaque(fh).B)
	if st != wire.NFS3OK {
		return wire.Attr{}, st
	}
	a := r.Fattr()
	c.check(r, "GETATTR")
	return a, st
}

func (c *nfsClient) mustGetattr(fh []byte) wire.Attr {
	c.t.Helper()
	a, st := c.getattr(fh)
	if st != wire.NFS3OK {
		c.t.Fatalf("GETATTR: status %d", st)
	}
	return a
}

func (c *nfsClient) lookup(dir []byte, name string) ([]byte, wire.Attr, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcLookup, new(wire.W).Opaque(dir).Str(name).B)
	if st != wire.NFS3OK {
		return nil, wire.Attr{}, st
	}
	fh := r.Opaque(wire.NoLimit)
	a := r.PostOp()
	r.PostOp()
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
		if st != wire.NFS3OK {
			c.t.Fatalf("LOOKUP %s (in %s): status %d", comp, p, st)
		}
	}
	return fh
}

func (c *nfsClient) access(fh []byte, mask uint32) (uint32, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcAccess, new(wire.W).Opaque(fh).U32(mask).B)
	if st != wire.NFS3OK {
		return 0, st
	}
	r.PostOp()
	got := r.U32()
	c.check(r, "ACCESS")
	return got, st
}

func (c *nfsClient) read(fh []byte, off uint64, count uint32) ([]byte, bool, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcRead, new(wire.W).Opaque(fh).U64(off).U32(count).B)
	if st != wire.NFS3OK {
		return nil, false, st
	}
	r.PostOp()
	n := r.U32()
	eof := r.Bool()
	data := r.Opaque(wire.NoLimit)
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
		if st != wire.NFS3OK {
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
	st, r := c.nfs(wire.ProcWrite, new(wire.W).Opaque(fh).U64(off).U32(uint32(len(data))).U32(stable).Opaque(data).B)
	if st != wire.NFS3OK {
		return 0, 0, nil, st
	}
	r.Wcc()
	n, committed, verf := r.U32(), r.U32(), r.Fixed(8)
	c.check(r, "WRITE")
	return n, committed, verf, st
}

func (c *nfsClient) commit(fh []byte) ([]byte, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcCommit, new(wire.W).Opaque(fh).U64(0).U32(0).B)
	if st != wire.NFS3OK {
		return nil, st
	}
	r.Wcc()
	verf := r.Fixed(8)
	c.check(r, "COMMIT")
	return verf, st
}

// newObj decodes the result of CREATE/MKDIR/SYMLINK/MKNOD.
func (c *nfsClient) newObj(st uint32, r *wire.R, what string) ([]byte, wire.Attr, uint32) {
	c.t.Helper()
	if st != wire.NFS3OK {
		return nil, wire.Attr{}, st
	}
	fh := r.PostOpFH()
	a := r.PostOp()
	r.Wcc()
	c.check(r, what)
	if fh == nil || a == nil {
		c.t.Fatalf("%s: no handle or attributes", what)
	}
	return fh, *a, st
}

// create with how UNCHECKED (0) or GUARDED (1).
func (c *nfsClient) create(dir []byte, name string, how uint32, sa wire.Sattr) ([]byte, wire.Attr, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcCreate, new(wire.W).Opaque(dir).Str(name).U32(how).Sattr(sa).B)
	return c.newObj(st, r, "CREATE")
}

func (c *nfsClient) createExclusive(dir []byte, name string, verf [8]byte) ([]byte, wire.Attr, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcCreate, new(wire.W).Opaque(dir).Str(name).U32(2).Fixed(verf[:]).B)
	return c.newObj(st, r, "CREATE EXCLUSIVE")
}

func (c *nfsClient) mustCreate(dir []byte, name string, mode uint32) []byte {
	c.t.Helper()
	fh, _, st := c.create(dir, name, 1, wire.Sattr{Mode: u32p(mode)})
	if st != wire.NFS3OK {
		c.t.Fatalf("CREATE %s: status %d", name, st)
	}
	return fh
}

func (c *nfsClient) mkdir(dir []byte, name string, mode uint32) ([]byte, wire.Attr, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcMkdir, new(wire.W).Opaque(dir).Str(name).Sattr(wire.Sattr{Mode: u32p(mode)}).B)
	return c.newObj(st, r, "MKDIR")
}

func (c *nfsClient) symlink(dir []byte, name, target string) ([]byte, wire.Attr, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcSymlink, new(wire.W).Opaque(dir).Str(name).Sattr(wire.Sattr{}).Str(target).B)
	return c.newObj(st, r, "SYMLINK")
}

func (c *nfsClient) mknod(dir []byte, name string, typ, mode, maj, min uint32) ([]byte, wire.Attr, uint32) {
	c.t.Helper()
	w := new(wire.W).Opaque(dir).Str(name).U32(typ)
	switch typ {
	case 3, 4: // BLK, CHR
		w.Sattr(wire.Sattr{Mode: u32p(mode)}).U32(maj).U32(min)
	case 6, 7: // SOCK, FIFO
		w.Sattr(wire.Sattr{Mode: u32p(mode)})
	}
	st, r := c.nfs(wire.ProcMknod, w.B)
	return c.newObj(st, r, "MKNOD")
}

func (c *nfsClient) remove(dir []byte, name string) uint32 {
	c.t.Helper()
	st, _ := c.nfs(wire.ProcRemove, new(wire.W).Opaque(dir).Str(name).B)
	return st
}

func (c *nfsClient) rmdir(dir []byte, name string) uint32 {
	c.t.Helper()
	st, _ := c.nfs(wire.ProcRmdir, new(wire.W).Opaque(dir).Str(name).B)
	return st
}

func (c *nfsClient) rename(fromDir []byte, from string, toDir []byte, to string) uint32 {
	c.t.Helper()
	st, r := c.nfs(wire.ProcRename, new(wire.W).Opaque(fromDir).Str(from).Opaque(toDir).Str(to).B)
	r.Wcc()
	r.Wcc()
	c.check(r, "RENAME")
	return st
}

func (c *nfsClient) link(file, dir []byte, name string) (wire.Attr, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcLink, new(wire.W).Opaque(file).Opaque(dir).Str(name).B)
	a := r.PostOp()
	r.Wcc()
	c.check(r, "LINK")
	if st != wire.NFS3OK {
		return wire.Attr{}, st
	}
	if a == nil {
		c.t.Fatal("LINK: no attributes")
	}
	return *a, st
}

func (c *nfsClient) setattr(fh []byte, sa wire.Sattr) (wire.Attr, uint32) {
	c.t.Helper()
	st, r := c.nfs(wire.ProcSetattr, new(wire.W).Opaque(fh).Sattr(sa).Bool(false).B)
	_, after := r.Wcc()
	c.check(r, "SETATTR")
	if st != wire.NFS3OK {
		return wire.Attr{}, st
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
	attr   *wire.Attr
	fh     []byte
}

// readdirPage reads one page; count is READDIR's count or READDIRPLUS's maxcount.
func (c *nfsClient) readdirPage(dir []byte, plus bool, cookie uint64, verf []byte, dircount, count uint32) ([]dirEntry, []byte, bool, uint32) {
	c.t.Helper()
	if verf == nil {
		verf = make([]byte, 8)
	}
	w := new(wire.W).Opaque(dir).U64(cookie).Fixed(verf)
	proc := uint32(wire.ProcReaddir)
	if plus {
		proc = wire.ProcReaddirplus
		w.U32(dircount)
	}
	w.U32(count)
	st, r := c.nfs(proc, w.B)
	if st != wire.NFS3OK {
		return nil, nil, false, st
	}
	r.PostOp()
	nv := r.Fixed(8)
	var ents []dirEntry
	for r.Bool() {
		e := dirEntry{fileid: r.U64(), name: r.Str(wire.NoLimit), cookie: r.U64()}
		if plus {
			e.attr = r.PostOp()
			e.fh = r.PostOpFH()
		}
		ents = append(ents, e)
		if r.Err != nil {
			break
		}
	}
	eof := r.Bool()
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
		if st != wire.NFS3OK {
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

func u32p(v uint32) *uint32 { return &v }
func u64p(v uint64) *uint64 { return &v }
