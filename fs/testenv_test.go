package fs_test

import (
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"statelite/fs"
	"statelite/resolver"
	"statelite/tables"
)

// The test cluster: nodes n1 and n2 in group compute, image
// rhels8.6-x86_64-statelite-compute with rootimgdir Dir/img (so R = Dir/img/rootimg and
// D = R/.default), two local litetree sources T1 (priority 1) and T2 (priority 2), and a
// statelite row for the group compute with statemnt Dir/statemnt, so PR(n) =
// Dir/statemnt/<n>. The server's own state lives in Dir/srvstate.

const (
	hdrNodelist  = "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n"
	hdrNodetype  = "#node,os,arch,profile,provmethod,supportedarchs,nodetype,comments,disable\n"
	hdrLitefile  = "#image,file,options,comments,disable\n"
	hdrLitetree  = "#priority,image,directory,mntopts,comments,disable\n"
	hdrStatelite = "#node,image,statemnt,mntopts,comments,disable\n"
	hdrLinuximg  = "#imagename,rootimgdir\n"
	imageName    = "rhels8.6-x86_64-statelite-compute"
)

type env struct {
	t testing.TB
	// Dir holds everything; the other paths are below it.
	Dir, R, D, T1, T2, StateMnt, State, Mnt string
	tabs                                    map[string]string
	gen                                     uint64
	Srv                                     *fs.Server
}

// newEnv builds the cluster with the given litefile rows and starts a server. A row is
// "PATH OPTION" (OPTION may be empty or contain commas, e.g. "/etc/x link,ro").
func newEnv(t testing.TB, rows ...string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, Dir: dir, R: filepath.Join(dir, "img", "rootimg"), T1: filepath.Join(dir, "t1"),
		T2: filepath.Join(dir, "t2"), StateMnt: filepath.Join(dir, "statemnt"), State: filepath.Join(dir, "srvstate"),
		Mnt: filepath.Join(dir, "mnt")}
	e.D = filepath.Join(e.R, ".default")
	for _, d := range []string{e.R, e.D, e.T1, e.T2, e.StateMnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	put(t, e.R, "etc/passwd=root:x:0:0:root:/root:/bin/bash\n", "etc/hostname=image\n", "usr/bin/tool=elf\n", "tmp/")
	e.tabs = map[string]string{
		"nodelist":   hdrNodelist + `"n1","compute,all",,,,,,,,,,,` + "\n" + `"n2","compute,all",,,,,,,,,,,` + "\n",
		"nodetype":   hdrNodetype + `"compute","rhels8.6","x86_64","compute",,,,,` + "\n",
		"linuximage": hdrLinuximg + `"` + imageName + `","` + filepath.Join(dir, "img") + `"` + "\n",
		"litetree":   hdrLitetree + `"1","ALL","` + e.T1 + `",,,` + "\n" + `"2",,"` + e.T2 + `",,,` + "\n",
		"statelite":  hdrStatelite + `"compute",,"` + e.StateMnt + `",,,` + "\n",
		"litefile":   litefileText(rows...),
	}
	e.start()
	return e
}

func litefileText(rows ...string) string {
	var b strings.Builder
	b.WriteString(hdrLitefile)
	for _, r := range rows {
		p, opt, _ := strings.Cut(r, " ")
		if opt == "" {
			b.WriteString(`"ALL","` + p + `",,,` + "\n")
		} else {
			b.WriteString(`"ALL","` + p + `","` + opt + `",,` + "\n")
		}
	}
	return b.String()
}

// PR returns node's persistent root.
func (e *env) PR(node string) string { return filepath.Join(e.StateMnt, node) }

func (e *env) snapshot() *tables.Snapshot {
	e.t.Helper()
	m := map[string]*tables.Table{}
	for name, text := range e.tabs {
		tab, err := tables.Parse(name, strings.NewReader(text))
		if err != nil {
			e.t.Fatalf("parse %s: %v", name, err)
		}
		m[name] = tab
	}
	e.gen++
	return tables.NewSnapshot(e.gen, m)
}

func (e *env) resolver() *resolver.Resolver {
	return resolver.New(e.snapshot(), resolver.Config{Mnt: e.Mnt})
}

// start makes a new server on the same state directory and tables (a restart).
func (e *env) start() {
	e.t.Helper()
	srv, err := fs.New(fs.Config{State: e.State}, e.resolver())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(srv.Close)
	e.Srv = srv
}

// setTable replaces a table's text and switches the running server to the new tables.
func (e *env) setTable(name, text string) {
	e.t.Helper()
	e.tabs[name] = text
	e.Srv.SetResolver(e.resolver())
}

// setLitefile replaces the litefile rows and switches the running server.
func (e *env) setLitefile(rows ...string) { e.setTable("litefile", litefileText(rows...)) }

