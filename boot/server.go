package boot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	sfs "statelite/fs"
	"statelite/resolver"
)

// DefaultBootWindow is how close together a node's configuration fetches must be to count
// as one boot (docs/behaviour.md#what-counts-as-a-boot: a loader tries several names
// within 10 seconds).
const DefaultBootWindow = 10 * time.Second

// Config holds the settings of a boot server.
type Config struct {
	// Resolver returns the resolver of the tables as they are now (the fs.Server's).
	Resolver func() *resolver.Resolver
	// TFTPRoot overrides the TFTP root; empty: site.tftpdir, default /tftpboot, read
	// from the tables at each request.
	TFTPRoot string
	// NFSPort, HTTPPort and TFTPPort are rendered into configurations (Settings).
	NFSPort, HTTPPort, TFTPPort int
	// OnBoot is called once per boot of a node, before its configuration is sent, with
	// the boot token rendered into the node's root path. It resets the volatile layer.
	OnBoot func(node, token string)
	// Now is the clock (tests inject one); nil is time.Now.
	Now func() time.Time
	// BootWindow: fetches of one node closer together than this are one boot (sliding:
	// each fetch extends the boot); zero is DefaultBootWindow.
	BootWindow time.Duration
	// LookupIP resolves host names in noderes columns; nil is the system resolver.
	LookupIP func(host string) (string, error)
	// Log receives one line per served configuration and per error; nil discards.
	Log *slog.Logger
}

// Server answers TFTP and HTTP requests for boot files. It is safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	boots map[string]*bootRec
}

type bootRec struct {
	last  time.Time
	token string
}

// New returns a boot server.
func New(cfg Config) (*Server, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("boot: a resolver is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BootWindow <= 0 {
		cfg.BootWindow = DefaultBootWindow
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{cfg: cfg, log: log, boots: map[string]*bootRec{}}, nil
}

// Token is the boot token of a boot that started at t: its UTC time to the second,
// e.g. 20261125T210305Z. Every configuration fetched within one boot carries the same
// token, and a later boot (at least a boot window later) a different one, so nfsd sees a
// token it has not seen before exactly when a node boots through us; a node re-mounting
// during its run (autofs, a second mount) reuses its token and keeps its state.
func Token(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// TFTPRoot returns the TFTP root in force: the override, else site.tftpdir, else /tftpboot.
func (s *Server) TFTPRoot() string {
	if s.cfg.TFTPRoot != "" {
		return s.cfg.TFTPRoot
	}
	return s.cfg.Resolver().Snap.SiteOr("tftpdir", "/tftpboot")
}

// content is an opened file or rendered configuration.
type content struct {
	io.ReadSeeker
	name    string
	size    int64
	modTime time.Time
	node    string // set for a rendered configuration
	close   func() error
}

func (c *content) Close() error {
	if c.close != nil {
		return c.close()
	}
	return nil
}

// errNotFound is the error for a name with nothing behind it.
var errNotFound = errors.New("file not found")

// open resolves a requested name (as a TFTP client or an HTTP path gives it) from the
// client at remote, arriving on local (this server's address the node sees; invalid when
// unknown). It renders configurations, maps image boot files to <rootimgdir>, and opens
// anything else inside the TFTP root through os.Root (no escaping path or symlink).
func (s *Server) open(name string, remote, local netip.Addr) (*content, error) {
	clean, err := CleanName(name)
	if err != nil {
		return nil, err
	}
	r := s.cfg.Resolver()
	req := classify(clean, r.Snap.IsNode)
	switch req.kind {
	case reqConfig:
		c, handled, err := s.config(r, clean, req, remote, local)
		if handled {
			return c, err
		}
	case reqImage:
		name, at, pinned := strings.Cut(req.image, "@")
		if dir, ok := r.Index().ImageDir(name); ok {
			if pinned {
				// A boot's image generation (its token's): its own copy, else (a
				// generation made before the image had the file) the working copy's.
				if g, err := strconv.Atoi(at); err == nil && g > 0 {
					c, err := openIn(resolver.GenerationDir(dir, g), req.file)
					if err == nil {
						return c, nil
					}
					if !errors.Is(err, errNotFound) {
						return nil, err
					}
					s.log.Warn("boot file missing in the image generation: the working copy's is served", "image", name, "generation", g, "file", req.file)
				}
			}
			c, err := openIn(dir, req.file)
			if err == nil {
				return c, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			s.log.Warn("boot file missing in the image directory", "image", req.image, "file", path.Join(dir, req.file))
		}
	}
	return openIn(s.TFTPRoot(), clean)
}

// openIn opens rel inside dir through os.Root; directories are not served.
func openIn(dir, rel string) (*content, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", errNotFound, rel)
		}
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", errNotFound, rel)
		}
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", errNotFound, rel)
	}
	return &content{ReadSeeker: f, name: rel, size: fi.Size(), modTime: fi.ModTime(), close: f.Close}, nil
}

