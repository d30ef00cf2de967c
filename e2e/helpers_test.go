package e2e

// What the qemu tests share: the kernel and initramfs (testdata/qemu/build.sh), a direct
// kernel boot with the root over NFS, the console's CHECK lines, and the `statelite`
// binary that TestMain builds for the tests whose server is a separate process.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"statelite/internal/demo"
	"statelite/internal/qemutest"
)

// statelite is the path of the `statelite` binary built by TestMain ("" when the build
// failed: buildErr says why).
var (
	statelite string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "statelite-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	statelite, buildErr = buildStatelite(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildStatelite runs `go build ./cmd/statelite` into dir (within 10 minutes: two
// shared cores and a cold build cache).
func buildStatelite(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	bin := filepath.Join(dir, "statelite")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/statelite")
	cmd.Dir = ".." // the module's root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/statelite: %v\n%s", err, out)
	}
	return bin, nil
}

// qemuTools skips the test (fails it under CI) when a tool of the qemu tests is missing.
func qemuTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"qemu-system-x86_64", "timeout", "apt-get", "dpkg-deb", "depmod", "modprobe", "cpio", "gzip", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			qemuSkip(t, "%s not found (install qemu-system-x86 kmod cpio: see .ci/run)", tool)
		}
	}
}

func qemuInCI() bool { return qemutest.InCI() }

// qemuSkip skips the test, or fails it under CI, where everything must be installed.
func qemuSkip(t *testing.T, format string, a ...any) {
	t.Helper()
	qemutest.Skip(t, format, a...)
}

type qemuFiles struct{ kernel, initrd string }

// qemuBuild runs testdata/qemu/build.sh into the cache directory (a no-op when cached).
func qemuBuild(t *testing.T) qemuFiles {
	t.Helper()
	cache := os.Getenv("STATELITE_QEMU_CACHE")
	if cache == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(d, "statelite-qemu")
		} else {
			cache = "/var/cache/statelite-qemu"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join("testdata", "qemu", "build.sh"), cache).CombinedOutput()
	if err != nil {
		qemuSkip(t, "building the kernel and initramfs failed (%v):\n%s", err, out)
	}
	t.Logf("%s (%.1f s)", bytes.TrimSpace(out), time.Since(start).Seconds())
	return qemuFiles{kernel: filepath.Join(cache, "vmlinuz"), initrd: filepath.Join(cache, "initrd.gz")}
}

// qemuServer is an in-process `statelite serve` on 127.0.0.1:0 (qemutest.Serve).
type qemuServer struct {
	port string
	srv  *qemutest.Server
}

func (s *qemuServer) log() string { return s.srv.Text(0) }

func qemuServe(ctx context.Context, t *testing.T, cl *demo.Cluster, state string) *qemuServer {
	t.Helper()
	s := qemutest.Serve(ctx, t, qemutest.ServeOptions{Tables: cl.Tables, Mnt: filepath.Join(cl.Dir, "mnt"), State: state})
	return &qemuServer{port: s.NFSPort, srv: s}
}

// qemuBoot boots node under qemu with its root from the server on port; it returns the
// serial console's output.
func qemuBoot(ctx context.Context, f qemuFiles, port, node, token, phase string) ([]byte, error) {
	cmd := qemuCmd(ctx, f, 180*time.Second,
		"statelite.node="+node, "statelite.port="+port, "statelite.token="+token,
		"statelite.phase="+phase, "statelite.init=/sbin/statelite-check")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.Bytes(), err
}

