package nfsd

// FuzzNFSArgs runs fuzzed MOUNT and NFSv3 calls through the server's real dispatch
// (dispatchTo) on a demo cluster, as root on an admin address or as another caller.
//
// Input: byte 0 picks the program (see fzProgs; 3: the rest is a whole RPC call
// message, header and credentials included), byte 1 the procedure, byte 2 the caller
// (bits 0-1: root, uid 1000, AUTH_NONE, root again; bit 2: a non-admin address), the
// rest is the argument body. In the body, the 4 bytes "\xffFH" + a digit ('0'…'5') stand
// for the 20 bytes of one of the test server's real handles (see the markers below), so the
// seeds reach past the handle checks although the handle secret is random per server.
//
// Checked: no procedure panics (dispatch recovers and logs "panic serving request": the
// log handler turns that into a failure); the reply is well-formed (starts with the
// call's xid, says REPLY, an accepted or denied status that exists, and is a multiple of
// 4 bytes long).

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sfs "statelite/fs"
	"statelite/internal/demo"
	"statelite/resolver"
	"statelite/tables"
)

// fzProgs are the programs bytes 0..2 of an input pick (3: a raw call message).
var fzProgs = []uint32{progMount, progNFS, 100099}

// The markers \xffFH0…5 stand for the handles of /, /etc, /etc/motd, /root, /root/file
// and /root/link in n1's view (made by the setup: /root is persistent, so the fuzzer may
// write there).

const fzXID = 0x5eed1234

// fzServer is the server of one fuzzing process (built once, shared by the inputs).
type fzServer struct {
	s       *Server
	handles [][]byte
	logs    *fzLog
	dir     string // its demo cluster and state, removed when the fuzz test ends
}

// fzLog records the Error records that report a panic; the rest is dropped.
type fzLog struct {
	mu     sync.Mutex
	panics []string
}

func (l *fzLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *fzLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *fzLog) WithGroup(string) slog.Handler                 { return l }
func (l *fzLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "panic") {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.panics = append(l.panics, b.String())
	l.mu.Unlock()
	return nil
}

func (l *fzLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.panics
	l.panics = nil
	return p
}

var (
	fzOnce sync.Once
	fzSrv  *fzServer
	fzErr  error
)

// fzSetup builds the demo cluster and the server (once per process: the fuzzing
// workers are processes of their own).
func fzSetup(t testing.TB) *fzServer {
	if os.Geteuid() != 0 {
		t.Skip("the views chown new files to their callers: run as root")
	}
	fzOnce.Do(func() { fzSrv, fzErr = fzBuild() })
	if fzErr != nil {
		t.Fatal(fzErr)
	}
	return fzSrv
}

