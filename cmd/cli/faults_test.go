package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"statelite/bench/nfsclient"
	"statelite/fs"
	"statelite/internal/demo"
	"statelite/internal/need"
	"statelite/nfsd/wire"
	"statelite/resolver"
	"statelite/tables"
)

// The faults of issue 14 that concern the serve process: one server per state
// directory, reset with no server, node files the server's users cannot reach.

// demoCluster builds the demo cluster in a fresh directory.
func demoCluster(t *testing.T) *demo.Cluster {
	t.Helper()
	cl, err := demo.Build(context.Background(), filepath.Join(t.TempDir(), "demo"))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// server is a statelite serve process.
type server struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	addr   string
	done   chan error
}

var servingRe = regexp.MustCompile(`msg=serving nfs=(\S+)`)

// startServer starts `statelite serve` on cl's tables and state and waits until it
// serves; it is killed at the end of the test.
func startServer(t *testing.T, cl *demo.Cluster, state string) *server {
	t.Helper()
	s := &server{stderr: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(binPath, "--tables", cl.Tables, "serve", "--state", state, "--nfs", "127.0.0.1:0")
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.kill() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := servingRe.FindStringSubmatch(s.stderr.String()); m != nil {
			s.addr = m[1]
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited (%v):\n%s", err, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never said it serves:\n%s", s.stderr.String())
		}
	}
}

// kill kills the server with SIGKILL and waits for it.
func (s *server) kill() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
}

// stop stops the server with SIGTERM (an orderly stop) and waits for it.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not stop:\n%s", s.stderr.String())
	}
}

// runStatelite runs the binary and returns its stdout, stderr, exit code and duration.
func runStatelite(t *testing.T, args ...string) (string, string, int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	c := exec.CommandContext(ctx, binPath, args...)
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	err := c.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code, time.Since(start)
}

// TestSecondServerExits: a second serve on a state directory in use exits at once,
// naming the PID of the first and the directory; once the first is killed (kill -9),
// the lock is free and a server starts.
func TestSecondServerExits(t *testing.T) {
	needBinary(t)
	cl := demoCluster(t)
	state := filepath.Join(cl.Dir, "server-state")
	first := startServer(t, cl, state)
	pid := first.cmd.Process.Pid

	_, stderr, code, took := runStatelite(t, "--tables", cl.Tables, "serve", "--state", state, "--nfs", "127.0.0.1:0")
	if code == 0 {
		t.Fatalf("the second server exited 0:\n%s", stderr)
	}
	if took > 5*time.Second {
		t.Errorf("the second server took %v to exit", took)
	}
	want := "Error: state directory " + state + " is in use by statelite serve (PID " + strconv.Itoa(pid) + "; lock " + filepath.Join(state, "serve.lock") + ")\n"
	if stderr != want {
		t.Errorf("second server's stderr:\n%q\nwant\n%q", stderr, want)
	}
	if strings.Contains(stderr, "msg=serving") {
		t.Errorf("the second server served")
	}

	first.kill() // kill -9: flock dies with the process
	third := startServer(t, cl, state)
	if b, err := os.ReadFile(filepath.Join(state, "serve.lock")); err != nil || string(b) != strconv.Itoa(third.cmd.Process.Pid)+" serve\n" {
		t.Errorf("lock file after the restart: %q %v", b, err)
	}
}

// volatileFile writes a file in node's volatile layer the way the server does (the fs
// View on the state's fs directory), with no server running.
func volatileFile(t *testing.T, cl *demo.Cluster, state, node, p string) {
	t.Helper()
	srv := fsServer(t, cl, state)
	v, err := srv.View(node)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := v.Create(p, 0o644, fs.Root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("volatile\n"), 0); err != nil {
		t.Fatal(err)
	}
	h.Close()
}

// viewAttr looks p up in node's view, as a server on state would serve it.
func viewAttr(t *testing.T, cl *demo.Cluster, state, node, p string) (fs.Attr, error) {
	t.Helper()
	v, err := fsServer(t, cl, state).View(node)
	if err != nil {
		t.Fatal(err)
	}
	return v.Getattr(p)
}

