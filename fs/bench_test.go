package fs_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"statelite/fs"
	"statelite/resolver"
	"statelite/tables"
)

// benchCluster builds a cluster of n nodes over an image at dir/img/rootimg with a
// Cookbook-sized litefile, and returns the server.
func benchCluster(b *testing.B, dir string, nodes int) (*fs.Server, string) {
	b.Helper()
	R := filepath.Join(dir, "img", "rootimg")
	os.MkdirAll(filepath.Join(R, ".default"), 0o755)
	var nl strings.Builder
	nl.WriteString("#node,groups\n")
	for i := 1; i <= nodes; i++ {
		fmt.Fprintf(&nl, "\"n%d\",\"compute\"\n", i)
	}
	var lf strings.Builder
	lf.WriteString("#image,file,options\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&lf, "\"ALL\",\"/var/cache/app%d/\",\"tmpfs\"\n", i)
	}
	lf.WriteString("\"ALL\",\"/etc/\",\"tmpfs\"\n\"ALL\",\"/var/lib/state/\",\"persistent\"\n")
	text := map[string]string{
		"nodelist":   nl.String(),
		"nodetype":   "#node,os,arch,profile\n\"compute\",\"os\",\"x86_64\",\"p\"\n",
		"linuximage": "#imagename,rootimgdir\n\"os-x86_64-statelite-p\"," + fmt.Sprintf("%q", filepath.Join(dir, "img")) + "\n",
		"litefile":   lf.String(),
		"statelite":  "#node,statemnt\n\"compute\"," + fmt.Sprintf("%q", filepath.Join(dir, "state")) + "\n",
	}
	tabs := map[string]*tables.Table{}
	for n, body := range text {
		t, err := tables.Parse(n, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		tabs[n] = t
	}
	snap := tables.NewSnapshot(1, tabs)
	if probs := tables.Validate(snap); tables.HasErrors(probs) {
		b.Fatal(probs)
	}
	srv, err := fs.New(fs.Config{State: filepath.Join(dir, "srv")}, resolver.New(snap, resolver.Config{Mnt: filepath.Join(dir, "mnt")}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	return srv, R
}

func BenchmarkGetattrDeep(b *testing.B) {
	dir := b.TempDir()
	srv, R := benchCluster(b, dir, 1)
	deep := "/usr/share/doc/pkg/examples/a/b/c/file.txt"
	os.MkdirAll(filepath.Join(R, filepath.Dir(deep)), 0o755)
	os.WriteFile(filepath.Join(R, deep), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(R, "etc/ssh/keys.d"), 0o755)
	os.WriteFile(filepath.Join(R, "etc/ssh/keys.d/k"), []byte("k"), 0o600)
	v, _ := srv.View("n1")
	for _, p := range []string{deep, "/etc/ssh/keys.d/k"} {
		b.Run(strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "_"), func(b *testing.B) {
			for b.Loop() {
				if _, err := v.Getattr(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("direct-lstat", func(b *testing.B) {
		for b.Loop() {
			if _, err := os.Lstat(filepath.Join(R, deep)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSeqRead reads a 64 MiB image file through the view and directly, 1 MiB at a
// time (the NFS rsize); compare the two MB/s figures.
func BenchmarkSeqRead(b *testing.B) {
	dir := b.TempDir()
	srv, R := benchCluster(b, dir, 1)
	const size = 64 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	os.MkdirAll(filepath.Join(R, "opt"), 0o755)
	os.WriteFile(filepath.Join(R, "opt/big"), data, 0o644)
	v, _ := srv.View("n1")
	buf := make([]byte, 1<<20)
	read := func(b *testing.B, r io.ReaderAt) {
		for off := int64(0); off < size; off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
				b.Fatal(err)
			}
		}
	}
	b.Run("view", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			h, err := v.Open("/opt/big", os.O_RDONLY)
			if err != nil {
				b.Fatal(err)
			}
			read(b, h)
			h.Close()
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.Open(filepath.Join(R, "opt/big"))
			if err != nil {
				b.Fatal(err)
			}
			read(b, f)
			f.Close()
		}
	})
}

func BenchmarkReadDir20k(b *testing.B) {
	dir := b.TempDir()
	srv, R := benchCluster(b, dir, 1)
	big := filepath.Join(R, "usr/lib/big")
	os.MkdirAll(big, 0o755)
	for i := 0; i < 20000; i++ {
		os.WriteFile(filepath.Join(big, fmt.Sprintf("f%05d", i)), nil, 0o644)
	}
	v, _ := srv.View("n1")
	b.Run("view", func(b *testing.B) {
		for b.Loop() {
			ents, err := v.ReadDir("/usr/lib/big")
			if err != nil || len(ents) != 20000 {
				b.Fatal(len(ents), err)
			}
		}
	})
	b.Run("direct-readdir+lstat", func(b *testing.B) {
		for b.Loop() {
			ents, err := os.ReadDir(big)
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range ents {
				os.Lstat(filepath.Join(big, e.Name()))
			}
		}
	})
}

// BenchmarkMemoryPerNode reports the heap held per node view with an untouched volatile layer.
func BenchmarkMemoryPerNode(b *testing.B) {
	const nodes = 2000
	for b.Loop() {
		dir := b.TempDir()
		srv, _ := benchCluster(b, dir, nodes)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		views := make([]*fs.View, 0, nodes)
		for i := 1; i <= nodes; i++ {
			v, err := srv.View(fmt.Sprintf("n%d", i))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Getattr("/etc"); err != nil {
				b.Fatal(err)
			}
			views = append(views, v)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/nodes, "heap-bytes/node")
		runtime.KeepAlive(views)
	}
}
