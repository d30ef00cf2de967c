package boot

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	img "statelite/image"
)

// A boot is rendered with the image's current generation: its token names it, and the
// kernel and initrd are that generation's own (xcat/osimage/<image>@<N>/…), served
// unchanged while the working copy and later generations change
// (docs/images.md#generations).
func TestBootGeneration(t *testing.T) {
	f := newFixture(t, 5000, nil)
	rt := startTFTP(t, f)
	if _, err := img.Commit(f.imgdir, img.CommitOptions{Message: "g1"}); err != nil {
		t.Fatal(err)
	}
	newKernel := pattern(6000, 9)
	write(t, filepath.Join(f.imgdir, KernelName), newKernel)

	cfg := func() string {
		t.Helper()
		b, _, err := rt.get("pxelinux.cfg/n1", 0)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	c := cfg()
	at1 := ImageFile(image+"@1", KernelName)
	if !strings.Contains(c, "/nodes/n1/@20261125T210305Z-g1:") || !strings.Contains(c, "KERNEL "+at1) {
		t.Fatalf("boot with generation 1: want its token and kernel %s in\n%s", at1, c)
	}
	if got := rt.boots.list(); len(got) != 1 || got[0] != "n1@20261125T210305Z-g1" {
		t.Fatalf("boots %v", got)
	}
	// The generation's kernel, not the working copy's edited one.
	k, _, err := rt.get(at1, 0)
	if err != nil || !bytes.Equal(k, f.kernel) {
		t.Fatalf("%s: %d bytes (%v), want generation 1's %d", at1, len(k), err, len(f.kernel))
	}
	if _, err := img.Commit(f.imgdir, img.CommitOptions{Message: "g2"}); err != nil {
		t.Fatal(err)
	}
	// The same boot (within the boot window) keeps its generation.
	rt.clk.Add(3 * time.Second)
	if c := cfg(); !strings.Contains(c, "KERNEL "+at1) {
		t.Fatalf("same boot, other generation:\n%s", c)
	}
	rt.clk.Add(30 * time.Second)
	c = cfg()
	at2 := ImageFile(image+"@2", KernelName)
	if !strings.Contains(c, "-g2:") || !strings.Contains(c, "KERNEL "+at2) {
		t.Fatalf("next boot: want generation 2 in\n%s", c)
	}
	if k, _, err := rt.get(at2, 0); err != nil || !bytes.Equal(k, newKernel) {
		t.Fatalf("%s: %d bytes (%v), want the new kernel's %d", at2, len(k), err, len(newKernel))
	}
	if k, _, err := rt.get(at1, 0); err != nil || !bytes.Equal(k, f.kernel) {
		t.Fatalf("%s after generation 2: %d bytes (%v)", at1, len(k), err)
	}
	// The working copy's own names are still served (bootcfg, boots without generations).
	if k, _, err := rt.get(ImageFile(image, KernelName), 0); err != nil || !bytes.Equal(k, newKernel) {
		t.Fatalf("working copy kernel: %d bytes (%v)", len(k), err)
	}
	// A generation that does not exist is no way out of the image directory.
	if _, _, err := rt.get(ImageFile(image+"@../../..", KernelName), 0); err == nil {
		t.Fatal("a made-up generation was served")
	}
}
