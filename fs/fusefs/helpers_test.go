package fusefs

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sfs "statelite/fs"
	"statelite/internal/demo"
	"statelite/internal/need"
	"statelite/internal/testenv"
	"statelite/resolver"
	"statelite/tables"
)

// demoMount is a mounted view of the demo cluster's node n1.
type demoMount struct {
	cl    *demo.Cluster
	store *tables.DirStore
	srv   *sfs.Server
	view  *sfs.View
	m     *Mounted
	mnt   string // the mount point
	out   string // a scratch folder outside the mount, readable by everyone
	rcfg  resolver.Config
}

// needFUSE skips the test unless it runs as root with /dev/fuse.
func needFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		need.Skip(t, "FUSE mount tests need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		need.Skip(t, "no /dev/fuse")
	}
}

// openTraversal makes dir and its parents up to the system temp folder searchable by
// other users (t.TempDir makes them 0700), so non-root processes can reach a mount.
func openTraversal(t *testing.T, dir string) {
	t.Helper()
	top := filepath.Clean(os.TempDir())
	for d := dir; strings.HasPrefix(d, top+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// buildDemo builds the demo cluster and a server over its tables.
func buildDemo(t *testing.T) (*demo.Cluster, *tables.DirStore, *sfs.Server, resolver.Config) {
	t.Helper()
	c := testenv.New(t)
	return c.Cluster, c.Store, c.FS, c.ResolverConfig()
}

// mountDemo mounts n1's view of a fresh demo cluster under t.TempDir and unmounts it at
// the end of the test.
func mountDemo(t *testing.T) *demoMount {
	t.Helper()
	needFUSE(t)
	cl, st, srv, rcfg := buildDemo(t)
	v, err := srv.View("n1")
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	mnt := filepath.Join(base, "mnt")
	out := filepath.Join(base, "out")
	for _, d := range []string{mnt, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	openTraversal(t, base)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m, err := Mount(v, mnt, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		done := make(chan error, 1)
		go func() { done <- m.Unmount() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("unmount: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("unmount of %s hangs", mnt)
		}
	})
	return &demoMount{cl: cl, store: st, srv: srv, view: v, m: m, mnt: mnt, out: out, rcfg: rcfg}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// p returns the host path of view path vp inside the mount.
func (d *demoMount) p(vp string) string { return path.Join(d.mnt, vp) }

// result is what a tool run printed.
type result struct {
	stdout, stderr string
	err            error
}

func (r result) String() string {
	return "stdout: " + r.stdout + "\nstderr: " + r.stderr
}

// run runs a tool as a separate process (bounded to 60 s).
func run(t *testing.T, name string, args ...string) result {
	t.Helper()
	return runIn(t, nil, name, args...)
}

// runIn is run with standard input.
func runIn(t *testing.T, stdin []byte, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Dir = "/"
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out", name, args)
	}
	return result{so.String(), se.String(), err}
}

// must runs a tool and fails the test unless it succeeds.
func must(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := run(t, name, args...)
	if r.err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), r.err, r)
	}
	return r.stdout
}

// mustFail runs a tool that must fail with want in its error output.
func mustFail(t *testing.T, want, name string, args ...string) {
	t.Helper()
	r := run(t, name, args...)
	if r.err == nil {
		t.Errorf("%s %s succeeded, want failure %q\n%s", name, strings.Join(args, " "), want, r)
		return
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("%s %s: stderr %q, want %q", name, strings.Join(args, " "), r.stderr, want)
	}
}

const (
	conMotd   = "n1's own notice.\nSite notice from the common litetree.\n"
	imageMotd = "Welcome to the statelite demo image.\n"
)
