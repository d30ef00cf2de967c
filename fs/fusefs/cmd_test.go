package fusefs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
	binSkip string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildStatelite builds the statelite command of this module once per test run.
func buildStatelite(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if _, err := exec.LookPath("go"); err != nil {
			binSkip = "no go command to build statelite with"
			return
		}
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil || len(bytes.TrimSpace(gomod)) == 0 {
			binSkip = "go env GOMOD: not in a module"
			return
		}
		if binDir, binErr = os.MkdirTemp("", "fusefs-test-bin"); binErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bin := filepath.Join(binDir, "statelite")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "statelite/cmd/statelite")
		cmd.Dir = filepath.Dir(string(bytes.TrimSpace(gomod)))
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binPath = bin
	})
	if binSkip != "" {
		t.Skip(binSkip)
	}
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// syncBuffer collects a process's output while it runs.
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

func mounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(b), " "+dir+" ")
}

// eventually polls f every 50 ms until it is true or limit passes.
func eventually(limit time.Duration, f func() bool) bool {
	for end := time.Now().Add(limit); ; time.Sleep(50 * time.Millisecond) {
		if f() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

func TestMountCommand(t *testing.T) {
	needFUSE(t)
	base := t.TempDir()
	bin := buildStatelite(t)
	cl, st, _, _ := buildDemo(t)
	mnt := filepath.Join(base, "mnt")
	os.Mkdir(mnt, 0o755)
	state := filepath.Join(base, "state")

	var stderr syncBuffer
	cmd := exec.Command(bin, "--tables", cl.Tables, "--mnt", filepath.Join(cl.Dir, "mnt"), "mount", "n1", mnt, "--state", state)
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if mounted(mnt) {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
		t.Logf("statelite mount's log:\n%s", stderr.String())
	})
	if !eventually(20*time.Second, func() bool { return mounted(mnt) }) {
		t.Fatalf("not mounted after 20 s:\n%s", stderr.String())
	}
	motd := filepath.Join(mnt, "etc/motd")
	cat := func() string { return run(t, "cat", motd).stdout }
	if got := cat(); got != conMotd {
		t.Errorf("motd = %q", got)
	}

	// A store edit (the generation goes up).
	start := time.Now()
	editLitefile(t, st, func(f string) bool { return f != "/etc/motd" })
	if !eventually(5*time.Second, func() bool { return cat() == imageMotd }) {
		t.Fatalf("motd still %q 5 s after the store edit", cat())
	}
	t.Logf("store edit seen after %v", time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("store edit took %v to show", d)
	}

	// A hand edit of the .csv file (no generation change).
	lf := filepath.Join(cl.Tables, "litefile.csv")
	appendLine := func(line string) {
		f, err := os.OpenFile(lf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(line + "\n")
		f.Close()
	}
	start = time.Now()
	appendLine(`"ALL","/etc/motd","con",,`)
	if !eventually(5*time.Second, func() bool { return cat() == conMotd }) {
		t.Fatalf("motd still %q 5 s after the hand edit", cat())
	}
	t.Logf("hand edit seen after %v", time.Since(start).Round(time.Millisecond))

	// An invalid edit is logged and changes nothing.
	appendLine(`"ALL","/etc/hostname","bogus-option",,`)
	if !eventually(5*time.Second, func() bool { return strings.Contains(stderr.String(), "rejected") }) {
		t.Errorf("no rejection logged for an invalid edit")
	}
	if got := cat(); got != conMotd {
		t.Errorf("motd after an invalid edit = %q", got)
	}
	if !strings.Contains(stderr.String(), "node=n1") {
		t.Errorf("log lines lack node=n1")
	}

	// SIGTERM unmounts and exits 0.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("statelite mount exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("statelite mount did not exit 15 s after SIGTERM")
	}
	if mounted(mnt) {
		t.Error("still mounted after SIGTERM")
	}
}

func TestMountCommandRefusesBadInput(t *testing.T) {
	needFUSE(t)
	base := t.TempDir()
	bin := buildStatelite(t)
	cl, _, _, _ := buildDemo(t)
	mnt := filepath.Join(base, "mnt")
	os.Mkdir(mnt, 0o755)
	r := run(t, bin, "--tables", cl.Tables, "mount", "nosuchnode", mnt, "--state", filepath.Join(base, "state"))
	if r.err == nil || !strings.Contains(r.stderr, "nosuchnode") {
		t.Errorf("mount of an unknown node: %v\n%s", r.err, r)
	}
	if mounted(mnt) {
		syscall.Unmount(mnt, syscall.MNT_DETACH)
		t.Error("an unknown node was mounted")
	}
}
