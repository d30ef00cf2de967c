package nfsd

// The operation recorder: every MOUNT and NFS call a node makes, with what is needed to
// replay it by path (bench/ replays a recorded boot from many simulated nodes). Off
// unless Config.Record is set; when set, each call costs one decode of its arguments,
// one path-table lookup per handle and one Record call.

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"statelite/nfsd/wire"
)

// OpRecord is one recorded call of a node.
type OpRecord struct {
	// T is the time of the call since the node's first recorded call (its MNT, for a
	// boot), in microseconds.
	T int64 `json:"t_us"`
	// Prog and Proc are the RPC program (100005 MOUNT, 100003 NFS) and procedure; Op is
	// its name (MNT, LOOKUP, READ, …).
	Prog uint32 `json:"prog"`
	Proc uint32 `json:"proc"`
	Op   string `json:"op"`
	// Path is the view path of the call's (first) handle, relative to the node's root
	// ("/" is the root); for MNT, the dirpath mounted.
	Path string `json:"path,omitempty"`
	// Name is the name argument (LOOKUP, CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR,
	// the "from" name of RENAME).
	Name string `json:"name,omitempty"`
	// Path2 and Name2 are the second handle and name: RENAME's "to" directory and name,
	// LINK's directory and name.
	Path2 string `json:"path2,omitempty"`
	Name2 string `json:"name2,omitempty"`
	// Offset and Count: READ, WRITE, COMMIT; Count: READDIR(PLUS) dircount/count.
	Offset uint64 `json:"offset,omitempty"`
	Count  uint32 `json:"count,omitempty"`
	// Cookie: READDIR(PLUS)'s cookie.
	Cookie uint64 `json:"cookie,omitempty"`
	// Args holds the rest of the arguments as sent (XDR), after the handle(s), names,
	// offsets and cookies above: SETATTR's sattr3 and guard, ACCESS's mask, CREATE's
	// createhow, MKDIR's sattr3, SYMLINK's sattr3 and target, MKNOD's type and data,
	// READDIR(PLUS)'s verifier and counts, WRITE's stable_how (WRITE's data is not
	// kept, only its length in Count).
	Args []byte `json:"args,omitempty"`
	// Status is the result: the nfsstat3 or mountstat3; for a call that failed at the
	// RPC level, 10000 + the accept_stat.
	Status uint32 `json:"status"`
	// Dur is the server's time for the call, in microseconds.
	Dur int64 `json:"dur_us"`
	// UID and GID are the caller's AUTH_SYS identity.
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// Recorder receives the calls of every node (Config.Record). Record is called from the
// goroutine serving the call, after it was served; it must not block for long.
type Recorder interface {
	Record(node string, rec OpRecord)
}

// recordStart keeps each node's first recorded call time.
type recordStart struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func (rs *recordStart) offset(node string, at time.Time, reset bool) int64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.first == nil {
		rs.first = map[string]time.Time{}
	}
	t0, ok := rs.first[node]
	if !ok || reset {
		t0 = at
		rs.first[node] = at
	}
	return at.Sub(t0).Microseconds()
}

