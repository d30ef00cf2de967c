package image

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"statelite/resolver"
)

// Options are genimage's inputs.
type Options struct {
	OS, Arch, Profile string
	KernelVer         string   // -k: a kernel version or package; "" = the distribution's default kernel
	InstallDir        string   // site.installdir (default /install)
	RootImgDir        string   // where rootimg/, kernel and initrd go ("" = <installdir>/netboot/<os>/<arch>/<profile>)
	Pkglist           []string // package list files ("" = the lookup)
	OtherPkglist      []string // otherpkgs lists ("" = the lookup)
	Postinstall       []string // postinstall scripts ("" = the lookup; "none" = none)
	Mirror            string   // Debian/Ubuntu mirror ("" = the host's apt sources when they are of the same distribution, else the distribution's)
	NetDrivers        []string // more modules for the initrd
	Initrd            string   // auto, busybox or dracut
	Busybox           string   // a static busybox for the initrd
	NoBoot            bool     // do not make the kernel and initrd
	Log               io.Writer
}

// Result is what genimage did.
type Result struct {
	Name, RootImgDir, Root string
	Packages               []string
	Pkglist, OtherPkglist  []string // the files used
	Postinstall            []string
	Boot                   *BootResult
	Updated                bool          // the root existed: packages were added to it
	InstallTime            time.Duration // debootstrap / dnf / zypper
	PostinstallTime        time.Duration
}

// HostArch is this machine's architecture in xCAT's naming.
func HostArch() string { return XCATArch(runtime.GOARCH) }

