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
	"statelite/internal/need"
	"statelite/nfsd/wire"
	"statelite/resolver"
	"statelite/tables"
)

// fzProgs are the programs bytes 0..2 of an input pick (3: a raw call message).
var fzProgs = []uint32{wire.ProgMount, wire.ProgNFS, 100099}

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
		need.Skip(t, "the views chown new files to their callers: run as root")
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
		return fz.newObj(3, fzW().Opaque(dir).Str(name).B, false)
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
	file, err := fz.newObj(8, fzW().Opaque(rootDir).Str("file").U32(0).Sattr(fzMode(0o644)).B, true)
	if err != nil {
		return nil, err
	}
	if _, err := fz.call(wire.ProgNFS, 7, fzW().Opaque(file).U64(0).U32(12).U32(2).Str("hello fuzzer").B); err != nil {
		return nil, err
	}
	link, err := fz.newObj(10, fzW().Opaque(rootDir).Str("link").Sattr(fzMode(0o777)).Str("file").B, true)
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
	if len(b) < 28 || binary.BigEndian.Uint32(b[24:]) != wire.AcceptSuccess {
		return nil, fmt.Errorf("setup call %d/%d: reply % x", prog, proc, b)
	}
	return append([]byte(nil), b[28:]...), nil
}

func (fz *fzServer) mnt(dirpath string) ([]byte, error) {
	res, err := fz.call(wire.ProgMount, 1, fzW().Str(dirpath).B)
	if err != nil {
		return nil, err
	}
	r := &wire.R{B: res}
	if st := r.U32(); st != wire.MNT3OK {
		return nil, fmt.Errorf("setup MNT %s: status %d", dirpath, st)
	}
	fh := r.Opaque(64)
	return append([]byte(nil), fh...), r.Err
}

