package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	n1 := qemuStream(ctx, t, boot, srv.port, "n1", "T1", genParams...)
	var (
		n2                  *qemuGuest
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
	n1Lines, n2Lines := n1.lines, (<-chan qemuLine)(nil)
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
				n2 = qemuStream(ctx, t, boot, srv.port, "n2", "B1", genParams...)
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
	n1 = qemuStream(ctx, t, boot, srv.port, "n1", "T2", genParams...)
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

// genParams are the kernel parameters of the generations test's guests: its init, and
// how long it reads at most.
var genParams = []string{"statelite.init=/sbin/statelite-generations", "statelite.genlimit=100"}

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