// Genimage builds (or updates) an image root with the distribution's package manager,
// adds the other packages, runs the postinstall scripts and makes the kernel and initrd.
func Genimage(ctx context.Context, o Options) (*Result, error) {
	if o.OS == "" || o.Profile == "" {
		return nil, errors.New("genimage: -o OS and -p PROFILE are required")
	}
	if o.Arch == "" {
		o.Arch = HostArch()
	}
	if o.InstallDir == "" {
		o.InstallDir = "/install"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	log := o.Log
	fam, err := FamilyOf(o.OS)
	if err != nil {
		return nil, err
	}
	if XCATArch(o.Arch) != HostArch() {
		return nil, fmt.Errorf("genimage: arch %s on a %s host: building for another architecture is not supported", o.Arch, HostArch())
	}
	res := &Result{Name: ImageName(o.OS, o.Arch, o.Profile), RootImgDir: o.RootImgDir}
	if res.RootImgDir == "" {
		res.RootImgDir = resolver.DefaultImageDir(o.InstallDir, o.OS, o.Arch, o.Profile)
	}
	res.Root = filepath.Join(res.RootImgDir, "rootimg")
	lk, err := NewLookup(o.InstallDir, o.OS, o.Arch, o.Profile)
	if err != nil {
		return nil, err
	}

	// Package lists.
	pl := &Pkglist{}
	files, err := pick(o.Pkglist, lk, "pkglist")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		p, err := ParsePkglist(f)
		if err != nil {
			return nil, err
		}
		pl.Packages = append(pl.Packages, p.Packages...)
		pl.Remove = append(pl.Remove, p.Remove...)
		res.Pkglist = append(res.Pkglist, f.Name())
	}
	if len(files) == 0 {
		fmt.Fprintf(log, "genimage: no %s found (tried %s); the base system only\n", lk.Names("pkglist")[3], describe(lk.Candidates("pkglist")))
	}
	pkgs := pl.Install()
	other := &Pkglist{}
	ofiles, err := pick(o.OtherPkglist, lk, "otherpkgs.pkglist")
	if err != nil {
		return nil, err
	}
	for _, f := range ofiles {
		p, err := ParsePkglist(f)
		if err != nil {
			return nil, err
		}
		other.Packages = append(other.Packages, p.Packages...)
		other.Remove = append(other.Remove, p.Remove...)
		res.OtherPkglist = append(res.OtherPkglist, f.Name())
	}
	var repos []Repo
	if len(other.Packages)+len(other.Remove) > 0 {
		rf, err := lk.Find("repolist")
		if err != nil {
			return nil, err
		}
		if !rf.IsZero() {
			b, err := rf.Read()
			if err != nil {
				return nil, err
			}
			if repos, err = ParseRepolist(rf.Name(), b); err != nil {
				return nil, err
			}
		} else {
			// The Cookbook's default: a plain directory of packages.
			repos = []Repo{{Type: "plaindir", URL: filepath.Join(o.InstallDir, "post", "otherpkgs", o.OS, o.Arch), Name: "otherpkgs"}}
		}
	}
	scripts, err := pick(o.Postinstall, lk, "postinstall")
	if err != nil {
		return nil, err
	}
	for _, s := range scripts {
		res.Postinstall = append(res.Postinstall, s.Name())
	}

	fmt.Fprintf(log, "genimage: image %s (%s family) in %s\n", res.Name, fam, res.Root)
	fmt.Fprintf(log, "genimage: pkglist %s: %d packages\n", orNone(res.Pkglist), len(pkgs))
	if len(res.OtherPkglist) > 0 {
		fmt.Fprintf(log, "genimage: otherpkgs %s: %d packages from %d repositories\n", strings.Join(res.OtherPkglist, ","), len(other.Packages), len(repos))
	}
	fmt.Fprintf(log, "genimage: postinstall %s\n", orNone(res.Postinstall))

	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("genimage %w: the package managers install as root and chroot", errNotRoot)
	}
	exists := false
	if ents, err := os.ReadDir(res.Root); err == nil && len(ents) > 0 {
		exists = true
	}
	res.Updated = exists
	start := time.Now()
	switch fam {
	case Debian:
		err = debootstrap(ctx, o, res.Root, pkgs, exists, log)
	case RedHat:
		err = dnfInstall(ctx, o, res.Root, pkgs, log)
	case SLES:
		err = zypperInstall(ctx, o, res.Root, pkgs, log)
	}
	if err != nil {
		return nil, err
	}
	if len(other.Packages) > 0 || len(other.Remove) > 0 {
		if err := installOther(ctx, fam, res.Root, repos, other, log); err != nil {
			return nil, err
		}
	}
	res.Packages = pkgs
	res.InstallTime = time.Since(start)
	fmt.Fprintf(log, "genimage: packages installed in %.1f s\n", res.InstallTime.Seconds())

	start = time.Now()
	if err := RunPostinstall(ctx, scripts, Info{Name: res.Name, OS: o.OS, Arch: o.Arch, Profile: o.Profile, Root: res.Root}, log); err != nil {
		return nil, err
	}
	res.PostinstallTime = time.Since(start)
	if o.NoBoot {
		return res, nil
	}
	kv := o.KernelVer
	if strings.HasPrefix(kv, "linux-image-") || strings.HasPrefix(kv, "kernel") {
		kv = "" // a package name: its kernel is the newest in the image
	}
	b, err := MakeBootFiles(ctx, res.Root, res.RootImgDir, BootOptions{KernelVersion: kv, Initrd: o.Initrd, Modules: o.NetDrivers, Busybox: o.Busybox, Log: log})
	if err != nil {
		return nil, err
	}
	res.Boot = b
	return res, nil
}

// pick returns the files named explicitly (comma lists; "none" = none), else the
// lookup's first match.
func pick(explicit []string, lk *Lookup, ext string) ([]File, error) {
	var out []File
	if len(explicit) > 0 {
		for _, e := range explicit {
			for _, n := range strings.Split(e, ",") {
				n = strings.TrimSpace(n)
				if n == "" || n == "none" {
					continue
				}
				f := ParseFile(n)
				if f.Path != "" {
					if _, err := os.Stat(f.Path); err != nil {
						return nil, fmt.Errorf("%s: %w", ext, err)
					}
				}
				out = append(out, f)
			}
		}
		return out, nil
	}
	f, err := lk.Find(ext)
	if err != nil || f.IsZero() {
		return nil, err
	}
	return []File{f}, nil
}

func describe(fs []File) string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name())
	}
	return strings.Join(n, ", ")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ",")
}

