package cli_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"statelite/cmd/cli"
	"statelite/internal/need"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoServeAndReset runs what `make run` runs (demo --serve), reads and writes a
// node's view with libnfs, then resets the node with `statelite reset` while it serves.
func TestDemoServeAndReset(t *testing.T) {
	for _, tool := range []string{"nfs-cp", "nfs-cat"} {
		if _, err := exec.LookPath(tool); err != nil {
			need.Skip(t, "%s missing (apt-get install libnfs-utils)", tool)
		}
	}
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		root := cli.NewRoot(strings.NewReader(""), &out, &errb)
		root.SetArgs([]string{"demo", "--dir", dir, "--mnt", filepath.Join(dir, "mnt"), "--serve", "127.0.0.1:0"})
		done <- root.ExecuteContext(ctx)
	}()
	re := regexp.MustCompile(`over NFSv3 on 127\.0\.0\.1:(\d+)`)
	var port string
	for deadline := time.Now().Add(30 * time.Second); port == ""; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			port = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never said where it serves:\n%s\n%s", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	u := func(p string) string {
		return "nfs://127.0.0.1/nodes/" + p + "?version=3&nfsport=" + port + "&mountport=" + port
	}
	run := func(name string, args ...string) (string, error) {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		b, err := exec.CommandContext(c, name, args...).CombinedOutput()
		return string(b), err
	}
	if got, err := run("nfs-cat", u("n1/etc/motd")); err != nil || got != "n1's own notice.\nSite notice from the common litetree.\n" {
		t.Fatalf("nfs-cat motd: %v %q", err, got)
	}
	local := filepath.Join(t.TempDir(), "hi")
	os.WriteFile(local, []byte("hi\n"), 0o644)
	if o, err := run("nfs-cp", local, u("n1/tmp/hi")); err != nil {
		t.Fatalf("nfs-cp: %v %s", err, o)
	}
	if got, err := run("nfs-cat", u("n1/tmp/hi")); err != nil || got != "hi\n" {
		t.Fatalf("read back: %v %q", err, got)
	}
	var rout, rerr bytes.Buffer
	code := cli.Main([]string{"statelite", "--tables", filepath.Join(dir, "tables"), "reset", "n1", "--state", filepath.Join(dir, "server-state")}, strings.NewReader(""), &rout, &rerr)
	if code != 0 || rout.String() != "n1: volatile layer reset\n" {
		t.Fatalf("reset: exit %d %q %q", code, rout.String(), rerr.String())
	}
	if got, err := run("nfs-cat", u("n1/tmp/hi")); err == nil {
		t.Fatalf("n1's volatile file survived the reset: %q", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}
