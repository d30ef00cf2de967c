package nfsd

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"

	"statelite/fs"
	"statelite/nfsd/wire"
)

// RPC program numbers.
const ()

// MOUNT v3 status codes (RFC 1813 §5.1).
const ()

func (s *Server) mountProcs() []procFunc {
	return []procFunc{
		func(ctx context.Context, c *call, r *wire.R, w *writer) error { return nil }, // NULL
		s.mountMnt,
		s.mountDump,
		s.mountUmnt,
		s.mountUmntAll,
		s.mountExport,
	}
}

func (s *Server) mountMnt(ctx context.Context, c *call, r *wire.R, w *writer) error {
	dirpath := r.Str(1024)
	if r.Err != nil {
		return r.Err
	}
	addr := remoteAddr(c.remote)
	e, st := s.parseExport(dirpath, addr)
	if st == wire.MNT3OK && !s.mayAccess(addr, e.node) {
		st = wire.MNT3ErrAcces
	}
	if st == wire.MNT3OK && !s.Serves(e.node) {
		s.logLimited("elsewhere|"+addr.String(), "mount refused: the node is served by another server", "node", e.node,
			"its_server", orNone(s.ServerOf(e.node)), "this_server", strings.Join(s.cfg.Names, ","), "remote", addr.String())
		st = wire.MNT3ErrAcces
	}
	if st != wire.MNT3OK {
		s.logLimited("mount|"+addr.String(), "mount refused", "node", e.node, "path", dirpath, "remote", addr.String(), "status", st, "address_of", s.addressOf(addr))
		w.U32(st)
		return nil
	}
	v, err := s.cfg.FS.View(e.node)
	if err != nil {
		w.U32(wire.MNT3ErrNoEnt)
		return nil
	}
	if e.token != "" {
		s.bootToken(e.node, e.token)
	}
	fh, st := s.handleForPath(e.node, v, e.sub)
	if st != wire.MNT3OK {
		w.U32(st)
		return nil
	}
	s.mu.Lock()
	s.mounts[addr.String()+"|"+dirpath] = mountRec{host: addr.String(), dir: dirpath}
	s.mu.Unlock()
	s.log.Info("mount", "node", e.node, "path", dirpath, "remote", addr.String())
	w.U32(wire.MNT3OK)
	w.Opaque(fh)
	w.U32(2) // auth flavors: AUTH_SYS, AUTH_NONE
	w.U32(wire.FlavorSys)
	w.U32(wire.FlavorNone)
	return nil
}

// bootToken resets the node's volatile layer the first time a boot token is seen
// (docs/behaviour.md#what-counts-as-a-boot). The boot is recorded with the layer
// (fs.Server.Boot), so it is decided once for every server that shares the volatile
// layers, and across restarts. Nodes booting at once reset in parallel: only the same
// node's boots wait for each other.
func (s *Server) bootToken(node, token string) {
	l := &s.bootLocks[nodeID(node)%uint64(len(s.bootLocks))]
	l.Lock()
	defer l.Unlock()
	s.mu.Lock()
	last := s.tokens[node]
	s.mu.Unlock()
	if last == token {
		return // this server saw the boot already (a remount)
	}
	// Before boots were kept with the layer, each server recorded the last token here.
	var legacy string
	if b, err := os.ReadFile(filepath.Join(s.cfg.State, "tokens", node)); err == nil {
		legacy = strings.TrimSpace(string(b))
	}
	reset, err := s.cfg.FS.Boot(node, token, legacy)
	if err != nil {
		s.log.Error("boot reset failed", "node", node, "err", err)
		return
	}
	s.mu.Lock()
	s.tokens[node] = token
	s.mu.Unlock()
	if reset {
		s.log.Info("boot: volatile layer reset", "node", node, "token", token)
	}
}

// handleForPath walks from the view root to sub, recording every component in the
// handle table, and returns sub's handle.
func (s *Server) handleForPath(node string, v *fs.View, sub string) ([]byte, uint32) {
	root, err := v.Getattr("/")
	if err != nil {
		return nil, wire.MNT3ErrIO
	}
	seq := s.paths.setRoot(node, root.FileID)
	id := root.FileID
	cur := "/"
	for _, comp := range strings.Split(strings.Trim(sub, "/"), "/") {
		if comp == "" {
			continue
		}
		cur = path.Join(cur, comp)
		a, err := v.Getattr(cur)
		if err != nil {
			return nil, wire.MNT3ErrNoEnt
		}
		if !a.IsDir() {
			return nil, wire.MNT3ErrNotDir
		}
		seq = max(seq, s.paths.put(node, a.FileID, id, comp))
		id = a.FileID
	}
	if s.durable(node, seq) != wire.NFS3OK {
		return nil, wire.MNT3ErrIO
	}
	return s.handles.make(node, id), wire.MNT3OK
}

func (s *Server) mountDump(ctx context.Context, c *call, r *wire.R, w *writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mounts {
		w.Bool(true)
		w.Str(m.host)
		w.Str(m.dir)
	}
	w.Bool(false)
	return nil
}

func (s *Server) mountUmnt(ctx context.Context, c *call, r *wire.R, w *writer) error {
	dirpath := r.Str(1024)
	if r.Err != nil {
		return r.Err
	}
	s.mu.Lock()
	delete(s.mounts, remoteAddr(c.remote).String()+"|"+dirpath)
	s.mu.Unlock()
	return nil
}

func (s *Server) mountUmntAll(ctx context.Context, c *call, r *wire.R, w *writer) error {
	host := remoteAddr(c.remote).String()
	s.mu.Lock()
	for k, m := range s.mounts {
		if m.host == host {
			delete(s.mounts, k)
		}
	}
	s.mu.Unlock()
	return nil
}

// mountExport lists /nodes/<node> for every node the caller may mount (all for admins).
func (s *Server) mountExport(ctx context.Context, c *call, r *wire.R, w *writer) error {
	addr := remoteAddr(c.remote)
	nodes := s.cfg.FS.Resolver().Snap.Nodes()
	if !s.isAdmin(addr) {
		nodes = nil
		if n := s.nodeForAddr(addr); n != "" {
			nodes = []string{n}
		}
	}
	for _, n := range nodes {
		w.Bool(true)
		w.Str("/nodes/" + n)
		w.Bool(false) // no groups
	}
	w.Bool(false)
	return nil
}