func fzBuild() (*fzServer, error) {
	dir, err := os.MkdirTemp("", "statelite-fuzz-nfsd-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := demo.Build(ctx, filepath.Join(dir, "demo"))
	if err != nil {
		return nil, err
	}
	st, err := tables.OpenDir(cl.Tables)
	if err != nil {
		return nil, err
	}
	snap, err := st.Load(ctx)
	if err != nil {
		return nil, err
	}
	fsrv, err := sfs.New(sfs.Config{State: filepath.Join(cl.Dir, "srvstate", "fs")},
		resolver.New(snap, resolver.Config{Mnt: filepath.Join(cl.Dir, "mnt")}))
	if err != nil {
		return nil, err
	}
	logs := &fzLog{}
	s, err := New(Config{FS: fsrv, State: filepath.Join(cl.Dir, "srvstate"), Log: slog.New(logs)})
	if err != nil {
		return nil, err
	}
	fz := &fzServer{s: s, logs: logs, dir: dir}
	// The handles, made by real calls: MNT, then LOOKUP, CREATE, WRITE and SYMLINK.
	root, err := fz.mnt("/nodes/n1")
	if err != nil {
		return nil, err
	}
	lookup := func(dir []byte, name string) ([]byte, error) {
		return fz.newObj(3, fzW().opaque(dir).str(name).b, false)
	}
	etc, err := lookup(root, "etc")
	if err != nil {
		return nil, err
	}
	motd, err := lookup(etc, "motd")
	if err != nil {
		return nil, err
	}
	rootDir, err := lookup(root, "root")
	if err != nil {
		return nil, err
	}
	file, err := fz.newObj(8, fzW().opaque(rootDir).str("file").u32(0).sattr(0o644).b, true)
	if err != nil {
		return nil, err
	}
	if _, err := fz.call(progNFS, 7, fzW().opaque(file).u64(0).u32(12).u32(2).str("hello fuzzer").b); err != nil {
		return nil, err
	}
	link, err := fz.newObj(10, fzW().opaque(rootDir).str("link").sattr(0o777).str("file").b, true)
	if err != nil {
		return nil, err
	}
	fz.handles = [][]byte{root, etc, motd, rootDir, file, link}
	return fz, nil
}

// call serves one call as root from 127.0.0.1 and returns the body after accept_stat
// SUCCESS.
func (fz *fzServer) call(prog, proc uint32, args []byte) ([]byte, error) {
	rec := fzCall(prog, 3, proc, fzAuthSys(0, 0), args)
	var w writer
	b := fz.s.rpc.dispatchTo(context.Background(), rec, fzAdmin, &w)
	fzRelease(fz.s, &w)
	if len(b) < 28 || binary.BigEndian.Uint32(b[24:]) != acceptSuccess {
		return nil, fmt.Errorf("setup call %d/%d: reply % x", prog, proc, b)
	}
	return append([]byte(nil), b[28:]...), nil
}

func (fz *fzServer) mnt(dirpath string) ([]byte, error) {
	res, err := fz.call(progMount, 1, fzW().str(dirpath).b)
	if err != nil {
		return nil, err
	}
	r := &reader{b: res}
	if st := r.u32(); st != mnt3OK {
		return nil, fmt.Errorf("setup MNT %s: status %d", dirpath, st)
	}
	fh := r.opaque(64)
	return append([]byte(nil), fh...), r.err
}

// newObj calls an NFS procedure whose result starts with a handle (LOOKUP: plain,
// CREATE/SYMLINK: post_op_fh3) and returns it.
func (fz *fzServer) newObj(proc uint32, args []byte, postOp bool) ([]byte, error) {
	res, err := fz.call(progNFS, proc, args)
	if err != nil {
		return nil, err
	}
	r := &reader{b: res}
	if st := r.u32(); st != nfs3OK {
		return nil, fmt.Errorf("setup NFS proc %d: status %d", proc, st)
	}
	if postOp && !r.boolean() {
		return nil, fmt.Errorf("setup NFS proc %d: no handle", proc)
	}
	fh := r.opaque(64)
	return append([]byte(nil), fh...), r.err
}

var (
	fzAdmin   = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 700}
	fzForeign = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 77), Port: 40000}
)

// fzRelease gives back what a reply holds besides its buffer (as rpcConn.serve does).
func fzRelease(s *Server, w *writer) {
	if w.late != nil {
		w.late.h.Close()
		w.late = nil
	}
	if w.bigTurn {
		s.rpc.releaseBig()
		w.bigTurn = false
	}
}

// fzMarker is the handle marker: "\xffFH" and a digit.
var fzMarker = []byte("\xffFH")

// substitute replaces the handle markers of body by the handles they name.
func (fz *fzServer) substitute(body []byte) []byte {
	if !bytes.Contains(body, fzMarker) {
		return body
	}
	var out []byte
	for {
		i := bytes.Index(body, fzMarker)
		if i < 0 || i+4 > len(body) {
			return append(out, body...)
		}
		k := int(body[i+3]) - '0'
		if k < 0 || k >= len(fz.handles) {
			out = append(out, body[:i+4]...)
			body = body[i+4:]
			continue
		}
		out = append(append(out, body[:i]...), fz.handles[k]...)
		body = body[i+4:]
	}
}

