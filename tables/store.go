package tables

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Store keeps the tables. Implementations: DirStore (a directory of <table>.csv files,
// the embedded default); a PostgreSQL store follows the same behavioural test suite.
type Store interface {
	// Load returns the current tables as a snapshot.
	Load(ctx context.Context) (*Snapshot, error)
	// Edit runs fn on the current tables under the store's write lock; fn returns the
	// tables to replace (cloned and modified). The result is validated as a whole and
	// written atomically; on any error nothing is written.
	Edit(ctx context.Context, fn func(cur *Snapshot) (map[string]*Table, error)) (*Snapshot, error)
	// Close releases the store.
	Close() error
}

// ValidationError is returned by Edit when the edited tables fail validation.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	n := 0
	for _, p := range e.Problems {
		if p.Warning {
			continue
		}
		if n > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
		n++
	}
	return b.String()
}

// DirStore is a Store over a directory of xCAT-format <table>.csv files. Writes replace a
// file atomically (temporary file, fsync, rename) under an exclusive flock on <dir>/.lock,
// so concurrent writers in several processes serialize; readers take a shared lock.
type DirStore struct {
	Dir string
	// Author, when set, is recorded with every edit in <dir>/.history (who made it and
	// with which command), so the server's history can say who made a generation.
	Author string
	// KeepParsed makes Load reuse the tables it parsed before from files that have not
	// changed since (same inode, size, mtime and ctime): a server following the store
	// re-reads a 10,000-node nodelist and hosts for an edit of litetree otherwise. Only
	// for a store whose snapshots nobody modifies (tables are cloned to be edited).
	KeepParsed bool

	parsedMu sync.Mutex
	parsed   map[string]parsedTable
}

// parsedTable is a table as parsed from a file with stamp st.
type parsedTable struct {
	st fileStamp
	t  *Table
}

// stampOf is the stamp of an open file (ok false: none to trust).
func stampOf(f *os.File) (fileStamp, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileStamp{}, false
	}
	return fileStamp{size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), ino: st.Ino}, true
}

// OpenDir returns a DirStore over dir, creating the directory when missing.
func OpenDir(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("table store %s: %w", dir, err)
	}
	return &DirStore{Dir: dir}, nil
}

// Close implements Store.
func (d *DirStore) Close() error { return nil }

