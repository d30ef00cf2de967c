package resolver

import (
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"

	"statelite/tables"
)

// Index is the cluster index of one table snapshot: everything a request needs from the
// tables as a whole (the node at an address, with a MAC or with a handle tag, the image
// roots that are exports, the directory of an image, the servers of a node). It is built
// once per snapshot (Resolver.Index) and read without locks, so the work of a request
// never grows with the number of nodes in the tables.
type Index struct {
	snap *tables.Snapshot

	hostsIP map[netip.Addr][]string // hosts.ip -> nodes
	nameIP  map[netip.Addr][]string // node names that are addresses (no hosts.ip)
	byMAC   map[string][]string     // normalized MAC -> nodes
	byID    map[uint64]string       // NodeID -> node
	byTag   map[uint32][]string     // NodeTag -> nodes
	roots   map[string]bool         // image roots R of the nodes (image-style exports)
	dirs    map[string]string       // image -> its directory (<rootimgdir>)
	// dnsNodes are the nodes known by their DNS name only (no hosts.ip, a name that is no
	// address): Names resolves them off the request path.
	dnsNodes map[string]bool
	names    *Names
}

// NodeID is a node's 64-bit id (FNV-1a of its name), carried in file handles.
func NodeID(node string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(node); i++ {
		h ^= uint64(node[i])
		h *= 1099511628211
	}
	return h
}

// NodeTag is the 24-bit tag of a node id that 20-byte handles carry.
func NodeTag(id uint64) uint32 { return uint32(id) & 0xffffff }

// Index returns the cluster index of the resolver's snapshot, building it on first use;
// callers that arrive during that build wait for it.
func (r *Resolver) Index() *Index {
	r.indexOnce.Do(func() {
		r.indexBuilds.Add(1)
		r.index = buildIndex(r)
	})
	return r.index
}

// viewRules are the tables the cluster index does not read: the rules of the views.
var viewRules = map[string]bool{"litefile": true, "litetree": true, "statelite": true}

// ReuseIndex gives r the cluster index of prev, the resolver in force before it, when
// their snapshots differ only in the rules of the views (litefile, litetree, statelite),
// and reports whether it did. Under a 10,000-node boot storm building the index took
// 150 ms of the time a litetree edit took to reach the nodes.
func (r *Resolver) ReuseIndex(prev *Resolver) bool {
	if prev == nil || prev.cfg.Mnt != r.cfg.Mnt || prev.cfg.Names != r.cfg.Names || !slices.Equal(prev.cfg.LocalNames, r.cfg.LocalNames) {
		return false
	}
	a, b := prev.Snap.Tables(), r.Snap.Tables()
	for _, m := range []map[string]*tables.Table{a, b} {
		for name := range m {
			if !viewRules[name] && !tables.SameRows(a[name], b[name]) {
				return false
			}
		}
	}
	ix := *prev.Index()
	ix.snap = r.Snap
	reused := false
	r.indexOnce.Do(func() {
		r.index, reused = &ix, true
	})
	return reused
}

// Builds returns how many times the resolver built its cluster index and how many view
// plans it computed (tests check that neither grows with the number of requests).
func (r *Resolver) Builds() (index, plans int64) {
	return r.indexBuilds.Load(), r.planBuilds.Load()
}

func buildIndex(r *Resolver) *Index {
	s := r.Snap
	nodes := s.Nodes()
	ix := &Index{snap: s, hostsIP: map[netip.Addr][]string{}, nameIP: map[netip.Addr][]string{},
		byMAC: map[string][]string{}, byID: make(map[uint64]string, len(nodes)), byTag: make(map[uint32][]string, len(nodes)),
		roots: map[string]bool{}, dirs: map[string]string{}, dnsNodes: map[string]bool{}, names: r.cfg.Names}
	for _, n := range nodes {
		id := NodeID(n)
		ix.byID[id] = n
		ix.byTag[NodeTag(id)] = append(ix.byTag[NodeTag(id)], n)
		if ip, _, ok := s.NodeAttr(n, "hosts", "ip"); ok {
			if a, err := netip.ParseAddr(strings.TrimSpace(ip)); err == nil {
				ix.hostsIP[a.Unmap()] = append(ix.hostsIP[a.Unmap()], n)
			}
		} else if a, err := netip.ParseAddr(n); err == nil {
			ix.nameIP[a.Unmap()] = append(ix.nameIP[a.Unmap()], n)
		} else {
			ix.dnsNodes[n] = true
		}
		addMACs(ix.byMAC, s, n)
		if image, os_, arch, profile, err := ImageOf(s, n); err == nil {
			ix.roots[r.imageRoot(n, image, os_, arch, profile)] = true
			if _, done := ix.dirs[image]; !done {
				if d, err := ImageDir(s, image, n); err == nil {
					ix.dirs[image] = d
				}
			}
		}
	}
	oi := s.Table("osimage")
	if oi != nil {
		for i := range oi.Rows {
			img := oi.Get(i, "imagename")
			if _, done := ix.dirs[img]; done || !oi.Enabled(i) || img == "" {
				continue
			}
			if d, err := ImageDir(s, img, ""); err == nil {
				ix.dirs[img] = d
			}
		}
	}
	if ix.names != nil && len(ix.dnsNodes) > 0 {
		want := make([]string, 0, len(ix.dnsNodes))
		for n := range ix.dnsNodes {
			want = append(want, n)
		}
		ix.names.want(want)
	}
	return ix
}

