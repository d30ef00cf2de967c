package fs_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"statelite/fs"
)

// The reference model: for generated tables and litetree content, a node's view is
// materialized into an ordinary directory M (by a source search written here from
// docs/behaviour.md#what-a-node-sees-at-each-path, independently of the resolver), random
// operations are applied both to the view and, with ordinary file operations, to M, and
// after every operation the two must agree: the same paths, types, modes (&07777),
// contents and link targets, and the same success or failure of the operation (EROFS
// where the model refuses a write to a read-only path).
//
// Entries are top-level and disjoint (nesting is covered by TestNested). The model's
// rules:
//   - ro, link,ro and paths no entry covers refuse every change (EROFS);
//   - volatile (tmpfs family, con, and persistent for a node without a statelite row) and
//     persistent areas accept changes; a reset re-materializes volatile entries from the
//     sources and keeps persistent ones; a server restart keeps everything;
//   - renames move within one kind of storage (EXDEV between volatile and persistent);
//   - the path of a persistent entry itself cannot be removed or replaced (EBUSY, a
//     mount point on xCAT nodes), nor can a directory entry's path be renamed over, nor
//     can a directory be renamed onto a file entry's path (below a file entry the image
//     governs);
//   - a con entry shows the concatenation of every litetree match (mode 0644 when there
//     are several, the match's own mode when there is one).

// chooser supplies the random choices: math/rand for the normal run, fuzz bytes for
// FuzzOverlay.
type chooser interface {
	intn(n int) int
	done() bool
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.Intn(n) }
func (c randChooser) done() bool     { return false }

type byteChooser struct {
	b []byte
	i int
}

func (c *byteChooser) intn(n int) int {
	if c.i >= len(c.b) {
		return 0
	}
	x := int(c.b[c.i])
	c.i++
	return x % n
}
func (c *byteChooser) done() bool { return c.i >= len(c.b) }

type mEntry struct {
	key  string
	dir  bool
	opt  string
	kind classKind
}

type model struct {
	t       testing.TB
	e       *env
	ch      chooser
	entries []mEntry
	pers    bool   // n1 has a statelite row (persistent entries are persistent)
	M       string // n1's view, materialized
	log     []string
}

var (
	modelDirKeys  = []string{"/d0", "/d1", "/d2", "/opt/e5", "/usr/e6"}
	modelFileKeys = []string{"/f0", "/f1", "/etc/f2"}
	modelOptions  = map[classKind][]string{
		kVolatile:   {"tmpfs", "rw", "link", "tmpfs,rw", ""},
		kPersistent: {"persistent", "link,persistent"},
		kReadOnly:   {"ro", "link,ro"},
		kCon:        {"con", "link,con"},
	}
	modelFileModes = []os.FileMode{0o644, 0o600, 0o755, 0o444, 0o4755 | os.ModeSetuid}
	modelNames     = []string{"a", "b", "c", "sub", "x", ".h"}
)

func pick[T any](ch chooser, s []T) T { return s[ch.intn(len(s))] }

