package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
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

	"statelite/internal/pgtest"
)

// TestQemuCrash is the acceptance test of issue 14's "handles that survive any crash":
// n1 boots under qemu (TCG) with its root mounted (hard, the default) from `statelite
// serve` running as a separate process (the binary TestMain built), and runs
// testdata/qemu/crash.sh as its init: round after round a persistent append with fsync,
// a volatile create read back, image reads, and, from round 5 on, a write + fsync
// through a descriptor of /root/crash/held, a persistent file created and opened just
// before round 5. The test follows the serial console and kills the server with SIGKILL
// (kill -9) three times, each time starting it again 2 s later on the same port and
// state directory:
//
//   - A: when round 3 starts its append (ROUND 3 append): the write and its fsync about
//     to go out or in flight;
//   - B: as soon as the guest says it created and opened the held file (OPENED held):
//     the kill lands within 100 ms of the CREATE (the test checks the file's ctime on
//     the server against the kill), so the handle in the CREATE's reply is younger than
//     any periodic flush of the handle records;
//   - C: before the 4th write through the held descriptor (HELD 4).
//
// The workload must see no error (the script checks every operation's exit status and
// prints FAIL with the error: no ESTALE, no EIO), and every write the guest saw
// acknowledged (ACK lines: the write and its fsync succeeded) must be, in order, in the
// node's persistent files on the server (<statemnt>/n1/root/crash/), and every volatile
// file of the boot must read back at the end. Skipped like the other qemu tests when
// tools are missing (failed under CI), and in -short mode.
func TestQemuCrash(t *testing.T) { qemuCrash(t, false) }

// TestQemuFailover is the acceptance test of issue 15's failover: the same workload and
// faults as TestQemuCrash, but each restart is the *other* server — A and B, each with a
// state directory of its own, sharing the tables and the handle table in PostgreSQL
// (internal/pgtest) and the nodes' volatile layers (site.volatiledir) — started on the
// address and port of the one killed, as a floating address would move: A, B, A, B.
// The node must see no error, and every volatile and persistent file it wrote must be
// there.
func TestQemuFailover(t *testing.T) { qemuCrash(t, true) }