func (e *env) view(node string) *fs.View {
	e.t.Helper()
	v, err := e.Srv.View(node)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) reset(node string) {
	e.t.Helper()
	if err := e.Srv.Reset(node); err != nil {
		e.t.Fatal(err)
	}
}

// put creates files under root. Each spec is "a/b/" (a directory), "a/b=text" (a file
// with that content, mode 0644) or "a/b->target" (a symlink). Existing files are
// overwritten in place.
func put(t testing.TB, root string, specs ...string) {
	t.Helper()
	for _, s := range specs {
		switch {
		case strings.Contains(s, "->"):
			name, target, _ := strings.Cut(s, "->")
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			os.Remove(p)
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(s, "="):
			name, text, _ := strings.Cut(s, "=")
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(s, "/"):
			if err := os.MkdirAll(filepath.Join(root, s), 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("put: bad spec %q", s)
		}
	}
}

// hostRead reads a file of the serving host ("" and false when it does not exist).
func hostRead(p string) (string, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	return string(b), true
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// read returns the whole content of view file p.
func read(v *fs.View, p string) (string, error) {
	h, err := v.Open(p, os.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer h.Close()
	var b []byte
	buf := make([]byte, 4096)
	var off int64
	for {
		n, err := h.ReadAt(buf, off)
		b = append(b, buf[:n]...)
		off += int64(n)
		if err == io.EOF || (err == nil && n == 0) {
			return string(b), nil
		}
		if err != nil {
			return string(b), err
		}
	}
}

func mustRead(t testing.TB, v *fs.View, p string) string {
	t.Helper()
	s, err := read(v, p)
	if err != nil {
		t.Fatalf("%s: read %s: %v", v.Node(), p, err)
	}
	return s
}

// wantContent checks that view file p reads as want.
func wantContent(t testing.TB, v *fs.View, p, want string) {
	t.Helper()
	got, err := read(v, p)
	if err != nil {
		t.Errorf("%s: read %s: %v (want %q)", v.Node(), p, err, want)
		return
	}
	if got != want {
		t.Errorf("%s: %s = %q, want %q", v.Node(), p, got, want)
	}
}

// write replaces the content of view file p, creating it (mode 0644, root) if missing.
func write(v *fs.View, p, data string) error {
	h, err := v.Open(p, os.O_WRONLY|os.O_TRUNC)
	if errors.Is(err, iofs.ErrNotExist) {
		h, _, err = v.Create(p, 0o644, fs.Root)
	}
	if err != nil {
		return err
	}
	if _, err := h.WriteAt([]byte(data), 0); err != nil {
		h.Close()
		return err
	}
	return h.Close()
}

func mustWrite(t testing.TB, v *fs.View, p, data string) {
	t.Helper()
	if err := write(v, p, data); err != nil {
		t.Fatalf("%s: write %s: %v", v.Node(), p, err)
	}
}

// appendTo appends data to existing view file p.
func appendTo(v *fs.View, p, data string) error {
	a, err := v.Getattr(p)
	if err != nil {
		return err
	}
	h, err := v.Open(p, os.O_WRONLY)
	if err != nil {
		return err
	}
	if _, err := h.WriteAt([]byte(data), int64(a.Size)); err != nil {
		h.Close()
		return err
	}
	return h.Close()
}

// names lists directory p of the view, sorted.
func names(v *fs.View, p string) ([]string, error) {
	ents, err := v.ReadDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out, nil
}

func mustNames(t testing.TB, v *fs.View, p string) string {
	t.Helper()
	n, err := names(v, p)
	if err != nil {
		t.Fatalf("%s: readdir %s: %v", v.Node(), p, err)
	}
	return strings.Join(n, " ")
}

func wantNames(t testing.TB, v *fs.View, p, want string) {
	t.Helper()
	if got := mustNames(t, v, p); got != want {
		t.Errorf("%s: ls %s = [%s], want [%s]", v.Node(), p, got, want)
	}
}

// wantErrno checks that err is (or wraps) errno e.
func wantErrno(t testing.TB, what string, err error, e syscall.Errno) {
	t.Helper()
	if !errors.Is(err, e) {
		t.Errorf("%s: err = %v, want %v", what, err, e)
	}
}

func wantOK(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// wantGone checks that view path p does not exist.
func wantGone(t testing.TB, v *fs.View, p string) {
	t.Helper()
	if a, err := v.Getattr(p); err == nil {
		t.Errorf("%s: %s exists (mode %o), want ENOENT", v.Node(), p, a.Mode)
	} else if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("%s: getattr %s: %v, want ENOENT", v.Node(), p, err)
	}
}

func mustAttr(t testing.TB, v *fs.View, p string) fs.Attr {
	t.Helper()
	a, err := v.Getattr(p)
	if err != nil {
		t.Fatalf("%s: getattr %s: %v", v.Node(), p, err)
	}
	return a
}

func u32(m uint32) *uint32 { return &m }
func u64(m uint64) *uint64 { return &m }
