package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// FileChange is one line of a generation diff: Kind '+' (added), '-' (removed) or 'M'
// (changed: What says how).
type FileChange struct {
	Kind byte
	Path string // absolute in the image ("/etc/motd"); directories end in "/"
	What string // for M: "content", "mode 0644 -> 0755", "owner 0:0 -> 1000:1000", "link a -> b", "type", "xattrs"
}

// PkgChange is a package added ('+'), removed ('-') or changed ('~').
type PkgChange struct {
	Kind     byte
	Name     string
	Old, New string
}

// GenDiff is what differs between two roots of an image.
type GenDiff struct {
	A, B     string // the arguments, as given (1, current, working)
	Files    []FileChange
	PkgDB    string // "dpkg", "rpm" or "" (neither root has a package database)
	Packages []PkgChange
	PkgNote  string // why there is no package diff, when there is a database
}

type diffEntry struct {
	st     syscall.Stat_t
	target string
}

func scanTree(root string) (map[string]*diffEntry, error) {
	out := map[string]*diffEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		e := &diffEntry{}
		if err := syscall.Lstat(p, &e.st); err != nil {
			return err
		}
		if d.Type() == fs.ModeSymlink {
			e.target, _ = os.Readlink(p)
		}
		out["/"+filepath.ToSlash(rel)] = e
		return nil
	})
	return out, err
}

// DiffRoots compares two image roots: files added, removed and changed (content, mode,
// owner, symlink target, type, xattrs; a change of times alone is not one), sorted by
// path, then the packages of their dpkg or rpm database.
func DiffRoots(ra, rb string) (*GenDiff, error) {
	ta, err := scanTree(ra)
	if err != nil {
		return nil, err
	}
	tb, err := scanTree(rb)
	if err != nil {
		return nil, err
	}
	d := &GenDiff{}
	name := func(p string, e *diffEntry) string {
		if e.st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			return p + "/"
		}
		return p
	}
	var b1, b2 []byte
	for p, ea := range ta {
		eb, ok := tb[p]
		if !ok {
			d.Files = append(d.Files, FileChange{Kind: '-', Path: name(p, ea)})
			continue
		}
		var what []string
		ma, mb := ea.st.Mode, eb.st.Mode
		if ma&syscall.S_IFMT != mb&syscall.S_IFMT {
			what = append(what, "type "+typeName(ma)+" -> "+typeName(mb))
		} else {
			switch ma & syscall.S_IFMT {
			case syscall.S_IFREG:
				same := ea.st.Dev == eb.st.Dev && ea.st.Ino == eb.st.Ino
				if !same && ea.st.Size == eb.st.Size {
					fa, errA := os.Open(filepath.Join(ra, p))
					fb, errB := os.Open(filepath.Join(rb, p))
					if errA == nil && errB == nil {
						same, err = sameReaders(fa, fb, &b1, &b2)
					}
					if fa != nil {
						fa.Close()
					}
					if fb != nil {
						fb.Close()
					}
					if errA != nil || errB != nil || err != nil {
						return nil, errors.Join(errA, errB, err)
					}
				}
				if !same {
					what = append(what, "content")
				}
			case syscall.S_IFLNK:
				if ea.target != eb.target {
					what = append(what, "link "+ea.target+" -> "+eb.target)
				}
			case syscall.S_IFCHR, syscall.S_IFBLK:
				if ea.st.Rdev != eb.st.Rdev {
					what = append(what, "device")
				}
			}
			if ma&syscall.S_IFMT != syscall.S_IFLNK && ma&0o7777 != mb&0o7777 {
				what = append(what, fmt.Sprintf("mode %04o -> %04o", ma&0o7777, mb&0o7777))
			}
		}
		if ea.st.Uid != eb.st.Uid || ea.st.Gid != eb.st.Gid {
			what = append(what, fmt.Sprintf("owner %d:%d -> %d:%d", ea.st.Uid, ea.st.Gid, eb.st.Uid, eb.st.Gid))
		}
		if !(ea.st.Dev == eb.st.Dev && ea.st.Ino == eb.st.Ino) && !sameXattrs(filepath.Join(ra, p), filepath.Join(rb, p)) {
			what = append(what, "xattrs")
		}
		if len(what) > 0 {
			d.Files = append(d.Files, FileChange{Kind: 'M', Path: name(p, eb), What: strings.Join(what, ", ")})
		}
	}
	for p, eb := range tb {
		if _, ok := ta[p]; !ok {
			d.Files = append(d.Files, FileChange{Kind: '+', Path: name(p, eb)})
		}
	}
	sort.Slice(d.Files, func(i, j int) bool {
		if d.Files[i].Path != d.Files[j].Path {
			return d.Files[i].Path < d.Files[j].Path
		}
		return d.Files[i].Kind < d.Files[j].Kind
	})
	d.diffPackages(ra, rb)
	return d, nil
}

func typeName(m uint32) string {
	switch m & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "file"
	case syscall.S_IFDIR:
		return "directory"
	case syscall.S_IFLNK:
		return "symlink"
	case syscall.S_IFCHR:
		return "char-device"
	case syscall.S_IFBLK:
		return "block-device"
	case syscall.S_IFIFO:
		return "fifo"
	}
	return "socket"
}

// Diff compares two generations of image directory dir, each a number, "current" or
// "working" (the working copy).
func Diff(dir, a, b string) (*GenDiff, error) {
	ra, _, err := GenSpec(dir, a)
	if err != nil {
		return nil, err
	}
	rb, _, err := GenSpec(dir, b)
	if err != nil {
		return nil, err
	}
	d, err := DiffRoots(ra, rb)
	if err != nil {
		return nil, err
	}
	d.A, d.B = a, b
	return d, nil
}

