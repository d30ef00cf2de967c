package nfsd

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"statelite/internal/sys"
	"statelite/resolver"
)

// Handle layout (20 bytes, a multiple of 4): version 2, the node's tag (the low 24 bits
// of its node id, FNV-64 of the node name), the 8-byte file id, and 8 bytes of
// HMAC-SHA256 over the first 12 bytes and the node name, keyed with a secret kept in the
// state directory (a client cannot check a guess offline; each wrong one is refused and
// logged). Small handles matter for READDIRPLUS: each entry carries one, and libnfs asks
// for 8 KiB pages: a directory of 49 files (51 entries with . and ..) fits one page with
// 20-byte handles; with 36-byte ones a page held 46 entries. Several nodes may share a
// tag; the MAC tells which one a handle is for. Version 1 handles (36 bytes: version, 3
// reserved bytes, the 8-byte node id, the file id, 16 bytes of MAC over the first 20
// bytes and the node name), made by earlier servers, are still accepted.
const (
	handleVersion = 2
	handleLen     = 20
	handleV1      = 1
	handleV1Len   = 36
)

var errBadHandle = errors.New("bad handle")

// handleCodec makes and checks file handles.
type handleCodec struct {
	secret []byte
	macs   sync.Pool // keyed HMAC states, reused: every request checks a handle
	known  [macShards]macShard
}

// The MACs computed lately, by node id and file id: every request checks a handle and
// every READDIRPLUS entry carries one, and an HMAC costs far more than a map lookup.
// Only MACs the server computed itself are kept; a shard that fills up is emptied.
const (
	macShards   = 16
	macShardMax = 2048
)

type macKey struct{ nid, fid uint64 }

type macShard struct {
	mu sync.Mutex
	m  map[macKey][8]byte
}

// loadSecret reads the server secret from dir, creating it on first use.
func loadSecret(dir string) ([]byte, error) {
	p := filepath.Join(dir, "nfsd.secret")
	b, err := os.ReadFile(p)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Durable before any handle made with it leaves: a secret lost to a power loss would
	// make every handle STALE.
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(b)
	if err := replaceDurably(f, err, fdatasync, p); err != nil {
		return nil, err
	}
	return b, nil
}

// replaceDurably finishes a new version of p written to the open file f (err: how its
// writing went): f is synced and closed, renamed over p, and p's directory synced, so a
// crash at any point leaves the old version or the new one, whole.
func replaceDurably(f *os.File, err error, sync func(*os.File) error, p string) error {
	if err == nil {
		err = sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err == nil {
		err = syncDir(filepath.Dir(p))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// nodeID is FNV-64a of the node name.
func nodeID(node string) uint64 { return resolver.NodeID(node) }

// mac is the HMAC of b and the node name.
func (hc *handleCodec) mac(b []byte, node string) []byte {
	m, _ := hc.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, hc.secret)
	} else {
		m.Reset() // back to the keyed state, without hashing the key again
	}
	m.Write(b)
	io.WriteString(m, node)
	sum := m.Sum(make([]byte, 0, sha256.Size))
	hc.macs.Put(m)
	return sum
}

// knownMAC returns the 8-byte MAC of node's handle of fid (b: the handle's first 12
// bytes), from the cache or computed.
func (hc *handleCodec) knownMAC(b []byte, nid, fid uint64, node string) [8]byte {
	k := macKey{nid, fid}
	sh := &hc.known[(nid^fid*0x9e3779b97f4a7c15)>>60]
	sh.mu.Lock()
	m, ok := sh.m[k]
	sh.mu.Unlock()
	if ok {
		return m
	}
	copy(m[:], hc.mac(b[:12], node))
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= macShardMax {
		sh.m = make(map[macKey][8]byte, 256)
	}
	sh.m[k] = m
	sh.mu.Unlock()
	return m
}

// nodeTag is the node's tag in its handles.
func nodeTag(nid uint64) uint32 { return resolver.NodeTag(nid) }

// make returns the handle of file id in node's view.
func (hc *handleCodec) make(node string, fileid uint64) []byte {
	return hc.appendHandle(make([]byte, 0, handleLen), node, nodeID(node), fileid)
}

// appendHandle appends the handle of file id in the view of node (node id nid) to b.
func (hc *handleCodec) appendHandle(b []byte, node string, nid, fileid uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, handleVersion<<24|nodeTag(nid))
	b = binary.BigEndian.AppendUint64(b, fileid)
	m := hc.knownMAC(b[len(b)-12:], nid, fileid, node)
	return append(b, m[:]...)
}

