// Package testenv is what the tests of fs, its faces (billyfs, fusefs) and nfsd start
// from: the demo cluster (internal/demo) in a temporary directory with an fs server over
// its tables. Tests only.
package testenv

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"statelite/fs"
	"statelite/internal/demo"
	"statelite/resolver"
	"statelite/tables"
)

// Cluster is a demo cluster with an fs server over its tables.
type Cluster struct {
	*demo.Cluster
	Store   *tables.DirStore
	Mnt     string // resolver.Config.Mnt: where remote litetree sources are read
	FSState string // fs.Config.State: the volatile layers
	FS      *fs.Server
}

// Demo builds the demo cluster under t.TempDir().
func Demo(t testing.TB) *demo.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := demo.Build(ctx, filepath.Join(t.TempDir(), "demo"))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// New builds the demo cluster under t.TempDir() and an fs server over it.
func New(t testing.TB) *Cluster {
	t.Helper()
	cl := Demo(t)
	st, err := tables.OpenDir(cl.Tables)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Cluster: cl, Store: st, Mnt: filepath.Join(cl.Dir, "mnt"), FSState: filepath.Join(cl.Dir, "srvstate", "fs")}
	c.FS = c.NewFS(t)
	return c
}

// ResolverConfig is the resolver configuration of the cluster.
func (c *Cluster) ResolverConfig() resolver.Config { return resolver.Config{Mnt: c.Mnt} }

// Resolver loads the tables afresh and returns a resolver over them.
func (c *Cluster) Resolver(t testing.TB) *resolver.Resolver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := c.Store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return resolver.New(snap, c.ResolverConfig())
}

// NewFS returns a new fs server on the cluster's state (as a restarted server has).
func (c *Cluster) NewFS(t testing.TB) *fs.Server {
	t.Helper()
	srv, err := fs.New(fs.Config{State: c.FSState}, c.Resolver(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}
