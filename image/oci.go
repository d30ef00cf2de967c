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
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// ImportOptions say which image of an archive to import.
type ImportOptions struct {
	Ref  string // a tag (docker-save RepoTags, OCI org.opencontainers.image.ref.name); "" = the only or first image
	Arch string // the platform's architecture in a multi-platform index ("" = this host's)
	Log  io.Writer
}

// ImportResult says what was imported.
type ImportResult struct {
	Format   string // "oci" or "docker-save"
	Ref      string
	Arch, OS string // from the image config (xCAT naming for Arch)
	Layers   int
	Stats    LayerStats
}

// LayerStats counts what layers did to the tree.
type LayerStats struct {
	Files, Dirs, Symlinks, Hardlinks, Devices, Whiteouts, Opaque int
}

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant"`
	} `json:"platform"`
}

type ociIndex struct {
	MediaType string          `json:"mediaType"`
	Manifests []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	MediaType string          `json:"mediaType"`
	Config    ociDescriptor   `json:"config"`
	Layers    []ociDescriptor `json:"layers"`
}

type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Import makes dest an image root from a container image: src is an OCI image layout
// (a directory with oci-layout and index.json, or a tar of one) or a docker-save tarball
// (manifest.json; `docker save`, optionally gzipped). The layers are applied in order,
// honouring whiteouts (.wh.NAME) and opaque directories (.wh..wh..opq); modes,
// owners, times, symlinks, hard links and device nodes are kept. No path of an
// archive may lead out of dest (.. is refused; symlinks in the tree are resolved inside
// dest, never followed out of it). The tree is built in dest.partial and renamed to
// dest at the end; dest must not exist or be empty.
func Import(ctx context.Context, src, dest string, o ImportOptions) (*ImportResult, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	if ents, err := os.ReadDir(dest); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("import: %s exists and is not empty", dest)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, err
	}
	dec := &decompressor{}
	defer dec.close()
	dir := src
	if !fi.IsDir() {
		tmp, err := os.MkdirTemp(filepath.Dir(dest), ".import-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		fmt.Fprintf(log, "import: unpacking %s\n", src)
		if err := unpackArchive(src, tmp, dec); err != nil {
			return nil, fmt.Errorf("import %s: %w", src, err)
		}
		dir = tmp
	}
	res := &ImportResult{}
	var layers []layerRef
	var cfg imageConfig
	switch {
	case exists(filepath.Join(dir, "index.json")):
		res.Format = "oci"
		layers, cfg, res.Ref, err = ociLayers(dir, o)
	case exists(filepath.Join(dir, "manifest.json")):
		res.Format = "docker-save"
		layers, cfg, res.Ref, err = dockerLayers(dir, o)
	default:
		err = errors.New("neither an OCI image layout (index.json) nor a docker-save archive (manifest.json)")
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", src, err)
	}
	res.Arch, res.OS, res.Layers = XCATArch(cfg.Architecture), cfg.OS, len(layers)

	partial := dest + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(partial, 0o755); err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(partial) // a failed import leaves nothing behind
		}
	}()
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "import: layer %d/%d %s\n", i+1, len(layers), l.name)
		if err := applyLayerFile(partial, l, &res.Stats, dec); err != nil {
			return nil, fmt.Errorf("import %s: layer %d (%s): %w", src, i+1, l.ident(), err)
		}
	}
	os.Remove(dest) // an empty directory
	if err := os.Rename(partial, dest); err != nil {
		return nil, err
	}
	done = true
	s := res.Stats
	fmt.Fprintf(log, "import: %s: %d layers, %d files, %d dirs, %d symlinks, %d hard links, %d whiteouts, %d opaque dirs\n",
		dest, res.Layers, s.Files, s.Dirs, s.Symlinks, s.Hardlinks, s.Whiteouts, s.Opaque)
	return res, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

type layerRef struct {
	name   string // for messages
	path   string
	digest string // "sha256:…" to check, or ""
}

// ident names the layer in errors: its whole digest when it has one.
func (l layerRef) ident() string {
	if l.digest != "" {
		return l.digest
	}
	return l.name
}

var digestRE = regexp.MustCompile(`^sha256:([0-9a-f]{64})$`)

func blobPath(dir, digest string) (string, error) {
	m := digestRE.FindStringSubmatch(digest)
	if m == nil {
		return "", fmt.Errorf("digest %q: only sha256 digests are supported", digest)
	}
	return filepath.Join(dir, "blobs", "sha256", m[1]), nil
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(p), err)
	}
	return nil
}

const (
	mtOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mtDockerList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	refAnnotation = "org.opencontainers.image.ref.name"
)