// parsedHandle is a handle of a well-formed shape: which node it names is found by the
// caller (byID for version 1, byTag for version 2) and checked with verify.
type parsedHandle struct {
	v1     bool
	nid    uint64 // version 1: the node id
	tag    uint32 // version 2: the node's tag
	fileid uint64
}

// parse checks a handle's shape and returns what it names.
func (hc *handleCodec) parse(b []byte) (parsedHandle, error) {
	switch {
	case len(b) == handleLen && b[0] == handleVersion:
		return parsedHandle{tag: binary.BigEndian.Uint32(b[0:4]) & 0xffffff, fileid: binary.BigEndian.Uint64(b[4:12])}, nil
	case len(b) == handleV1Len && b[0] == handleV1:
		return parsedHandle{v1: true, nid: binary.BigEndian.Uint64(b[4:12]), fileid: binary.BigEndian.Uint64(b[12:20])}, nil
	}
	return parsedHandle{}, errBadHandle
}

// verify reports whether the handle's MAC is right for node.
func (hc *handleCodec) verify(b []byte, node string) bool {
	nid := nodeID(node)
	if len(b) == handleV1Len {
		if b[1]|b[2]|b[3] != 0 || binary.BigEndian.Uint64(b[4:12]) != nid {
			return false
		}
		return hmac.Equal(b[20:], hc.mac(b[:20], node)[:16])
	}
	if len(b) != handleLen || binary.BigEndian.Uint32(b[0:4])&0xffffff != nodeTag(nid) {
		return false
	}
	m := hc.knownMAC(b, nid, binary.BigEndian.Uint64(b[4:12]), node)
	return hmac.Equal(b[12:], m[:])
}

// handleNodes finds the nodes of handles (the cluster index, resolver.Index).
type handleNodes interface {
	NodeByID(id uint64) (string, bool)
	NodesByTag(tag uint32) []string
}

// node finds the node a parsed handle is for, in m, and checks the handle's MAC: ok is
// false when no node of the tables has the handle's node id or tag (a removed node:
// STALE), forged when one does but the MAC is wrong for every such node.
func (hc *handleCodec) node(m handleNodes, b []byte, ph parsedHandle) (node string, ok, forged bool) {
	if ph.v1 {
		node, ok = m.NodeByID(ph.nid)
		if !ok {
			return "", false, false
		}
		return node, true, !hc.verify(b, node)
	}
	cands := m.NodesByTag(ph.tag)
	if len(cands) == 0 {
		return "", false, false
	}
	for _, n := range cands {
		if hc.verify(b, n) {
			return n, true, false
		}
	}
	return cands[0], true, true
}

// pathTable maps file ids back to (parent id, name), so a handle resolves to a path in
// O(depth). Image objects have the same id in every view, so one shared table serves all
// nodes; a node's own differing records (renames in its writable layers) live in a
// per-node overlay.
//
// The table is logged to disk so handles survive a restart, and a reply that carries a
// handle leaves only once the handle's record is on stable storage (durable): a kill -9
// or a power loss at the next instant cannot make that handle STALE. Records are
// appended to a buffer under mu (each gets a sequence number); a request waits for its
// last record with wait, which writes and fdatasyncs every buffered record in one go
// (group commit: requests that arrive while a commit runs share the next one). With a
// shared table (SharedPaths, the PostgreSQL store of several servers) a commit also
// waits until the records are stored there, so another server resolves the handle after
// a failover.
type pathTable struct {
	mu     sync.RWMutex
	shared map[uint64]pathRec
	nodes  map[string]map[uint64]pathRec
	roots  map[string]uint64 // node -> root file id
	// alts are rename intents: where an id goes, logged (durable) before the rename is
	// made. A handle whose path no longer leads to its file is tried through them: the
	// server may have died between the rename and its record.
	alts map[string]map[uint64]pathRec
	// rootSeqs: the sequence number of each root record logged by this process.
	rootSeqs map[string]uint64

	// The log: buf holds the records not yet written; seq numbers the records appended
	// (both under mu), durable the last one on stable storage.
	buf     []byte
	seq     uint64
	durable atomic.Uint64

	// cmu guards committing: closed when the commit under way (by a waiter) ends.
	cmu        sync.Mutex
	committing chan struct{}

	commitMu sync.Mutex // one commit at a time
	logf     *os.File
	off      int64 // where the next write goes (under commitMu)
	spare    []byte
	// Commits and CommitNanos count commits and the time they took (metrics).
	commits, commitNanos atomic.Uint64
	// syncFile makes the log file durable (fdatasync; tests inject failures).
	syncFile func(f *os.File) error

	remote SharedPaths // nil: local only
}