// newModel generates tables and sources and starts a server.
func newModel(t testing.TB, ch chooser) *model {
	t.Helper()
	m := &model{t: t, ch: ch}
	var keys []mEntry
	for _, k := range modelDirKeys {
		keys = append(keys, mEntry{key: k, dir: true})
	}
	for _, k := range modelFileKeys {
		keys = append(keys, mEntry{key: k})
	}
	n := 2 + ch.intn(4)
	for i := 0; i < n && len(keys) > 0; i++ {
		j := ch.intn(len(keys))
		en := keys[j]
		keys = append(keys[:j], keys[j+1:]...)
		kinds := []classKind{kVolatile, kVolatile, kPersistent, kPersistent, kReadOnly}
		if !en.dir {
			kinds = append(kinds, kCon)
		}
		en.kind = pick(ch, kinds)
		en.opt = pick(ch, modelOptions[en.kind])
		m.entries = append(m.entries, en)
	}
	sort.Slice(m.entries, func(i, j int) bool { return m.entries[i].key < m.entries[j].key })
	var rows []string
	for _, en := range m.entries {
		f := en.key
		if en.dir {
			f += "/"
		}
		rows = append(rows, f+" "+en.opt)
	}
	m.e = newEnv(t, rows...)
	m.pers = ch.intn(4) != 0
	if !m.pers {
		m.e.setTable("statelite", hdrStatelite+`"n2",,"`+m.e.StateMnt+`",,,`+"\n")
	}
	for _, en := range m.entries {
		for li, l := range []string{m.e.T1, m.e.T2, m.e.D, m.e.R} {
			if ch.intn(2) == 0 {
				continue
			}
			m.genSource(filepath.Join(l, en.key), en.dir, fmt.Sprintf("L%d%s", li, en.key))
		}
	}
	m.M = filepath.Join(m.e.Dir, "model")
	m.materializeAll(m.M)
	m.logf("entries %v, statelite row for n1: %v", rows, m.pers)
	return m
}

// genSource writes a small random tree (or file) at p with random modes.
func (m *model) genSource(p string, dir bool, tag string) {
	m.t.Helper()
	mustOK := func(err error) {
		if err != nil {
			m.t.Fatal(err)
		}
	}
	mustOK(os.MkdirAll(filepath.Dir(p), 0o755))
	if !dir {
		mustOK(os.WriteFile(p, []byte(tag+"\n"), 0o600))
		mustOK(os.Chmod(p, pick(m.ch, modelFileModes)))
		return
	}
	mustOK(os.MkdirAll(p, 0o755))
	for _, nm := range modelNames {
		switch m.ch.intn(4) {
		case 0:
			f := filepath.Join(p, nm)
			mustOK(os.WriteFile(f, []byte(tag+"/"+nm+"\n"), 0o600))
			mustOK(os.Chmod(f, pick(m.ch, modelFileModes)))
		case 1:
			d := filepath.Join(p, nm)
			mustOK(os.Mkdir(d, 0o755))
			if m.ch.intn(2) == 0 {
				mustOK(os.WriteFile(filepath.Join(d, "in"), []byte(tag+"/"+nm+"/in\n"), 0o644))
			}
			mustOK(os.Chmod(d, pick(m.ch, []os.FileMode{0o755, 0o700, 0o750 | os.ModeSetgid})))
		}
	}
}

func (m *model) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf(format, args...))
}

func (m *model) fail(format string, args ...any) {
	m.t.Helper()
	tail := m.log
	if len(tail) > 60 {
		tail = tail[len(tail)-60:]
	}
	m.t.Fatalf("%s\noperations:\n  %s", fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
}

// source returns the files the model shows for entry en before any write
// (docs/behaviour.md#litetree-sources-and-priorities): the first litetree match (an empty
// directory does not match), else D/key, else R/key, else nothing (an empty file or
// directory is made up, docs/behaviour.md#missing-paths). For con, every litetree match.
func (m *model) source(en mEntry) []string {
	var matches []string
	for _, l := range []string{m.e.T1, m.e.T2} {
		p := filepath.Join(l, en.key)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			if ents, _ := os.ReadDir(p); len(ents) == 0 {
				continue
			}
		}
		matches = append(matches, p)
		if en.kind != kCon {
			break
		}
	}
	if len(matches) > 0 {
		return matches
	}
	for _, l := range []string{m.e.D, m.e.R} {
		if _, err := os.Lstat(filepath.Join(l, en.key)); err == nil {
			return []string{filepath.Join(l, en.key)}
		}
	}
	return nil
}