func qemuCrash(t *testing.T, failover bool) {
	if testing.Short() && !qemuInCI() {
		t.Skip("a qemu boot with three server crashes takes about a minute; skipped in -short mode")
	}
	qemuTools(t)
	if statelite == "" {
		t.Fatalf("no statelite binary: %v", buildErr)
	}
	boot := qemuBuild(t)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir, cl := qemuCluster(ctx, t)
	script, err := os.ReadFile(filepath.Join("testdata", "qemu", "crash.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cl.Root, "sbin", "statelite-crash"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	persist := filepath.Join(cl.State, "n1", "root", "crash") // the node's /root/crash on the server

	srv := &serverProc{t: t, bin: statelite, dir: dir, args: []string{
		"--tables", cl.Tables, "--mnt", filepath.Join(cl.Dir, "mnt"), "serve",
	}, states: []string{filepath.Join(dir, "srvstate")}}
	if failover {
		pg := pgtest.Start(t)
		run := func(args ...string) {
			t.Helper()
			if out, err := exec.CommandContext(ctx, statelite, args...).CombinedOutput(); err != nil {
				t.Fatalf("statelite %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		run("tabmigrate", "--from", cl.Tables, "--to", pg.URL)
		run("--tables", pg.URL, "chtab", "key=volatiledir", "site.value="+filepath.Join(dir, "shared-volatile"))
		srv.args = []string{"--mnt", filepath.Join(cl.Dir, "mnt"), "serve", "--store", pg.URL}
		srv.states = []string{filepath.Join(dir, "srvstate-A"), filepath.Join(dir, "srvstate-B")}
	}
	t.Cleanup(srv.stop)
	if err := srv.start("0"); err != nil {
		t.Fatal(err)
	}
	port := srv.port
	defer func() {
		if t.Failed() {
			t.Logf("server logs:\n%s", srv.logs())
		}
	}()

	const rounds, heldAt, killAt, killHeld = 14, 5, 3, 4
	cmd := qemuCmd(ctx, boot, 300*time.Second,
		"statelite.node=n1", "statelite.port="+port, "statelite.token=crash",
		"statelite.init=/sbin/statelite-crash",
		fmt.Sprintf("statelite.rounds=%d", rounds), fmt.Sprintf("statelite.heldat=%d", heldAt),
		fmt.Sprintf("statelite.killat=%d", killAt))
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	bootStart := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	qemuErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		qemuErr <- err
	}()
	type line struct {
		at   time.Time
		text string
	}
	lines := make(chan line, 1024)
	go func() {
		defer close(lines)
		r := bufio.NewReader(pr)
		for {
			s, err := r.ReadString('\n')
			if s != "" {
				select {
				case lines <- line{time.Now(), s}:
				case <-ctx.Done():
				}
			}
			if err != nil {
				io.Copy(io.Discard, pr)
				return
			}
		}
	}()

	type fault struct {
		name, marker    string
		killed, resumed time.Time // resumed: the first console line after the restart
		restarted       time.Time
		createToKill    time.Duration // B: the held file's ctime on the server to the kill
	}
	faults := []*fault{
		{name: "A (append in flight)", marker: fmt.Sprintf("ROUND %d append", killAt)},
		{name: "B (just after the create)", marker: "OPENED held"},
		{name: "C (held writes)", marker: fmt.Sprintf("HELD %d", killHeld)},
	}
	var (
		console  strings.Builder
		restart  <-chan time.Time
		down     *fault // killed, not yet restarted
		resuming *fault // restarted, no console line since
	)
	rel := func(at time.Time) string { return fmt.Sprintf("+%.2fs", at.Sub(bootStart).Seconds()) }
	handle := func(l line) {
		console.WriteString(l.text)
		text := strings.TrimSpace(qemuClean([]byte(l.text)))
		if resuming != nil && text != "" {
			resuming.resumed = l.at
			resuming = nil
		}
		for _, f := range faults {
			if !f.killed.IsZero() || text != f.marker {
				continue
			}
			if down != nil {
				t.Errorf("fault %s: the server is still down from fault %s", f.name, down.name)
				continue
			}
			if err := srv.kill(); err != nil {
				t.Fatalf("fault %s: %v", f.name, err)
			}
			f.killed = time.Now()
			if f.marker == "OPENED held" {
				var st syscall.Stat_t
				if err := syscall.Stat(filepath.Join(persist, "held"), &st); err != nil {
					t.Errorf("fault %s: the held file on the server: %v", f.name, err)
				} else {
					f.createToKill = f.killed.Sub(time.Unix(st.Ctim.Unix()))
				}
			}
			t.Logf("%s: fault %s: kill -9 %.1f ms after the console said %q", rel(f.killed), f.name,
				float64(f.killed.Sub(l.at).Microseconds())/1000, text)
			down = f
			restart = time.After(2 * time.Second)
		}
	}
follow:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break follow
			}
			handle(l)
		case <-restart:
			restart = nil
			if err := srv.start(port); err != nil {
				t.Fatalf("restart after fault %s: %v", down.name, err)
			}
			down.restarted = time.Now()
			t.Logf("%s: server restarted on port %s (pid %d, state %s)", rel(down.restarted), port, srv.cmd.Process.Pid, filepath.Base(srv.state))
			down, resuming = nil, down
		}
	}
	runErr := <-qemuErr
	out := qemuClean([]byte(console.String()))
	os.WriteFile(filepath.Join(dir, "crash.console.log"), []byte(out), 0o644)

	failed := false
	errorf := func(format string, a ...any) {
		t.Errorf(format, a...)
		failed = true
	}
	var acks = map[string][]string{} // file -> lines acknowledged, in order
	ackRE := regexp.MustCompile(`^ACK (log|held) (\S+)$`)
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "FAIL "):
			errorf("the workload: %s", l)
		case strings.HasPrefix(l, "CHECK ") && !strings.HasSuffix(l, " OK"):
			errorf("the workload: %s", l)
		}
		if m := ackRE.FindStringSubmatch(l); m != nil {
			acks[m[1]] = append(acks[m[1]], m[2])
		}
	}
	for _, f := range faults {
		switch {
		case f.killed.IsZero():
			errorf("fault %s: the console never said %q", f.name, f.marker)
		case f.restarted.IsZero():
			errorf("fault %s: the server was not restarted", f.name)
		case f.resumed.IsZero():
			errorf("fault %s: the guest printed nothing after the restart", f.name)
		default:
			t.Logf("fault %s: killed at %s, restarted at %s, the guest went on at %s", f.name,
				rel(f.killed), rel(f.restarted), rel(f.resumed))
		}
		if f.marker == "OPENED held" && !f.killed.IsZero() {
			t.Logf("fault %s: the held file was created (its ctime on the server) %.1f ms before the kill",
				f.name, float64(f.createToKill.Microseconds())/1000)
			if f.createToKill > 100*time.Millisecond {
				errorf("fault %s: the kill landed %v after the create, want within 100 ms", f.name, f.createToKill)
			}
		}
	}
	for _, want := range []string{"CHECK readback_log OK", "CHECK readback_held OK", "CHECK readback_volatile OK", "FAILS 0", "WORKLOAD exit=0"} {
		if !strings.Contains(out, want) {
			errorf("no %q on the console", want)
		}
	}
	if !strings.Contains(out, "ALLDONE") {
		errorf("no ALLDONE on the console (qemu: %v)", runErr)
	}
	if n := len(acks["log"]); n != rounds {
		errorf("%d appends to /root/crash/log acknowledged, want %d", n, rounds)
	}
	if n := len(acks["held"]); n != rounds-heldAt+1 {
		errorf("%d writes through the held descriptor acknowledged, want %d", n, rounds-heldAt+1)
	}
	// Every acknowledged line is on the server, in order.
	for _, name := range []string{"log", "held"} {
		b, err := os.ReadFile(filepath.Join(persist, name))
		if err != nil {
			errorf("the node's /root/crash/%s on the server: %v", name, err)
			continue
		}
		have := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if missing := inOrder(acks[name], have); missing != "" {
			errorf("/root/crash/%s on the server (%s) lacks the acknowledged line %q (or has it out of order): it holds %q",
				name, filepath.Join(persist, name), missing, have)
		} else {
			t.Logf("/root/crash/%s on the server holds the %d acknowledged lines in order", name, len(acks[name]))
		}
	}
	if m := regexp.MustCompile(`BOOT root (.*)`).FindStringSubmatch(out); m != nil {
		t.Logf("the node's root: %s", strings.TrimSpace(m[1]))
	}
	t.Logf("boot and workload: %.1f s wall", time.Since(bootStart).Seconds())
	if failed {
		t.Logf("console:\n%s", out)
	}
}

