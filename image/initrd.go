package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The init and udhcpc script of the busybox initramfs.
var (
	//go:embed initramfs/init
	initScript []byte
	//go:embed initramfs/udhcpc.script
	udhcpcScript []byte
)

// InitScript returns the /init of statelite's busybox initramfs.
func InitScript() []byte { return append([]byte(nil), initScript...) }

// Boot file names beside the image root (docs/behaviour.md#boot-files).
const (
	KernelName = "kernel"
	InitrdName = "initrd-statelite.gz"
)

// DefaultModules are the modules put into the busybox initrd with their dependencies
// (those built into the kernel are left out): packet sockets for DHCP, the network
// drivers of qemu (virtio, e1000) and common servers, and the NFSv3 client.
var DefaultModules = []string{
	"af_packet",
	"virtio_pci", "virtio_net", "e1000", "e1000e", "igb", "ixgbe", "tg3", "bnx2", "bnxt_en", "mlx4_en", "mlx5_core",
	"nfsv3",
}

// requiredModules must be found (as modules or built in).
var requiredModules = []string{"nfsv3"}

// InitrdOptions say how to build the busybox initrd.
type InitrdOptions struct {
	Root          string   // the image root holding lib/modules/<KernelVersion>
	KernelVersion string   // e.g. 6.1.0-28-amd64
	Busybox       string   // a static busybox; "" = the image's /bin/busybox if static, else the host's
	Modules       []string // modules beyond DefaultModules (xCAT's -n / linuximage.netdrivers)
}

// InitrdResult says what went into an initrd.
type InitrdResult struct {
	Modules []string // module files, in load order
	Builtin []string // asked-for modules built into the kernel
	Missing []string // asked-for modules this kernel does not have
	Busybox string   // the busybox used
	Size    int64    // bytes of the gzipped archive
}

