package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"statelite/internal/sys"
)

// stateLockName is the file in a state directory whose flock(2) the process using the
// directory (statelite serve, or an offline reset) holds for its life. The holder's
// PID and role are written in it. The lock dies with the process (kill -9 included): a
// left file with no holder is free.
const stateLockName = "serve.lock"

// StateLock is a held lock of a state directory.
type StateLock struct{ f *os.File }

// StateBusyError says that another process holds a state directory's lock.
type StateBusyError struct {
	State string
	PID   int    // 0: the holder has not written its PID (yet)
	Role  string // "serve", "reset"; "" when unknown
}

func (e *StateBusyError) Error() string {
	who := "another statelite process"
	if e.Role != "" {
		who = "statelite " + e.Role
	}
	pid := "PID unknown"
	if e.PID > 0 {
		pid = "PID " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("state directory %s is in use by %s (%s; lock %s)", e.State, who, pid, filepath.Join(e.State, stateLockName))
}

// LockState takes the lock of state without waiting, writing this process's PID and
// role in it; a *StateBusyError when another process holds it.
func LockState(state, role string) (*StateLock, error) {
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	name := filepath.Join(state, stateLockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state lock: %w", err)
	}
	if err := sys.TryLock(f); err != nil {
		f.Close()
		if !sys.IsWouldBlock(err) {
			return nil, fmt.Errorf("state lock %s: %w", name, err)
		}
		return nil, busyState(state, name)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+" "+role+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state lock %s: %w", name, err)
	}
	return &StateLock{f: f}, nil
}

// busyState describes the holder of a lock held by another process. The holder writes
// its PID just after taking the lock: an empty file is read again for a moment.
func busyState(state, name string) *StateBusyError {
	e := &StateBusyError{State: state}
	for deadline := time.Now().Add(200 * time.Millisecond); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(name)
		if f := strings.Fields(string(b)); len(f) > 0 {
			if pid, err := strconv.Atoi(f[0]); err == nil && pid > 0 {
				e.PID = pid
				if len(f) > 1 {
					e.Role = f[1]
				}
				return e
			}
		}
		if time.Now().After(deadline) {
			return e
		}
	}
}

// Unlock releases the lock (closing the file does; the file stays, free).
func (l *StateLock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
