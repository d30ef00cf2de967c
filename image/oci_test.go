package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	needtool "statelite/internal/need"
)

type tentry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
}

func mkTar(t *testing.T, es []tentry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, Linkname: e.link, ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	z := gzip.NewWriter(&out)
	z.Write(b)
	z.Close()
	return out.Bytes()
}

// zst compresses b as podman and buildah do (klauspost/compress, its default level).
func zst(b []byte) []byte {
	var out bytes.Buffer
	z, err := zstd.NewWriter(&out)
	if err != nil {
		panic(err)
	}
	z.Write(b)
	z.Close()
	return out.Bytes()
}

// gunzip undoes gz.
func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testLayers: a base layer, then a layer with a whiteout, an opaque directory (whose
// new content comes before the marker in the tar: it must stay), a file through a
// relative symlinked directory, replacements of an absolute symlink and a file below an
// absolute symlink to /etc (both must stay inside the root).
func testLayers(t *testing.T) [][]byte {
	l1 := mkTar(t, []tentry{
		{name: "./", typ: tar.TypeDir},
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/a.conf", body: "a\n"},
		{name: "etc/keep.conf", body: "keep\n"},
		{name: "etc/passwd-link", typ: tar.TypeSymlink, link: "/etc/passwd"},
		{name: "hostetc", typ: tar.TypeSymlink, link: "/etc"},
		{name: "opt/", typ: tar.TypeDir},
		{name: "opt/dir/", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 1000},
		{name: "opt/dir/old1", body: "old1\n"},
		{name: "opt/dir/sub/", typ: tar.TypeDir},
		{name: "opt/dir/sub/old2", body: "old2\n"},
		{name: "usr/", typ: tar.TypeDir},
		{name: "usr/lib/", typ: tar.TypeDir},
		{name: "usr/lib/libfoo.so", body: "foo\n"},
		{name: "lib", typ: tar.TypeSymlink, link: "usr/lib"},
		{name: "usr/bin/", typ: tar.TypeDir},
		{name: "usr/bin/su", body: "su\n", mode: 0o4755},
		{name: "usr/bin/su-hard", typ: tar.TypeLink, link: "usr/bin/su"},
		{name: "home/", typ: tar.TypeDir},
		{name: "home/alice/", typ: tar.TypeDir, mode: 0o700, uid: 1001, gid: 1002},
		{name: "home/alice/.profile", body: "PS1=$\n", uid: 1001, gid: 1002, mode: 0o600},
		{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600},
	})
	l2 := mkTar(t, []tentry{
		{name: "etc/.wh.a.conf", typ: tar.TypeReg},
		{name: "opt/dir/new", body: "new\n"},
		{name: "opt/dir/.wh..wh..opq", typ: tar.TypeReg},
		{name: "lib/libbar.so", body: "bar\n"},
		{name: "etc/passwd-link", body: "replaced link\n"},
		{name: "hostetc/evil", body: "must stay in the image\n"},
		{name: "usr/bin/.wh.nothing-there", typ: tar.TypeReg},
	})
	return [][]byte{gz(l1), l2}
}

var wantTree = map[string]string{
	"etc/":                "dir 755 0:0",
	"etc/keep.conf":       "file 644 0:0 keep\n",
	"etc/passwd-link":     "file 644 0:0 replaced link\n",
	"etc/evil":            "file 644 0:0 must stay in the image\n",
	"hostetc":             "link /etc",
	"lib":                 "link usr/lib",
	"opt/":                "dir 755 0:0",
	"opt/dir/":            "dir 750 1000:1000",
	"opt/dir/new":         "file 644 0:0 new\n",
	"usr/":                "dir 755 0:0",
	"usr/lib/":            "dir 755 0:0",
	"usr/lib/libfoo.so":   "file 644 0:0 foo\n",
	"usr/lib/libbar.so":   "file 644 0:0 bar\n",
	"usr/bin/":            "dir 755 0:0",
	"usr/bin/su":          "file 4755 0:0 su\n",
	"usr/bin/su-hard":     "file 4755 0:0 su\n",
	"home/":               "dir 755 0:0",
	"home/alice/":         "dir 700 1001:1002",
	"home/alice/.profile": "file 600 1001:1002 PS1=$\n",
	"run/":                "dir 755 0:0",
	"run/fifo":            "fifo 600 0:0",
}

func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, _ := os.Lstat(p)
		st := fi.Sys().(*syscall.Stat_t)
		perm := fi.Mode().Perm()
		m := uint32(perm)
		if fi.Mode()&fs.ModeSetuid != 0 {
			m |= 0o4000
		}
		own := " " + strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid))
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "link " + l
		case fi.IsDir():
			out[rel+"/"] = "dir " + octal(m) + own
		case fi.Mode()&fs.ModeNamedPipe != 0:
			out[rel] = "fifo " + octal(m) + own
		default:
			b, _ := os.ReadFile(p)
			out[rel] = "file " + octal(m) + own + " " + string(b)
		}
		return nil
	})
	return out
}

