package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	needtool "statelite/internal/need"
)

// updateGolden rewrites the golden files under testdata/generations instead of comparing:
//
//	go test ./image -run TestGenerationsDiffGolden -update
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/generations")

// genImage makes an image directory with a working copy holding files (path → content).
func genImage(t *testing.T, files map[string]string) string {
	t.Helper()
	d := t.TempDir()
	for p, c := range files {
		writeGenFile(t, filepath.Join(d, "rootimg", p), c)
	}
	if err := os.MkdirAll(filepath.Join(d, "rootimg"), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func writeGenFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func commit(t *testing.T, d, msg string) *GenInfo {
	t.Helper()
	g, err := Commit(d, CommitOptions{Message: msg})
	if err != nil {
		t.Fatalf("commit %q: %v", msg, err)
	}
	return g
}

func statT(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func readT(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func leftovers(t *testing.T, d string) []string {
	t.Helper()
	ents, err := os.ReadDir(GenerationsDir(d))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") || strings.HasPrefix(e.Name(), ".work-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestGenerationsDisk: a 100 MiB image of 1,000 files of 100 KiB, then ten updates each
// rewriting 1 % of it (10 files): the generation store stays under 1.2 times the image.
func TestGenerationsDisk(t *testing.T) {
	d := t.TempDir()
	buf := make([]byte, 100<<10)
	for i := range 1000 {
		rand.Read(buf)
		p := filepath.Join(d, "rootimg", fmt.Sprintf("d%02d", i/100), fmt.Sprintf("f%03d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	g1 := commit(t, d, "initial")
	if g1.Number != 1 || g1.Files != 1000 || g1.FilesNew != 1000 || g1.BytesNew != 1000*100<<10 {
		t.Fatalf("first generation: %+v", g1)
	}
	t.Logf("commit of 100 MiB: %v", time.Since(start))
	// Rewrites files $2 … $2+9 with new random content.
	script := `i=$2; end=$(($2+10)); while [ $i -lt $end ]; do
		f=$(printf '%s/d%02d/f%03d' "$1" $((i/100)) $i)
		head -c 102400 /dev/urandom > "$f" || exit 1
		i=$((i+1))
	done`
	for u := range 10 {
		start := time.Now()
		var out bytes.Buffer
		g, err := Update(context.Background(), d, []string{"sh", "-c", script, "sh", "{}", fmt.Sprint(u * 97 % 990)}, UpdateOptions{Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatalf("update %d: %v\n%s", u, err, out.String())
		}
		if g.Number != u+2 || g.Parent != u+1 || g.How != HowUpdate || g.FilesChanged != 10 || g.FilesLinked != 990 || g.FilesNew != 0 || g.BytesNew != 10*100<<10 {
			t.Fatalf("update %d: %+v", u, g)
		}
		t.Logf("update %d: %v", u, time.Since(start))
	}
	if l := leftovers(t, d); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	img, err := DiskUsage(filepath.Join(d, "rootimg"))
	if err != nil {
		t.Fatal(err)
	}
	gens, err := DiskUsage(GenerationsDir(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %d bytes (%.1f MiB); generations/ with 11 generations %d bytes (%.1f MiB): %.3f × the image",
		img, float64(img)/(1<<20), gens, float64(gens)/(1<<20), float64(gens)/float64(img))
	if float64(gens) >= 1.2*float64(img) {
		t.Errorf("generations/ takes %d bytes, not under 1.2 × the image's %d", gens, img)
	}
	if cur, _ := Current(d); cur != 11 {
		t.Errorf("current = %d, want 11", cur)
	}
}

// TestGenerationsIsolation: writing the working copy in place (truncate, append) or by
// rename changes no committed generation, for a file changed at the last commit and for
// one that was not (whose generation file is a hard link to the parent's).
func TestGenerationsIsolation(t *testing.T) {
	d := genImage(t, map[string]string{"etc/changed": "v1\n", "etc/same": "same\n", "etc/renamed": "r1\n", "etc/shared": "s1\n"})
	commit(t, d, "one")
	writeGenFile(t, filepath.Join(d, "rootimg/etc/changed"), "v2\n")
	g2 := commit(t, d, "two")
	if g2.FilesChanged != 1 || g2.FilesLinked != 3 {
		t.Fatalf("second generation: %+v", g2)
	}
	wc := func(p string) string { return filepath.Join(d, "rootimg", p) }
	g1p := func(p string) string { return filepath.Join(GenerationRoot(d, 1), p) }
	g2p := func(p string) string { return filepath.Join(GenerationRoot(d, 2), p) }
	// An unchanged file: generation 2's is generation 1's inode, the working copy's another.
	if a, b := statT(t, g1p("etc/same")), statT(t, g2p("etc/same")); a.Ino != b.Ino {
		t.Errorf("etc/same: generation 2 (%d) is not a hard link to generation 1's (%d)", b.Ino, a.Ino)
	}
	for _, p := range []string{"etc/same", "etc/changed", "etc/renamed", "etc/shared"} {
		w := statT(t, wc(p)).Ino
		if w == statT(t, g1p(p)).Ino || w == statT(t, g2p(p)).Ino {
			t.Errorf("%s: the working copy shares its inode with a generation", p)
		}
	}

	// The working copy made a hard link of the generation's file by hand (cp -al): the
	// next commit splits them.
	if err := os.Remove(wc("etc/shared")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(g2p("etc/shared"), wc("etc/shared")); err != nil {
		t.Fatal(err)
	}
	g3 := commit(t, d, "three")
	if g3.Unshared != 1 || g3.FilesLinked != 4 {
		t.Fatalf("third generation: %+v", g3)
	}
	if statT(t, wc("etc/shared")).Ino == statT(t, g2p("etc/shared")).Ino {
		t.Fatal("commit left the working copy's etc/shared a hard link of generation 2's")
	}

	type snap struct {
		content string
		ino     uint64
	}
	before := map[string]snap{}
	for g := 1; g <= 3; g++ {
		for _, p := range []string{"etc/same", "etc/changed", "etc/renamed", "etc/shared"} {
			q := filepath.Join(GenerationRoot(d, g), p)
			before[q] = snap{readT(t, q), statT(t, q).Ino}
		}
	}
	// In place: O_WRONLY|O_TRUNC, then append.
	for _, p := range []string{"etc/same", "etc/changed", "etc/shared"} {
		f, err := os.OpenFile(wc(p), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("overwritten\n")
		f.Close()
		f, err = os.OpenFile(wc(p), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("appended\n")
		f.Close()
	}
	// By rename (sed -i, dnf).
	writeGenFile(t, wc("etc/.renamed.tmp"), "renamed over\n")
	if err := os.Rename(wc("etc/.renamed.tmp"), wc("etc/renamed")); err != nil {
		t.Fatal(err)
	}
	for q, b := range before {
		if got := readT(t, q); got != b.content {
			t.Errorf("%s changed: %q, was %q", q, got, b.content)
		}
		if ino := statT(t, q).Ino; ino != b.ino {
			t.Errorf("%s: inode %d, was %d", q, ino, b.ino)
		}
	}
	if got := readT(t, wc("etc/same")); got != "overwritten\nappended\n" {
		t.Errorf("working copy's etc/same: %q", got)
	}
}

// TestGenerationsPinGC: pin rolls back and refuses a missing generation; gc keeps the
// current one, the newest K and those in use, and removes nothing when inUse fails.
func TestGenerationsPinGC(t *testing.T) {
	d := genImage(t, map[string]string{"etc/v": "0"})
	for i := 1; i <= 6; i++ {
		writeGenFile(t, filepath.Join(d, "rootimg/etc/v"), fmt.Sprint(i))
		if g := commit(t, d, fmt.Sprint("gen ", i)); g.Number != i || g.Parent != i-1 {
			t.Fatalf("commit %d: %+v", i, g)
		}
	}
	if err := Pin(d, 9); err == nil || !strings.Contains(err.Error(), "generation 9") {
		t.Errorf("pin 9: %v", err)
	}
	if err := Pin(d, 2); err != nil {
		t.Fatal(err)
	}
	if cur, _ := Current(d); cur != 2 {
		t.Fatalf("current after pin 2: %d", cur)
	}
	boom := errors.New("status unreadable")
	if _, err := GC(d, 0, func() (map[int]bool, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("gc with a failing inUse: %v", err)
	}
	if gens, _ := Generations(d); len(gens) != 6 {
		t.Fatalf("gc with a failing inUse removed generations: %d left", len(gens))
	}
	res, err := GC(d, 2, func() (map[int]bool, error) { return map[int]bool{3: true}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Removed) != "[1 4]" {
		t.Errorf("gc --keep 2 (current 2, 3 in use) removed %v, want [1 4]", res.Removed)
	}
	want := map[int]string{2: "current", 3: "in use", 5: "newest", 6: "newest"}
	if fmt.Sprint(res.Kept) != fmt.Sprint(want) {
		t.Errorf("kept %v, want %v", res.Kept, want)
	}
	// keep 0: only current and in use stay.
	res, err = GC(d, 0, func() (map[int]bool, error) { return map[int]bool{5: true}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Removed) != "[3 6]" {
		t.Errorf("gc --keep 0 removed %v, want [3 6]", res.Removed)
	}
	gens, _ := Generations(d)
	if len(gens) != 2 || gens[0].Number != 2 || gens[1].Number != 5 {
		t.Errorf("left: %+v", gens)
	}
	if got := readT(t, filepath.Join(GenerationRoot(d, 2), "etc/v")); got != "2" {
		t.Errorf("generation 2 holds %q", got)
	}
	// A commit after a rollback: parent the current one, number after the highest.
	writeGenFile(t, filepath.Join(d, "rootimg/etc/v"), "7")
	if g := commit(t, d, "after rollback"); g.Number != 6 || g.Parent != 2 {
		t.Errorf("commit after rollback: %+v", g)
	}
	if l := leftovers(t, d); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// TestGenerationsUpdateFails: a command exiting 3 makes no generation, leaves no
// temporary copy, and the error names the exit status.
func TestGenerationsUpdateFails(t *testing.T) {
	d := genImage(t, map[string]string{"etc/motd": "hi\n"})
	commit(t, d, "one")
	var out bytes.Buffer
	_, err := Update(context.Background(), d, []string{"sh", "-c", `echo changing "$1"; echo x > "$1/etc/motd"; exit 3`, "sh", "{}"}, UpdateOptions{Stdout: &out, Stderr: &out})
	var ue *UpdateError
	if !errors.As(err, &ue) || ue.ExitCode != 3 || !strings.Contains(err.Error(), "exited with status 3") {
		t.Fatalf("update exiting 3: %v", err)
	}
	if !strings.Contains(out.String(), "changing "+GenerationsDir(d)+"/.work-") {
		t.Errorf("output not streamed or {} not replaced: %q", out.String())
	}
	if gens, _ := Generations(d); len(gens) != 1 {
		t.Errorf("%d generations after a failed update", len(gens))
	}
	if cur, _ := Current(d); cur != 1 {
		t.Errorf("current %d", cur)
	}
	if l := leftovers(t, d); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	if got := readT(t, filepath.Join(GenerationRoot(d, 1), "etc/motd")); got != "hi\n" {
		t.Errorf("generation 1 changed: %q", got)
	}
	// Without a generation, update says how to make one.
	d2 := genImage(t, map[string]string{"a": "b"})
	if _, err := Update(context.Background(), d2, []string{"true"}, UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "no generation") {
		t.Errorf("update without a generation: %v", err)
	}
}

// capNetRaw is security.capability for cap_net_raw+ep (VFS_CAP_REVISION_2).
var capNetRaw = []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// TestGenerationsPreserve: a commit keeps modes, owners (root), times, symlinks, hard
// links, fifos, device nodes (root) and xattrs (security.capability as root, user.*
// where the filesystem has them); checkout copies it all back without sharing an inode.
func TestGenerationsPreserve(t *testing.T) {
	root := os.Geteuid() == 0
	d := genImage(t, map[string]string{"bin/ping": "ELF ping", "bin/su": "ELF su", "etc/shadow": "root:x", "etc/a": "hard", "etc/plain": "p"})
	w := filepath.Join(d, "rootimg")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(syscall.Chmod(filepath.Join(w, "bin/su"), 0o4755))
	must(os.Chmod(filepath.Join(w, "etc/shadow"), 0o600))
	must(os.Mkdir(filepath.Join(w, "tmp"), 0o755))
	must(syscall.Chmod(filepath.Join(w, "tmp"), 0o1777))
	must(os.Link(filepath.Join(w, "etc/a"), filepath.Join(w, "etc/b")))
	must(os.Symlink("../bin/su", filepath.Join(w, "etc/rel")))
	must(os.Symlink("/nonexistent/target", filepath.Join(w, "etc/dangling")))
	must(syscall.Mkfifo(filepath.Join(w, "etc/fifo"), 0o640))
	old := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	must(os.Chtimes(filepath.Join(w, "etc/plain"), old, old))
	if root {
		must(os.Lchown(filepath.Join(w, "etc/shadow"), 0, 42))
		must(os.Lchown(filepath.Join(w, "etc/plain"), 1234, 5678))
		must(os.Lchown(filepath.Join(w, "etc/rel"), 1234, 5678))
		must(unix.Mknod(filepath.Join(w, "etc/null"), syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(syscall.Chmod(filepath.Join(w, "etc/null"), 0o666))
		must(unix.Setxattr(filepath.Join(w, "bin/ping"), "security.capability", capNetRaw, 0))
	}
	userX := true
	if err := unix.Setxattr(filepath.Join(w, "etc/plain"), "user.statelite.test", []byte("v"), 0); err != nil {
		userX = false
		t.Logf("user xattrs: %v: the user.* part is skipped (the filesystem of %s lacks them)", err, w)
	}
	must(os.Chtimes(filepath.Join(w, "etc/plain"), old, old))
	must(os.Chtimes(filepath.Join(w, "etc"), old, old))

	commit(t, d, "one")
	check := func(label, r string) {
		t.Helper()
		mode := func(p string) uint32 { return statT(t, filepath.Join(r, p)).Mode }
		if m := mode("bin/su"); m != syscall.S_IFREG|0o4755 {
			t.Errorf("%s: bin/su mode %o", label, m)
		}
		if m := mode("etc/shadow"); m != syscall.S_IFREG|0o600 {
			t.Errorf("%s: etc/shadow mode %o", label, m)
		}
		if m := mode("tmp"); m != syscall.S_IFDIR|0o1777 {
			t.Errorf("%s: tmp mode %o", label, m)
		}
		if m := mode("etc/fifo"); m != syscall.S_IFIFO|0o640 {
			t.Errorf("%s: etc/fifo mode %o", label, m)
		}
		a, b := statT(t, filepath.Join(r, "etc/a")), statT(t, filepath.Join(r, "etc/b"))
		if a.Ino != b.Ino || statT(t, filepath.Join(r, "etc/plain")).Ino == a.Ino {
			t.Errorf("%s: etc/a and etc/b are not one inode", label)
		}
		for p, want := range map[string]string{"etc/rel": "../bin/su", "etc/dangling": "/nonexistent/target"} {
			if got, err := os.Readlink(filepath.Join(r, p)); err != nil || got != want {
				t.Errorf("%s: %s -> %q (%v), want %q", label, p, got, err, want)
			}
		}
		for _, p := range []string{"etc/plain", "etc"} {
			if st := statT(t, filepath.Join(r, p)); time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC() != old {
				t.Errorf("%s: %s mtime %v", label, p, time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC())
			}
		}
		if userX {
			if x, _ := xattrs(filepath.Join(r, "etc/plain")); string(x["user.statelite.test"]) != "v" {
				t.Errorf("%s: user xattr of etc/plain: %q", label, x)
			}
		}
		if !root {
			return
		}
		if st := statT(t, filepath.Join(r, "etc/shadow")); st.Uid != 0 || st.Gid != 42 {
			t.Errorf("%s: etc/shadow owner %d:%d", label, st.Uid, st.Gid)
		}
		if st := statT(t, filepath.Join(r, "etc/plain")); st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: etc/plain owner %d:%d", label, st.Uid, st.Gid)
		}
		if st := statT(t, filepath.Join(r, "etc/rel")); st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: symlink etc/rel owner %d:%d", label, st.Uid, st.Gid)
		}
		if st := statT(t, filepath.Join(r, "etc/null")); st.Mode != syscall.S_IFCHR|0o666 || st.Rdev != unix.Mkdev(1, 3) {
			t.Errorf("%s: etc/null mode %o rdev %x", label, st.Mode, st.Rdev)
		}
		if x, _ := xattrs(filepath.Join(r, "bin/ping")); !bytes.Equal(x["security.capability"], capNetRaw) {
			t.Errorf("%s: security.capability of bin/ping: %x", label, x["security.capability"])
		}
	}
	check("generation 1", GenerationRoot(d, 1))
	// A second commit links every file to generation 1's, keeping it all.
	g2 := commit(t, d, "two")
	if g2.FilesLinked != g2.Files-1 || g2.FilesChanged != 0 { // etc/b is etc/a's link inside the tree
		t.Errorf("second commit of an unchanged copy: %+v", g2)
	}
	check("generation 2", GenerationRoot(d, 2))
	// Checkout makes a working copy with inodes of its own.
	must(os.RemoveAll(w))
	must(Checkout(d))
	check("checkout", w)
	for _, p := range []string{"bin/ping", "etc/a", "etc/plain"} {
		if statT(t, filepath.Join(w, p)).Ino == statT(t, filepath.Join(GenerationRoot(d, 2), p)).Ino {
			t.Errorf("checkout: %s shares the generation's inode", p)
		}
	}
	if err := Checkout(d); err == nil {
		t.Error("checkout over an existing working copy did not fail")
	}
	if !root {
		needtool.Root(t, "owners, device nodes and security.capability (the rest was checked)")
	}
}

// TestGenerationsDiffGolden: files and dpkg packages between two generations.
func TestGenerationsDiffGolden(t *testing.T) {
	status1 := `Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.

Package: old-tool
Status: install ok installed
Version: 1.0-1

Package: removed-keeps-config
Status: deinstall ok config-files
Version: 2.0

Package: zlib1g
Status: install ok installed
Version: 1:1.2.13.dfsg-1
`
	status2 := `Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b7

Package: new-tool
Status: install ok installed
Version: 0.9

Package: zlib1g
Status: install ok installed
Version: 1:1.2.13.dfsg-1
`
	d := genImage(t, map[string]string{
		"etc/motd": "hello\n", "etc/gone": "x", "etc/mode": "m", "usr/bin/tool": "ELF",
		"var/lib/dpkg/status": status1, "etc/old-dir/file": "f",
	})
	w := filepath.Join(d, "rootimg")
	if err := os.Symlink("motd", filepath.Join(w, "etc/link")); err != nil {
		t.Fatal(err)
	}
	commit(t, d, "one")
	writeGenFile(t, filepath.Join(w, "etc/motd"), "hello, world\n")
	writeGenFile(t, filepath.Join(w, "etc/new"), "n")
	writeGenFile(t, filepath.Join(w, "var/lib/dpkg/status"), status2)
	for _, err := range []error{
		os.Remove(filepath.Join(w, "etc/gone")),
		os.RemoveAll(filepath.Join(w, "etc/old-dir")),
		os.Chmod(filepath.Join(w, "etc/mode"), 0o600),
		os.Remove(filepath.Join(w, "etc/link")),
		os.Symlink("issue", filepath.Join(w, "etc/link")),
		os.Chtimes(filepath.Join(w, "usr/bin/tool"), time.Unix(1e9, 0), time.Unix(1e9, 0)), // times alone: no change
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	commit(t, d, "two")
	dd, err := Diff(d, "1", "current")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	dd.Write(&out)
	golden := filepath.Join("testdata", "generations", "diff.golden")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./image -run %s -update makes it; inspect it)", err, t.Name())
	}
	if out.String() != string(want) {
		t.Errorf("diff differs from %s\n--- got ---\n%s--- want ---\n%s", golden, out.String(), want)
	}
	// The working copy against current: the same, then one edit.
	writeGenFile(t, filepath.Join(w, "etc/motd"), "edited\n")
	dd, err = Diff(d, "current", "working")
	if err != nil {
		t.Fatal(err)
	}
	if len(dd.Files) != 1 || dd.Files[0] != (FileChange{Kind: 'M', Path: "/etc/motd", What: "content"}) || len(dd.Packages) != 0 {
		t.Errorf("current -> working: %+v %+v", dd.Files, dd.Packages)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(filepath.Join(w, "etc/new"), 7, 8); err != nil {
			t.Fatal(err)
		}
		dd, _ = Diff(d, "current", "working")
		found := false
		for _, f := range dd.Files {
			found = found || (f.Path == "/etc/new" && f.What == "owner 0:0 -> 7:8")
		}
		if !found {
			t.Errorf("owner change not reported: %+v", dd.Files)
		}
	}
	if _, err := Diff(d, "1", "7"); err == nil || !strings.Contains(err.Error(), "generation 7") {
		t.Errorf("diff with a missing generation: %v", err)
	}
}