func hasRPMDB(root string) bool {
	for _, p := range []string{"var/lib/rpm", "usr/lib/sysimage/rpm"} {
		if ents, err := os.ReadDir(filepath.Join(root, p)); err == nil && len(ents) > 0 {
			return true
		}
	}
	return false
}

func (d *GenDiff) diffPackages(ra, rb string) {
	var pa, pb map[string]string
	var err error
	switch {
	case exists(filepath.Join(ra, "var/lib/dpkg/status")) || exists(filepath.Join(rb, "var/lib/dpkg/status")):
		d.PkgDB = "dpkg"
		if pa, err = DpkgPackages(ra); err == nil {
			pb, err = DpkgPackages(rb)
		}
	case hasRPMDB(ra) || hasRPMDB(rb):
		d.PkgDB = "rpm"
		if _, lerr := exec.LookPath("rpm"); lerr != nil {
			d.PkgNote = "the rpm package diff needs rpm on this host"
			return
		}
		if pa, err = RPMPackages(ra); err == nil {
			pb, err = RPMPackages(rb)
		}
	default:
		return
	}
	if err != nil {
		d.PkgNote = err.Error()
		return
	}
	for n, va := range pa {
		vb, ok := pb[n]
		switch {
		case !ok:
			d.Packages = append(d.Packages, PkgChange{Kind: '-', Name: n, Old: va})
		case va != vb:
			d.Packages = append(d.Packages, PkgChange{Kind: '~', Name: n, Old: va, New: vb})
		}
	}
	for n, vb := range pb {
		if _, ok := pa[n]; !ok {
			d.Packages = append(d.Packages, PkgChange{Kind: '+', Name: n, New: vb})
		}
	}
	sort.Slice(d.Packages, func(i, j int) bool { return d.Packages[i].Name < d.Packages[j].Name })
}

// DpkgPackages reads the installed packages of root's var/lib/dpkg/status: name →
// version (name:arch when a name is installed for several architectures). A root
// without the file has none.
func DpkgPackages(root string) (map[string]string, error) {
	f, err := os.Open(filepath.Join(root, "var/lib/dpkg/status"))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type pkg struct{ name, arch, version string }
	var pkgs []pkg
	var cur pkg
	installed := false
	flush := func() {
		if cur.name != "" && installed {
			pkgs = append(pkgs, cur)
		}
		cur, installed = pkg{}, false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue // a continuation line
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.name = v
		case "Version":
			cur.version = v
		case "Architecture":
			cur.arch = v
		case "Status":
			f := strings.Fields(v)
			installed = len(f) == 3 && f[2] == "installed"
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, p := range pkgs {
		count[p.name]++
	}
	out := map[string]string{}
	for _, p := range pkgs {
		k := p.name
		if count[p.name] > 1 {
			k += ":" + p.arch
		}
		out[k] = p.version
	}
	return out, nil
}

// RPMPackages lists the packages of root's rpm database with the host's rpm: name →
// EVR (several versions of a name, as kernels, joined by ",").
func RPMPackages(root string) (map[string]string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	// The image's own database, not the host's default (/root/.rpmdb on Debian's rpm):
	// usr/lib/sysimage/rpm on newer distributions, var/lib/rpm on older ones.
	dbpath := "/var/lib/rpm"
	if ents, err := os.ReadDir(filepath.Join(abs, "usr/lib/sysimage/rpm")); err == nil && len(ents) > 0 {
		dbpath = "/usr/lib/sysimage/rpm"
	}
	var stderr bytes.Buffer
	cmd := exec.Command("rpm", "--root", abs, "--dbpath", dbpath, "-qa", "--qf", "%{NAME} %{EVR}\\n")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("rpm --root %s -qa: %v: %s", abs, err, strings.TrimSpace(stderr.String()))
	}
	vers := map[string][]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if n, v, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			vers[n] = append(vers[n], v)
		}
	}
	res := map[string]string{}
	for n, vs := range vers {
		sort.Strings(vs)
		res[n] = strings.Join(vs, ",")
	}
	return res, nil
}

// Write prints the diff: "+ path", "- path", "M path (what)" sorted by path, then the
// package changes ("+ pkg version", "- pkg version", "~ pkg old -> new").
func (d *GenDiff) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var add, rm, mod int
	for _, f := range d.Files {
		switch f.Kind {
		case '+':
			add++
		case '-':
			rm++
		default:
			mod++
		}
	}
	fmt.Fprintf(bw, "files %s -> %s: %d added, %d removed, %d changed\n", d.A, d.B, add, rm, mod)
	for _, f := range d.Files {
		if f.Kind == 'M' {
			fmt.Fprintf(bw, "M %s (%s)\n", f.Path, f.What)
		} else {
			fmt.Fprintf(bw, "%c %s\n", f.Kind, f.Path)
		}
	}
	switch {
	case d.PkgDB == "":
		fmt.Fprintf(bw, "packages: no dpkg or rpm database\n")
	case d.PkgNote != "":
		fmt.Fprintf(bw, "packages (%s): %s\n", d.PkgDB, d.PkgNote)
	default:
		var add, rm, mod int
		for _, p := range d.Packages {
			switch p.Kind {
			case '+':
				add++
			case '-':
				rm++
			default:
				mod++
			}
		}
		fmt.Fprintf(bw, "packages (%s): %d added, %d removed, %d changed\n", d.PkgDB, add, rm, mod)
		for _, p := range d.Packages {
			switch p.Kind {
			case '+':
				fmt.Fprintf(bw, "+ %s %s\n", p.Name, p.New)
			case '-':
				fmt.Fprintf(bw, "- %s %s\n", p.Name, p.Old)
			default:
				fmt.Fprintf(bw, "~ %s %s -> %s\n", p.Name, p.Old, p.New)
			}
		}
	}
	return bw.Flush()
}