func octal(m uint32) string {
	var b []byte
	for m > 0 {
		b = append([]byte{byte('0' + m%8)}, b...)
		m /= 8
	}
	return string(b)
}

func compareTree(t *testing.T, root string) {
	t.Helper()
	got := tree(t, root)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range wantTree {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != wantTree[k] {
			t.Errorf("%s: got %q, want %q", k, got[k], wantTree[k])
		}
	}
	a, _ := os.Stat(filepath.Join(root, "usr/bin/su"))
	b, _ := os.Stat(filepath.Join(root, "usr/bin/su-hard"))
	if !os.SameFile(a, b) {
		t.Error("usr/bin/su-hard is not a hard link of usr/bin/su")
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeOCI writes an OCI image layout with the layers into dir.
func writeOCI(t *testing.T, dir string, layers [][]byte) {
	t.Helper()
	blob := func(b []byte) string {
		h := sha(b)
		write(t, filepath.Join(dir, "blobs", "sha256", h), string(b))
		return "sha256:" + h
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers"}})
	var ls []map[string]any
	for _, l := range layers {
		mt := "application/vnd.oci.image.layer.v1.tar"
		switch l[0] {
		case 0x1f:
			mt += "+gzip"
		case 0x28:
			mt += "+zstd"
		}
		ls = append(ls, map[string]any{"mediaType": mt, "digest": blob(l), "size": len(l)})
	}
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(cfg), "size": len(cfg)},
		"layers": ls,
	})
	md := blob(man)
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []map[string]any{{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(man),
		"annotations": map[string]string{"org.opencontainers.image.ref.name": "v1"},
		"platform":    map[string]string{"architecture": "amd64", "os": "linux"},
	}}})
	write(t, filepath.Join(dir, "index.json"), string(idx))
	write(t, filepath.Join(dir, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		needtool.Skip(t, "keeping owners needs root")
	}
}