// StaticELF reports whether path is an ELF executable without a program interpreter.
func StaticELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return false
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// findBusybox returns a static busybox: the image's own, else the host's.
func findBusybox(root, explicit string) (string, error) {
	if explicit != "" {
		if !StaticELF(explicit) {
			return "", fmt.Errorf("busybox %s is not a statically linked executable", explicit)
		}
		return explicit, nil
	}
	var tried []string
	for _, p := range []string{
		filepath.Join(root, "bin", "busybox"), filepath.Join(root, "usr", "bin", "busybox"),
		"/bin/busybox", "/usr/bin/busybox",
	} {
		// The image's /bin/busybox may be an absolute symlink: resolve it inside root.
		real := p
		if strings.HasPrefix(p, root+string(filepath.Separator)) {
			if r, err := resolveIn(root, strings.TrimPrefix(p, root)); err == nil {
				real = r
			}
		}
		if StaticELF(real) {
			return real, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("no statically linked busybox (tried %s): install busybox-static on this host or in the image", strings.Join(tried, ", "))
}

// resolveIn resolves the symlinks of p (a path inside root) without leaving root.
func resolveIn(root, p string) (string, error) {
	cur := "/"
	parts := strings.Split(filepath.Clean("/"+p), "/")
	for hops := 0; len(parts) > 0; {
		c := parts[0]
		parts = parts[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many symlinks", p)
		}
		t, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(t) {
			cur = "/"
		}
		parts = append(strings.Split(t, "/"), parts...)
	}
	return filepath.Join(root, cur), nil
}

// modName is the module name of a file name: nfs-v3.ko.xz → nfs_v3.
func modName(p string) string {
	b := filepath.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// modDeps reads modules.dep and modules.builtin of a kernel's module tree.
func modDeps(moddir string) (paths map[string]string, deps map[string][]string, builtin map[string]bool, err error) {
	paths, deps, builtin = map[string]string{}, map[string][]string{}, map[string]bool{}
	b, err := os.ReadFile(filepath.Join(moddir, "modules.dep"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w (run depmod in the image for this kernel)", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n := modName(mod)
		paths[n] = mod
		for _, d := range strings.Fields(rest) {
			deps[n] = append(deps[n], modName(d))
			if _, ok := paths[modName(d)]; !ok {
				paths[modName(d)] = d
			}
		}
	}
	if bb, err := os.ReadFile(filepath.Join(moddir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(bb)) {
			builtin[modName(l)] = true
		}
	}
	return paths, deps, builtin, sc.Err()
}

// readModule returns a module file's content, decompressed (.gz here; .xz and .zst with
// the host's xz and zstd).
func readModule(ctx context.Context, p string) ([]byte, error) {
	switch {
	case strings.HasSuffix(p, ".gz"):
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return io.ReadAll(z)
	case strings.HasSuffix(p, ".xz"), strings.HasSuffix(p, ".zst"):
		tool := "xz"
		if strings.HasSuffix(p, ".zst") {
			tool = "zstd"
		}
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is compressed and %s is not installed on this host", p, tool)
		}
		out, err := exec.CommandContext(ctx, tool, "-dc", p).Output()
		if err != nil {
			return nil, fmt.Errorf("%s -dc %s: %w", tool, p, err)
		}
		return out, nil
	}
	return os.ReadFile(p)
}

// BuildInitrd writes statelite's busybox initramfs for the image's kernel to out
// (a gzipped newc cpio): busybox, /init (InitScript), the udhcpc script, and the NFSv3
// client and network driver modules of <Root>/lib/modules/<KernelVersion> with their
// dependencies, listed in load order in /lib/modules/load.
func BuildInitrd(ctx context.Context, o InitrdOptions, out io.Writer) (*InitrdResult, error) {
	res := &InitrdResult{}
	bb, err := findBusybox(o.Root, o.Busybox)
	if err != nil {
		return nil, err
	}
	res.Busybox = bb
	moddir := filepath.Join(o.Root, "lib", "modules", o.KernelVersion)
	if _, err := os.Stat(moddir); err != nil {
		moddir = filepath.Join(o.Root, "usr", "lib", "modules", o.KernelVersion)
	}
	paths, deps, builtin, err := modDeps(moddir)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", o.KernelVersion, err)
	}
	var order []string
	seen := map[string]bool{}
	var visit func(n string, depth int) error
	visit = func(n string, depth int) error {
		if seen[n] {
			return nil
		}
		if depth > 64 {
			return fmt.Errorf("module %s: dependency loop in modules.dep", n)
		}
		seen[n] = true
		for _, d := range deps[n] {
			if err := visit(d, depth+1); err != nil {
				return err
			}
		}
		order = append(order, n)
		return nil
	}
	want := append(append([]string(nil), DefaultModules...), o.Modules...)
	for _, m := range want {
		n := strings.ReplaceAll(strings.TrimSpace(m), "-", "_")
		if n == "" || seen[n] {
			continue
		}
		switch {
		case paths[n] != "":
			if err := visit(n, 0); err != nil {
				return nil, err
			}
		case builtin[n]:
			res.Builtin = append(res.Builtin, n)
		default:
			res.Missing = append(res.Missing, n)
		}
	}
	for _, r := range requiredModules {
		for _, m := range res.Missing {
			if m == r {
				return nil, fmt.Errorf("kernel %s has no %s module (nor built in): it cannot mount an NFS root", o.KernelVersion, r)
			}
		}
	}

	zw, err := gzip.NewWriterLevel(out, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	cw := &countWriter{w: zw}
	c := newCpio(cw)
	for _, d := range []string{"bin", "sbin", "dev", "etc", "lib", "lib/modules", "newroot", "proc", "run", "sys", "tmp"} {
		c.Dir(d, 0o755)
	}
	c.CharDev("dev/console", 0o600, 5, 1)
	bbData, err := os.ReadFile(bb)
	if err != nil {
		return nil, err
	}
	c.File("bin/busybox", 0o755, bbData)
	c.Symlink("bin/sh", "busybox")
	c.File("init", 0o755, initScript)
	c.File("etc/udhcpc.script", 0o755, udhcpcScript)
	var load strings.Builder
	for _, n := range order {
		p := paths[n]
		if !filepath.IsAbs(p) {
			p = filepath.Join(moddir, p)
		} else {
			p = filepath.Join(o.Root, p)
		}
		data, err := readModule(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", n, err)
		}
		c.File("lib/modules/"+n+".ko", 0o644, data)
		load.WriteString(n + ".ko\n")
		res.Modules = append(res.Modules, n+".ko")
	}
	c.File("lib/modules/load", 0o644, []byte(load.String()))
	if err := c.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	res.Size = cw.n
	return res, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Kernel is a kernel found in an image root.
type Kernel struct {
	Version string
	Path    string // the vmlinuz file
}

// FindKernel returns the image's kernel: <root>/boot/vmlinuz-<ver> (or
// <root>/lib/modules/<ver>/vmlinuz, Fedora's place). With want set, the version must be
// want or start with it; otherwise the highest version wins.
func FindKernel(root, want string) (Kernel, error) {
	var found []Kernel
	if m, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*")); m != nil {
		for _, p := range m {
			v := strings.TrimPrefix(filepath.Base(p), "vmlinuz-")
			if strings.HasSuffix(v, ".old") || strings.Contains(v, "rescue") {
				continue
			}
			found = append(found, Kernel{Version: v, Path: p})
		}
	}
	for _, base := range []string{"lib", "usr/lib"} {
		if m, _ := filepath.Glob(filepath.Join(root, base, "modules", "*", "vmlinuz")); m != nil {
			for _, p := range m {
				found = append(found, Kernel{Version: filepath.Base(filepath.Dir(p)), Path: p})
			}
		}
	}
	var ok []Kernel
	for _, k := range found {
		if fi, err := os.Stat(k.Path); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if want == "" || k.Version == want || strings.HasPrefix(k.Version, want) {
			ok = append(ok, k)
		}
	}
	if len(ok) == 0 {
		if want != "" {
			return Kernel{}, fmt.Errorf("no kernel %s in %s/boot (found %d other kernels)", want, root, len(found))
		}
		return Kernel{}, fmt.Errorf("no kernel in %s/boot (vmlinuz-*): install one in the image", root)
	}
	sort.Slice(ok, func(i, j int) bool { return versionLess(ok[i].Version, ok[j].Version) })
	return ok[len(ok)-1], nil
}

// versionLess compares versions by their runs of digits and non-digits.
func versionLess(a, b string) bool {
	split := func(s string) []string {
		var out []string
		for len(s) > 0 {
			i := 0
			dig := s[0] >= '0' && s[0] <= '9'
			for i < len(s) && (s[i] >= '0' && s[i] <= '9') == dig {
				i++
			}
			out = append(out, s[:i])
			s = s[i:]
		}
		return out
	}
	x, y := split(a), split(b)
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] == y[i] {
			continue
		}
		nx, ex := strconv.Atoi(x[i])
		ny, ey := strconv.Atoi(y[i])
		if ex == nil && ey == nil {
			return nx < ny
		}
		return x[i] < y[i]
	}
	return len(x) < len(y)
}

// BootOptions say how to make the boot files of an image.
type BootOptions struct {
	KernelVersion string   // "" = the image's newest kernel
	Initrd        string   // "auto" (default), "busybox" or "dracut"
	Modules       []string // more modules (netdrivers)
	Busybox       string   // a static busybox for the initrd
	Log           io.Writer
}

// BootResult describes the boot files written.
type BootResult struct {
	Kernel       Kernel
	KernelFile   string // <dir>/kernel
	InitrdFile   string // <dir>/initrd-statelite.gz
	InitrdKind   string // busybox or dracut
	Initrd       *InitrdResult
	KernelTime   time.Duration
	InitrdTime   time.Duration
	InitrdSize   int64
	InitrdModule int
}

// hasDracutNFS reports whether the image has dracut with its NFS module.
func hasDracutNFS(root string) bool {
	for _, d := range []string{"usr/lib/dracut/modules.d/95nfs", "lib/dracut/modules.d/95nfs"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// MakeBootFiles copies the image's kernel to <dir>/kernel and builds
// <dir>/initrd-statelite.gz for it. The initrd is statelite's busybox one (it reads
// root=nfs:SERVER:PATH:OPTIONS as rendered by the boot package) unless Initrd is
// "dracut", or "auto" and the image has dracut with its nfs module (dracut reads the same
// root= syntax): then dracut runs inside the image (chroot) with --add nfs. Debian's
// initramfs-tools only knows root=/dev/nfs nfsroot=…, so Debian images get the busybox
// initrd. Both files are replaced atomically.
func MakeBootFiles(ctx context.Context, root, dir string, o BootOptions) (*BootResult, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	start := time.Now()
	k, err := FindKernel(root, o.KernelVersion)
	if err != nil {
		return nil, err
	}
	res := &BootResult{Kernel: k, KernelFile: filepath.Join(dir, KernelName), InitrdFile: filepath.Join(dir, InitrdName)}
	fmt.Fprintf(log, "genimage: kernel %s (%s)\n", k.Version, k.Path)
	if err := copyAtomic(k.Path, res.KernelFile); err != nil {
		return nil, err
	}
	res.KernelTime = time.Since(start)
	kind := o.Initrd
	switch kind {
	case "", "auto":
		kind = "busybox"
		if hasDracutNFS(root) {
			kind = "dracut"
		}
	case "busybox", "dracut":
	default:
		return nil, fmt.Errorf("initrd kind %q: want auto, busybox or dracut", o.Initrd)
	}
	res.InitrdKind = kind
	start = time.Now()
	if kind == "dracut" {
		if !hasDracutNFS(root) {
			return nil, fmt.Errorf("the image has no dracut with its nfs module (install dracut-network in it), or use the busybox initrd")
		}
		fmt.Fprintf(log, "genimage: initrd: dracut --add nfs in the image for %s\n", k.Version)
		if err := runDracut(ctx, root, k.Version, res.InitrdFile, o.Modules, log); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(log, "genimage: initrd: busybox, NFS client and network modules of %s\n", k.Version)
		var ir *InitrdResult
		err := writeAtomic(res.InitrdFile, func(w io.Writer) error {
			var err error
			ir, err = BuildInitrd(ctx, InitrdOptions{Root: root, KernelVersion: k.Version, Busybox: o.Busybox, Modules: o.Modules}, w)
			return err
		})
		if err != nil {
			return nil, err
		}
		res.Initrd = ir
		res.InitrdModule = len(ir.Modules)
		fmt.Fprintf(log, "genimage: initrd: %d modules (%s), busybox %s\n", len(ir.Modules), strings.Join(ir.Modules, " "), ir.Busybox)
		if len(ir.Missing) > 0 {
			fmt.Fprintf(log, "genimage: initrd: not in this kernel (skipped): %s\n", strings.Join(ir.Missing, " "))
		}
	}
	res.InitrdTime = time.Since(start)
	if fi, err := os.Stat(res.InitrdFile); err == nil {
		res.InitrdSize = fi.Size()
	}
	fmt.Fprintf(log, "genimage: wrote %s and %s (%d bytes) in %.1f s\n", res.KernelFile, res.InitrdFile, res.InitrdSize, res.InitrdTime.Seconds())
	return res, nil
}

// runDracut builds the initrd with the image's own dracut, in a chroot with /proc,
// /sys and /dev bound in.
func runDracut(ctx context.Context, root, kver, dst string, modules []string, log io.Writer) error {
	tmpName := "/tmp/statelite-initrd-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	args := []string{root, "dracut", "--force", "--no-hostonly", "--add", "nfs"}
	if len(modules) > 0 {
		args = append(args, "--add-drivers", strings.Join(modules, " "))
	}
	args = append(args, tmpName, kver)
	err := withChrootMounts(ctx, root, func() error {
		return runLogged(ctx, log, "chroot", args...)
	})
	if err != nil {
		return fmt.Errorf("dracut in the image: %w", err)
	}
	src := filepath.Join(root, tmpName)
	defer os.Remove(src)
	return copyAtomic(src, dst)
}

// copyAtomic copies src to dst through a temporary file and a rename.
func copyAtomic(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// writeAtomic writes dst through a temporary file beside it and a rename.
func writeAtomic(dst string, fill func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// errNotRoot is returned when a step needs root.
var errNotRoot = errors.New("needs root")