// materialize writes entry en's initial view into root.
func (m *model) materialize(root string, en mEntry) {
	m.t.Helper()
	dst := filepath.Join(root, en.key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		m.t.Fatal(err)
	}
	src := m.source(en)
	switch {
	case len(src) == 0 && en.dir:
		must(m.t, os.Mkdir(dst, 0o755))
		must(m.t, os.Chmod(dst, 0o755))
	case len(src) == 0:
		must(m.t, os.WriteFile(dst, nil, 0o644))
		must(m.t, os.Chmod(dst, 0o644))
	case len(src) > 1:
		var b []byte
		for _, s := range src {
			c, err := os.ReadFile(s)
			must(m.t, err)
			b = append(b, c...)
		}
		must(m.t, os.WriteFile(dst, b, 0o644))
		must(m.t, os.Chmod(dst, 0o644))
	default:
		copyHostTree(m.t, src[0], dst)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// copyHostTree copies src to dst like cp -a (content, modes, symlinks).
func copyHostTree(t testing.TB, src, dst string) {
	t.Helper()
	fi, err := os.Lstat(src)
	must(t, err)
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		l, err := os.Readlink(src)
		must(t, err)
		must(t, os.Symlink(l, dst))
	case fi.IsDir():
		must(t, os.Mkdir(dst, 0o700))
		ents, err := os.ReadDir(src)
		must(t, err)
		for _, e := range ents {
			copyHostTree(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
		}
		must(t, os.Chmod(dst, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)))
	default:
		b, err := os.ReadFile(src)
		must(t, err)
		must(t, os.WriteFile(dst, b, 0o600))
		must(t, os.Chmod(dst, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)))
	}
}

func (m *model) materializeAll(root string) {
	for _, en := range m.entries {
		m.materialize(root, en)
	}
}

// volatile reports whether en's changes are dropped at a reset (for n1).
func (m *model) volatile(en mEntry) bool {
	return en.kind == kVolatile || en.kind == kCon || en.kind == kPersistent && !m.pers
}

// store names where changes to en go: "ro", "vol" or "pers".
func (m *model) store(en *mEntry) string {
	switch {
	case en == nil || en.kind == kReadOnly:
		return "ro"
	case m.volatile(*en):
		return "vol"
	}
	return "pers"
}

// entryOf returns the entry governing p: p itself, or a directory entry above it.
func (m *model) entryOf(p string) *mEntry {
	for i, en := range m.entries {
		if p == en.key || en.dir && strings.HasPrefix(p, en.key+"/") {
			return &m.entries[i]
		}
	}
	return nil
}

// mstat describes model path p without following any symlink: ENOTDIR when a component
// on the way is not a directory, ENOENT when missing.
func (m *model) mstat(p string) (os.FileInfo, error) {
	if p == "/" {
		return os.Lstat(m.M)
	}
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := m.M
	for i, c := range comps {
		cur = filepath.Join(cur, c)
		fi, err := os.Lstat(cur)
		if err != nil {
			return nil, syscall.ENOENT
		}
		if i == len(comps)-1 {
			return fi, nil
		}
		if !fi.IsDir() {
			return nil, syscall.ENOTDIR
		}
	}
	return nil, syscall.ENOENT
}

// outcome is the model's verdict on an operation: ok, or an error (errno 0: any error).
type outcome struct {
	ok    bool
	errno syscall.Errno
}

var okOutcome = outcome{ok: true}

func refuse(e syscall.Errno) outcome { return outcome{errno: e} }

// modelOp is one generated operation.
type modelOp struct {
	kind       string
	a, b, data string
	mode       uint32
	size       uint64
}

func (o modelOp) String() string {
	switch o.kind {
	case "write", "append":
		return fmt.Sprintf("%s %s %q", o.kind, o.a, o.data)
	case "mkdir", "chmod":
		return fmt.Sprintf("%s %s %o", o.kind, o.a, o.mode)
	case "truncate":
		return fmt.Sprintf("truncate %s %d", o.a, o.size)
	case "rename":
		return fmt.Sprintf("rename %s %s", o.a, o.b)
	case "symlink":
		return fmt.Sprintf("symlink %s -> %s", o.a, o.data)
	}
	return strings.TrimSpace(o.kind + " " + o.a)
}