func TestImportOCILayout(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	writeOCI(t, filepath.Join(dir, "oci"), testLayers(t))
	dest := filepath.Join(dir, "img", "rootimg")
	var log strings.Builder
	res, err := Import(context.Background(), filepath.Join(dir, "oci"), dest, ImportOptions{Ref: "v1", Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if res.Format != "oci" || res.Layers != 2 || res.Arch != "x86_64" || res.Ref != "v1" || res.Stats.Whiteouts != 2 || res.Stats.Opaque != 1 {
		t.Errorf("result %+v", res)
	}
	compareTree(t, dest)
	if _, err := os.Stat(filepath.Join(dir, "img", "rootimg.partial")); err == nil {
		t.Error("rootimg.partial left behind")
	}
	// Into a non-empty destination: refused.
	if _, err := Import(context.Background(), filepath.Join(dir, "oci"), dest, ImportOptions{}); err == nil {
		t.Error("import over a non-empty root: no error")
	}
	if _, err := Import(context.Background(), filepath.Join(dir, "oci"), filepath.Join(dir, "img2"), ImportOptions{Ref: "v2"}); err == nil || !strings.Contains(err.Error(), `"v2"`) {
		t.Errorf("unknown tag: %v", err)
	}

	// A tar of the layout (docker save of Docker 25+, skopeo oci-archive) imports the same.
	var es []tentry
	filepath.WalkDir(filepath.Join(dir, "oci"), func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(filepath.Join(dir, "oci"), p)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			es = append(es, tentry{name: rel + "/", typ: tar.TypeDir})
		} else {
			b, _ := os.ReadFile(p)
			es = append(es, tentry{name: rel, body: string(b)})
		}
		return nil
	})
	archive := filepath.Join(dir, "oci.tar")
	os.WriteFile(archive, mkTar(t, es), 0o644)
	if _, err := Import(context.Background(), archive, filepath.Join(dir, "img3", "rootimg"), ImportOptions{}); err != nil {
		t.Fatalf("OCI archive: %v", err)
	}
	compareTree(t, filepath.Join(dir, "img3", "rootimg"))

	// A layer blob that does not match its digest is refused.
	blobs, _ := filepath.Glob(filepath.Join(dir, "oci", "blobs", "sha256", "*"))
	for _, b := range blobs {
		if data, _ := os.ReadFile(b); len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
			os.WriteFile(b, gz(mkTar(t, []tentry{{name: "tampered", body: "x"}})), 0o644)
		}
	}
	if _, err := Import(context.Background(), filepath.Join(dir, "oci"), filepath.Join(dir, "img4", "rootimg"), ImportOptions{}); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("tampered layer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "img4", "rootimg.partial")); err == nil {
		t.Error("a failed import left rootimg.partial")
	}
}