// newObj calls an NFS procedure whose result starts with a handle (LOOKUP: plain,
// CREATE/SYMLINK: post_op_fh3) and returns it.
func (fz *fzServer) newObj(proc uint32, args []byte, postOp bool) ([]byte, error) {
	res, err := fz.call(wire.ProgNFS, proc, args)
	if err != nil {
		return nil, err
	}
	r := &wire.R{B: res}
	if st := r.U32(); st != wire.NFS3OK {
		return nil, fmt.Errorf("setup NFS proc %d: status %d", proc, st)
	}
	if postOp && !r.Bool() {
		return nil, fmt.Errorf("setup NFS proc %d: no handle", proc)
	}
	fh := r.Opaque(64)
	return append([]byte(nil), fh...), r.Err
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
		if len(rec) < 8 || binary.BigEndian.Uint32(rec[4:]) != wire.MsgCall {
			return // not a call: no reply (dispatch answers nothing)
		}
		xid = binary.BigEndian.Uint32(rec)
	} else {
		var cred fzAuth
		switch in[2] & 3 {
		case 1:
			cred = fzAuthSys(1000, 1000, 1000, 10)
		case 2:
			cred = fzAuth{flavor: wire.FlavorNone}
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
	if u(1) != wire.MsgReply {
		return fmt.Errorf("reply message type %d", u(1))
	}
	switch u(2) {
	case wire.ReplyAccepted:
		if len(reply) < 28 {
			return fmt.Errorf("accepted reply of %d bytes", len(reply))
		}
		if u(3) != wire.FlavorNone || u(4) != 0 {
			return fmt.Errorf("reply verifier %d/%d", u(3), u(4))
		}
		if st := u(5); st > wire.AcceptSystemErr {
			return fmt.Errorf("accept_stat %d", st)
		}
	case wire.ReplyDenied:
		if st := u(3); st != wire.RejectRPCMismatch && st != wire.RejectAuthError {
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
	w := fzW().U32(0).Str("fuzzhost").U32(uid).U32(gid).U32(uint32(len(gids)))
	for _, g := range gids {
		w.U32(g)
	}
	return fzAuth{flavor: wire.FlavorSys, body: w.B}
}

func fzCall(prog, vers, proc uint32, cred fzAuth, args []byte) []byte {
	w := fzW().U32(fzXID).U32(wire.MsgCall).U32(2).U32(prog).U32(vers).U32(proc)
	w.U32(cred.flavor).Opaque(cred.body).U32(wire.FlavorNone).Opaque(nil)
	return append(w.B, args...)
}

func fzW() *wire.W { return new(wire.W) }

// fzFH is a handle placeholder: the length of a handle and a marker the harness
// replaces with the handle of object i.
func fzFH(i int) []byte {
	return append(binary.BigEndian.AppendUint32(nil, handleLen), 0xff, 'F', 'H', byte('0'+i))
}

// fzMode is a sattr3 setting only the mode.
func fzMode(mode uint32) wire.Sattr { return wire.Sattr{Mode: &mode} }

// fzSeeds are inputs made of real calls (the corpus in testdata/fuzz/FuzzNFSArgs holds
// the nasty ones).
func fzSeeds() [][]byte {
	in := func(prog, proc, caller byte, w *wire.W) []byte { return append([]byte{prog, proc, caller}, w.B...) }
	const mnt, nfs = 0, 1
	verf := []byte{0, 0, 0, 0, 0, 0, 0, 0}
	return [][]byte{
		in(mnt, 0, 0, fzW()),
		in(mnt, 1, 0, fzW().Str("/nodes/n1")),
		in(mnt, 1, 4, fzW().Str("/nodes/n1/@tok/etc")),
		in(mnt, 2, 0, fzW()),
		in(mnt, 3, 0, fzW().Str("/nodes/n1")),
		in(mnt, 4, 0, fzW()),
		in(mnt, 5, 0, fzW()),
		in(nfs, 0, 0, fzW()),
		in(nfs, 1, 0, fzW().Fixed(fzFH(2))),
		in(nfs, 2, 0, fzW().Fixed(fzFH(4)).Sattr(fzMode(0o600)).U32(0)),
		in(nfs, 3, 0, fzW().Fixed(fzFH(1)).Str("motd")),
		in(nfs, 3, 1, fzW().Fixed(fzFH(0)).Str("..")),
		in(nfs, 4, 1, fzW().Fixed(fzFH(2)).U32(0x3f)),
		in(nfs, 5, 0, fzW().Fixed(fzFH(5))),
		in(nfs, 6, 0, fzW().Fixed(fzFH(4)).U64(0).U32(4096)),
		in(nfs, 7, 0, fzW().Fixed(fzFH(4)).U64(3).U32(5).U32(0).Str("fuzzy")),
		in(nfs, 8, 0, fzW().Fixed(fzFH(3)).Str("new").U32(1).Sattr(fzMode(0o640))),
		in(nfs, 8, 0, fzW().Fixed(fzFH(3)).Str("excl").U32(2).Fixed(verf)),
		in(nfs, 9, 0, fzW().Fixed(fzFH(3)).Str("dir").Sattr(fzMode(0o755))),
		in(nfs, 10, 0, fzW().Fixed(fzFH(3)).Str("sym").Sattr(fzMode(0o777)).Str("../etc/motd")),
		in(nfs, 11, 0, fzW().Fixed(fzFH(3)).Str("fifo").U32(7).Sattr(fzMode(0o600))),
		in(nfs, 11, 0, fzW().Fixed(fzFH(3)).Str("chr").U32(4).Sattr(fzMode(0o600)).U32(1).U32(3)),
		in(nfs, 12, 0, fzW().Fixed(fzFH(3)).Str("new")),
		in(nfs, 13, 0, fzW().Fixed(fzFH(3)).Str("dir")),
		in(nfs, 14, 0, fzW().Fixed(fzFH(3)).Str("file").Fixed(fzFH(3)).Str("file2")),
		in(nfs, 15, 0, fzW().Fixed(fzFH(4)).Fixed(fzFH(3)).Str("hard")),
		in(nfs, 16, 0, fzW().Fixed(fzFH(1)).U64(0).Fixed(verf).U32(4096)),
		in(nfs, 17, 0, fzW().Fixed(fzFH(0)).U64(0).Fixed(verf).U32(1024).U32(8192)),
		in(nfs, 18, 0, fzW().Fixed(fzFH(0))),
		in(nfs, 19, 0, fzW().Fixed(fzFH(0))),
		in(nfs, 20, 0, fzW().Fixed(fzFH(0))),
		in(nfs, 21, 0, fzW().Fixed(fzFH(4)).U64(0).U32(0)),
		in(2, 0, 0, fzW()), // an unknown program
		in(3, 0, 0, fzW().Fixed(fzCall(wire.ProgNFS, 2, 1, fzAuthSys(0, 0), fzW().Fixed(fzFH(0)).B))),                   // NFSv2: mismatch
		in(3, 0, 0, fzW().U32(7).U32(wire.MsgCall).U32(2).U32(wire.ProgNFS).U32(3).U32(1).U32(wire.FlavorSys).Str("x")), // bad cred
	}
}