// runLogged runs a command with its output going to log, line by line with a prefix;
// a failure carries the last lines of output.
func runLogged(ctx context.Context, log io.Writer, name string, args ...string) error {
	fmt.Fprintf(log, "genimage: %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	tail := &tailBuffer{max: 8 << 10}
	w := io.MultiWriter(tail, prefixWriter(log, "  | "))
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s failed (%v); its last output:\n%s", name, err, strings.TrimRight(tail.String(), "\n"))
	}
	return nil
}

// need returns an error naming what to install when tool is not on PATH.
func need(tool, why string) error {
	if _, err := exec.LookPath(tool); err != nil {
		return fmt.Errorf("genimage: %s, and %s is not installed on this host (%s not on PATH)", why, tool, tool)
	}
	return nil
}

// withChrootMounts binds /proc, /sys and /dev into root for fn, and unmounts them after.
func withChrootMounts(ctx context.Context, root string, fn func() error) error {
	var done []string
	defer func() {
		for i := len(done) - 1; i >= 0; i-- {
			syscall.Unmount(done[i], syscall.MNT_DETACH)
		}
	}()
	for _, m := range []struct{ src, dst, fstype string }{
		{"proc", "proc", "proc"}, {"/sys", "sys", ""}, {"/dev", "dev", ""},
	} {
		dst := filepath.Join(root, m.dst)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		var err error
		if m.fstype != "" {
			err = syscall.Mount(m.src, dst, m.fstype, 0, "")
		} else {
			err = syscall.Mount(m.src, dst, "", syscall.MS_BIND|syscall.MS_REC, "")
			if err == nil {
				// Keep unmounts inside the chroot from reaching the host's mounts.
				syscall.Mount("", dst, "", syscall.MS_SLAVE|syscall.MS_REC, "")
			}
		}
		if err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.src, dst, err)
		}
		done = append(done, dst)
	}
	return fn()
}

// aptSource is one apt repository of the host.
type aptSource struct{ uri, suite string }

var aptLineRE = regexp.MustCompile(`^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)`)

// hostAptSources reads the host's apt sources (one-line .list and deb822 .sources).
func hostAptSources(etc string) []aptSource {
	var out []aptSource
	files := []string{filepath.Join(etc, "apt", "sources.list")}
	m, _ := filepath.Glob(filepath.Join(etc, "apt", "sources.list.d", "*"))
	files = append(files, m...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if strings.HasSuffix(f, ".sources") {
			for _, para := range strings.Split(string(b), "\n\n") {
				kv := map[string]string{}
				for _, l := range strings.Split(para, "\n") {
					if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, " ") {
						kv[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
					}
				}
				if !strings.Contains(" "+kv["types"]+" ", " deb ") || strings.EqualFold(kv["enabled"], "no") {
					continue
				}
				for _, u := range strings.Fields(kv["uris"]) {
					for _, s := range strings.Fields(kv["suites"]) {
						out = append(out, aptSource{u, s})
					}
				}
			}
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if m := aptLineRE.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
				out = append(out, aptSource{m[1], m[2]})
			}
		}
	}
	return out
}

// Mirror returns the mirror debootstrap uses for distro: the host's apt source for the
// distribution's main archive when the host runs the same distribution (so a mirror or
// proxy the host is set up with is used), else the distribution's own.
func Mirror(etc, distro string) string {
	hostID := ""
	if b, err := os.ReadFile(filepath.Join(etc, "os-release")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "ID="); ok {
				hostID = strings.Trim(v, `"`)
			}
		}
	}
	if hostID == distro {
		for _, s := range hostAptSources(etc) {
			if strings.Contains(s.uri, "security") || strings.Contains(s.suite, "-") || strings.Contains(s.suite, "/") {
				continue
			}
			if strings.HasPrefix(s.uri, "http://") || strings.HasPrefix(s.uri, "https://") || strings.HasPrefix(s.uri, "file:") {
				return strings.TrimSuffix(s.uri, "/")
			}
		}
	}
	if distro == "ubuntu" {
		return "http://archive.ubuntu.com/ubuntu"
	}
	return "http://deb.debian.org/debian"
}

