package nfsd

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"testing"
)

// Handles are 20 bytes; nodes sharing a 24-bit tag are told apart by the MAC; version 1
// handles (36 bytes, made by earlier servers) are still accepted; node ids are FNV-64a.
func TestHandleFormats(t *testing.T) {
	hc := &handleCodec{secret: bytes.Repeat([]byte{7}, 32)}
	// Two node names with the same tag.
	byTag := map[uint32]string{}
	var a, b string
	for i := 0; a == ""; i++ {
		n := fmt.Sprintf("node%d", i)
		h := fnv.New64a()
		h.Write([]byte(n))
		if nodeID(n) != h.Sum64() {
			t.Fatalf("nodeID(%q) is not FNV-64a", n)
		}
		tag := nodeTag(nodeID(n))
		if o, ok := byTag[tag]; ok {
			a, b = o, n
		}
		byTag[tag] = n
	}
	m := testNodes{byID: map[uint64]string{}, byTag: map[uint32][]string{}}
	for _, n := range []string{a, b, "other"} {
		m.byID[nodeID(n)] = n
		m.byTag[nodeTag(nodeID(n))] = append(m.byTag[nodeTag(nodeID(n))], n)
	}
	for _, n := range []string{a, b, "other"} {
		fh := hc.make(n, 42)
		if len(fh) != 20 || len(fh)%4 != 0 {
			t.Fatalf("handle of %d bytes", len(fh))
		}
		ph, err := hc.parse(fh)
		if err != nil || ph.v1 || ph.fileid != 42 {
			t.Fatalf("parse: %+v, %v", ph, err)
		}
		if got, ok, forged := hc.node(m, fh, ph); !ok || forged || got != n {
			t.Errorf("handle of %s: node %q ok=%v forged=%v", n, got, ok, forged)
		}
		bad := append([]byte(nil), fh...)
		bad[19] ^= 1
		if _, ok, forged := hc.node(m, bad, ph); !ok || !forged {
			t.Errorf("handle of %s with a changed MAC: ok=%v forged=%v", n, ok, forged)
		}
	}
	// A removed node's handle: no node has its tag.
	gone := hc.make("gone-node", 42)
	if ph, _ := hc.parse(gone); len(m.byTag[ph.tag]) == 0 {
		if _, ok, _ := hc.node(m, gone, ph); ok {
			t.Error("handle of a node not in the tables resolved")
		}
	}
	// A version 1 handle, as earlier servers made them.
	v1 := make([]byte, 36)
	v1[0] = 1
	binary.BigEndian.PutUint64(v1[4:12], nodeID(a))
	binary.BigEndian.PutUint64(v1[12:20], 42)
	mac := hmac.New(sha256.New, hc.secret)
	mac.Write(v1[:20])
	mac.Write([]byte(a))
	copy(v1[20:], mac.Sum(nil))
	ph, err := hc.parse(v1)
	if err != nil || !ph.v1 || ph.fileid != 42 {
		t.Fatalf("parse v1: %+v, %v", ph, err)
	}
	if got, ok, forged := hc.node(m, v1, ph); !ok || forged || got != a {
		t.Errorf("v1 handle: node %q ok=%v forged=%v", got, ok, forged)
	}
	v1[30] ^= 1
	if _, _, forged := hc.node(m, v1, ph); !forged {
		t.Error("v1 handle with a changed MAC accepted")
	}
	for _, fh := range [][]byte{nil, make([]byte, 20), make([]byte, 36), hc.make(a, 1)[:16]} {
		if _, err := hc.parse(fh); err == nil {
			t.Errorf("parse(%x) accepted", fh)
		}
	}
}

// testNodes finds handles' nodes from two maps (the cluster index does it from tables).
type testNodes struct {
	byID  map[uint64]string
	byTag map[uint32][]string
}

func (m testNodes) NodeByID(id uint64) (string, bool) { n, ok := m.byID[id]; return n, ok }
func (m testNodes) NodesByTag(tag uint32) []string    { return m.byTag[tag] }
