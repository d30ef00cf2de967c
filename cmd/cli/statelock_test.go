package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"statelite/server"
)

// TestStateLock: one holder at a time (flock conflicts between open file descriptions,
// in one process too), the error names the holder's role and PID; an offline reset
// holds it as a server would, and a reset meeting a server's lock knows at once.
func TestStateLock(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	l, err := server.LockState(state, "reset")
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.LockState(state, "serve")
	want := "state directory " + state + " is in use by statelite reset (PID " + strconv.Itoa(os.Getpid()) + "; lock " + filepath.Join(state, "serve.lock") + ")"
	var busy *server.StateBusyError
	if !errors.As(err, &busy) || err.Error() != want {
		t.Fatalf("second lock: %v, want %s", err, want)
	}
	// A reset meeting another reset waits for it (here until its context ends).
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	start := time.Now()
	if got, err := lockReset(ctx, state); got != nil || err == nil || time.Since(start) < 150*time.Millisecond {
		t.Errorf("reset behind a reset: %v %v after %v", got, err, time.Since(start))
	}
	cancel()
	l.Unlock()

	s, err := server.LockState(state, "serve")
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if got, err := lockReset(context.Background(), state); got != nil || err != nil || time.Since(start) > time.Second {
		t.Errorf("reset with a server: %v %v after %v (want nil, nil at once: ask the server)", got, err, time.Since(start))
	}
	s.Unlock()
	if got, err := lockReset(context.Background(), state); got == nil || err != nil {
		t.Errorf("reset with no server: %v %v (want the lock)", got, err)
	} else {
		got.Unlock()
	}
}