// qemuCmd is qemu booting f's kernel and initrd directly (TCG, one CPU, user
// networking, the serial console on stdout) with params added to the kernel command
// line, under timeout and ctx; cancelling ctx stops qemu.
func qemuCmd(ctx context.Context, f qemuFiles, timeout time.Duration, params ...string) *exec.Cmd {
	appendLine := strings.Join(append([]string{"console=ttyS0", "panic=-1", "quiet"}, params...), " ")
	cmd := exec.CommandContext(ctx, "timeout", "-k", "5", fmt.Sprint(int(timeout.Seconds())),
		"qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
		"-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
		"-kernel", f.kernel, "-initrd", f.initrd, "-append", appendLine,
		"-netdev", "user,id=n0,net=10.0.2.0/24", "-device", "virtio-net-pci,netdev=n0,romfile=")
	// timeout passes SIGTERM on to qemu (SIGKILL would leave qemu running).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

type qemuResult struct {
	ok, failed    map[string]bool
	fail          []string // "name FAIL detail"
	alldone       bool
	mounted, done string // guest uptimes
}

var (
	qemuCheckRE   = regexp.MustCompile(`CHECK (\S+) (OK|FAIL)(.*)`)
	qemuMountedRE = regexp.MustCompile(`INIT mounted .* \(uptime ([0-9.]+)s\)`)
	qemuDoneRE    = regexp.MustCompile(`ALLDONE uptime=([0-9.]+)`)
)

func qemuParse(console []byte) qemuResult {
	r := qemuResult{ok: map[string]bool{}, failed: map[string]bool{}, mounted: "?", done: "?"}
	for _, line := range strings.Split(string(console), "\n") {
		line = strings.TrimRight(line, "\r")
		if m := qemuCheckRE.FindStringSubmatch(line); m != nil {
			if m[2] == "OK" {
				r.ok[m[1]] = true
			} else {
				r.failed[m[1]] = true
				r.fail = append(r.fail, m[1]+" FAIL"+m[3])
			}
		}
		if m := qemuMountedRE.FindStringSubmatch(line); m != nil {
			r.mounted = m[1]
		}
		if m := qemuDoneRE.FindStringSubmatch(line); m != nil {
			r.alldone, r.done = true, m[1]
		}
	}
	return r
}

// qemuClean strips the terminal escapes SeaBIOS prints.
func qemuClean(console []byte) string { return qemutest.Clean(console) }

// qemuCluster makes the demo cluster a qemu test boots, in a temporary directory (dir),
// with its busybox userland: skipped without one (failed under CI).
func qemuCluster(ctx context.Context, t *testing.T) (dir string, cl *demo.Cluster) {
	t.Helper()
	dir = t.TempDir()
	cl, err := demo.Build(ctx, filepath.Join(dir, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	if !cl.Busybox {
		qemuSkip(t, "the demo image has no busybox userland (install busybox-static)")
	}
	return dir, cl
}

// qemuLine is a line of a guest's serial console, cleaned, with the time it arrived.
type qemuLine struct {
	at   time.Time
	text string
}

// qemuGuest is a node booted under qemu (direct kernel boot, root over NFS) whose console
// the test follows line by line.
type qemuGuest struct {
	node, token string
	start       time.Time
	lines       <-chan qemuLine // closed when qemu's output ends
	cmd         *exec.Cmd
	quit        chan struct{} // closed by finish: lines no longer read
	exited      chan struct{}
	err         error // qemu's, once exited is closed
	mu          sync.Mutex
	console     bytes.Buffer
	stopOnce    sync.Once
}

// qemuStream boots node with token under qemu (direct kernel boot, root over NFS from
// port), params (its init, …) added to the kernel command line, and streams its console
// line by line. qemu runs under timeout (150 s) and ctx; the test stops it (finish,
// else at its cleanup) or lets it power off.
func qemuStream(ctx context.Context, t *testing.T, f qemuFiles, port, node, token string, params ...string) *qemuGuest {
	t.Helper()
	cmd := qemuCmd(ctx, f, 150*time.Second, append([]string{
		"statelite.node=" + node, "statelite.port=" + port, "statelite.token=" + token,
	}, params...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	lines := make(chan qemuLine, 1024)
	g := &qemuGuest{node: node, token: token, lines: lines, cmd: cmd, quit: make(chan struct{}), exited: make(chan struct{})}
	g.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.err = cmd.Wait()
		pw.Close()
		close(g.exited)
	}()
	go func() {
		defer close(lines)
		r := bufio.NewReader(pr)
		for {
			s, err := r.ReadString('\n')
			if s != "" {
				g.mu.Lock()
				g.console.WriteString(s)
				g.mu.Unlock()
				select {
				case lines <- qemuLine{time.Now(), qemuClean([]byte(s))}:
				case <-g.quit:
				}
			}
			if err != nil {
				io.Copy(io.Discard, pr)
				return
			}
		}
	}()
	t.Cleanup(func() { g.stop(); <-g.exited })
	return g
}

// stop asks qemu to end (SIGTERM to timeout, which passes it on).
func (g *qemuGuest) stop() {
	g.stopOnce.Do(func() {
		close(g.quit)
		if g.cmd.Process != nil {
			g.cmd.Process.Signal(syscall.SIGTERM)
		}
	})
}

// wait waits for qemu to end and returns its error.
func (g *qemuGuest) wait() error {
	<-g.exited
	return g.err
}

// finish stops the guest, waits for qemu to end and keeps its console in
// dir/<name>.console.log (logged when the test failed).
func (g *qemuGuest) finish(t *testing.T, dir, name string) {
	t.Helper()
	g.stop()
	g.wait()
	g.mu.Lock()
	out := qemuClean(g.console.Bytes())
	g.mu.Unlock()
	os.WriteFile(filepath.Join(dir, name+".console.log"), []byte(out), 0o644)
	if t.Failed() {
		t.Logf("console of %s (boot %s):\n%s", g.node, g.token, out)
	}
}
