package fs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The volatile layers (roots inside the server's own volatile directory) are looked up
// through that directory's one descriptor: none per node's layer, and a node's symlink
// cannot lead into another node's layer beneath the same parent.
func TestOwnedLayerLookups(t *testing.T) {
	vol := t.TempDir()
	c := newLayers()
	c.owned = filepath.Clean(vol) + "/"
	n1, n2 := filepath.Join(vol, "n1", "3"), filepath.Join(vol, "n2", "7")
	for _, d := range []string{filepath.Join(n1, "etc"), filepath.Join(n2, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(n2, "etc", "secret"), []byte("n2's"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"x": "../../n2/7/etc", "y": "etc", "z": "/etc"} {
		if err := os.Symlink(target, filepath.Join(n1, link)); err != nil {
			t.Fatal(err)
		}
	}
	fds := openFDs(t)
	if fi, err := c.lstat(n2, "/etc/secret"); err != nil || fi.Size() != 4 {
		t.Fatalf("n2's own file: %v %v", fi, err)
	}
	if fi, err := c.lstat(n1, "/"); err != nil || !fi.IsDir() {
		t.Fatalf("n1's layer root: %v %v", fi, err)
	}
	if fi, err := c.lstat(n1, "/x"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link itself: %v %v", fi, err)
	}
	for _, p := range []string{"/x/secret", "/y/secret", "/z/passwd"} {
		fi, err := c.lstat(n1, p)
		if err == nil {
			t.Errorf("n1's %s reached %s", p, fi.Name())
		} else if !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("n1's %s: %v, want ENOTDIR", p, err)
		}
	}
	// Not a view path (they are clean), but never a way into n2's layer.
	for _, p := range []string{"../../n2/7/etc/secret", "/etc/../../../n2/7/etc/secret", "..", "etc/.."} {
		if fi, err := c.lstat(n1, p); err == nil {
			t.Errorf("n1's %q reached %s", p, fi.Name())
		}
	}
	if _, err := c.lstat(n1, "/etc/none"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if c.openDirs() != 0 {
		t.Errorf("%d layer directories opened for owned roots", c.openDirs())
	}
	if got := openFDs(t); got != fds+1 {
		t.Errorf("open descriptors %d → %d: want the volatile directory's one more", fds, got)
	}
}
