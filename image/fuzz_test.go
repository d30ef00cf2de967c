package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fzTar is mkTar without a test (seeds are made before f.Fuzz).
func fzTar(es []tentry) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		tw.WriteHeader(h)
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return b.Bytes()
}

// fzRawHeader is a hand-made tar header block (for what tar.Writer refuses to write:
// PAX records of GNU sparse files, old GNU sparse headers) followed by body.
func fzRawHeader(name string, typ byte, body []byte, realSize int64) []byte {
	var h [512]byte
	copy(h[0:], name)
	copy(h[100:], "0000644\x00")
	copy(h[108:], "0000000\x00")
	copy(h[116:], "0000000\x00")
	copy(h[124:], fmt.Sprintf("%011o\x00", len(body)))
	copy(h[136:], "15000000000\x00")
	h[156] = typ
	if typ == tar.TypeGNUSparse {
		copy(h[257:], "ustar  \x00")
		copy(h[483:], fmt.Sprintf("%011o\x00", realSize))
	} else {
		copy(h[257:], "ustar\x0000")
	}
	copy(h[148:], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	out := append(h[:], body...)
	for len(out)%512 != 0 {
		out = append(out, 0)
	}
	return out
}

// fzSparseLayer is a layer of a few hundred bytes holding a GNU sparse file (PAX 0.1)
// of realSize bytes, all hole.
func fzSparseLayer(name string, realSize int64) []byte {
	var recs string
	for _, kv := range [][2]string{{"GNU.sparse.major", "0"}, {"GNU.sparse.minor", "1"}, {"GNU.sparse.name", name},
		{"GNU.sparse.size", fmt.Sprint(realSize)}, {"GNU.sparse.numblocks", "0"}, {"GNU.sparse.map", ""}} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec) + 1
		if len(fmt.Sprint(n+len(rec))) > 1 {
			n = len(rec) + len(fmt.Sprint(len(rec)+2))
		}
		recs += fmt.Sprint(n) + rec
	}
	out := fzRawHeader("PaxHeaders/"+name, tar.TypeXHeader, []byte(recs), 0)
	out = append(out, fzRawHeader(name, tar.TypeReg, nil, 0)...)
	return append(out, make([]byte, 1024)...)
}