// modelPaths lists every path of the model under the entries (and the entries' keys).
func (m *model) modelPaths() []string {
	set := map[string]bool{}
	for _, en := range m.entries {
		set[en.key] = true
		root := filepath.Join(m.M, en.key)
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				set[strings.TrimPrefix(p, m.M)] = true
			}
			return nil
		})
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

var uncoveredPaths = []string{"/", "/etc", "/etc/passwd", "/etc/newfile", "/usr/bin/tool", "/opt", "/nonexist/x", "/usr"}

// genPath picks an existing path, an entry, a new name below an existing directory, or
// an image path; mostly in areas of the given store ("" for any).
func (m *model) genPath(store string) string {
	var paths, dirs []string
	for _, p := range m.modelPaths() {
		if store != "" && m.store(m.entryOf(p)) != store && m.ch.intn(4) != 0 {
			continue
		}
		paths = append(paths, p)
		if fi, err := m.mstat(p); err == nil && fi.IsDir() {
			dirs = append(dirs, p)
		}
	}
	if len(paths) == 0 {
		return pick(m.ch, uncoveredPaths)
	}
	switch m.ch.intn(8) {
	case 0, 1, 2:
		return pick(m.ch, paths)
	case 3, 4, 5, 6:
		if len(dirs) == 0 {
			return pick(m.ch, paths)
		}
		return path.Join(pick(m.ch, dirs), pick(m.ch, modelNames)+pick(m.ch, []string{"", "", "2"}))
	}
	return pick(m.ch, uncoveredPaths)
}

func (m *model) genOp() modelOp {
	kinds := []string{"write", "write", "write", "append", "create", "mkdir", "mkdir", "remove", "remove", "rmdir",
		"rename", "rename", "rename", "rename", "truncate", "chmod", "symlink", "reset", "restart"}
	op := modelOp{kind: pick(m.ch, kinds)}
	switch op.kind {
	case "reset", "restart":
		return op
	}
	op.a = m.genPath(pick(m.ch, []string{"vol", "vol", "pers", "pers", ""}))
	if op.kind == "rename" || op.kind == "remove" || op.kind == "truncate" || op.kind == "append" {
		// Mostly something that exists.
		for range 3 {
			if _, err := m.mstat(op.a); err == nil {
				break
			}
			op.a = m.genPath(pick(m.ch, []string{"vol", "pers"}))
		}
	}
	op.data = pick(m.ch, []string{"", "x", "hello\n", "second line\n", strings.Repeat("z", 700)})
	op.size = uint64(pick(m.ch, []int{0, 1, 3, 5000}))
	if fi, err := m.mstat(op.a); err == nil && fi.IsDir() || op.kind == "mkdir" {
		op.mode = pick(m.ch, []uint32{0o755, 0o700, 0o1777, 0o2750})
	} else {
		op.mode = pick(m.ch, []uint32{0o644, 0o600, 0o4755, 0o2711, 0o444})
	}
	if op.kind == "rename" {
		op.b = m.genPath(m.store(m.entryOf(op.a)))
		if op.b == op.a {
			op.b += "2"
		}
	}
	if op.kind == "symlink" {
		op.data = pick(m.ch, []string{"a", "../x", "/etc/passwd", "/", "sub/in"})
	}
	return op
}

