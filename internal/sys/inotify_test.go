package sys

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInotify: events name the entry and carry its bits, ReadNow takes what is queued
// without waiting, and Close ends a Read that waits.
func TestInotify(t *testing.T) {
	dir := t.TempDir()
	in, err := NewInotify()
	if err != nil {
		t.Fatal(err)
	}
	wd, err := in.Add(dir, InCreate|InCloseWrite|InDelete)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var got []string
	collect := func(ev InotifyEvent) {
		if ev.WD != wd {
			t.Errorf("event of watch %d, want %d", ev.WD, wd)
		}
		kind := "?"
		switch {
		case ev.Mask&InCreate != 0:
			kind = "create"
		case ev.Mask&InCloseWrite != 0:
			kind = "close"
		case ev.Mask&InDelete != 0:
			kind = "delete"
		}
		got = append(got, kind+" "+string(ev.Name))
	}
	in.ReadNow(buf, collect)
	if len(got) != 0 {
		t.Fatalf("events before any change: %v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "a-long-name.csv"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "a-long-name.csv"))
	in.ReadNow(buf, collect)
	want := []string{"create a-long-name.csv", "close a-long-name.csv", "delete a-long-name.csv"}
	if len(got) != len(want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %q, want %q", got, want)
		}
	}
	done := make(chan error, 1)
	go func() { done <- in.Read(buf, collect) }()
	time.Sleep(50 * time.Millisecond)
	in.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("Read after Close: no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Read")
	}
}
