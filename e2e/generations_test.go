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

	"statelite/fs"
	"statelite/image"
)

// TestQemuGenerations is the acceptance test of issue 19's image generations against a
// real Linux client: a node is served the image generation that was current at its boot
// until its next boot, whatever happens to the working copy and the generations meanwhile.
//
// The demo image's working copy gets two plain image files (no litefile entry covers
// /usr/share/gentest/) with "gen1-a" and "gen1-b", and generation 1 is committed. Then,
// with an in-process `statelite serve` and nodes under qemu (TCG) running
// testdata/qemu/generations.sh as their init (every 0.5 s: drop the caches, read both
// files, print "SEEN <n> a=[…] b=[…]"):
//
//  1. n1 boots (token T1) and must see gen1 content;
//  2. the host rewrites both files in the working copy (a.txt in place, b.txt by a new
//     file renamed over it) to "gen2-a" and "gen2-b": n1 still sees gen1 for 2 s;
//  3. the host commits generation 2 (image.Commit): n1 goes on seeing gen1 only, on every
//     line until it is stopped (at least 5 s after the commit, while n2 boots);
//  4. n2 boots (token B1) just after the commit, while n1 runs: it sees gen2 from its
//     first read;
//  5. n1 reboots (token T2): it sees gen2 from its first read.
//
// Any line with another content (one file of each generation, or the new one too early)
// fails the test. The boot records (fs.LastBoot) must name the generations: 1 for n1's
// first boot, 2 for n2's and n1's second. Skipped like TestQemuLive when tools are
// missing (failed under CI=true), and in -short mode.
func TestQemuGenerations(t *testing.T) {
	if testing.Short() && !qemuInCI() {
		t.Skip("three qemu boots reading an image across a new generation take about 30 s; skipped in -short mode")
	}
	qemuTools(t)
	boot := qemuBuild(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	testStart := time.Now()
	dir, cl := qemuCluster(ctx, t)
	imgdir := filepath.Dir(cl.Root) // the image directory D of the working copy D/rootimg
	script, err := os.ReadFile(filepath.Join("testdata", "qemu", "generations.sh"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite := func(p, body string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(filepath.Join(cl.Root, "sbin", "statelite-generations"), string(script), 0o755)
	fileA := filepath.Join(cl.Root, "usr", "share", "gentest", "a.txt")
	fileB := filepath.Join(cl.Root, "usr", "share", "gentest", "b.txt")
	mustWrite(fileA, "gen1-a\n", 0o644)
	mustWrite(fileB, "gen1-b\n", 0o644)
	commit := func(msg string, want int) {
		t.Helper()
		start := time.Now()
		g, err := image.Commit(imgdir, image.CommitOptions{Message: msg})
		if err != nil {
			t.Fatalf("commit %q: %v", msg, err)
		}
		if g.Number != want {
			t.Fatalf("commit %q made generation %d, want %d", msg, g.Number, want)
		}
		if cur, err := image.Current(imgdir); err != nil || cur != want {
			t.Fatalf("after commit %q the current generation is %d (%v), want %d", msg, cur, err, want)
		}
		t.Logf("generation %d committed in %.2f s (%d files, %d changed, %d new)", g.Number, time.Since(start).Seconds(), g.Files, g.FilesChanged, g.FilesNew)
	}
	commit("gen1: a.txt and b.txt", 1)

	state := filepath.Join(dir, "srvstate")
	srv := qemuServe(ctx, t, cl, state)
	volatile := filepath.Join(state, "fs", "volatile")
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.log())
		}
	}()

	gen1, gen2 := genSeen{"gen1-a", "gen1-b"}, genSeen{"gen2-a", "gen2-b"}
	bootRecord := func(node, token string, gen int) {
		t.Helper()
		rec, ok := fs.LastBoot(volatile, node)
		switch {
		case !ok:
			t.Errorf("no boot record of %s in %s", node, volatile)
		case rec.Token != token || rec.ImageGen != gen || rec.ImageDir != imgdir:
			t.Errorf("boot record of %s: token %q, generation %d of %q; want token %q, generation %d of %q", node, rec.Token, rec.ImageGen, rec.ImageDir, token, gen, imgdir)
		default:
			t.Logf("boot record of %s: token %s, image generation %d, tables generation %d", node, rec.Token, rec.ImageGen, rec.TablesGen)
		}
	}

	// Stage 1: n1 boots into generation 1; the working copy changes, then generation 2 is
	// committed and n2 boots, while n1 reads on.
	n1 := genBoot(ctx, t, boot, srv.port, "n1", "T1")
	var (
		n2                  *genGuest
		editAt, commitAt    time.Time
		n1Before, n1Edited  int // n1's SEEN lines before the working copy's edit, between it and the commit
		n1After             int // n1's SEEN lines after the commit
		n1LastAt, n1FirstAt time.Time
		n2Seen              int
		n2FirstAt           time.Time
		bad                 int
	)
	editWorkingCopy := func() {
		// a.txt in place (the same inode), b.txt as editors do: a new file renamed over it.
		if err := os.WriteFile(fileA, []byte("gen2-a\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustWrite(fileB+".new", "gen2-b\n", 0o644)
		if err := os.Rename(fileB+".new", fileB); err != nil {
			t.Fatal(err)
		}
	}
	stage1 := time.After(150 * time.Second)
	n1Lines, n2Lines := n1.lines, (<-chan genLine)(nil)
stage1:
	for {
		select {
		case l, ok := <-n1Lines:
			if !ok {
				t.Errorf("n1's qemu ended before stage 1 was over (%v)", n1.wait())
				break stage1
			}
			s, ok := parseSeen(l.text)
			if !ok {
				continue
			}
			when := "before the working copy's edit"
			switch {
			case !commitAt.IsZero():
				n1After++
				when = fmt.Sprintf("%.1f s after generation 2's commit", l.at.Sub(commitAt).Seconds())
			case !editAt.IsZero():
				n1Edited++
				when = fmt.Sprintf("%.1f s after the working copy's edit (no commit yet)", l.at.Sub(editAt).Seconds())
			default:
				n1Before++
			}
			if n1FirstAt.IsZero() {
				n1FirstAt = l.at
				t.Logf("+%.1f s: n1 (boot T1) reads %s", l.at.Sub(n1.start).Seconds(), s)
			}
			n1LastAt = l.at
			if s != gen1 {
				t.Errorf("n1 (boot T1) read %s %s: want %s until it reboots", s, when, gen1)
				if bad++; bad >= 3 {
					break stage1
				}
			}
			if editAt.IsZero() && n1Before >= 2 {
				editWorkingCopy()
				editAt = time.Now()
				t.Logf("+%.1f s: working copy edited (a.txt in place, b.txt by rename) to %s", editAt.Sub(n1.start).Seconds(), gen2)
			}
			if commitAt.IsZero() && !editAt.IsZero() && n1Edited >= 2 && time.Since(editAt) >= 2*time.Second {
				commit("gen2: a.txt and b.txt changed", 2)
				commitAt = time.Now()
				t.Logf("+%.1f s: generation 2 committed; n2 boots", commitAt.Sub(n1.start).Seconds())
				n2 = genBoot(ctx, t, boot, srv.port, "n2", "B1")
				n2Lines = n2.lines
			}
		case l, ok := <-n2Lines:
			if !ok {
				t.Errorf("n2's qemu ended before stage 1 was over (%v)", n2.wait())
				break stage1
			}
			s, ok := parseSeen(l.text)
			if !ok {
				continue
			}
			n2Seen++
			if n2FirstAt.IsZero() {
				n2FirstAt = l.at
				t.Logf("+%.1f s: n2 (booted %.1f s after the commit) reads %s", l.at.Sub(n1.start).Seconds(), n2.start.Sub(commitAt).Seconds(), s)
			}
			if s != gen2 {
				t.Errorf("n2 (booted after generation 2's commit) read %s: want %s", s, gen2)
				if bad++; bad >= 3 {
					break stage1
				}
			}
		case <-stage1:
			t.Errorf("stage 1 not over within 150 s: n1 read %d+%d+%d times (before the edit, after it, after the commit), n2 %d times", n1Before, n1Edited, n1After, n2Seen)
			break stage1
		}
		if !commitAt.IsZero() && n1After >= 8 && n1LastAt.Sub(commitAt) >= 5*time.Second && n2Seen >= 4 {
			break
		}
	}
	n1.finish(t, dir, "n1-T1")
	if n2 != nil {
		n2.finish(t, dir, "n2-B1")
	}
	if !commitAt.IsZero() {
		t.Logf("n1 (boot T1) read %d times before the working copy's edit, %d after it, %d after generation 2's commit (over %.1f s); n2 %d times",
			n1Before, n1Edited, n1After, n1LastAt.Sub(commitAt).Seconds(), n2Seen)
	}
	if t.Failed() {
		return
	}
	bootRecord("n1", "T1", 1)
	bootRecord("n2", "B1", 2)

	// Stage 2: n1 reboots, into generation 2.
	n1 = genBoot(ctx, t, boot, srv.port, "n1", "T2")
	var n1Again int
	n1FirstAt = time.Time{}
	stage2 := time.After(100 * time.Second)
stage2:
	for n1Again < 4 {
		select {
		case l, ok := <-n1.lines:
			if !ok {
				t.Errorf("n1's qemu (boot T2) ended after %d reads (%v)", n1Again, n1.wait())
				break stage2
			}
			s, ok := parseSeen(l.text)
			if !ok {
				continue
			}
			n1Again++
			if n1FirstAt.IsZero() {
				n1FirstAt = l.at
				t.Logf("+%.1f s: n1 (boot T2) reads %s", l.at.Sub(n1.start).Seconds(), s)
			}
			if s != gen2 {
				t.Errorf("n1 (boot T2, after generation 2's commit) read %s: want %s", s, gen2)
				break stage2
			}
		case <-stage2:
			t.Errorf("n1 (boot T2) read %d times within 100 s, want 4", n1Again)
			break stage2
		}
	}
	n1.finish(t, dir, "n1-T2")
	if !t.Failed() {
		bootRecord("n1", "T2", 2)
	}
	t.Logf("done in %.1f s", time.Since(testStart).Seconds())
}

// genSeen is what a node read of the two files on one SEEN line.
type genSeen struct{ a, b string }

func (s genSeen) String() string { return fmt.Sprintf("a=[%s] b=[%s]", s.a, s.b) }

var genSeenRE = regexp.MustCompile(`SEEN [0-9]+ a=\[(.*)\] b=\[(.*)\] uptime=`)

func parseSeen(text string) (genSeen, bool) {
	m := genSeenRE.FindStringSubmatch(text)
	if m == nil {
		return genSeen{}, false
	}
	return genSeen{m[1], m[2]}, true
}

// genLine is a line of a guest's serial console, cleaned, with the time it arrived.
type genLine struct {
	at   time.Time
	text string
}

// genGuest is a node booted under qemu (direct kernel boot, root over NFS) whose console
// the test follows line by line.
type genGuest struct {
	node, token string
	start       time.Time
	lines       <-chan genLine // closed when qemu's output ends
	cmd         *exec.Cmd
	quit        chan struct{} // closed by finish: lines no longer read
	exited      chan struct{}
	err         error // qemu's, once exited is closed
	mu          sync.Mutex
	console     bytes.Buffer
	stopOnce    sync.Once
}

// genBoot boots node with token under qemu, running testdata/qemu/generations.sh (copied
// into the image as /sbin/statelite-generations) as its init. qemu runs under timeout
// (150 s) and ctx; the test stops it (finish, else at its cleanup).
func genBoot(ctx context.Context, t *testing.T, f qemuFiles, port, node, token string) *genGuest {
	t.Helper()
	appendLine := strings.Join([]string{
		"console=ttyS0", "panic=-1", "quiet",
		"statelite.node=" + node, "statelite.port=" + port, "statelite.token=" + token,
		"statelite.init=/sbin/statelite-generations", "statelite.genlimit=100",
	}, " ")
	cmd := exec.CommandContext(ctx, "timeout", "-k", "5", "150",
		"qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
		"-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
		"-kernel", f.kernel, "-initrd", f.initrd, "-append", appendLine,
		"-netdev", "user,id=n0,net=10.0.2.0/24", "-device", "virtio-net-pci,netdev=n0,romfile=")
	// timeout passes SIGTERM on to qemu (SIGKILL would leave qemu running).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	lines := make(chan genLine, 1024)
	g := &genGuest{node: node, token: token, lines: lines, cmd: cmd, quit: make(chan struct{}), exited: make(chan struct{})}
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
				case lines <- genLine{time.Now(), qemuClean([]byte(s))}:
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
func (g *genGuest) stop() {
	g.stopOnce.Do(func() {
		close(g.quit)
		if g.cmd.Process != nil {
			g.cmd.Process.Signal(syscall.SIGTERM)
		}
	})
}

// wait waits for qemu to end and returns its error.
func (g *genGuest) wait() error {
	<-g.exited
	return g.err
}

// finish stops the guest, waits for qemu to end and keeps its console in
// dir/<name>.console.log (logged when the test failed).
func (g *genGuest) finish(t *testing.T, dir, name string) {
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