// run serves one fuzz input and checks the reply.
func (fz *fzServer) run(t *testing.T, in []byte) {
	if len(in) < 3 {
		return
	}
	body := fz.substitute(in[3:])
	var rec []byte
	xid := uint32(fzXID)
	if sel := in[0] % 4; sel == 3 {
		rec = body
		if len(rec) < 8 || binary.BigEndian.Uint32(rec[4:]) != msgCall {
			return // not a call: no reply (dispatch answers nothing)
		}
		xid = binary.BigEndian.Uint32(rec)
	} else {
		var cred fzAuth
		switch in[2] & 3 {
		case 1:
			cred = fzAuthSys(1000, 1000, 1000, 10)
		case 2:
			cred = fzAuth{flavor: flavorNone}
		default:
			cred = fzAuthSys(0, 0)
		}
		rec = fzCall(fzProgs[sel], 3, uint32(in[1]), cred, body)
	}
	remote := net.Addr(fzAdmin)
	if in[2]&4 != 0 {
		remote = fzForeign
	}
	var w writer
	reply := fz.s.rpc.dispatchTo(context.Background(), rec, remote, &w)
	fzRelease(fz.s, &w)
	if p := fz.logs.take(); len(p) > 0 {
		t.Fatalf("the server panicked:\n%s", strings.Join(p, "\n"))
	}
	if err := fzCheckReply(reply, xid); err != nil {
		t.Fatalf("%v\nreply % x", err, reply[:min(len(reply), 256)])
	}
	putBuf(reply)
}

// fzCheckReply checks that reply (4 bytes of record mark first) is a well-formed reply
// to call xid.
func fzCheckReply(reply []byte, xid uint32) error {
	if reply == nil {
		return fmt.Errorf("no reply to a call")
	}
	if len(reply)%4 != 0 {
		return fmt.Errorf("reply of %d bytes: not a multiple of 4", len(reply))
	}
	if len(reply) < 20 {
		return fmt.Errorf("reply of %d bytes: too short for a header", len(reply))
	}
	u := func(i int) uint32 { return binary.BigEndian.Uint32(reply[4+4*i:]) }
	if u(0) != xid {
		return fmt.Errorf("reply xid %#x, want %#x", u(0), xid)
	}
	if u(1) != msgReply {
		return fmt.Errorf("reply message type %d", u(1))
	}
	switch u(2) {
	case replyAccepted:
		if len(reply) < 28 {
			return fmt.Errorf("accepted reply of %d bytes", len(reply))
		}
		if u(3) != flavorNone || u(4) != 0 {
			return fmt.Errorf("reply verifier %d/%d", u(3), u(4))
		}
		if st := u(5); st > acceptSystemErr {
			return fmt.Errorf("accept_stat %d", st)
		}
	case replyDenied:
		if st := u(3); st != rejectRPCMismatch && st != rejectAuthError {
			return fmt.Errorf("reject_stat %d", st)
		}
	default:
		return fmt.Errorf("reply_stat %d", u(2))
	}
	return nil
}

func FuzzNFSArgs(f *testing.F) {
	fz := fzSetup(f)
	f.Cleanup(func() {
		fz.s.Close()
		os.RemoveAll(fz.dir)
		fzOnce, fzSrv, fzErr = sync.Once{}, nil, nil // a next run (-count) builds anew
	})
	for _, s := range fzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) { fz.run(t, in) })
}

// ---------------------------------------------------------------------------------------
// Encoding calls.

type fzAuth struct {
	flavor uint32
	body   []byte
}

func fzAuthSys(uid, gid uint32, gids ...uint32) fzAuth {
	w := fzW().u32(0).str("fuzzhost").u32(uid).u32(gid).u32(uint32(len(gids)))
	for _, g := range gids {
		w.u32(g)
	}
	return fzAuth{flavor: flavorSys, body: w.b}
}

func fzCall(prog, vers, proc uint32, cred fzAuth, args []byte) []byte {
	w := fzW().u32(fzXID).u32(msgCall).u32(2).u32(prog).u32(vers).u32(proc)
	w.u32(cred.flavor).opaque(cred.body).u32(flavorNone).opaque(nil)
	return append(w.b, args...)
}

type fzXW struct{ b []byte }