// expect decides the outcome of op on the model and applies it to M.
func (m *model) expect(op modelOp) outcome {
	t := m.t
	switch op.kind {
	case "reset":
		for _, en := range m.entries {
			if m.volatile(en) {
				must(t, os.RemoveAll(filepath.Join(m.M, en.key)))
				m.materialize(m.M, en)
			}
		}
		return okOutcome
	case "restart":
		return okOutcome
	}
	p := op.a
	en := m.entryOf(p)
	fi, statErr := m.mstat(p)
	if en == nil {
		// The image: every change is refused. Paths not in the image fail anyway.
		return refuse(0)
	}
	full := filepath.Join(m.M, p)
	parentDir := func() bool {
		pfi, err := m.mstat(path.Dir(p))
		return err == nil && pfi.IsDir()
	}
	writable := en.kind != kReadOnly
	switch op.kind {
	case "write", "append", "create":
		if statErr == nil {
			if op.kind == "create" {
				return refuse(syscall.EEXIST)
			}
			if !fi.Mode().IsRegular() {
				return refuse(0)
			}
			if !writable {
				return refuse(syscall.EROFS)
			}
			if op.kind == "append" {
				f, err := os.OpenFile(full, os.O_WRONLY|os.O_APPEND, 0)
				must(t, err)
				_, err = f.WriteString(op.data)
				must(t, err)
				must(t, f.Close())
			} else {
				f, err := os.OpenFile(full, os.O_WRONLY|os.O_TRUNC, 0)
				must(t, err)
				_, err = f.WriteString(op.data)
				must(t, err)
				must(t, f.Close())
			}
			return okOutcome
		}
		if op.kind == "append" || !parentDir() {
			return refuse(0)
		}
		if !writable {
			return refuse(syscall.EROFS)
		}
		must(t, os.WriteFile(full, []byte(op.data), 0o600))
		must(t, os.Chmod(full, 0o644))
		return okOutcome
	case "mkdir", "symlink":
		if statErr == nil {
			return refuse(syscall.EEXIST)
		}
		if !parentDir() {
			return refuse(0)
		}
		if !writable {
			return refuse(syscall.EROFS)
		}
		if op.kind == "symlink" {
			must(t, os.Symlink(op.data, full))
		} else {
			must(t, os.Mkdir(full, 0o700))
			must(t, os.Chmod(full, modeBits(op.mode)))
		}
		return okOutcome
	case "remove", "rmdir":
		if statErr != nil {
			return refuse(0)
		}
		if !writable {
			return refuse(syscall.EROFS)
		}
		if p == en.key && m.store(en) == "pers" {
			return refuse(syscall.EBUSY)
		}
		if (op.kind == "remove") == fi.IsDir() {
			return refuse(0)
		}
		if fi.IsDir() {
			if ents, _ := os.ReadDir(full); len(ents) > 0 {
				return refuse(syscall.ENOTEMPTY)
			}
		}
		must(t, os.Remove(full))
		return okOutcome
	case "truncate":
		if statErr != nil || !fi.Mode().IsRegular() {
			return refuse(0)
		}
		if !writable {
			return refuse(syscall.EROFS)
		}
		must(t, os.Truncate(full, int64(op.size)))
		return okOutcome
	case "chmod":
		if statErr != nil {
			return refuse(0)
		}
		if !writable {
			return refuse(syscall.EROFS)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			must(t, os.Chmod(full, modeBits(op.mode)))
		}
		return okOutcome
	case "rename":
		return m.expectRename(op, en, fi, statErr)
	}
	t.Fatalf("unknown op %s", op.kind)
	return outcome{}
}

func (m *model) expectRename(op modelOp, ea *mEntry, fa os.FileInfo, errA error) outcome {
	a, b := op.a, op.b
	if errA != nil {
		return refuse(0)
	}
	if strings.HasPrefix(b, a+"/") {
		return refuse(syscall.EINVAL) // checked before the storage, as the engine does
	}
	if m.store(ea) == "ro" {
		return refuse(syscall.EROFS)
	}
	if a == ea.key && m.store(ea) == "pers" {
		return refuse(syscall.EBUSY)
	}
	eb := m.entryOf(b)
	if m.store(eb) == "ro" {
		return refuse(syscall.EROFS)
	}
	if m.store(eb) != m.store(ea) {
		return refuse(syscall.EXDEV)
	}
	if b == eb.key && (eb.dir || m.store(eb) == "pers" || fa.IsDir()) {
		return refuse(syscall.EBUSY)
	}
	pfi, err := m.mstat(path.Dir(b))
	if err != nil || !pfi.IsDir() {
		return refuse(0)
	}
	if fb, err := m.mstat(b); err == nil {
		switch {
		case fa.IsDir() && !fb.IsDir(), !fa.IsDir() && fb.IsDir():
			return refuse(0)
		case fb.IsDir():
			if ents, _ := os.ReadDir(filepath.Join(m.M, b)); len(ents) > 0 {
				return refuse(syscall.ENOTEMPTY)
			}
		}
	}
	must(m.t, syscall.Rename(filepath.Join(m.M, a), filepath.Join(m.M, b))) // os.Rename refuses a directory target
	return okOutcome
}