type pathRec struct {
	parent uint64
	name   string
	seq    uint64 // its log record's sequence number (0: read from the log at start)
}

// same reports whether r and o record the same place.
func (r pathRec) same(o pathRec) bool { return r.parent == o.parent && r.name == o.name }

// The log file starts with logMagic; each record is
// u16 len(node), node, u64 id, u64 parent, u16 len(name), name, u32 CRC-32C of the rest,
// so a record torn by a crash ends the replay instead of being read as garbage. A rename
// intent (alts) is a record whose node is prefixed with altMark. A log without the magic
// is of an earlier server (the same records without the CRC) and is read as such once,
// then rewritten.
const logMagic = "statelite handles v2\n"

// altMark prefixes the node of a rename intent's log record (node names never hold it).
const altMark = "\x00alt:"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func openPathTable(dir string) (*pathTable, error) {
	t := &pathTable{shared: map[uint64]pathRec{}, nodes: map[string]map[uint64]pathRec{}, roots: map[string]uint64{},
		alts: map[string]map[uint64]pathRec{}, rootSeqs: map[string]uint64{}, syncFile: fdatasync}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "handles.log")
	if f, err := os.Open(p); err == nil {
		t.replay(bufio.NewReaderSize(f, 256<<10))
		f.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// Rewrite the log compactly (to stable storage before it replaces the old one), then
	// append to it.
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	w.WriteString(logMagic)
	var rb []byte
	emit := func(node string, id uint64, r pathRec) {
		rb = appendRec(rb[:0], node, id, r)
		w.Write(rb)
	}
	for id, r := range t.shared {
		emit("", id, r)
	}
	for n, m := range t.nodes {
		for id, r := range m {
			emit(n, id, r)
		}
	}
	for n, id := range t.roots {
		emit(n, id, pathRec{parent: 0, name: "/"})
	}
	// Intents whose rename's own record made it are done: only the others are kept.
	for n, m := range t.alts {
		for id, r := range m {
			cur, ok := t.nodes[n][id]
			if !ok {
				cur, ok = t.shared[id]
			}
			if ok && cur.same(r) {
				delete(m, id)
				continue
			}
			emit(altMark+n, id, r)
		}
	}
	if err := replaceDurably(f, w.Flush(), t.syncFile, p); err != nil {
		return nil, err
	}
	t.logf, err = os.OpenFile(p, os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	end, err := t.logf.Seek(0, io.SeekEnd)
	if err != nil {
		t.logf.Close()
		return nil, err
	}
	t.off = end
	return t, nil
}

// fdatasync flushes f's data (and the metadata needed to read it back) to stable storage.
func fdatasync(f *os.File) error { return sys.Fdatasync(int(f.Fd())) }

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// appendRec appends one log record (with its CRC) to b.
func appendRec(b []byte, node string, id uint64, r pathRec) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, uint16(len(node)))
	b = append(b, node...)
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint64(b, r.parent)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.name)))
	b = append(b, r.name...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

// replay applies the records of a log; it stops at the end or at the first record that
// is torn or damaged (a crash while it was written: nothing after it was acknowledged).
func (t *pathTable) replay(br *bufio.Reader) {
	v2 := false
	if head, err := br.Peek(len(logMagic)); err == nil && string(head) == logMagic {
		br.Discard(len(logMagic))
		v2 = true
	}
	var rec []byte
	for {
		rec = rec[:0]
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return
		}
		rec = append(rec, b[:]...)
		nl := int(binary.BigEndian.Uint16(b[:]))
		var fixed [16]byte
		node := make([]byte, nl)
		if _, err := io.ReadFull(br, node); err != nil {
			return
		}
		if _, err := io.ReadFull(br, fixed[:]); err != nil {
			return
		}
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return
		}
		name := make([]byte, binary.BigEndian.Uint16(b[:]))
		if _, err := io.ReadFull(br, name); err != nil {
			return
		}
		if v2 {
			var sum [4]byte
			if _, err := io.ReadFull(br, sum[:]); err != nil {
				return
			}
			rec = append(rec, node...)
			rec = append(rec, fixed[:]...)
			rec = append(rec, b[:]...)
			rec = append(rec, name...)
			if crc32.Checksum(rec, crcTable) != binary.BigEndian.Uint32(sum[:]) {
				return
			}
		}
		id, parent := binary.BigEndian.Uint64(fixed[:8]), binary.BigEndian.Uint64(fixed[8:])
		t.apply(string(node), id, pathRec{parent: parent, name: string(name)})
	}
}