func fzW() *fzXW                   { return &fzXW{} }
func (w *fzXW) u32(v uint32) *fzXW { w.b = binary.BigEndian.AppendUint32(w.b, v); return w }
func (w *fzXW) u64(v uint64) *fzXW { w.b = binary.BigEndian.AppendUint64(w.b, v); return w }
func (w *fzXW) raw(b []byte) *fzXW { w.b = append(w.b, b...); return w }
func (w *fzXW) str(s string) *fzXW { return w.opaque([]byte(s)) }
func (w *fzXW) fh(i int) *fzXW     { return w.u32(handleLen).raw([]byte{0xff, 'F', 'H', byte('0' + i)}) }
func (w *fzXW) opaque(v []byte) *fzXW {
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
	return w
}

// sattr encodes a sattr3 setting only the mode.
func (w *fzXW) sattr(mode uint32) *fzXW {
	return w.u32(1).u32(mode).u32(0).u32(0).u32(0).u32(0).u32(0)
}

// fzSeeds are inputs made of real calls (the corpus in testdata/fuzz/FuzzNFSArgs holds
// the nasty ones).
func fzSeeds() [][]byte {
	in := func(prog, proc, caller byte, w *fzXW) []byte { return append([]byte{prog, proc, caller}, w.b...) }
	const mnt, nfs = 0, 1
	verf := []byte{0, 0, 0, 0, 0, 0, 0, 0}
	return [][]byte{
		in(mnt, 0, 0, fzW()),
		in(mnt, 1, 0, fzW().str("/nodes/n1")),
		in(mnt, 1, 4, fzW().str("/nodes/n1/@tok/etc")),
		in(mnt, 2, 0, fzW()),
		in(mnt, 3, 0, fzW().str("/nodes/n1")),
		in(mnt, 4, 0, fzW()),
		in(mnt, 5, 0, fzW()),
		in(nfs, 0, 0, fzW()),
		in(nfs, 1, 0, fzW().fh(2)),
		in(nfs, 2, 0, fzW().fh(4).sattr(0o600).u32(0)),
		in(nfs, 3, 0, fzW().fh(1).str("motd")),
		in(nfs, 3, 1, fzW().fh(0).str("..")),
		in(nfs, 4, 1, fzW().fh(2).u32(0x3f)),
		in(nfs, 5, 0, fzW().fh(5)),
		in(nfs, 6, 0, fzW().fh(4).u64(0).u32(4096)),
		in(nfs, 7, 0, fzW().fh(4).u64(3).u32(5).u32(0).str("fuzzy")),
		in(nfs, 8, 0, fzW().fh(3).str("new").u32(1).sattr(0o640)),
		in(nfs, 8, 0, fzW().fh(3).str("excl").u32(2).raw(verf)),
		in(nfs, 9, 0, fzW().fh(3).str("dir").sattr(0o755)),
		in(nfs, 10, 0, fzW().fh(3).str("sym").sattr(0o777).str("../etc/motd")),
		in(nfs, 11, 0, fzW().fh(3).str("fifo").u32(7).sattr(0o600)),
		in(nfs, 11, 0, fzW().fh(3).str("chr").u32(4).sattr(0o600).u32(1).u32(3)),
		in(nfs, 12, 0, fzW().fh(3).str("new")),
		in(nfs, 13, 0, fzW().fh(3).str("dir")),
		in(nfs, 14, 0, fzW().fh(3).str("file").fh(3).str("file2")),
		in(nfs, 15, 0, fzW().fh(4).fh(3).str("hard")),
		in(nfs, 16, 0, fzW().fh(1).u64(0).raw(verf).u32(4096)),
		in(nfs, 17, 0, fzW().fh(0).u64(0).raw(verf).u32(1024).u32(8192)),
		in(nfs, 18, 0, fzW().fh(0)),
		in(nfs, 19, 0, fzW().fh(0)),
		in(nfs, 20, 0, fzW().fh(0)),
		in(nfs, 21, 0, fzW().fh(4).u64(0).u32(0)),
		in(2, 0, 0, fzW()),                                                            // an unknown program
		in(3, 0, 0, fzW().raw(fzCall(progNFS, 2, 1, fzAuthSys(0, 0), fzW().fh(0).b))), // NFSv2: mismatch
		in(3, 0, 0, fzW().u32(7).u32(msgCall).u32(2).u32(progNFS).u32(3).u32(1).u32(flavorSys).str("x")), // bad cred
	}
}