func (d *DirStore) lock(how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(d.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil && how == syscall.LOCK_SH {
		// A reader without write access can still take a shared lock on an existing file.
		f, err = os.Open(filepath.Join(d.Dir, ".lock"))
	}
	if err != nil {
		return nil, fmt.Errorf("table store %s: %w", d.Dir, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("table store %s: lock: %w", d.Dir, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// Load implements Store.
func (d *DirStore) Load(ctx context.Context) (*Snapshot, error) {
	unlock, err := d.lock(syscall.LOCK_SH)
	if err != nil {
		if _, serr := os.Stat(d.Dir); errors.Is(serr, os.ErrNotExist) {
			return NewSnapshot(0, nil), nil // no directory yet: every table empty
		}
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(d.Dir, pendingName)); err == nil {
		// An edit was interrupted after it committed: finish it before reading.
		unlock()
		if unlock, err = d.lock(syscall.LOCK_EX); err != nil {
			return nil, err
		}
		if err := d.recover(); err != nil {
			unlock()
			return nil, err
		}
	}
	defer unlock()
	return d.load()
}

// pendingName is the journal of an edit that replaces several files: once it is on disk
// the edit is committed, and an interrupted edit is finished (rolled forward) from it.
const pendingName = ".pending"

// recover finishes an interrupted multi-file edit; the caller holds the exclusive lock.
func (d *DirStore) recover() error {
	jp := filepath.Join(d.Dir, pendingName)
	data, err := os.ReadFile(jp)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("table store %s: %w", d.Dir, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		tmp, final, ok := strings.Cut(line, "\t")
		if !ok || strings.ContainsAny(tmp+final, "/") {
			return fmt.Errorf("table store %s: damaged journal %s: %q", d.Dir, jp, line)
		}
		err := os.Rename(filepath.Join(d.Dir, tmp), filepath.Join(d.Dir, final))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("table store %s: finishing an interrupted edit: %w", d.Dir, err)
		}
	}
	syncDir(d.Dir)
	if err := os.Remove(jp); err != nil {
		return err
	}
	syncDir(d.Dir)
	return nil
}

func syncDir(dir string) {
	if df, err := os.Open(dir); err == nil {
		df.Sync()
		df.Close()
	}
}

func (d *DirStore) load() (*Snapshot, error) {
	tabs := make(map[string]*Table)
	var errs []error
	for _, name := range TableNames() {
		f, err := os.Open(filepath.Join(d.Dir, name+".csv"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t, err := d.parse(name, f)
		f.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tabs[name] = t
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewSnapshot(d.generation(), tabs), nil
}

// parse parses table name from f, or returns the table parsed from it before when the
// file has not changed since (KeepParsed).
func (d *DirStore) parse(name string, f *os.File) (*Table, error) {
	if !d.KeepParsed {
		return Parse(name, f)
	}
	st, ok := stampOf(f)
	d.parsedMu.Lock()
	p, hit := d.parsed[name]
	d.parsedMu.Unlock()
	if ok && hit && p.st == st {
		return p.t, nil
	}
	t, err := Parse(name, f)
	if err != nil || !ok {
		return t, err
	}
	if after, ok := stampOf(f); ok && after == st { // not written while it was read
		d.parsedMu.Lock()
		if d.parsed == nil {
			d.parsed = map[string]parsedTable{}
		}
		d.parsed[name] = parsedTable{st: st, t: t}
		d.parsedMu.Unlock()
	}
	return t, nil
}

func (d *DirStore) generation() uint64 {
	b, err := os.ReadFile(filepath.Join(d.Dir, ".generation"))
	if err != nil {
		return 0
	}
	g, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return g
}

// Edit implements Store.
func (d *DirStore) Edit(ctx context.Context, fn func(cur *Snapshot) (map[string]*Table, error)) (*Snapshot, error) {
	unlock, err := d.lock(syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := d.recover(); err != nil {
		return nil, err
	}
	cur, err := d.load()
	if err != nil {
		return nil, err
	}
	repl, err := fn(cur)
	if err != nil {
		return nil, err
	}
	if len(repl) == 0 {
		return cur, nil
	}
	next := cur.With(cur.Gen+1, repl)
	if probs := Validate(next); HasErrors(probs) {
		return nil, &ValidationError{Problems: probs}
	}
	names := make([]string, 0, len(repl))
	for n := range repl {
		names = append(names, n)
	}
	sort.Strings(names)
	// Write every new file beside its target, then commit by writing the journal, then
	// rename: a crash before the journal leaves the old tables, after it the new ones.
	var journal strings.Builder
	var temps []string
	defer func() {
		for _, t := range temps {
			os.Remove(filepath.Join(d.Dir, t))
		}
	}()
	stage := func(final string, write func(*os.File) error) error {
		tmp, err := writeTemp(filepath.Join(d.Dir, final), write)
		if err != nil {
			return err
		}
		temps = append(temps, filepath.Base(tmp))
		fmt.Fprintf(&journal, "%s\t%s\n", filepath.Base(tmp), final)
		return nil
	}
	for _, n := range names {
		if err := stage(n+".csv", func(f *os.File) error { return Dump(f, repl[n]) }); err != nil {
			return nil, err
		}
	}
	if err := stage(".generation", func(f *os.File) error {
		_, err := fmt.Fprintf(f, "%d\n", next.Gen)
		return err
	}); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(d.Dir, pendingName), func(f *os.File) error {
		_, err := f.WriteString(journal.String())
		return err
	}); err != nil {
		return nil, err
	}
	temps = nil // committed: the journal now owns them
	if err := d.recover(); err != nil {
		return nil, err
	}
	d.noteAuthor(next.Gen) // under the lock: a reader that sees the tables sees the note
	return next, nil
}

// writeTemp writes a fsynced temporary file (mode 0644) beside path and returns its name.
func writeTemp(path string, write func(*os.File) error) (string, error) {
	return writeTempMode(path, 0o644, write)
}

// writeTempMode is writeTemp with the file's mode.
func writeTempMode(path string, perm os.FileMode, write func(*os.File) error) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return tmp, nil
}

// WriteFileAtomic replaces path with data, mode perm: a fsynced temporary file in the
// same directory renamed into place, the directory fsynced. A reader (a restarted
// server, dhcpd, the CLI) sees the old content or the new, never a mix, and a crash
// leaves one of them.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomicMode(path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// writeAtomic writes path through a fsynced temporary file in the same directory,
// renames it into place and fsyncs the directory.
func writeAtomic(path string, write func(*os.File) error) error {
	return writeAtomicMode(path, 0o644, write)
}

func writeAtomicMode(path string, perm os.FileMode, write func(*os.File) error) error {
	tmp, err := writeTempMode(path, perm, write)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}