func (t *pathTable) apply(node string, id uint64, r pathRec) {
	if n, ok := strings.CutPrefix(node, altMark); ok {
		m := t.alts[n]
		if m == nil {
			m = map[uint64]pathRec{}
			t.alts[n] = m
		}
		m[id] = r
		return
	}
	switch {
	case r.parent == 0 && r.name == "/":
		t.roots[node] = id
	case node == "":
		t.shared[id] = r
	default:
		m := t.nodes[node]
		if m == nil {
			m = map[uint64]pathRec{}
			t.nodes[node] = m
		}
		m[id] = r
	}
}

// logRec appends a record to the log buffer (under mu) and returns its sequence number.
func (t *pathTable) logRec(node string, id uint64, r pathRec) uint64 {
	t.buf = appendRec(t.buf, node, id, r)
	t.seq++
	return t.seq
}

// pending returns the sequence number to wait for before a reply carries the handle of
// a record found in the table: its own, unless it is durable already (under mu).
func (t *pathTable) pending(r pathRec) uint64 {
	if r.seq <= t.durable.Load() {
		return 0
	}
	return r.seq
}

// rootSeq is the sequence number of node's root record (under mu).
func (t *pathTable) rootSeq(node string) uint64 { return t.rootSeqs[node] }

// setRoot records node's root directory id; it returns the sequence number to wait for
// (0: nothing to wait for).
func (t *pathTable) setRoot(node string, id uint64) uint64 {
	t.mu.RLock()
	cur, ok := t.roots[node]
	pend := t.pending(pathRec{seq: t.rootSeq(node)})
	t.mu.RUnlock()
	if ok && cur == id {
		return pend
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.roots[node]; ok && cur == id {
		return t.pending(pathRec{seq: t.rootSeq(node)})
	}
	t.roots[node] = id
	if t.remote != nil {
		t.remote.Put(node, id, 0, "/")
	}
	seq := t.logRec(node, id, pathRec{name: "/"})
	t.rootSeqs[node] = seq
	return seq
}

// put records that id is name in directory parent, in node's view; it returns the
// sequence number to wait for before a reply carries the handle (0: none).
func (t *pathTable) put(node string, id, parent uint64, name string) uint64 {
	r := pathRec{parent: parent, name: name}
	t.mu.RLock()
	cur, inNode := t.nodes[node][id]
	sh, inShared := t.shared[id]
	var pend uint64
	if inNode {
		pend = t.pending(cur)
	} else if inShared {
		pend = t.pending(sh)
	}
	t.mu.RUnlock()
	if (inNode && cur.same(r)) || (!inNode && inShared && sh.same(r)) {
		return pend
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Again under the write lock: another request may have recorded id meanwhile (two
	// nodes looking up the same image object at once both found no record, and the
	// second one's shared record replaced the first's, whose parent may be a directory
	// only the first node has, its root: the first node's handle went STALE).
	cur, inNode = t.nodes[node][id]
	sh, inShared = t.shared[id]
	if inNode && cur.same(r) {
		return t.pending(cur)
	}
	if !inNode && inShared && sh.same(r) {
		return t.pending(sh)
	}
	key := node
	if !inShared && !inNode {
		key = ""
	}
	if t.remote != nil {
		t.remote.Put(key, id, r.parent, r.name)
	}
	r.seq = t.logRec(key, id, r)
	t.apply(key, id, r)
	return r.seq
}

// putListed records that a directory listing showed id as name in directory parent.
// A record id already has stays if it still leads to id (valid reports whether a view
// path does): the listing may be older than a RENAME that re-pointed the id. Otherwise
// the listing's record replaces it: the id is a new object's whose inode number an old,
// since removed one had (an image built anew).
func (t *pathTable) putListed(node string, id, parent uint64, name string, valid func(p string) bool) uint64 {
	r := pathRec{parent: parent, name: name}
	t.mu.RLock()
	cur, inNode := t.nodes[node][id]
	if !inNode {
		cur, inNode = t.shared[id]
	}
	pend := t.pending(cur)
	t.mu.RUnlock()
	if inNode && cur.same(r) {
		return pend
	}
	if inNode {
		if p, ok := t.path(node, id); ok && valid(p) {
			return pend
		}
	}
	return t.put(node, id, parent, name)
}

// putIntent logs, before a RENAME is made, that id is about to become name in directory
// parent in node's view (a rename intent); it returns the sequence number to wait for.
func (t *pathTable) putIntent(node string, id, parent uint64, name string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := pathRec{parent: parent, name: name}
	r.seq = t.logRec(altMark+node, id, r)
	t.apply(altMark+node, id, r)
	return r.seq
}

// cancelIntent drops node's rename intent for id (the rename failed): the log gets an
// intent equal to the record, which the next start-up drops.
func (t *pathTable) cancelIntent(node string, id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.alts[node][id]; !ok {
		return
	}
	delete(t.alts[node], id)
	cur, ok := t.nodes[node][id]
	if !ok {
		cur, ok = t.shared[id]
	}
	if ok {
		t.logRec(altMark+node, id, pathRec{parent: cur.parent, name: cur.name})
	}
}

// intentPath returns the view path of id in node's view taking the rename intents
// (alts) where there are any, and the intents it took: the path to try when the
// recorded one no longer leads to id (the server died between a rename and its record).
func (t *pathTable) intentPath(node string, id uint64) (string, map[uint64]pathRec, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	alts := t.alts[node]
	if len(alts) == 0 {
		return "", nil, false
	}
	root := t.roots[node]
	var parts []string
	used := map[uint64]pathRec{}
	for depth := 0; depth < 4096; depth++ {
		if id == root {
			if len(used) == 0 {
				return "", nil, false
			}
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
			return "/" + strings.Join(parts, "/"), used, true
		}
		r, ok := alts[id]
		if ok {
			used[id] = r
		} else if r, ok = t.nodes[node][id]; !ok {
			if r, ok = t.shared[id]; !ok {
				return "", nil, false
			}
		}
		parts = append(parts, r.name)
		id = r.parent
	}
	return "", nil, false
}

// path returns the view path of id in node's view.
func (t *pathTable) path(node string, id uint64) (string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	root := t.roots[node]
	var parts []string
	for depth := 0; depth < 4096; depth++ {
		if id == root {
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
			return "/" + strings.Join(parts, "/"), true
		}
		r, ok := t.nodes[node][id]
		if !ok {
			if r, ok = t.shared[id]; !ok {
				return "", false
			}
		}
		parts = append(parts, r.name)
		id = r.parent
	}
	return "", false
}

// remotePath resolves id like path, through the shared table: without stale, only the
// components that have no local record are asked for (the local path is incomplete);
// with stale, every component is (the local path led elsewhere: another server renamed
// something). What it learns is kept locally. It reports false without a shared table.
func (t *pathTable) remotePath(node string, id uint64, stale bool) (string, bool) {
	if t.remote == nil {
		return "", false
	}
	t.mu.RLock()
	root, hasRoot := t.roots[node]
	t.mu.RUnlock()
	var parts []string
	for depth := 0; depth < 4096; depth++ {
		if hasRoot && id == root {
			break
		}
		var r pathRec
		var key string
		ok := false
		if !stale {
			t.mu.RLock()
			if r, ok = t.nodes[node][id]; !ok {
				r, ok = t.shared[id]
			}
			t.mu.RUnlock()
		}
		if !ok {
			key = node
			r.parent, r.name, ok = t.remote.Get(node, id)
			if !ok && node != "" {
				key = ""
				r.parent, r.name, ok = t.remote.Get("", id)
			}
			if !ok {
				return "", false
			}
			t.learn(node, key, id, r)
		}
		if r.parent == 0 && r.name == "/" {
			break // node's root
		}
		parts = append(parts, r.name)
		id = r.parent
		if depth == 4095 {
			return "", false
		}
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "/" + strings.Join(parts, "/"), true
}

// learn keeps a record read from the shared table (key is node or "") locally, without
// writing it back there.
func (t *pathTable) learn(node, key string, id uint64, r pathRec) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.parent == 0 && r.name == "/" {
		if t.roots[node] != id {
			t.roots[node] = id
			t.rootSeqs[node] = t.logRec(node, id, r)
		}
		return
	}
	if key == "" {
		// A shared record supersedes a stale own record of the node.
		delete(t.nodes[node], id)
	}
	r.seq = t.logRec(key, id, r)
	t.apply(key, id, r)
}

// wait returns once the record of sequence number seq (and every record before it) is
// on stable storage. A waiter whose record a commit under way does not cover waits for
// that commit's end, then commits every buffered record itself, unless another waiter
// got there first (group commit: all that arrived during one commit share the next). A
// commit wakes all its waiters at once: they queued one by one on a lock before, each
// taking the table's write lock to learn it was done, and under a 10,000-node boot storm
// that queue held 8,000 requests. An error means the records are not durable (they stay
// buffered, and the next commit writes them again at the same place).
func (t *pathTable) wait(seq uint64) error {
	if seq == 0 || t.durable.Load() >= seq {
		return nil
	}
	for {
		t.cmu.Lock()
		if t.durable.Load() >= seq {
			t.cmu.Unlock()
			return nil
		}
		if running := t.committing; running != nil {
			t.cmu.Unlock()
			<-running // then look again: it may not cover seq, or may have failed
			continue
		}
		done := make(chan struct{})
		t.committing = done
		t.cmu.Unlock()
		err := t.commitBuffered() // covers seq: it was appended before this call
		t.cmu.Lock()
		t.committing = nil
		t.cmu.Unlock()
		close(done)
		return err
	}
}

// commitBuffered writes and makes durable every record buffered so far.
func (t *pathTable) commitBuffered() error {
	t.commitMu.Lock()
	defer t.commitMu.Unlock()
	t.mu.Lock()
	buf, upto := t.buf, t.seq
	t.buf, t.spare = t.spare[:0], nil
	t.mu.Unlock()
	err := t.commit(buf)
	t.mu.Lock()
	if err != nil {
		// Keep the records, ahead of those appended meanwhile, for the next commit.
		t.buf = append(buf, t.buf...)
	} else {
		t.durable.Store(upto)
		if t.spare == nil && cap(buf) <= 1<<20 {
			t.spare = buf[:0]
		}
	}
	t.mu.Unlock()
	return err
}

// commit writes buf at the log's end and makes it durable, here and in the shared table
// (under commitMu).
func (t *pathTable) commit(buf []byte) error {
	start := time.Now()
	defer func() {
		t.commits.Add(1)
		t.commitNanos.Add(uint64(time.Since(start)))
	}()
	var remote chan error
	if t.remote != nil {
		remote = make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), remoteCommitTimeout)
			defer cancel()
			remote <- t.remote.Flush(ctx)
		}()
	}
	var err error
	if len(buf) > 0 {
		if _, err = t.logf.WriteAt(buf, t.off); err == nil {
			if err = t.syncFile(t.logf); err == nil {
				t.off += int64(len(buf))
			}
		}
	}
	if remote != nil {
		if rerr := <-remote; err == nil && rerr != nil {
			err = fmt.Errorf("shared handle table: %w", rerr)
		}
	}
	return err
}

// remoteCommitTimeout bounds how long a reply waits for the shared table: past it the
// client is told to retry (NFS3ERR_JUKEBOX).
const remoteCommitTimeout = 5 * time.Second

// flush makes every record appended so far durable.
func (t *pathTable) flush() error {
	t.mu.RLock()
	seq := t.seq
	t.mu.RUnlock()
	return t.wait(seq)
}

func (t *pathTable) close() error {
	if err := t.flush(); err != nil {
		t.logf.Close()
		return err
	}
	return t.logf.Close()
}
