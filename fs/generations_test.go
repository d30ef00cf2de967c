package fs_test

import (
	"os"
	"path/filepath"
	"testing"

	"statelite/fs"
	"statelite/image"
)

// commitImage makes a new generation of the test image from its working copy.
func (e *env) commitImage(msg string) int {
	e.t.Helper()
	g, err := image.Commit(filepath.Dir(e.R), image.CommitOptions{Message: msg})
	if err != nil {
		e.t.Fatal(err)
	}
	return g.Number
}

func (e *env) boot(node, token string) {
	e.t.Helper()
	if _, err := e.Srv.Boot(node, token, ""); err != nil {
		e.t.Fatal(err)
	}
}

// A node is served the image generation of its boot until its next boot, whatever
// generations are made meanwhile or however the working copy is edited; a node booting
// later gets the current one; its file ids of files the generations share survive its
// reboot into the new generation (docs/images.md#generations).
func TestGenerationPinnedPerBoot(t *testing.T) {
	e := newEnv(t)
	put(t, e.R, "usr/lib/libx.so=lib v1\n", "etc/motd=hello\n")

	// No generation yet: the working copy, live.
	e.boot("n1", "T0")
	v1 := e.view("n1")
	wantContent(t, v1, "/usr/lib/libx.so", "lib v1\n")
	put(t, e.R, "usr/lib/libx.so=lib v1b\n")
	wantContent(t, v1, "/usr/lib/libx.so", "lib v1b\n")

	g1 := e.commitImage("first")
	put(t, e.R, "usr/lib/libx.so=lib v2 (working copy)\n")
	// n1 booted before any generation: it keeps the working copy until it reboots.
	wantContent(t, v1, "/usr/lib/libx.so", "lib v2 (working copy)\n")

	e.boot("n1", "T1")
	wantContent(t, v1, "/usr/lib/libx.so", "lib v1b\n") // generation 1
	motd1 := mustAttr(t, v1, "/etc/motd").FileID
	dir1 := mustAttr(t, v1, "/usr/lib").FileID
	lib1 := mustAttr(t, v1, "/usr/lib/libx.so").FileID

	g2 := e.commitImage("second")
	if g2 != g1+1 {
		t.Fatalf("generations %d then %d", g1, g2)
	}
	// The working copy and the new generation change nothing for the running node.
	put(t, e.R, "usr/lib/libx.so=lib v3 (working copy)\n")
	wantContent(t, v1, "/usr/lib/libx.so", "lib v1b\n")
	if st, err := os.Stat(filepath.Join(e.R, "usr/lib/libx.so")); err != nil || st.Size() == 0 {
		t.Fatal(err)
	}

	// A node booting now gets generation 2 at once.
	e.boot("n2", "T1")
	wantContent(t, e.view("n2"), "/usr/lib/libx.so", "lib v2 (working copy)\n")

	// The same boot seen again (a remount) keeps generation 1.
	e.boot("n1", "T1")
	wantContent(t, v1, "/usr/lib/libx.so", "lib v1b\n")

	// A restart of the server (the same volatile layers) serves the recorded generation.
	e.start()
	v1 = e.view("n1")
	wantContent(t, v1, "/usr/lib/libx.so", "lib v1b\n")
	if rec, ok := fs.LastBoot(filepath.Join(e.State, "volatile"), "n1"); !ok || rec.ImageGen != g1 || rec.Token != "T1" || rec.ImageDir != filepath.Dir(e.R) {
		t.Fatalf("n1's boot record: %+v %v", rec, ok)
	}

	// The reboot: generation 2; what both generations share keeps its file id.
	e.boot("n1", "T2")
	wantContent(t, v1, "/usr/lib/libx.so", "lib v2 (working copy)\n")
	if id := mustAttr(t, v1, "/etc/motd").FileID; id != motd1 {
		t.Errorf("/etc/motd, unchanged between generations 1 and 2: file id %x, was %x", id, motd1)
	}
	if id := mustAttr(t, v1, "/usr/lib").FileID; id != dir1 {
		t.Errorf("/usr/lib: directory id %x, was %x", id, dir1)
	}
	if id := mustAttr(t, v1, "/usr/lib/libx.so").FileID; id == lib1 {
		t.Errorf("/usr/lib/libx.so changed between the generations but kept its file id %x", id)
	}

	// A boot token naming a generation (the boot configuration's) pins that one: a
	// rollback boot served by another server with the configuration of the first.
	e.boot("n1", fs.BootToken("T3", g1))
	wantContent(t, v1, "/usr/lib/libx.so", "lib v1b\n")

	// An explicit reset is a boot of the current generation.
	e.reset("n1")
	wantContent(t, v1, "/usr/lib/libx.so", "lib v2 (working copy)\n")

	// Rolled back (image pin): the next boots get generation 1 again.
	if err := image.Pin(filepath.Dir(e.R), g1); err != nil {
		t.Fatal(err)
	}
	e.boot("n2", "T4")
	wantContent(t, e.view("n2"), "/usr/lib/libx.so", "lib v1b\n")
	wantContent(t, v1, "/usr/lib/libx.so", "lib v2 (working copy)\n")
}