func modeBits(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	if m&syscall.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// apply runs op on n1's view.
func (m *model) apply(op modelOp) error {
	v := m.e.view("n1")
	switch op.kind {
	case "reset":
		return m.e.Srv.Reset("n1")
	case "restart":
		m.e.start()
		return nil
	case "write":
		return write(v, op.a, op.data)
	case "append":
		return appendTo(v, op.a, op.data)
	case "create":
		h, _, err := v.Create(op.a, 0o644, fs.Root)
		if err != nil {
			return err
		}
		if _, err := h.WriteAt([]byte(op.data), 0); err != nil {
			h.Close()
			return err
		}
		return h.Close()
	case "mkdir":
		_, err := v.Mkdir(op.a, op.mode, fs.Root)
		return err
	case "symlink":
		_, err := v.Symlink(op.data, op.a, fs.Root)
		return err
	case "remove":
		return v.Remove(op.a)
	case "rmdir":
		return v.Rmdir(op.a)
	case "rename":
		return v.Rename(op.a, op.b)
	case "truncate":
		_, err := v.Setattr(op.a, fs.SetAttr{Size: u64(op.size)})
		return err
	case "chmod":
		_, err := v.Setattr(op.a, fs.SetAttr{Mode: u32(op.mode)})
		return err
	}
	return fmt.Errorf("unknown op %s", op.kind)
}

// describe renders one object for comparison: type, mode&07777 and content or target.
func describeHost(p string) string {
	fi, err := os.Lstat(p)
	if err != nil {
		return "missing"
	}
	st := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		l, _ := os.Readlink(p)
		return "l " + l
	case fi.IsDir():
		return fmt.Sprintf("d %04o", st.Mode&0o7777)
	default:
		b, _ := os.ReadFile(p)
		return fmt.Sprintf("f %04o %q", st.Mode&0o7777, b)
	}
}

func describeView(v *fs.View, p string) string {
	a, err := v.Getattr(p)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return "missing"
		}
		return "error " + err.Error()
	}
	switch {
	case a.IsSymlink():
		l, err := v.Readlink(p)
		if err != nil {
			return "error " + err.Error()
		}
		return "l " + l
	case a.IsDir():
		return fmt.Sprintf("d %04o", a.Mode&0o7777)
	case a.IsRegular():
		s, err := read(v, p)
		if err != nil {
			return "error " + err.Error()
		}
		if uint64(len(s)) != a.Size {
			return fmt.Sprintf("size %d but %d bytes read", a.Size, len(s))
		}
		return fmt.Sprintf("f %04o %q", a.Mode&0o7777, s)
	}
	return fmt.Sprintf("other %o", a.Mode)
}

// snapshotView walks a view below every entry key.
func (m *model) snapshotView(v *fs.View) map[string]string {
	out := map[string]string{}
	var walk func(p string)
	walk = func(p string) {
		d := describeView(v, p)
		out[p] = d
		if !strings.HasPrefix(d, "d ") {
			return
		}
		ents, err := v.ReadDir(p)
		if err != nil {
			out[p] += " readdir error " + err.Error()
			return
		}
		for _, e := range ents {
			walk(path.Join(p, e.Name))
		}
	}
	for _, en := range m.entries {
		walk(en.key)
	}
	return out
}