// config renders a configuration request. handled is false when the name stands for no
// node we manage (no node, or a node without chain.currstate): the TFTP root's own file
// of that name is then served, as a plain TFTP server would.
func (s *Server) config(r *resolver.Resolver, clean string, req request, remote, local netip.Addr) (c *content, handled bool, err error) {
	node := req.key
	if req.by != "name" {
		ix := r.Index()
		if req.by == "mac" {
			node, err = nodeByMAC(ix, req.key)
		} else {
			node, err = nodeByHexIP(ix, req.key, remote)
		}
		if err != nil {
			s.log.Error("boot config", "name", clean, "err", err)
			return nil, true, fmt.Errorf("%w: %s", errNotFound, clean)
		}
		if node == "" {
			return nil, false, nil
		}
	}
	set := Settings{NFSPort: s.cfg.NFSPort, HTTPPort: s.cfg.HTTPPort, TFTPPort: s.cfg.TFTPPort, LookupIP: s.cfg.LookupIP}
	if local.IsValid() && !local.IsUnspecified() {
		set.ServerIP = local.Unmap().String()
	}
	// Render under the boot lock so concurrent fetches of one boot agree on its token.
	now := s.cfg.Now()
	s.mu.Lock()
	b := s.boots[node]
	fresh := b == nil || now.Sub(b.last) >= s.cfg.BootWindow || now.Before(b.last)
	if fresh {
		set.Token = sfs.BootToken(Token(now), currentGeneration(r, node))
	} else {
		set.Token = b.token
	}
	p, err := NodeParams(r, node, set)
	var text []byte
	if err == nil {
		text, err = p.Render(req.loader, set)
	}
	if err != nil {
		s.mu.Unlock()
		if errors.Is(err, ErrNotManaged) {
			s.log.Debug("boot config: node not managed", "name", clean, "node", node)
			return nil, false, nil
		}
		if errors.Is(err, ErrOffline) {
			s.log.Info("boot config: node offline, nothing served", "name", clean, "node", node)
			return nil, true, fmt.Errorf("%w: %s (node %s is offline)", errNotFound, clean, node)
		}
		s.log.Error("boot config", "name", clean, "node", node, "err", err)
		return nil, true, err
	}
	if fresh {
		s.boots[node] = &bootRec{last: now, token: set.Token}
	} else {
		b.last = now
	}
	s.mu.Unlock()
	if fresh {
		s.log.Info("boot", "node", node, "token", set.Token, "name", clean, "remote", remote.String())
		if s.cfg.OnBoot != nil {
			s.cfg.OnBoot(node, set.Token)
		}
	}
	s.log.Info("boot config served", "name", clean, "node", node, "loader", req.loader.String(), "state", p.CurrState, "remote", remote.String())
	return &content{ReadSeeker: bytes.NewReader(text), name: clean, size: int64(len(text)), node: node}, true, nil
}

// currentGeneration is the current generation of node's image (0: none, or not known):
// the one a boot starting now serves (docs/images.md#generations).
func currentGeneration(r *resolver.Resolver, node string) int {
	p, err := r.Plan(node)
	if err != nil || p.ImageDir() == "" {
		return 0
	}
	g, _ := resolver.CurrentGeneration(p.ImageDir())
	return g
}
