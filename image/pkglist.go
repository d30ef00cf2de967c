package image

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Pkglist is a parsed xCAT package list.
type Pkglist struct {
	Packages []string // to install, in order, without duplicates
	Remove   []string // "-name" lines: to remove (otherpkgs) or leave out
	Files    []string // every file read, the list itself first (includes after)
}

// ParsePkglist reads a package list in xCAT's format: package names separated by blanks
// or commas, one or more a line; "#" starts a comment; "#INCLUDE:FILE#" includes another
// list (relative to the including file's directory); "#NEW_INSTALL_LIST#" (xCAT's
// install stages) is accepted and ignored; "-name" removes a package.
func ParsePkglist(f File) (*Pkglist, error) {
	p := &Pkglist{}
	seen := map[string]bool{}
	if err := p.read(f, seen, nil); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Pkglist) read(f File, seen map[string]bool, stack []string) error {
	for _, s := range stack {
		if s == f.Name() {
			return fmt.Errorf("pkglist %s: #INCLUDE loop: %s", f.Name(), strings.Join(append(stack, f.Name()), " → "))
		}
	}
	stack = append(stack, f.Name())
	b, err := f.Read()
	if err != nil {
		if len(stack) > 1 {
			return fmt.Errorf("pkglist %s: #INCLUDE: %w", stack[len(stack)-2], err)
		}
		return fmt.Errorf("pkglist: %w", err)
	}
	p.Files = append(p.Files, f.Name())
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "#INCLUDE:"); ok {
			name, ok := strings.CutSuffix(strings.TrimSpace(rest), "#")
			name = strings.TrimSpace(name)
			if !ok || name == "" {
				return fmt.Errorf("pkglist %s line %d: %q: want #INCLUDE:FILE#", f.Name(), n, line)
			}
			if err := p.read(f.rel(name), seen, stack); err != nil {
				return err
			}
			continue
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, w := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
			if name, ok := strings.CutPrefix(w, "-"); ok {
				if name != "" {
					p.Remove = append(p.Remove, name)
				}
				continue
			}
			if !seen[w] {
				seen[w] = true
				p.Packages = append(p.Packages, w)
			}
		}
	}
	return sc.Err()
}

// Install returns the packages to install: Packages minus Remove.
func (p *Pkglist) Install() []string {
	rm := map[string]bool{}
	for _, r := range p.Remove {
		rm[r] = true
	}
	var out []string
	for _, q := range p.Packages {
		if !rm[q] {
			out = append(out, q)
		}
	}
	return out
}

// Repo is one line of a repolist: Type|URL|name.
type Repo struct {
	Type string // plaindir (a directory of packages), rpm-md (a yum/dnf repository), deb (an apt repository)
	URL  string // for deb: "URL SUITE COMPONENT…" (an apt sources line without "deb")
	Name string
}

// RepoTypes are the repolist types understood.
var RepoTypes = []string{"plaindir", "rpm-md", "deb"}

// ParseRepolist reads the Cookbook's repolist format (<profile>.<os>.<arch>.repolist):
// one repository a line, "Type|URL|name"; blank lines and "#" comments are skipped; a
// missing name is made from the line number.
func ParseRepolist(name string, b []byte) ([]Repo, error) {
	var out []Repo
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("repolist %s line %d: %q: want Type|URL|name", name, n, line)
		}
		r := Repo{Type: strings.TrimSpace(f[0]), URL: strings.TrimSpace(f[1])}
		if len(f) == 3 {
			r.Name = strings.TrimSpace(f[2])
		}
		ok := false
		for _, t := range RepoTypes {
			ok = ok || r.Type == t
		}
		if !ok {
			return nil, fmt.Errorf("repolist %s line %d: type %q is not one of %s", name, n, r.Type, strings.Join(RepoTypes, ", "))
		}
		if r.URL == "" {
			return nil, fmt.Errorf("repolist %s line %d: no URL", name, n)
		}
		if r.Type == "plaindir" && !strings.HasPrefix(r.URL, "file://") && !strings.HasPrefix(r.URL, "/") {
			return nil, fmt.Errorf("repolist %s line %d: a plaindir is a local directory (file:///DIR or /DIR), not %q", name, n, r.URL)
		}
		if r.Name == "" {
			r.Name = fmt.Sprintf("otherpkgs-%d", n)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// Dir returns a plaindir repository's directory.
func (r Repo) Dir() string { return strings.TrimPrefix(r.URL, "file://") }