// inOrder returns the first line of want that is not in have after the previous one
// ("" when every line is there, in order).
func inOrder(want, have []string) string {
	i := 0
	for _, w := range want {
		for i < len(have) && have[i] != w {
			i++
		}
		if i == len(have) {
			return w
		}
		i++
	}
	return ""
}

// serverProc is `statelite serve` as a child process, started again and again on the
// same port, on each of its state directories in turn; each run's output goes to
// DIR/server-N.log.
type serverProc struct {
	t      *testing.T
	bin    string
	dir    string
	args   []string
	states []string // the state directory of each run, in turn
	state  string   // the running one's

	cmd  *exec.Cmd
	out  *procLog
	done chan struct{} // closed when cmd has been waited for
	port string
	runs []string // the log files
}

// procLog is a child's output: kept in memory to find the serving line, and written to
// its file.
type procLog struct {
	mu sync.Mutex
	b  bytes.Buffer
	f  *os.File
}

func (l *procLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Write(p)
	return l.b.Write(p)
}

func (l *procLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var servingRE = regexp.MustCompile(`msg=serving nfs=127\.0\.0\.1:(\d+)`)

// start runs the server on 127.0.0.1:port ("0": any) and waits (up to 30 s) until it
// serves.
func (s *serverProc) start(port string) error {
	name := filepath.Join(s.dir, fmt.Sprintf("server-%d.log", len(s.runs)+1))
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	s.runs = append(s.runs, name)
	s.out = &procLog{f: f}
	s.state = s.states[(len(s.runs)-1)%len(s.states)]
	s.cmd = exec.Command(s.bin, append(s.args, "--state", s.state, "--nfs", "127.0.0.1:"+port)...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		f.Close()
		return err
	}
	done := make(chan struct{})
	s.done = done
	go func(cmd *exec.Cmd) {
		cmd.Wait()
		f.Close()
		close(done)
	}(s.cmd)
	deadline := time.After(30 * time.Second)
	for {
		if m := servingRE.FindStringSubmatch(s.out.String()); m != nil {
			s.port = m[1]
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("statelite serve exited (%v):\n%s", s.cmd.ProcessState, s.out.String())
		case <-deadline:
			return fmt.Errorf("statelite serve (pid %d) did not serve within 30 s:\n%s", s.cmd.Process.Pid, s.out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL to the running server (kill -9) and waits for it to be gone.
func (s *serverProc) kill() error {
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 %d: %v", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("statelite serve (pid %d) still running 10 s after SIGKILL", s.cmd.Process.Pid)
	}
}

// stop ends the running server, if any: SIGTERM, SIGKILL after 10 s.
func (s *serverProc) stop() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("statelite serve (pid %d) did not stop within 10 s of SIGTERM; killing it", s.cmd.Process.Pid)
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

// logs returns every run's output.
func (s *serverProc) logs() string {
	var b strings.Builder
	for i, name := range s.runs {
		out, _ := os.ReadFile(name)
		fmt.Fprintf(&b, "--- run %d (%s):\n%s", i+1, filepath.Base(name), out)
	}
	return b.String()
}