// MACOwners returns every MAC of the mac table (normalized) with the nodes that have it,
// as the cluster index holds it (Index.NodesByMAC); for a snapshot without a resolver
// (a table edit checking that a MAC is free).
func MACOwners(s *tables.Snapshot) map[string][]string {
	m := map[string][]string{}
	for _, n := range s.Nodes() {
		addMACs(m, s, n)
	}
	return m
}

// addMACs adds node's MACs (its mac row's, each once) to m.
func addMACs(m map[string][]string, s *tables.Snapshot, node string) {
	if v, _, ok := s.NodeAttr(node, "mac", "mac"); ok {
		_, all := MACs(v, node)
		for i, mac := range all {
			if !containsBefore(all, i, mac) {
				m[mac] = append(m[mac], node)
			}
		}
	}
}

func containsBefore(l []string, i int, v string) bool {
	for _, x := range l[:i] {
		if x == v {
			return true
		}
	}
	return false
}

// Snap returns the snapshot the index was built from.
func (ix *Index) Snap() *tables.Snapshot { return ix.snap }

// HostsIP returns the nodes whose hosts.ip is addr.
func (ix *Index) HostsIP(addr netip.Addr) []string { return ix.hostsIP[addr.Unmap()] }

// NodeAt returns the node a client address belongs to: its hosts.ip, else a node named by
// the address, else a node whose DNS name resolved to it (Names). ambiguous lists the
// nodes when several share the address (none of them is returned); pending counts the
// node names whose resolution has not run yet (one of them may be this address's node).
func (ix *Index) NodeAt(addr netip.Addr) (node string, ambiguous []string, pending int) {
	addr = addr.Unmap()
	l := ix.hostsIP[addr]
	if len(l) == 0 {
		l = ix.nameIP[addr]
	}
	if len(l) == 0 && ix.names != nil && len(ix.dnsNodes) > 0 {
		for _, n := range ix.names.at(addr) {
			if ix.dnsNodes[n] {
				l = append(l, n)
			}
		}
		if len(l) == 0 {
			pending = ix.names.pending()
		}
	}
	switch len(l) {
	case 0:
		return "", nil, pending
	case 1:
		return l[0], nil, 0
	}
	return "", l, 0
}

// NodesByMAC returns the nodes one of whose mac table entries is mac (normalized).
func (ix *Index) NodesByMAC(mac string) []string { return ix.byMAC[mac] }

// NodeByID returns the node whose NodeID is id.
func (ix *Index) NodeByID(id uint64) (string, bool) {
	n, ok := ix.byID[id]
	return n, ok
}

// NodesByTag returns the nodes whose NodeTag is tag.
func (ix *Index) NodesByTag(tag uint32) []string { return ix.byTag[tag] }

// ImageRoot returns the image root R that p (a clean absolute path) is in or below, for
// the image-style exports (<rootimgdir>/rootimg[/sub]). O(depth of p).
func (ix *Index) ImageRoot(p string) (root string, ok bool) {
	for q := p; ; q = path.Dir(q) {
		if ix.roots[q] {
			return q, true
		}
		if q == "/" || q == "." || q == "" {
			return "", false
		}
	}
}

// ImageDir returns the directory of an image (<rootimgdir>, where its rootimg, kernel and
// initrd are), for the images nodes use and those of the osimage table.
func (ix *Index) ImageDir(image string) (string, bool) {
	d, ok := ix.dirs[image]
	return d, ok
}

// ServerOf returns the server(s) a node is assigned to: its noderes.servicenode, else its
// noderes.nfsserver ("" when neither is set).
func (ix *Index) ServerOf(node string) string {
	if v, _, ok := ix.snap.NodeAttr(node, "noderes", "servicenode"); ok && strings.TrimSpace(v) != "" {
		return v
	}
	v, _, _ := ix.snap.NodeAttr(node, "noderes", "nfsserver")
	return strings.TrimSpace(v)
}

// Serves reports whether a server known by any of names serves node: the node names it
// in ServerOf, or names no server. No names: every node.
func (ix *Index) Serves(names []string, node string) bool {
	if len(names) == 0 {
		return true
	}
	srv := ix.ServerOf(node)
	if srv == "" {
		return true
	}
	for _, n := range tables.SplitList(srv) {
		for _, mine := range names {
			if n == mine {
				return true
			}
		}
	}
	return false
}

// planSlot is one node's plan in a resolver, computed once.
type planSlot struct {
	once sync.Once
	p    *Plan
	err  error
}
