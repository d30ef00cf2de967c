package fs_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Listings of image directories are shared and cached, but names added or removed in
// the image show at once, and so do in-place edits of its files (inotify).
func TestImageListingCache(t *testing.T) {
	srv, cl := demoServer(t)
	v1, _ := srv.View("n1")
	v2, _ := srv.View("n2")
	dir := filepath.Join(cl.Root, "usr/share/lc")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "a"), []byte("1"), 0o644)
	list := func() map[string]uint64 {
		ents, err := v1.ReadDir("/usr/share/lc")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]uint64{}
		for _, e := range ents {
			m[e.Name] = e.Attr.Size
		}
		return m
	}
	if m := list(); len(m) != 1 || m["a"] != 1 {
		t.Fatalf("first listing %v", m)
	}
	if ents, _ := v2.ReadDir("/usr/share/lc"); len(ents) != 1 {
		t.Fatalf("n2 listing %v", ents)
	}
	// A new name changes the directory: seen at once.
	time.Sleep(10 * time.Millisecond) // a distinct mtime on coarse clocks
	os.WriteFile(filepath.Join(dir, "b"), []byte("22"), 0o644)
	if m := list(); len(m) != 2 || m["b"] != 2 {
		t.Fatalf("after adding b: %v", m)
	}
	os.Remove(filepath.Join(dir, "a"))
	if m := list(); len(m) != 1 {
		t.Fatalf("after removing a: %v", m)
	}
	// In-place edits: at once in Getattr and in listings.
	list()
	os.WriteFile(filepath.Join(dir, "b"), []byte("4444"), 0o644)
	if a, err := v1.Getattr("/usr/share/lc/b"); err != nil || a.Size != 4 {
		t.Fatalf("getattr after edit: %+v %v", a, err)
	}
	if m := list(); m["b"] != 4 {
		t.Fatalf("listing after an in-place edit: %v", m)
	}
	if err := os.Truncate(filepath.Join(dir, "b"), 1); err != nil {
		t.Fatal(err)
	}
	if m := list(); m["b"] != 1 {
		t.Fatalf("listing after a truncate: %v", m)
	}
	if err := os.Chmod(filepath.Join(dir, "b"), 0o600); err != nil {
		t.Fatal(err)
	}
	ents, _ := v2.ReadDir("/usr/share/lc")
	if len(ents) != 1 || ents[0].Attr.Mode&0o777 != 0o600 {
		t.Fatalf("listing after a chmod: %+v", ents)
	}
	// Unchanged after a second (the cached listing lives on): the same for both nodes.
	time.Sleep(1100 * time.Millisecond)
	e1, _ := v1.ReadDir("/usr/share/lc")
	e2, _ := v2.ReadDir("/usr/share/lc")
	if len(e1) != 1 || len(e2) != 1 || e1[0] != e2[0] {
		t.Fatalf("listings differ: %+v %+v", e1, e2)
	}
}