// recordCall decodes call c (served with accept status accept; res is the result body)
// and hands it to the recorder. Calls that name no node (NULL, EXPORT, bad handles) are
// not recorded.
func (s *Server) recordCall(c *call, accept uint32, res []byte) {
	rec := OpRecord{Prog: c.prog, Proc: c.proc, UID: c.cred.UID, GID: c.cred.GID,
		Dur: time.Since(c.received).Microseconds()}
	if accept != wire.AcceptSuccess {
		rec.Status = 10000 + accept
	} else if len(res) >= 4 {
		rec.Status = uint32(res[0])<<24 | uint32(res[1])<<16 | uint32(res[2])<<8 | uint32(res[3])
	}
	r := &wire.R{B: c.args}
	var node string
	switch c.prog {
	case wire.ProgMount:
		if int(c.proc) < len(mountProcNames) {
			rec.Op = strings.ToUpper(mountProcNames[c.proc])
		}
		if c.proc != 1 && c.proc != 3 { // MNT, UMNT
			return
		}
		rec.Path = r.Str(1024)
		e, _ := s.parseExport(rec.Path, remoteAddr(c.remote))
		node = e.node
	case wire.ProgNFS:
		if c.proc == 0 || int(c.proc) >= len(nfsProcNames) {
			return
		}
		rec.Op = strings.ToUpper(nfsProcNames[c.proc])
		var ok bool
		if node, rec.Path, ok = s.recordFH(r); !ok {
			return
		}
		switch c.proc {
		case 3, 8, 9, 10, 11, 12, 13: // LOOKUP CREATE MKDIR SYMLINK MKNOD REMOVE RMDIR
			rec.Name = r.Str(1024)
		case 6, 21: // READ COMMIT
			rec.Offset, rec.Count = r.U64(), r.U32()
		case 7: // WRITE
			rec.Offset, rec.Count = r.U64(), r.U32()
			rec.Args = append([]byte(nil), r.Fixed(4)...) // stable_how
			r.B = nil
		case 14: // RENAME
			rec.Name = r.Str(1024)
			_, rec.Path2, _ = s.recordFH(r)
			rec.Name2 = r.Str(1024)
		case 15: // LINK
			_, rec.Path2, _ = s.recordFH(r)
			rec.Name2 = r.Str(1024)
		case 16, 17: // READDIR READDIRPLUS
			rec.Cookie = r.U64()
		}
	default:
		return
	}
	if node == "" || r.Err != nil {
		return
	}
	if len(r.B) > 0 && rec.Args == nil {
		rec.Args = append([]byte(nil), r.B...)
	}
	isBoot := c.prog == wire.ProgMount && c.proc == 1
	rec.T = s.recStart.offset(node, c.received, isBoot)
	s.cfg.Record.Record(node, rec)
}

// recordFH reads a handle and returns its node and current view path.
func (s *Server) recordFH(r *wire.R) (node, p string, ok bool) {
	fh := r.Opaque(64)
	ph, err := s.handles.parse(fh)
	if r.Err != nil || err != nil {
		return "", "", false
	}
	node, ok, forged := s.handles.node(s.index(), fh, ph)
	if !ok || forged {
		return "", "", false
	}
	p, ok = s.paths.path(node, ph.fileid)
	if !ok {
		p = "?"
	}
	return node, p, true
}

// DirRecorder writes each node's calls as JSON lines to DIR/<node>.jsonl.
type DirRecorder struct {
	dir   string
	mu    sync.Mutex
	files map[string]*recFile
	err   error
}

type recFile struct {
	f *os.File
	w *bufio.Writer
}

// NewDirRecorder returns a recorder writing under dir (made if missing).
func NewDirRecorder(dir string) (*DirRecorder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &DirRecorder{dir: dir, files: map[string]*recFile{}}, nil
}

// Record appends rec to node's file.
func (d *DirRecorder) Record(node string, rec OpRecord) {
	if strings.ContainsAny(node, "/\x00") || node == "." || node == ".." {
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	rf := d.files[node]
	if rf == nil {
		f, err := os.OpenFile(filepath.Join(d.dir, node+".jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			d.err = err
			return
		}
		rf = &recFile{f: f, w: bufio.NewWriter(f)}
		d.files[node] = rf
	}
	rf.w.Write(b)
	rf.w.WriteByte('\n')
}

// Flush writes what is buffered.
func (d *DirRecorder) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.err
	for _, rf := range d.files {
		if e := rf.w.Flush(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Close flushes and closes every file.
func (d *DirRecorder) Close() error {
	err := d.Flush()
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, rf := range d.files {
		if e := rf.f.Close(); e != nil && err == nil {
			err = e
		}
		delete(d.files, n)
	}
	return err
}

// Run flushes d every half second until ctx is done, then closes it.
func (d *DirRecorder) Run(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.Flush()
		case <-ctx.Done():
			d.Close()
			return
		}
	}
}
