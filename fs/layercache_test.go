package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// The open layer directories are bounded (a server of 10,000 nodes has 20,000 layer
// roots): past the bound the least recently used are closed once their users are done,
// and lookups through them keep working, concurrently, without a descriptor leak.
func TestLayerDirsBounded(t *testing.T) {
	base := t.TempDir()
	const roots = 64
	var dirs []string
	for i := 0; i < roots; i++ {
		d := filepath.Join(base, fmt.Sprintf("node%02d", i))
		if err := os.MkdirAll(filepath.Join(d, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "etc", "hostname"), []byte(fmt.Sprintf("node%02d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	if c := newLayers(); c.max < 256 {
		t.Fatalf("bound %d below 256", c.max)
	}
	c := newLayersMax(8)
	before := openFDs(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 400; k++ {
				d := dirs[(g*7+k*13)%roots]
				fi, err := c.lstat(d, "/etc/hostname")
				if err != nil || fi.Size() != 7 {
					t.Errorf("lstat %s/etc/hostname: %v", d, err)
					return
				}
				f, err := c.open(d, "/etc/hostname", os.O_RDONLY)
				if err != nil {
					t.Errorf("open %s/etc/hostname: %v", d, err)
					return
				}
				b := make([]byte, 16)
				n, _ := f.Read(b)
				f.Close()
				if string(b[:n]) != filepath.Base(d)+"\n" {
					t.Errorf("%s/etc/hostname reads %q", d, b[:n])
					return
				}
				if _, err := c.lstatNoLinks(d, "/etc"); err != nil {
					t.Errorf("lstatNoLinks %s/etc: %v", d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := c.openDirs(); n > 8 {
		t.Errorf("%d layer directories cached, bound 8", n)
	}
	if after := openFDs(t); after > before+8 {
		t.Errorf("%d descriptors open after the lookups, %d before: layer directories leak", after, before)
	}
	// A forgotten root (a node's old volatile epoch) is closed at once.
	c.forget(dirs[0])
	c.lstat(dirs[1], "/etc")
	c.forget(dirs[1])
	c.cached(func(d *layerDir) {
		if d.root == dirs[1] {
			t.Error("a forgotten root is still cached")
		}
	})
}

// A read-only layer's directory is re-checked every second, and reopened only when it
// was replaced: re-checks under load do not pile up descriptors (each reopen used to
// keep the old one for a minute), and a replaced directory is seen.
func TestRODirRecheck(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "bin", "sh"), []byte("old"), 0o755)
	c := newLayers()
	age := func() {
		c.roMu.Lock()
		for k, d := range c.roDirs {
			d.opened = d.opened.Add(-2 * layerRecheckAfter)
			c.roDirs[k] = d
		}
		c.roMu.Unlock()
	}
	if _, err := c.lstatRO(root, "/bin/sh"); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		age()
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if fi, err := c.lstatRO(root, "/bin/sh"); err != nil || fi.Size() != 3 {
					t.Errorf("lstatRO: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	if after := openFDs(t); after > before+1 {
		t.Errorf("%d descriptors after 50 re-checks, %d before", after, before)
	}
	// The admin replaces /bin: the next re-check sees the new directory.
	os.MkdirAll(filepath.Join(root, "bin.new"), 0o755)
	os.WriteFile(filepath.Join(root, "bin.new", "sh"), []byte("newer"), 0o755)
	os.Rename(filepath.Join(root, "bin"), filepath.Join(root, "bin.old"))
	os.Rename(filepath.Join(root, "bin.new"), filepath.Join(root, "bin"))
	age()
	if fi, err := c.lstatRO(root, "/bin/sh"); err != nil {
		t.Errorf("after /bin was replaced: %v", err)
	} else if fi.Size() != 5 {
		t.Errorf("after /bin was replaced: the old /bin/sh (size %d)", fi.Size())
	}
}