// ociLayers picks the manifest of an OCI layout and returns its layers.
func ociLayers(dir string, o ImportOptions) ([]layerRef, imageConfig, string, error) {
	var cfg imageConfig
	var idx ociIndex
	if err := readJSON(filepath.Join(dir, "index.json"), &idx); err != nil {
		return nil, cfg, "", err
	}
	ref := ""
	// Nested indexes (a multi-platform image) are followed to the platform's manifest.
	for depth := 0; ; depth++ {
		if depth > 4 {
			return nil, cfg, "", errors.New("index.json: indexes nested too deep")
		}
		d, err := pickManifest(idx.Manifests, o, ref == "")
		if err != nil {
			return nil, cfg, "", err
		}
		if r := d.Annotations[refAnnotation]; r != "" && ref == "" {
			ref = r
		}
		p, err := blobPath(dir, d.Digest)
		if err != nil {
			return nil, cfg, "", err
		}
		if d.MediaType == mtOCIIndex || d.MediaType == mtDockerList {
			idx = ociIndex{}
			if err := readJSON(p, &idx); err != nil {
				return nil, cfg, "", err
			}
			continue
		}
		var m ociManifest
		if err := readJSON(p, &m); err != nil {
			return nil, cfg, "", err
		}
		if m.MediaType == mtOCIIndex || m.MediaType == mtDockerList || (len(m.Layers) == 0 && m.Config.Digest == "") {
			idx = ociIndex{}
			if err := readJSON(p, &idx); err != nil {
				return nil, cfg, "", err
			}
			continue
		}
		if cp, err := blobPath(dir, m.Config.Digest); err == nil {
			readJSON(cp, &cfg)
		}
		var out []layerRef
		for _, l := range m.Layers {
			lp, err := blobPath(dir, l.Digest)
			if err != nil {
				return nil, cfg, "", err
			}
			out = append(out, layerRef{name: l.Digest[:19], path: lp, digest: l.Digest})
		}
		return out, cfg, ref, nil
	}
}

// pickManifest chooses a descriptor: the one tagged o.Ref (at the top level), else the
// one for linux/<arch>, else the only or first one.
func pickManifest(ds []ociDescriptor, o ImportOptions, top bool) (ociDescriptor, error) {
	if len(ds) == 0 {
		return ociDescriptor{}, errors.New("no manifests in the index")
	}
	if top && o.Ref != "" {
		var refs []string
		for _, d := range ds {
			r := d.Annotations[refAnnotation]
			if r == o.Ref || strings.HasSuffix(d.Annotations["io.containerd.image.name"], ":"+o.Ref) || d.Annotations["io.containerd.image.name"] == o.Ref {
				return d, nil
			}
			if r != "" {
				refs = append(refs, r)
			}
		}
		return ociDescriptor{}, fmt.Errorf("no image tagged %q (tags: %s)", o.Ref, strings.Join(refs, ", "))
	}
	arch := o.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	arch = DebArch(arch)
	if arch == "ppc64el" {
		arch = "ppc64le"
	}
	var withPlatform bool
	for _, d := range ds {
		if d.Platform != nil {
			withPlatform = true
			if d.Platform.OS == "linux" && d.Platform.Architecture == arch {
				return d, nil
			}
		}
	}
	if withPlatform {
		for _, d := range ds {
			if d.Platform == nil || d.Platform.Architecture == "unknown" {
				continue // attestation manifests
			}
			return ociDescriptor{}, fmt.Errorf("no linux/%s image in the index", arch)
		}
	}
	return ds[0], nil
}

// dockerLayers reads a docker-save manifest.json.
func dockerLayers(dir string, o ImportOptions) ([]layerRef, imageConfig, string, error) {
	var cfg imageConfig
	var ms []dockerManifest
	if err := readJSON(filepath.Join(dir, "manifest.json"), &ms); err != nil {
		return nil, cfg, "", err
	}
	if len(ms) == 0 {
		return nil, cfg, "", errors.New("manifest.json lists no images")
	}
	m := ms[0]
	if o.Ref != "" {
		found := false
		var tags []string
		for _, c := range ms {
			for _, t := range c.RepoTags {
				tags = append(tags, t)
				if t == o.Ref || strings.HasSuffix(t, ":"+o.Ref) || strings.TrimSuffix(t, ":latest") == o.Ref {
					m, found = c, true
				}
			}
		}
		if !found {
			return nil, cfg, "", fmt.Errorf("no image tagged %q (tags: %s)", o.Ref, strings.Join(tags, ", "))
		}
	} else if len(ms) > 1 {
		return nil, cfg, "", fmt.Errorf("the archive holds %d images: choose one with --ref TAG", len(ms))
	}
	ref := ""
	if len(m.RepoTags) > 0 {
		ref = m.RepoTags[0]
	}
	if m.Config != "" {
		if p, err := safeJoin(dir, m.Config); err == nil {
			readJSON(p, &cfg)
		}
	}
	var out []layerRef
	for _, l := range m.Layers {
		p, err := safeJoin(dir, l)
		if err != nil {
			return nil, cfg, "", err
		}
		d := ""
		if strings.HasPrefix(l, "blobs/sha256/") {
			d = "sha256:" + path.Base(l)
		}
		out = append(out, layerRef{name: l, path: p, digest: d})
	}
	return out, cfg, ref, nil
}

