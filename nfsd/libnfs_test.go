package nfsd_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"statelite/internal/need"
	"statelite/nfsd"
)

// libnfs runs one of the libnfs-utils tools with a timeout.
func libnfs(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		need.Skip(t, "%s not installed (libnfs-utils)", tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out\n%s", tool, args, out)
	}
	return string(out), err
}

func nfsURL(port int, p string) string {
	return fmt.Sprintf("nfs://127.0.0.1%s?version=3&nfsport=%d&mountport=%d", p, port, port)
}

func TestLibnfsTools(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})

	// nfs-ls with the default EXPORT traversal.
	out, err := libnfs(t, "nfs-ls", nfsURL(srv.port, "/nodes/n1/etc"))
	if err != nil {
		t.Fatalf("nfs-ls /nodes/n1/etc: %v\n%s", err, out)
	}
	for _, name := range []string{"motd", "passwd", "shadow", "hostname", "mtab"} {
		if !strings.Contains(out, name) {
			t.Errorf("nfs-ls /nodes/n1/etc lacks %s:\n%s", name, out)
		}
	}
	var m strings.Builder
	srv.Metrics.WriteTo(&m)
	// (Every procedure's series exists from the start: the count must have moved.)
	if !strings.Contains(m.String(), `statelite_rpc_duration_seconds_count{proc="mount/export"}`) ||
		strings.Contains(m.String(), `statelite_rpc_duration_seconds_count{proc="mount/export"} 0`+"\n") {
		t.Error("nfs-ls did not call MOUNT EXPORT (auto-traverse)")
	}
	if !strings.Contains(out, "-rw-------") {
		t.Errorf("nfs-ls shows no 0600 file (shadow):\n%s", out)
	}
	// (nfs-ls prints only the rwx bits, never s or t: the 04755 is checked elsewhere.)
	out, err = libnfs(t, "nfs-ls", nfsURL(srv.port, "/nodes/n1/usr/bin"))
	if err != nil || !strings.Contains(out, "-rwxr-xr-x") || !strings.Contains(out, " passwd") {
		t.Errorf("nfs-ls /usr/bin: %v\n%s", err, out)
	}

	// nfs-cat of the con file.
	out, err = libnfs(t, "nfs-cat", nfsURL(srv.port, "/nodes/n1/etc/motd"))
	if err != nil || out != n1Motd {
		t.Errorf("nfs-cat motd: %v %q", err, out)
	}

	// nfs-cp to /tmp and back.
	dir := t.TempDir()
	local := filepath.Join(dir, "in.txt")
	payload := strings.Repeat("copied through libnfs\n", 5000)
	if err := os.WriteFile(local, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := libnfs(t, "nfs-cp", local, nfsURL(srv.port, "/nodes/n1/tmp/cp.txt")); err != nil {
		t.Fatalf("nfs-cp to /tmp: %v\n%s", err, out)
	}
	back := filepath.Join(dir, "back.txt")
	if out, err := libnfs(t, "nfs-cp", nfsURL(srv.port, "/nodes/n1/tmp/cp.txt"), back); err != nil {
		t.Fatalf("nfs-cp back: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(back); string(got) != payload {
		t.Errorf("round trip: %d bytes, want %d", len(got), len(payload))
	}
	// The engine sees it in n1's view only.
	v1, _ := tc.fsrv.View("n1")
	if a, err := v1.Getattr("/tmp/cp.txt"); err != nil || a.Size != uint64(len(payload)) {
		t.Errorf("engine: %+v %v", a, err)
	}

	// nfs-cp onto the read-only image fails.
	if out, err := libnfs(t, "nfs-cp", local, nfsURL(srv.port, "/nodes/n1/usr/bin/evil")); err == nil {
		t.Errorf("nfs-cp onto /usr/bin succeeded:\n%s", out)
	} else {
		t.Logf("nfs-cp onto /usr/bin: %v: %s", err, strings.TrimSpace(out))
	}
	if _, err := v1.Getattr("/usr/bin/evil"); err == nil {
		t.Error("/usr/bin/evil exists")
	}

	// A recursive listing of the whole view.
	out, err = libnfs(t, "nfs-ls", "-R", nfsURL(srv.port, "/nodes/n1"))
	if err != nil {
		t.Fatalf("nfs-ls -R: %v\n%s", err, out)
	}
	for _, name := range []string{" etc/motd\n", " usr/bin/passwd\n", " tmp/cp.txt\n", " opt/app/app.cfg\n", " etc/ssh/sshd_config\n", " etc/mtab\n"} {
		if !strings.Contains(out, name) {
			t.Errorf("nfs-ls -R lacks %s", name)
		}
	}
	t.Logf("nfs-ls -R: %d lines", strings.Count(out, "\n"))
}

// TestLibnfsRefused: a client that is node n1 (127.0.0.1 in hosts, no admin networks)
// lists its own view and is refused n2's.
func TestLibnfsRefused(t *testing.T) {
	tc := newTestCluster(t)
	tc.setHosts(t, map[string]string{"n1": "127.0.0.1", "n2": "127.0.0.12"})
	srv := tc.serve(t, nfsd.Config{AdminAllow: allowOnly()})

	if out, err := libnfs(t, "nfs-ls", nfsURL(srv.port, "/nodes/n1")); err != nil || !strings.Contains(out, "etc") {
		t.Errorf("nfs-ls /nodes/n1 as n1: %v\n%s", err, out)
	}
	out, err := libnfs(t, "nfs-ls", nfsURL(srv.port, "/nodes/n2"))
	if err == nil {
		t.Errorf("nfs-ls /nodes/n2 as n1 succeeded:\n%s", out)
	} else {
		t.Logf("nfs-ls /nodes/n2: %v: %s", err, strings.TrimSpace(out))
	}
	if out, err := libnfs(t, "nfs-cat", nfsURL(srv.port, "/nodes/n2/etc/passwd")); err == nil {
		t.Errorf("nfs-cat of n2's file as n1 succeeded:\n%s", out)
	}
	if !strings.Contains(srv.logs.String(), "mount refused") {
		t.Error("refusal not logged")
	}
}
