package fs_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Listings of image directories are shared and cached briefly, but names added or
// removed in the image show at once, and in-place edits within a second.
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
	// An in-place edit: at once in Getattr, within a second in listings.
	os.WriteFile(filepath.Join(dir, "b"), []byte("4444"), 0o644)
	if a, err := v1.Getattr("/usr/share/lc/b"); err != nil || a.Size != 4 {
		t.Fatalf("getattr after edit: %+v %v", a, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for list()["b"] != 4 {
		if time.Now().After(deadline) {
			t.Fatal("listing never showed the in-place edit")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