func fsServer(t *testing.T, cl *demo.Cluster, state string) *fs.Server {
	t.Helper()
	st, err := tables.OpenDir(cl.Tables)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fs.New(fs.Config{State: filepath.Join(state, "fs")}, resolver.New(snap, resolver.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestResetOffline: with no server running, statelite reset drops the node's volatile
// layer itself, at once, and says so; the lock is free afterwards (a server starts).
func TestResetOffline(t *testing.T) {
	needBinary(t)
	cl := demoCluster(t)
	state := filepath.Join(cl.Dir, "server-state")
	volatileFile(t, cl, state, "n1", "/tmp/hi")
	volatileFile(t, cl, state, "n2", "/tmp/hi")
	if _, err := viewAttr(t, cl, state, "n1", "/tmp/hi"); err != nil {
		t.Fatalf("the volatile file is not there before the reset: %v", err)
	}
	oldEpoch := filepath.Join(state, "fs", "volatile", "n1", "1")

	out, stderr, code, took := runStatelite(t, "--tables", cl.Tables, "reset", "n1", "--state", state)
	if code != 0 {
		t.Fatalf("offline reset: exit %d\n%s%s", code, out, stderr)
	}
	if want := "n1: volatile layer reset (no server running on " + state + ": done here)\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	if took > 3*time.Second {
		t.Errorf("offline reset took %v (it must not wait for a server)", took)
	}
	if _, err := viewAttr(t, cl, state, "n1", "/tmp/hi"); err == nil {
		t.Error("n1's volatile file survived the offline reset")
	}
	if _, err := os.Lstat(oldEpoch); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("n1's old volatile layer %s is still there: %v", oldEpoch, err)
	}
	if _, err := viewAttr(t, cl, state, "n2", "/tmp/hi"); err != nil {
		t.Errorf("n2's volatile file went with n1's reset: %v", err)
	}
	startServer(t, cl, state) // the reset let its lock go
}

// TestResetAsksServer: with a server holding the state's lock, reset goes through the
// server, as before.
func TestResetAsksServer(t *testing.T) {
	needBinary(t)
	cl := demoCluster(t)
	state := filepath.Join(cl.Dir, "server-state")
	volatileFile(t, cl, state, "n1", "/tmp/hi")
	srv := startServer(t, cl, state)
	out, stderr, code, _ := runStatelite(t, "--tables", cl.Tables, "reset", "n1", "--state", state)
	if code != 0 || out != "n1: volatile layer reset\n" {
		t.Fatalf("reset: exit %d %q %q", code, out, stderr)
	}
	if !strings.Contains(srv.stderr.String(), `msg="volatile layer reset on request" node=n1`) {
		t.Errorf("the server did not reset n1:\n%s", srv.stderr.String())
	}
	srv.stop(t)
	if _, err := viewAttr(t, cl, state, "n1", "/tmp/hi"); err == nil {
		t.Error("n1's volatile file survived the reset")
	}
}

// nfsStatus reads the status of an NFS reply body.
func nfsStatus(t *testing.T, op string, body []byte, err error) *wire.R {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	r := &wire.R{B: body}
	if st := r.U32(); st != wire.NFS3OK {
		t.Fatalf("%s: NFS status %d", op, st)
	}
	return r
}

// asNobody runs name as the server's user nobody (65534).
func asNobody(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return c
}

// openAsNobody opens path for reading as nobody (a child process: dd), and returns its
// error output when it fails.
func openAsNobody(p string) (string, error) {
	b, err := asNobody("dd", "if="+p, "of=/dev/null", "count=0", "status=none").CombinedOutput()
	return string(b), err
}

// TestNodeFilesCannotHurtServer: root on node n1, through the real NFS server and
// without --root-squash, plants a setuid copy of /bin/id and a device node in a
// persistent path. They land in <statemnt>/n1/…, which only root can enter: the server's
// user nobody can neither run the one nor open the other. The node still sees both as
// it made them. The server warned at start that the filesystem holding them is mounted
// without nosuid,nodev.
func TestNodeFilesCannotHurtServer(t *testing.T) {
	needBinary(t)
	if os.Geteuid() != 0 {
		need.Skip(t, "needs root (files owned by root, a process run as nobody, mknod)")
	}
	idBin, err := exec.LookPath("id")
	if err != nil {
		need.Skip(t, "no id binary (coreutils)")
	}
	idBytes, err := os.ReadFile(idBin)
	if err != nil {
		t.Fatal(err)
	}
	cl := demoCluster(t)
	// Every directory above the statemnt open to all (t.TempDir makes them 0700): only
	// the node's own directory may stop nobody.
	for d := cl.State; d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Controls: nobody runs a copy of id and opens a device node beside the node's
	// directory (so the path, exec and device access are not what stops nobody below).
	ctlID := filepath.Join(cl.State, "ctl-id")
	if err := os.WriteFile(ctlID, idBytes, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := asNobody(ctlID, "-u").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "65534" {
		t.Fatalf("control: nobody cannot run %s: %v %s", ctlID, err, out)
	}
	ctlDev := filepath.Join(cl.State, "ctl-null")
	if err := syscall.Mknod(ctlDev, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	os.Chmod(ctlDev, 0o666)
	devOK := true
	if out, err := openAsNobody(ctlDev); err != nil {
		devOK = false // a nodev mount: device nodes are harmless here anyway
		t.Logf("control: nobody cannot open %s (%v %s): device part not checked", ctlDev, err, out)
	}

	state := filepath.Join(cl.Dir, "server-state")
	srv := startServer(t, cl, state)
	c, err := nfsclient.Dial(srv.addr, "", "n1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, err := c.Mount("/nodes/n1")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := c.Walk(root, "root") // /root/ is persistent
	if err != nil {
		t.Fatal(err)
	}
	fh, err := c.Create(dir, "planted", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(idBytes); off += 32 << 10 {
		chunk := idBytes[off:min(off+32<<10, len(idBytes))]
		if _, err := c.Write(fh, uint64(off), chunk, 2); err != nil {
			t.Fatal(err)
		}
	}
	// SETATTR mode 04755 (sattr3: set_mode, then uid, gid, size, atime, mtime unset;
	// no guard).
	sa := new(wire.W).Opaque(fh).U32(1).U32(0o4755).U32(0).U32(0).U32(0).U32(0).U32(0).U32(0)
	body, err := c.Call(wire.ProgNFS, 3, wire.ProcSetattr, sa.B)
	nfsStatus(t, "SETATTR", body, err)
	// MKNOD /root/null, a character device 1,3 (mknoddata3: NF3CHR, sattr3 mode 0666,
	// specdata3).
	mk := new(wire.W).Opaque(dir).Str("null").U32(4).U32(1).U32(0o666).U32(0).U32(0).U32(0).U32(0).U32(0).U32(1).U32(3)
	body, err = c.Call(wire.ProgNFS, 3, wire.ProcMknod, mk.B)
	devFH := append([]byte(nil), nfsStatus(t, "MKNOD", body, err).PostOpFH()...)

	// The node's view: as it made them.
	if a, err := c.Getattr(fh); err != nil || a.Mode != 0o4755 || a.UID != 0 || a.Size != uint64(len(idBytes)) {
		t.Errorf("node's view of /root/planted: mode %04o uid %d size %d (%v), want 04755 0 %d", a.Mode, a.UID, a.Size, err, len(idBytes))
	}
	if a, err := c.Getattr(devFH); err != nil || a.Type != 4 || a.Mode != 0o666 {
		t.Errorf("node's view of /root/null: type %d mode %04o (%v), want 4 (chr) 0666", a.Type, a.Mode, err)
	}
	// The node's /root is the image's (its mode, not the server directory's 0700).
	if _, a, err := c.Lookup(root, "root"); err != nil {
		t.Fatal(err)
	} else if img, err := os.Stat(filepath.Join(cl.Root, "root")); err != nil || a.Mode != uint32(img.Mode().Perm()) {
		t.Errorf("node's view of /root: mode %04o, image %v (%v)", a.Mode, img.Mode(), err)
	}

	// On the server: there, with its setuid bit, under a directory only root enters.
	pr := filepath.Join(cl.State, "n1")
	planted := filepath.Join(pr, "root", "planted")
	fi, err := os.Stat(planted)
	if err != nil || fi.Mode() != os.ModeSetuid|0o755 {
		t.Fatalf("server's %s: %v %v", planted, fi.Mode(), err)
	}
	if fi, err := os.Stat(pr); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want mode 0700", pr, fi.Mode(), err)
	}
	out, err := asNobody(planted).CombinedOutput()
	if err == nil || !errors.Is(err, os.ErrPermission) {
		t.Errorf("nobody ran the planted file: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "euid=0") {
		t.Errorf("the planted file ran with euid 0: %s", out)
	}
	if devOK {
		dev := filepath.Join(pr, "root", "null")
		if fi, err := os.Lstat(dev); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("server's %s: %v %v", dev, fi.Mode(), err)
		}
		if out, err := openAsNobody(dev); err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("nobody opened the node's device node %s: %v %s", dev, err, out)
		}
	}
	// The start-up warning, when the test's filesystem lacks nosuid or nodev (statfs
	// says), one line naming it and both directories.
	var sf syscall.Statfs_t
	if err := syscall.Statfs(cl.State, &sf); err != nil {
		t.Fatal(err)
	}
	const stNosuid, stNodev = 0x2, 0x4
	warn := regexp.MustCompile(`level=WARN msg="node files are on a filesystem mounted without [a-z,]+: mount it nosuid,nodev \(docs/serving.md\)" mount=\S+ fstype=\S+ source=\S+ dirs=` + regexp.QuoteMeta(state+","+cl.State) + "\n")
	if unsafe := sf.Flags&(stNosuid|stNodev) != stNosuid|stNodev; unsafe != warn.MatchString(srv.stderr.String()) {
		t.Errorf("start-up warning: want one iff the filesystem lacks nosuid or nodev (flags %#x):\n%s", sf.Flags, srv.stderr.String())
	}
}