// KernelPackage is the kernel package of a family for -k (a version, or a package name).
func KernelPackage(fam Family, arch, k string) string {
	switch fam {
	case Debian:
		if k == "" {
			a := DebArch(arch)
			if a == "ppc64el" {
				a = "powerpc64le"
			}
			return "linux-image-" + a
		}
		if strings.HasPrefix(k, "linux-") {
			return k
		}
		return "linux-image-" + k
	case RedHat:
		if k == "" {
			return "kernel"
		}
		if strings.HasPrefix(k, "kernel") {
			return k
		}
		return "kernel-" + k
	case SLES:
		if k == "" {
			return "kernel-default"
		}
		if strings.HasPrefix(k, "kernel") {
			return k
		}
		return "kernel-default-" + k
	}
	return k
}

// DebootstrapArgs are the arguments of debootstrap for a new image.
func DebootstrapArgs(arch, suite, root, mirror string, pkgs []string) []string {
	args := []string{"--variant=minbase", "--arch=" + DebArch(arch)}
	if len(pkgs) > 0 {
		args = append(args, "--include="+strings.Join(pkgs, ","))
	}
	return append(args, suite, root, mirror)
}

func debootstrap(ctx context.Context, o Options, root string, pkgs []string, exists bool, log io.Writer) error {
	distro, suite, err := Suite(o.OS)
	if err != nil {
		return err
	}
	pkgs = append([]string{KernelPackage(Debian, o.Arch, o.KernelVer)}, pkgs...)
	if exists {
		// An existing root: install what the lists name with the image's own apt.
		fmt.Fprintf(log, "genimage: %s exists: installing the package list into it with apt-get\n", root)
		return withChrootMounts(ctx, root, func() error {
			if err := runLogged(ctx, log, "chroot", root, "apt-get", "update"); err != nil {
				return err
			}
			return runLogged(ctx, log, "chroot", append([]string{root, "apt-get", "install", "-y", "--no-install-recommends"}, pkgs...)...)
		})
	}
	if err := need("debootstrap", "Debian and Ubuntu images are built with debootstrap"); err != nil {
		return fmt.Errorf("%w: apt-get install debootstrap", err)
	}
	mirror := o.Mirror
	if mirror == "" {
		mirror = Mirror("/etc", distro)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(log, "genimage: debootstrap %s %s from %s (%d packages)\n", distro, suite, mirror, len(pkgs))
	start := time.Now()
	if err := runLogged(ctx, log, "debootstrap", DebootstrapArgs(o.Arch, suite, root, mirror, pkgs)...); err != nil {
		return err
	}
	fmt.Fprintf(log, "genimage: debootstrap done in %.1f s\n", time.Since(start).Seconds())
	return nil
}

// DnfArgs are the arguments of dnf for an image.
func DnfArgs(root, release string, pkgs []string) []string {
	args := []string{"--installroot=" + root, "--assumeyes", "--setopt=install_weak_deps=False", "--nodocs"}
	if release != "" {
		args = append(args, "--releasever="+release)
	}
	return append(append(args, "install"), pkgs...)
}

var releaseRE = regexp.MustCompile(`(\d+(?:\.\d+)?)$`)

func dnfInstall(ctx context.Context, o Options, root string, pkgs []string, log io.Writer) error {
	if err := need("dnf", o.OS+" images are built with dnf --installroot"); err != nil {
		return fmt.Errorf("%w: build it on a RHEL-like host (or import a container image with `statelite image import`)", err)
	}
	rel := ""
	if m := releaseRE.FindStringSubmatch(o.OS); m != nil {
		rel = strings.SplitN(m[1], ".", 2)[0]
	}
	pkgs = append([]string{KernelPackage(RedHat, o.Arch, o.KernelVer)}, pkgs...)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(log, "genimage: dnf --installroot %s (%d packages)\n", root, len(pkgs))
	return runLogged(ctx, log, "dnf", DnfArgs(root, rel, pkgs)...)
}

func zypperInstall(ctx context.Context, o Options, root string, pkgs []string, log io.Writer) error {
	if err := need("zypper", o.OS+" images are built with zypper --root"); err != nil {
		return fmt.Errorf("%w: build it on a SLES host (or import a container image with `statelite image import`)", err)
	}
	pkgs = append([]string{KernelPackage(SLES, o.Arch, o.KernelVer)}, pkgs...)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(log, "genimage: zypper --root %s (%d packages)\n", root, len(pkgs))
	return runLogged(ctx, log, "zypper", append([]string{"--root", root, "--non-interactive", "--gpg-auto-import-keys", "install", "--no-recommends"}, pkgs...)...)
}

// installOther installs the otherpkgs into the image from the repolist's repositories:
// plaindir repositories are directories of package files (<name>_*.deb or
// <name>-*.rpm), rpm-md and deb are repositories the image's package manager reads.
func installOther(ctx context.Context, fam Family, root string, repos []Repo, pl *Pkglist, log io.Writer) error {
	var files, names []string
	for _, p := range pl.Packages {
		found := ""
		for _, r := range repos {
			if r.Type != "plaindir" {
				continue
			}
			pat := p + "_*.deb"
			if fam != Debian {
				pat = p + "-[0-9]*.rpm"
			}
			if m, _ := filepath.Glob(filepath.Join(r.Dir(), pat)); len(m) > 0 {
				found = m[len(m)-1]
				break
			}
		}
		if found != "" {
			files = append(files, found)
		} else {
			names = append(names, p)
		}
	}
	fmt.Fprintf(log, "genimage: otherpkgs: %d package files, %d from repositories\n", len(files), len(names))
	switch fam {
	case Debian:
		return withChrootMounts(ctx, root, func() error {
			stage := filepath.Join(root, "tmp", "statelite-otherpkgs")
			if err := os.MkdirAll(stage, 0o755); err != nil {
				return err
			}
			defer os.RemoveAll(stage)
			var args []string
			for _, f := range files {
				if err := copyAtomic(f, filepath.Join(stage, filepath.Base(f))); err != nil {
					return err
				}
				args = append(args, "/tmp/statelite-otherpkgs/"+filepath.Base(f))
			}
			list := filepath.Join(root, "etc", "apt", "sources.list.d", "statelite-otherpkgs.list")
			var b strings.Builder
			for _, r := range repos {
				if r.Type == "deb" {
					fmt.Fprintf(&b, "deb [trusted=yes] %s\n", r.URL)
				}
			}
			if b.Len() > 0 {
				if err := os.WriteFile(list, []byte(b.String()), 0o644); err != nil {
					return err
				}
			}
			if err := runLogged(ctx, log, "chroot", root, "apt-get", "update"); err != nil {
				return err
			}
			args = append(args, names...)
			if len(args) > 0 {
				if err := runLogged(ctx, log, "chroot", append([]string{root, "apt-get", "install", "-y", "--no-install-recommends"}, args...)...); err != nil {
					return err
				}
			}
			if len(pl.Remove) > 0 {
				return runLogged(ctx, log, "chroot", append([]string{root, "apt-get", "remove", "-y"}, pl.Remove...)...)
			}
			return nil
		})
	case RedHat:
		if err := need("dnf", "otherpkgs of RHEL-like images are installed with dnf --installroot"); err != nil {
			return err
		}
		args := []string{"--installroot=" + root, "--assumeyes"}
		for _, r := range repos {
			if r.Type == "rpm-md" {
				args = append(args, "--repofrompath="+r.Name+","+r.URL)
			}
		}
		if err := runLogged(ctx, log, "dnf", append(append(args, "install"), append(files, names...)...)...); err != nil {
			return err
		}
		if len(pl.Remove) > 0 {
			return runLogged(ctx, log, "dnf", append([]string{"--installroot=" + root, "--assumeyes", "remove"}, pl.Remove...)...)
		}
		return nil
	case SLES:
		if err := need("zypper", "otherpkgs of SLES images are installed with zypper --root"); err != nil {
			return err
		}
		for _, r := range repos {
			if r.Type == "rpm-md" {
				if err := runLogged(ctx, log, "zypper", "--root", root, "--non-interactive", "addrepo", "--no-gpgcheck", r.URL, r.Name); err != nil {
					return err
				}
			}
		}
		if err := runLogged(ctx, log, "zypper", append([]string{"--root", root, "--non-interactive", "install"}, append(files, names...)...)...); err != nil {
			return err
		}
		if len(pl.Remove) > 0 {
			return runLogged(ctx, log, "zypper", append([]string{"--root", root, "--non-interactive", "remove"}, pl.Remove...)...)
		}
	}
	return nil
}