// cleanName turns an archive member name into a clean relative path, refusing any that
// would leave the root.
func cleanName(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	n = path.Clean("/" + n)[1:] // "" for the root itself
	for _, c := range strings.Split(strings.TrimLeft(name, "/"), "/") {
		if c == ".." {
			return "", fmt.Errorf("%q: a path with .. is refused", name)
		}
	}
	return n, nil
}

func safeJoin(dir, name string) (string, error) {
	n, err := cleanName(name)
	if err != nil {
		return "", err
	}
	if n == "" {
		return "", fmt.Errorf("%q: not a file name", name)
	}
	return filepath.Join(dir, filepath.FromSlash(n)), nil
}

// unpackArchive unpacks the regular files, directories and symlinks of a (possibly
// gzipped) tar into dir. Nothing is written outside dir (os.Root), and the symlinks
// cannot lead out of it when the image's files are read: a link's target may climb only
// at its start (../../x, not x/../..), and no entry may lie below a link (docker save
// writes its links as files, <id>/layer.tar).
func unpackArchive(src, dir string, dec *decompressor) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	links := map[string]bool{}
	r, err := dec.open(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := cleanName(h.Name)
		if err != nil {
			return err
		}
		if n == "" {
			continue
		}
		if isSparse(h) {
			return fmt.Errorf("%s: %w", h.Name, errSparse)
		}
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			if links[d] {
				return fmt.Errorf("%s: an entry below the symlink %s is refused", h.Name, d)
			}
		}
		p := filepath.FromSlash(n)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			w, err := root.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			// docker save writes <id>/layer.tar as links to blobs/sha256/…
			if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			t := path.Join(path.Dir(n), h.Linkname)
			if _, err := cleanName(t); err != nil || strings.HasPrefix(h.Linkname, "/") || strings.HasPrefix(t, "../") || t == ".." || climbsLate(h.Linkname) {
				return fmt.Errorf("%s: a link out of the archive (%s) is refused", h.Name, h.Linkname)
			}
			if err := root.Symlink(h.Linkname, p); err != nil {
				return err
			}
			links[n] = true
		}
	}
}

// climbsLate reports whether a link target has a .. after another component (x/../..):
// the kernel resolves it through x, which may be a link itself, not lexically.
func climbsLate(target string) bool {
	other := false
	for _, c := range strings.Split(target, "/") {
		switch {
		case c == ".." && other:
			return true
		case c != ".." && c != "" && c != ".":
			other = true
		}
	}
	return false
}

var errSparse = errors.New("sparse files are not supported (a few bytes of archive could make terabytes of holes): save the image without them")

// isSparse reports whether h is a GNU sparse file: archive/tar reads its holes as zeros,
// as many as its header says.
func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// Limits of the zstd decoder, for a hostile layer (a decompression bomb) as much as a
// broken one. gzip bounds itself: DEFLATE keeps a 32 KiB window and cannot expand its
// input more than 1032 times. zstd lets a frame declare a window of up to 3.75 TB,
// allocated before the first byte comes out, and an RLE block of 4 bytes makes 128 KiB:
// 30,000 times. So the zstd path is held to what the gzip path can do at worst:
//   - a window of at most zstdMaxWindow (every producer of container layers stays below:
//     containers/image, containerd and buildkit use klauspost/compress at 8 MiB at most,
//     the zstd tool uses 8 MiB up to level 19; RFC 8878 asks decoders for 8 MiB), with
//     one synchronous decoder per import whose buffers every layer reuses: frames of
//     growing windows allocate twice the largest at most, which FuzzImport's bound of
//     64 MiB holds;
//   - no more output than gzipMaxRatio times the compressed bytes read, plus
//     zstdSlack (a leading run of zeros, say an empty disk image, compresses far better
//     than the rest of a layer).
const (
	zstdMaxWindow = 16 << 20
	gzipMaxRatio  = 1032
	zstdSlack     = 64 << 20
)

