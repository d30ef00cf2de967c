package nfsd

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

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
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return nil, err
	}
	return b, nil
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
// per-node overlay. The table is logged to disk so handles survive a restart.
type pathTable struct {
	mu     sync.RWMutex
	shared map[uint64]pathRec
	nodes  map[string]map[uint64]pathRec
	roots  map[string]uint64 // node -> root file id

	logf *os.File
	logw *bufio.Writer

	remote SharedPaths // nil: local only
}

type pathRec struct {
	parent uint64
	name   string
}

func openPathTable(dir string) (*pathTable, error) {
	t := &pathTable{shared: map[uint64]pathRec{}, nodes: map[string]map[uint64]pathRec{}, roots: map[string]uint64{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "handles.log")
	if f, err := os.Open(p); err == nil {
		t.replay(bufio.NewReader(f))
		f.Close()
	}
	// Rewrite the log compactly, then append to it.
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	for id, r := range t.shared {
		writeRec(w, "", id, r)
	}
	for n, m := range t.nodes {
		for id, r := range m {
			writeRec(w, n, id, r)
		}
	}
	for n, id := range t.roots {
		writeRec(w, n, id, pathRec{parent: 0, name: "/"})
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	if err := os.Rename(tmp, p); err != nil {
		return nil, err
	}
	t.logf, err = os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	t.logw = bufio.NewWriterSize(t.logf, 64<<10)
	return t, nil
}

func writeRec(w *bufio.Writer, node string, id uint64, r pathRec) {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(len(node)))
	w.Write(b[:])
	w.WriteString(node)
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], id)
	binary.BigEndian.PutUint64(n[8:], r.parent)
	w.Write(n[:])
	binary.BigEndian.PutUint16(b[:], uint16(len(r.name)))
	w.Write(b[:])
	w.WriteString(r.name)
}

func (t *pathTable) replay(br *bufio.Reader) {
	for {
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return
		}
		node := make([]byte, binary.BigEndian.Uint16(b[:]))
		var n [16]byte
		if _, err := io.ReadFull(br, node); err != nil {
			return
		}
		if _, err := io.ReadFull(br, n[:]); err != nil {
			return
		}
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return
		}
		name := make([]byte, binary.BigEndian.Uint16(b[:]))
		if _, err := io.ReadFull(br, name); err != nil {
			return
		}
		id, parent := binary.BigEndian.Uint64(n[:8]), binary.BigEndian.Uint64(n[8:])
		t.apply(string(node), id, pathRec{parent, string(name)})
	}
}

func (t *pathTable) apply(node string, id uint64, r pathRec) {
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

// setRoot records node's root directory id.
func (t *pathTable) setRoot(node string, id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.roots[node] == id {
		return
	}
	t.roots[node] = id
	writeRec(t.logw, node, id, pathRec{0, "/"})
	if t.remote != nil {
		t.remote.Put(node, id, 0, "/")
	}
}

// put records that id is name in directory parent, in node's view.
func (t *pathTable) put(node string, id, parent uint64, name string) {
	r := pathRec{parent, name}
	t.mu.RLock()
	cur, inNode := t.nodes[node][id]
	sh, inShared := t.shared[id]
	t.mu.RUnlock()
	if (inNode && cur == r) || (!inNode && inShared && sh == r) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	key := node
	if !inShared && !inNode {
		key = ""
	}
	t.apply(key, id, r)
	writeRec(t.logw, key, id, r)
	if t.remote != nil {
		t.remote.Put(key, id, r.parent, r.name)
	}
}

// putListed records that a directory listing showed id as name in directory parent.
// A record id already has stays if it still leads to id (valid reports whether a view
// path does): the listing may be older than a RENAME that re-pointed the id. Otherwise
// the listing's record replaces it: the id is a new object's whose inode number an old,
// since removed one had (an image built anew).
func (t *pathTable) putListed(node string, id, parent uint64, name string, valid func(p string) bool) {
	r := pathRec{parent, name}
	t.mu.RLock()
	cur, inNode := t.nodes[node][id]
	if !inNode {
		cur, inNode = t.shared[id]
	}
	t.mu.RUnlock()
	if inNode && cur == r {
		return
	}
	if inNode {
		if p, ok := t.path(node, id); ok && valid(p) {
			return
		}
	}
	t.put(node, id, parent, name)
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
			writeRec(t.logw, node, id, r)
		}
		return
	}
	if key == "" {
		// A shared record supersedes a stale own record of the node.
		delete(t.nodes[node], id)
	}
	t.apply(key, id, r)
	writeRec(t.logw, key, id, r)
}

// flush writes buffered records to disk.
func (t *pathTable) flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.logw.Flush()
}

func (t *pathTable) close() error {
	if err := t.flush(); err != nil {
		return err
	}
	return t.logf.Close()
}

var _ = path.Join
var _ = fmt.Sprintf