// fzArchives returns a docker-save archive and an OCI layout archive holding layer.
func fzArchives(layer []byte) (docker, oci []byte) {
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	man, _ := json.Marshal([]map[string]any{{"Config": "c.json", "RepoTags": []string{"x:1"}, "Layers": []string{"l/layer.tar"}}})
	docker = fzTar([]tentry{{name: "l/", typ: tar.TypeDir}, {name: "l/layer.tar", body: string(layer)},
		{name: "c.json", body: string(cfg)}, {name: "manifest.json", body: string(man)}})
	ly, cf := sha(layer), sha(cfg)
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "config": map[string]any{"digest": "sha256:" + cf},
		"layers": []map[string]any{{"digest": "sha256:" + ly}}})
	idx, _ := json.Marshal(map[string]any{"manifests": []map[string]any{{"digest": "sha256:" + sha(m),
		"annotations": map[string]string{"org.opencontainers.image.ref.name": "v1"}}}})
	oci = fzTar([]tentry{{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`}, {name: "index.json", body: string(idx)},
		{name: "blobs/sha256/" + ly, body: string(layer)}, {name: "blobs/sha256/" + cf, body: string(cfg)},
		{name: "blobs/sha256/" + sha(m), body: string(m)}})
	return docker, oci
}

func fzLayers() [][]byte {
	return [][]byte{
		fzTar([]tentry{{name: "etc/", typ: tar.TypeDir}, {name: "etc/motd", body: "hi\n"}, {name: "lib", typ: tar.TypeSymlink, link: "usr/lib"},
			{name: "usr/lib/x", body: "x"}, {name: "etc/m2", typ: tar.TypeLink, link: "etc/motd"}, {name: "etc/.wh.motd"}, {name: "usr/.wh..wh..opq"},
			{name: "dev/null", typ: tar.TypeChar, mode: 0o666}, {name: "run/fifo", typ: tar.TypeFifo}}),
		fzTar([]tentry{{name: "up", typ: tar.TypeSymlink, link: "../../.."}, {name: "up/escaped", body: "x"}}),
		fzTar([]tentry{{name: "d/", typ: tar.TypeDir}, {name: "d/up", typ: tar.TypeSymlink, link: ".."}, {name: "d/up/d/up/x", body: "x"}}),
	}
}

// fzSandbox is where one input is imported: dir/a/b/c/dest, the archive in dir. Any file
// written elsewhere than dest (or the temporary directories next to it that Import
// removes) escaped.
type fzSandbox struct{ dir, deep string }

func newSandbox(t *testing.T) fzSandbox {
	dir := t.TempDir()
	deep := filepath.Join(dir, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	return fzSandbox{dir: dir, deep: deep}
}

// check fails when anything but the sandbox's own files, and dest (allowed: the names
// in keep), exists in it.
func (sb fzSandbox) check(t *testing.T, keep ...string) {
	allowed := map[string]bool{".": true, "a": true, "a/b": true, "a/b/c": true}
	for _, k := range keep {
		allowed[k] = true
	}
	filepath.WalkDir(sb.dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(sb.dir, p)
		if allowed[rel] {
			return nil
		}
		if strings.HasPrefix(rel, "a/b/c/dest/") {
			return fs.SkipDir
		}
		t.Errorf("written outside the target directory: %s", rel)
		return nil
	})
}

// fzMem checks that an input did not make the process allocate far more than it holds.
// A run that hangs (an open of a FIFO waits for a writer for ever) panics in another
// goroutine after 30 s, which ends the fuzzing process: the fuzzer keeps the input.
func fzMem(t *testing.T, in []byte, run func()) {
	watch := time.AfterFunc(30*time.Second, func() { panic(fmt.Sprintf("an input of %d bytes runs for more than 30s", len(in))) })
	defer watch.Stop()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20+uint64(len(in))*64 {
		t.Errorf("an input of %d bytes made %d MiB of allocations", len(in), d>>20)
	}
}

// FuzzImport imports fuzzed archive bytes (docker-save or OCI layout tar, gzipped,
// zstd-compressed or not, its layers too) with Import: no panic, no file outside the
// target directory, allocations bounded by the input, a bounded time.
func FuzzImport(f *testing.F) {
	for _, l := range fzLayers() {
		d, o := fzArchives(l)
		f.Add(d)
		f.Add(gz(o))
		f.Add(zst(o))
		_, oz := fzArchives(zst(l)) // an OCI layout with a zstd layer
		f.Add(oz)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		needRoot(t)
		sb := newSandbox(t)
		src := filepath.Join(sb.dir, "in.tar")
		if err := os.WriteFile(src, in, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		fzMem(t, in, func() { Import(ctx, src, filepath.Join(sb.deep, "dest"), ImportOptions{}) })
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("Import took %v", d)
		}
		sb.check(t, "in.tar", "a/b/c/dest")
	})
}

// FuzzApplyLayer applies a fuzzed layer tar to a tree holding a file: the same checks
// as FuzzImport.
func FuzzApplyLayer(f *testing.F) {
	for _, l := range fzLayers() {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		needRoot(t)
		sb := newSandbox(t)
		dest := filepath.Join(sb.deep, "dest")
		os.MkdirAll(filepath.Join(dest, "etc"), 0o755)
		os.WriteFile(filepath.Join(dest, "etc", "passwd"), []byte("root:x:0:0\n"), 0o644)
		start := time.Now()
		fzMem(t, in, func() { ApplyLayer(dest, bytes.NewReader(in), nil) })
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("ApplyLayer took %v", d)
		}
		sb.check(t, "a/b/c/dest")
	})
}

// A layer holding a GNU sparse file (a few hundred bytes that would unpack to a
// terabyte of holes) is refused, and nothing of it is written.
func TestSparseLayerRefused(t *testing.T) {
	dir := t.TempDir()
	err := ApplyLayer(dir, bytes.NewReader(fzSparseLayer("big", 1<<40)), nil)
	if !errors.Is(err, errSparse) {
		t.Fatalf("a sparse layer: %v, want %v", err, errSparse)
	}
	if _, err := os.Lstat(filepath.Join(dir, "big")); err == nil {
		t.Fatal("the sparse file was written")
	}
}