// decompressor opens the compressed streams of one import, one after the other.
type decompressor struct {
	zd *zstd.Decoder
}

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// open returns a reader of r's content: gunzipped when it is gzip (magic 1f 8b),
// zstd-decoded when it is zstd (magic 28 b5 2f fd: the layers of recent podman and
// buildah, application/vnd.oci.image.layer.v1.tar+zstd), else r itself. The stream is
// read until the next open or close.
func (d *decompressor) open(r *bufio.Reader) (io.Reader, error) {
	magic, _ := r.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return gzip.NewReader(r)
	case bytes.Equal(magic, zstdMagic):
		in := &countReader{r: r}
		if d.zd == nil {
			zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(zstdMaxWindow))
			if err != nil {
				return nil, err
			}
			d.zd = zd
		}
		if err := d.zd.Reset(in); err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return &zstdReader{zd: d.zd, in: in}, nil
	}
	return r, nil
}

// close releases the zstd decoder.
func (d *decompressor) close() {
	if d.zd != nil {
		d.zd.Close()
		d.zd = nil
	}
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

var errZstdBomb = fmt.Errorf("zstd: the data expands more than %d times its compressed size (gzip's most) plus %d MiB: refused as a decompression bomb; if the image is genuine, save it with gzip layers (skopeo copy --dest-compress-format gzip)", gzipMaxRatio, zstdSlack>>20)

// zstdReader is a zstd stream held to the limits above, its errors saying zstd.
type zstdReader struct {
	zd  *zstd.Decoder
	in  *countReader
	out int64
}

func (z *zstdReader) Read(p []byte) (int, error) {
	n, err := z.zd.Read(p)
	z.out += int64(n)
	if z.out > z.in.n*gzipMaxRatio+zstdSlack {
		return n, errZstdBomb
	}
	switch {
	case err == nil, err == io.EOF:
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		err = fmt.Errorf("zstd: the data needs a window of more than %d MiB (refused: memory); recompress it with a smaller window (zstd without --long or --ultra) or save the image with gzip layers", zstdMaxWindow>>20)
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = errors.New("zstd: the data is truncated")
	default:
		err = fmt.Errorf("zstd: corrupt data: %w", err)
	}
	return n, err
}

// hashReader checks a digest once everything is read.
type hashReader struct {
	r    io.Reader
	h    hash.Hash
	want string
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func (h *hashReader) check() error {
	io.Copy(io.Discard, h)
	if got := "sha256:" + hex.EncodeToString(h.h.Sum(nil)); got != h.want {
		return fmt.Errorf("blob digest %s, want %s", got, h.want)
	}
	return nil
}

func applyLayerFile(root string, l layerRef, st *LayerStats, dec *decompressor) error {
	f, err := os.Open(l.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	var hr *hashReader
	if l.digest != "" {
		hr = &hashReader{r: f, h: sha256.New(), want: l.digest}
		r = hr
	}
	dr, err := dec.open(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return err
	}
	if err := ApplyLayer(root, dr, st); err != nil {
		return err
	}
	if hr != nil {
		return hr.check()
	}
	return nil
}

// ApplyLayer applies one uncompressed layer tar to the tree at dir (OCI image spec
// "Applying changesets"): whiteouts remove the entry of lower layers, an opaque
// whiteout removes what lower layers put in its directory, other entries replace what
// is there (a directory over a directory keeps its content).
func ApplyLayer(dir string, r io.Reader, st *LayerStats) error {
	if st == nil {
		st = &LayerStats{}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	a := &applier{root: root, dir: dir, mine: map[string]bool{}, st: st}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if isSparse(h) {
			return fmt.Errorf("%s: %w", h.Name, errSparse)
		}
		if err := a.entry(h, tr); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	// Directory times last: creating entries in them changed their mtimes.
	for _, d := range a.dirTimes {
		root.Chtimes(d.p, d.t, d.t)
	}
	return nil
}

type applier struct {
	root     *os.Root
	dir      string
	mine     map[string]bool // resolved paths this layer created
	st       *LayerStats
	dirTimes []struct {
		p string
		t time.Time
	}
}

// resolve returns p (clean, relative) with the symlinks of its directories resolved
// inside the root; the last component is not followed. Missing directories are fine:
// the rest of the path is taken as it is.
func (a *applier) resolve(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	dirPart, base := path.Split(p)
	cur := ""
	parts := strings.Split(strings.TrimSuffix(dirPart, "/"), "/")
	hops := 0
	for len(parts) > 0 {
		c := parts[0]
		parts = parts[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			if cur == "." || cur == "/" {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, c)
		fi, err := a.root.Lstat(next)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", errors.New("too many levels of symbolic links")
		}
		t, err := a.root.Readlink(next)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(t, "/") {
			cur = ""
		}
		parts = append(strings.Split(t, "/"), parts...)
	}
	return path.Join(cur, base), nil
}

func (a *applier) entry(h *tar.Header, body io.Reader) error {
	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil // the layer's root directory
	}
	dirPart, base := path.Split(name)
	if base == ".wh..wh..opq" {
		d, err := a.resolve(path.Join(dirPart, "x"))
		if err != nil {
			return err
		}
		d = path.Dir(d)
		if d == "." {
			d = ""
		}
		a.st.Opaque++
		// Only a directory has lower content to hide: opening a FIFO the layer made
		// would wait for a writer for ever.
		if fi, err := a.root.Lstat(orDot(d)); err != nil || !fi.IsDir() {
			return nil
		}
		f, err := a.root.Open(orDot(d))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return err
		}
		for _, n := range names {
			c := path.Join(d, n)
			if !a.mine[c] {
				if err := a.root.RemoveAll(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if w, ok := strings.CutPrefix(base, ".wh."); ok {
		t, err := a.resolve(path.Join(dirPart, w))
		if err != nil {
			return err
		}
		a.st.Whiteouts++
		if err := a.root.RemoveAll(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	t, err := a.resolve(name)
	if err != nil {
		return err
	}
	if pd := path.Dir(t); pd != "." {
		if err := a.root.MkdirAll(pd, 0o755); err != nil {
			return err
		}
	}
	mode := h.FileInfo().Mode()
	old, lerr := a.root.Lstat(t)
	if lerr == nil && !(old.IsDir() && h.Typeflag == tar.TypeDir) {
		if err := a.root.RemoveAll(t); err != nil {
			return err
		}
	}
	a.mine[t] = true
	switch h.Typeflag {
	case tar.TypeDir:
		if lerr != nil || !old.IsDir() {
			if err := a.root.Mkdir(t, 0o700); err != nil {
				return err
			}
		}
		a.st.Dirs++
		a.dirTimes = append(a.dirTimes, struct {
			p string
			t time.Time
		}{t, h.ModTime})
	case tar.TypeReg, '\x00': // \x00: TypeRegA of old archives
		f, err := a.root.OpenFile(t, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		a.st.Files++
	case tar.TypeSymlink:
		if err := a.root.Symlink(h.Linkname, t); err != nil {
			return err
		}
		a.st.Symlinks++
		a.root.Lchown(t, h.Uid, h.Gid)
		return nil
	case tar.TypeLink:
		ln, err := cleanName(h.Linkname)
		if err != nil || ln == "" {
			return fmt.Errorf("hard link to %q refused", h.Linkname)
		}
		src, err := a.resolve(ln)
		if err != nil {
			return err
		}
		if err := a.root.Link(src, t); err != nil {
			return err
		}
		a.st.Hardlinks++
		return nil // the link shares its target's inode: mode and owner are the target's
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		m := uint32(h.Mode & 0o7777)
		switch h.Typeflag {
		case tar.TypeChar:
			m |= syscall.S_IFCHR
		case tar.TypeBlock:
			m |= syscall.S_IFBLK
		default:
			m |= syscall.S_IFIFO
		}
		dev := (h.Devminor & 0xff) | (h.Devmajor&0xfff)<<8 | (h.Devminor&^0xff)<<12
		// t has no symlinks left in it (resolve), and its parent exists in the root.
		if err := syscall.Mknod(filepath.Join(a.dir, filepath.FromSlash(t)), m, int(dev)); err != nil {
			return err
		}
		a.st.Devices++
	default:
		return nil // pax/GNU extension headers are consumed by archive/tar; others are skipped
	}
	if err := a.root.Lchown(t, h.Uid, h.Gid); err != nil && !errors.Is(err, syscall.EPERM) {
		return err
	}
	if err := a.root.Chmod(t, mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeDir {
		at := h.AccessTime
		if at.IsZero() {
			at = h.ModTime
		}
		a.root.Chtimes(t, at, h.ModTime)
	}
	return nil
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// OSRelease reads ID and VERSION_ID of an image's /etc/os-release (or
// /usr/lib/os-release): e.g. debian, 12.
func OSRelease(root string) (id, version string) {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		t, err := resolveIn(root, p)
		if err != nil {
			continue
		}
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "ID="); ok {
				id = strings.Trim(v, `"'`)
			}
			if v, ok := strings.CutPrefix(l, "VERSION_ID="); ok {
				version = strings.Trim(v, `"'`)
			}
		}
		return id, version
	}
	return "", ""
}