// A node whose image changes in the tables while it runs gets the new image's current
// generation, fixed at its first use until its next boot.
func TestGenerationOtherImage(t *testing.T) {
	e := newEnv(t)
	put(t, e.R, "etc/release=A1\n")
	e.commitImage("A1")
	other := filepath.Join(e.Dir, "img2")
	put(t, filepath.Join(other, "rootimg"), "etc/release=B1\n")
	if _, err := image.Commit(other, image.CommitOptions{Message: "B1"}); err != nil {
		t.Fatal(err)
	}
	e.boot("n1", "T1")
	v := e.view("n1")
	wantContent(t, v, "/etc/release", "A1\n")
	e.setTable("linuximage", hdrLinuximg+`"`+imageName+`","`+other+`"`+"\n")
	wantContent(t, v, "/etc/release", "B1\n")
	put(t, filepath.Join(other, "rootimg"), "etc/release=B2\n")
	if _, err := image.Commit(other, image.CommitOptions{Message: "B2"}); err != nil {
		t.Fatal(err)
	}
	wantContent(t, v, "/etc/release", "B1\n")
	e.boot("n1", "T2")
	wantContent(t, v, "/etc/release", "B2\n")
}

// Two servers sharing the nodes' volatile layers (site.volatiledir, the failover set-up)
// serve a node the generation of its boot, whichever of them saw the boot.
func TestGenerationSharedVolatile(t *testing.T) {
	e := newEnv(t)
	put(t, e.R, "etc/release=1\n")
	e.commitImage("1")
	vol := filepath.Join(e.Dir, "shared-volatile")
	a, err := fs.New(fs.Config{State: filepath.Join(e.Dir, "a"), Volatile: vol}, e.resolver())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Boot("n1", "T1", ""); err != nil {
		t.Fatal(err)
	}
	put(t, e.R, "etc/release=2\n")
	e.commitImage("2")
	b, err := fs.New(fs.Config{State: filepath.Join(e.Dir, "b"), Volatile: vol}, e.resolver())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	vb, err := b.View("n1")
	if err != nil {
		t.Fatal(err)
	}
	wantContent(t, vb, "/etc/release", "1\n")
	// The next boot, seen by b, reaches a's view of the node too.
	if _, err := b.Boot("n1", "T2", ""); err != nil {
		t.Fatal(err)
	}
	wantContent(t, vb, "/etc/release", "2\n")
	if err := a.Refresh("n1"); err != nil {
		t.Fatal(err)
	}
	va, err := a.View("n1")
	if err != nil {
		t.Fatal(err)
	}
	wantContent(t, va, "/etc/release", "2\n")
}
