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
	c := newLayers()
	if c.max < 256 {
		t.Fatalf("bound %d below 256", c.max)
	}
	c.max = 8
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
	for _, d := range c.dirs {
		if d.root == dirs[1] {
			t.Error("a forgotten root is still cached")
		}
	}
}