// zstd layers (application/vnd.oci.image.layer.v1.tar+zstd, the default of recent podman
// and buildah) import as gzip ones do, beside a gzip layer and in a zstd-compressed
// docker-save archive; a corrupt one is an error naming the layer's digest, and a frame
// asking for a huge window or expanding like a bomb is refused before it costs memory or
// disk.
func TestImportZstd(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	ls := testLayers(t)
	base := gunzip(t, ls[0])
	writeOCI(t, filepath.Join(dir, "oci"), [][]byte{zst(base), zst(ls[1])})
	dest := filepath.Join(dir, "img", "rootimg")
	res, err := Import(context.Background(), filepath.Join(dir, "oci"), dest, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Layers != 2 || res.Stats.Whiteouts != 2 || res.Stats.Opaque != 1 {
		t.Errorf("result %+v", res)
	}
	compareTree(t, dest)
	// Mixed: a gzip layer under a zstd one.
	writeOCI(t, filepath.Join(dir, "oci-mixed"), [][]byte{ls[0], zst(ls[1])})
	if _, err := Import(context.Background(), filepath.Join(dir, "oci-mixed"), filepath.Join(dir, "mixed", "rootimg"), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	compareTree(t, filepath.Join(dir, "mixed", "rootimg"))

	// A docker-save archive compressed with zstd (docker save | zstd).
	var es []tentry
	var paths []string
	for i, l := range [][]byte{base, ls[1]} {
		id := strings.Repeat(string(rune('a'+i)), 64)
		es = append(es, tentry{name: id + "/", typ: tar.TypeDir}, tentry{name: id + "/layer.tar", body: string(l)})
		paths = append(paths, id+"/layer.tar")
	}
	man, _ := json.Marshal([]map[string]any{{"Config": "c.json", "RepoTags": []string{"x:1"}, "Layers": paths}})
	es = append(es, tentry{name: "c.json", body: `{"architecture":"amd64","os":"linux"}`}, tentry{name: "manifest.json", body: string(man)})
	os.WriteFile(filepath.Join(dir, "save.tar.zst"), zst(mkTar(t, es)), 0o644)
	if _, err := Import(context.Background(), filepath.Join(dir, "save.tar.zst"), filepath.Join(dir, "saved", "rootimg"), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	compareTree(t, filepath.Join(dir, "saved", "rootimg"))

	// A corrupt zstd layer whose digest matches (a broken compressor, not a tampered
	// blob): an error naming the layer by its digest, and nothing left behind.
	bad := zst(base)
	for i := len(bad) / 3; i < len(bad)*2/3; i++ {
		bad[i] ^= 0x5a
	}
	writeOCI(t, filepath.Join(dir, "oci-bad"), [][]byte{bad, zst(ls[1])})
	_, err = Import(context.Background(), filepath.Join(dir, "oci-bad"), filepath.Join(dir, "bad", "rootimg"), ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "layer 1 (sha256:"+sha(bad)+")") || !strings.Contains(err.Error(), "zstd") {
		t.Errorf("corrupt zstd layer: %v", err)
	} else {
		t.Logf("corrupt zstd layer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad", "rootimg.partial")); err == nil {
		t.Error("a failed import left rootimg.partial")
	}
	// Truncated.
	writeOCI(t, filepath.Join(dir, "oci-short"), [][]byte{zst(base)[:200]})
	if _, err := Import(context.Background(), filepath.Join(dir, "oci-short"), filepath.Join(dir, "short", "rootimg"), ImportOptions{}); err == nil || !strings.Contains(err.Error(), "zstd") {
		t.Errorf("truncated zstd layer: %v", err)
	}
}

// The zstd path is held to the gzip path's worst case: a frame declaring a window
// beyond zstdMaxWindow is refused before it is allocated, and a stream expanding more
// than gzip could is cut off.
func TestZstdBounds(t *testing.T) {
	// Frame headers (no single segment, no checksum) with a window descriptor, then one
	// empty raw last block: 0xf0 asks for 2^(10+30) bytes (1 TiB), 0x78 for 2^(10+15)
	// (32 MiB), both refused before they cost memory; 0x70, 16 MiB, is fine.
	frame := func(desc byte) []byte { return append(append([]byte{}, zstdMagic...), 0x00, desc, 0x01, 0x00, 0x00) }
	dec := &decompressor{}
	defer dec.close()
	for _, desc := range []byte{0xf0, 0x78} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := dec.open(bufio.NewReader(bytes.NewReader(frame(desc))))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "needs a window of more than 16 MiB") {
			t.Errorf("window descriptor %#x: %v", desc, err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
			t.Errorf("a refused window cost %d MiB", d>>20)
		}
	}
	r, err := dec.open(bufio.NewReader(bytes.NewReader(frame(0x70))))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if err != nil {
		t.Errorf("a 16 MiB window: %v", err)
	}

	// 1 GiB of zeros compresses to a few KiB: more than gzip's ratio allows.
	var zb bytes.Buffer
	zw, _ := zstd.NewWriter(&zb)
	zero := make([]byte, 1<<20)
	for range 1 << 10 {
		zw.Write(zero)
	}
	zw.Close()
	r, err = dec.open(bufio.NewReader(bytes.NewReader(zb.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	if !errors.Is(err, errZstdBomb) {
		t.Errorf("1 GiB of zeros in %d bytes: %v after %d bytes", zb.Len(), err, n)
	}
	if n > int64(zb.Len())*gzipMaxRatio+zstdSlack+1<<20 {
		t.Errorf("%d bytes out of %d before the cut", n, zb.Len())
	}
	// zstd:chunked: several frames, then a skippable frame (its table of contents).
	chunked := append(zst([]byte("part one, ")), zst([]byte("part two"))...)
	chunked = append(chunked, 0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 't', 'o', 'c', '!')
	r, err = dec.open(bufio.NewReader(bytes.NewReader(chunked)))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || string(b) != "part one, part two" {
		t.Errorf("frames and a skippable frame: %q, %v", b, err)
	}
	// The same decoder still reads a good stream after that.
	r, err = dec.open(bufio.NewReader(bytes.NewReader(zst([]byte("hello")))))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || string(b) != "hello" {
		t.Errorf("after a refused stream: %q, %v", b, err)
	}
}

func TestImportDockerSave(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	layers := testLayers(t)
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	var es []tentry
	var paths []string
	for i, l := range layers {
		id := strings.Repeat(string(rune('a'+i)), 64)
		es = append(es, tentry{name: id + "/", typ: tar.TypeDir}, tentry{name: id + "/layer.tar", body: string(l)})
		paths = append(paths, id+"/layer.tar")
	}
	man, _ := json.Marshal([]map[string]any{{"Config": sha(cfg) + ".json", "RepoTags": []string{"example/node:1"}, "Layers": paths}})
	es = append(es, tentry{name: sha(cfg) + ".json", body: string(cfg)}, tentry{name: "manifest.json", body: string(man)})
	archive := filepath.Join(dir, "node.tar.gz")
	if err := os.WriteFile(archive, gz(mkTar(t, es)), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "netboot", "node", "rootimg")
	res, err := Import(context.Background(), archive, dest, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != "docker-save" || res.Ref != "example/node:1" || res.Layers != 2 {
		t.Errorf("result %+v", res)
	}
	compareTree(t, dest)
	if ents, _ := filepath.Glob(filepath.Join(dir, "netboot", ".import-*")); len(ents) > 0 {
		t.Errorf("temporary directories left: %q", ents)
	}
}

func TestImportRefusesEscapes(t *testing.T) {
	for name, es := range map[string][]tentry{
		"dotdot":          {{name: "../evil", body: "x"}},
		"dotdot-inside":   {{name: "etc/../../evil", body: "x"}},
		"hardlink-out":    {{name: "x", typ: tar.TypeLink, link: "../../etc/passwd"}},
		"whiteout-dotdot": {{name: "../.wh.evil", typ: tar.TypeReg}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "root")
			os.MkdirAll(root, 0o755)
			write(t, filepath.Join(dir, "evil"), "outside\n")
			err := ApplyLayer(root, bytes.NewReader(mkTar(t, es)), nil)
			if err == nil {
				t.Fatal("no error")
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "evil")); string(b) != "outside\n" {
				t.Errorf("the file outside the root changed: %q", b)
			}
		})
	}
	// A symlink to an absolute path is content: writing below it stays inside the root,
	// and so does a chain of relative links climbing above the root.
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(root, 0o755)
	err := ApplyLayer(root, bytes.NewReader(mkTar(t, []tentry{
		{name: "up", typ: tar.TypeSymlink, link: "../../../.."},
		{name: "up/escaped", body: "x"},
		{name: "tmp", typ: tar.TypeSymlink, link: "/var/tmp"},
		{name: "tmp/statelite-oci-test-" + filepath.Base(dir), body: "x"},
	})), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "escaped")); err != nil {
		t.Errorf("up/escaped not at the root's /escaped: %v", err)
	}
	host := filepath.Join("/var/tmp", "statelite-oci-test-"+filepath.Base(dir))
	if _, err := os.Stat(host); err == nil {
		os.Remove(host)
		t.Error("a file was written through an absolute symlink to the host's /var/tmp")
	}
	if _, err := os.Stat(filepath.Join(root, "var", "tmp", "statelite-oci-test-"+filepath.Base(dir))); err != nil {
		t.Errorf("tmp/… not in the root's /var/tmp: %v", err)
	}
	// A link to itself (/tmp -> /tmp inside the root) is a loop, not a way out.
	err = ApplyLayer(root, bytes.NewReader(mkTar(t, []tentry{
		{name: "loop", typ: tar.TypeSymlink, link: "/loop"},
		{name: "loop/x", body: "x"},
	})), nil)
	if err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("symlink loop: %v", err)
	}
}
