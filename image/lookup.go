package image

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// defaultsFS holds the shipped defaults: <family>/<profile>.pkglist, …postinstall and
// <family>/litefile.csv (xCAT's /opt/xcat/share/xcat/netboot/<platform>).
//
//go:embed defaults
var defaultsFS embed.FS

// Defaults returns the shipped defaults, one directory per family.
func Defaults() fs.FS {
	sub, err := fs.Sub(defaultsFS, "defaults")
	if err != nil {
		panic(err)
	}
	return sub
}

// File is a file found by a lookup: on disk (Path) or among the shipped defaults
// (Shipped, its name in Defaults()).
type File struct {
	Path    string // absolute path on disk; "" for a shipped default
	Shipped string // name inside Defaults(); "" for a file on disk
}

// Name is how the file is shown and recorded: its path, or shipped:<name>.
func (f File) Name() string {
	if f.Path != "" {
		return f.Path
	}
	return "shipped:" + f.Shipped
}

// IsZero reports whether no file was found.
func (f File) IsZero() bool { return f.Path == "" && f.Shipped == "" }

// Read returns the file's content.
func (f File) Read() ([]byte, error) {
	if f.Path != "" {
		return os.ReadFile(f.Path)
	}
	return fs.ReadFile(Defaults(), f.Shipped)
}

// ParseFile turns a recorded name (a path or shipped:<name>) back into a File.
func ParseFile(name string) File {
	if s, ok := strings.CutPrefix(name, "shipped:"); ok {
		return File{Shipped: s}
	}
	return File{Path: name}
}

// rel returns the file named by name relative to f's directory (an #INCLUDE:…# target):
// an absolute name is a path on disk.
func (f File) rel(name string) File {
	if filepath.IsAbs(name) {
		return File{Path: filepath.Clean(name)}
	}
	if f.Path != "" {
		return File{Path: filepath.Join(filepath.Dir(f.Path), name)}
	}
	return File{Shipped: path.Join(path.Dir(f.Shipped), name)}
}

// Lookup finds an image's profile files as xCAT's genimage does: in each directory in
// order, the names <profile>.<os>.<arch>.<ext>, <profile>.<arch>.<ext>,
// <profile>.<os>.<ext>, <profile>.<ext> (the Cookbook's order); the first file found
// wins. The directories are <installdir>/custom/netboot/<os>, then
// <installdir>/custom/netboot/<family> (the Cookbook's custom/netboot/rh), then the
// shipped defaults of the family.
type Lookup struct {
	OS, Arch, Profile string
	Family            Family
	Custom            []string // directories searched before the shipped defaults
	NoShipped         bool     // do not fall back to the shipped defaults
}

// NewLookup returns the lookup of an image under installdir.
func NewLookup(installdir, osName, arch, profile string) (*Lookup, error) {
	fam, err := FamilyOf(osName)
	if err != nil {
		return nil, err
	}
	l := &Lookup{OS: osName, Arch: arch, Profile: profile, Family: fam}
	base := filepath.Join(installdir, "custom", "netboot")
	l.Custom = append(l.Custom, filepath.Join(base, osName))
	if string(fam) != osName {
		l.Custom = append(l.Custom, filepath.Join(base, string(fam)))
	}
	return l, nil
}

// Names returns the file names tried in each directory for ext (e.g. "pkglist",
// "otherpkgs.pkglist", "postinstall", "repolist"), in order.
func (l *Lookup) Names(ext string) []string {
	p := l.Profile
	return []string{
		p + "." + l.OS + "." + l.Arch + "." + ext,
		p + "." + l.Arch + "." + ext,
		p + "." + l.OS + "." + ext,
		p + "." + ext,
	}
}

// Candidates returns every place tried for ext, in order (for messages and tests).
func (l *Lookup) Candidates(ext string) []File {
	var out []File
	for _, d := range l.Custom {
		for _, n := range l.Names(ext) {
			out = append(out, File{Path: filepath.Join(d, n)})
		}
	}
	if !l.NoShipped {
		for _, n := range l.Names(ext) {
			out = append(out, File{Shipped: path.Join(string(l.Family), n)})
		}
	}
	return out
}

// Find returns the first existing file for ext, or the zero File when there is none.
func (l *Lookup) Find(ext string) (File, error) {
	for _, c := range l.Candidates(ext) {
		var err error
		if c.Path != "" {
			var fi os.FileInfo
			fi, err = os.Stat(c.Path)
			if err == nil && fi.IsDir() {
				err = fmt.Errorf("%s is a directory", c.Path)
			}
		} else {
			_, err = fs.Stat(Defaults(), c.Shipped)
		}
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return File{}, err
		}
	}
	return File{}, nil
}