func (m *model) snapshotHost(root string) map[string]string {
	out := map[string]string{}
	var walk func(p string)
	walk = func(p string) {
		d := describeHost(filepath.Join(root, p))
		out[p] = d
		if !strings.HasPrefix(d, "d ") {
			return
		}
		ents, _ := os.ReadDir(filepath.Join(root, p))
		for _, e := range ents {
			walk(path.Join(p, e.Name()))
		}
	}
	for _, en := range m.entries {
		walk(en.key)
	}
	return out
}

func diffStates(want, got map[string]string) string {
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		w, g := want[k], got[k]
		if w == "" {
			w = "missing"
		}
		if g == "" {
			g = "missing"
		}
		if w != g {
			fmt.Fprintf(&b, "\n  %s: model %s, view %s", k, w, g)
		}
	}
	return b.String()
}

func (m *model) compare(when string) {
	m.t.Helper()
	if d := diffStates(m.snapshotHost(m.M), m.snapshotView(m.e.view("n1"))); d != "" {
		m.fail("n1's view differs from the model %s:%s", when, d)
	}
}

// run generates and checks up to nops operations.
func (m *model) run(nops int) {
	m.t.Helper()
	m.compare("at the start")
	succeeded := map[string]int{}
	tried := map[string]int{}
	for i := 0; i < nops && !m.ch.done(); i++ {
		op := m.genOp()
		want := m.expect(op)
		err := m.apply(op)
		m.logf("%s -> %v", op, err)
		tried[op.kind]++
		if err == nil {
			succeeded[op.kind]++
		}
		switch {
		case want.ok && err != nil:
			m.fail("%s: %v, the model says it succeeds", op, err)
		case !want.ok && err == nil:
			m.fail("%s succeeded, the model says it fails (%v)", op, want.errno)
		case !want.ok && want.errno == syscall.EROFS && !errors.Is(err, syscall.EROFS):
			m.fail("%s: %v, want EROFS", op, err)
		}
		m.compare("after " + op.String())
	}
	m.t.Logf("%s; operations succeeded/tried: %v / %v", m.log[0], succeeded, tried)
	if os.Getenv("MODEL_LOG") != "" {
		m.t.Logf("%s", strings.Join(m.log, "\n"))
	}
	// n2 did nothing: it sees the sources as they are (its own persistent entries
	// included: it has a statelite row).
	pristine := filepath.Join(m.e.Dir, "pristine")
	saved := m.pers
	m.pers = true
	m.materializeAll(pristine)
	m.pers = saved
	if d := diffStates(m.snapshotHost(pristine), m.snapshotView(m.e.view("n2"))); d != "" {
		m.fail("n2's view is not the pristine view:%s", d)
	}
}

func TestModel(t *testing.T) {
	seqs, nops := 30, 40
	if testing.Short() {
		seqs = 10
	}
	if n, err := strconv.Atoi(os.Getenv("MODEL_SEQS")); err == nil {
		seqs = n // a longer run: MODEL_SEQS=2000 go test -run TestModel ./fs
	}
	for s := 0; s < seqs; s++ {
		t.Run(fmt.Sprint("seed", s), func(t *testing.T) {
			m := newModel(t, randChooser{rand.New(rand.NewSource(int64(s) + 1))})
			m.run(nops)
		})
	}
}

// FuzzOverlay drives the model from fuzz bytes: the first 8 choose the tables and
// sources, the rest the operations. Run it with
//
//	go test -run XXX -fuzz FuzzOverlay -fuzzminimizetime 5s ./fs
//
// (an execution takes tens of milliseconds, so the default minute of minimizing every
// new interesting input stalls the exec counter); normal runs only run the seeds.
func FuzzOverlay(f *testing.F) {
	for s := int64(0); s < 4; s++ {
		r := rand.New(rand.NewSource(100 + s))
		b := make([]byte, 8+40*4)
		r.Read(b)
		f.Add(b)
	}
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01remove rmdir mkdir write rename reset"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		seed := int64(binary.LittleEndian.Uint64(b[:8]))
		m := newModel(t, randChooser{rand.New(rand.NewSource(seed))})
		m.ch = &byteChooser{b: b[8:]}
		m.run(60)
	})
}
