package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"statelite/resolver"
	"statelite/tables"
)

// Record is what the osimage and linuximage tables say about an image.
type Record struct {
	Name, OS, Arch, Profile string
	RootImgDir              string // recorded in linuximage.rootimgdir when set
	Description             string
	Pkglist, OtherPkglist   []string
	Postinstall             []string
	KernelVer               string
	NetDrivers              []string
}

// nonEmpty drops the empty values of m: the columns they name stay as they are.
func nonEmpty(m map[string]string) map[string]string {
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// Save records an image's osimage and linuximage rows (provmethod statelite, imagetype
// linux, rootfstype nfs) through the store, as xCAT's genimage does.
func Save(ctx context.Context, st tables.Store, r Record) (*tables.Snapshot, error) {
	return st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		oi, li := cur.Table("osimage").Clone(), cur.Table("linuximage").Clone()
		oi.SetRow(r.Name, nonEmpty(map[string]string{
			"profile": r.Profile, "imagetype": "linux", "provmethod": "statelite", "rootfstype": "nfs",
			"osname": "Linux", "osvers": r.OS, "osarch": r.Arch, "description": r.Description,
		}))
		li.SetRow(r.Name, nonEmpty(map[string]string{
			"rootimgdir": r.RootImgDir, "pkglist": strings.Join(r.Pkglist, ","),
			"otherpkglist": strings.Join(r.OtherPkglist, ","), "postinstall": strings.Join(r.Postinstall, ","),
			"kernelver": r.KernelVer, "netdrivers": strings.Join(r.NetDrivers, ","),
		}))
		return map[string]*tables.Table{"osimage": oi, "linuximage": li}, nil
	})
}

// Entry is one image as `statelite image ls` shows it.
type Entry struct {
	Name, OS, Arch, Profile string
	Provmethod              string
	Dir                     string // rootimgdir: rootimg/, kernel, initrd-statelite.gz
	Root                    string // Dir/rootimg
	Nodes                   []string
	Kernel, Initrd          bool // the boot files exist
	RootExists              bool
}

// Users returns the nodes whose image (nodetype.provmethod, or
// <os>-<arch>-statelite-<profile>, as the resolver picks it) is name.
func Users(s *tables.Snapshot, name string) []string {
	var out []string
	for _, n := range s.Nodes() {
		if img, _, _, _, err := resolver.ImageOf(s, n); err == nil && img == name {
			out = append(out, n)
		}
	}
	return out
}

// List returns every osimage row with its directory and users, by name.
func List(s *tables.Snapshot) []Entry {
	oi := s.Table("osimage")
	users := map[string][]string{}
	for _, n := range s.Nodes() {
		if img, _, _, _, err := resolver.ImageOf(s, n); err == nil {
			users[img] = append(users[img], n)
		}
	}
	var out []Entry
	seen := map[string]bool{}
	for i := range oi.Rows {
		name := oi.Get(i, "imagename")
		if seen[name] || !oi.Enabled(i) {
			continue
		}
		seen[name] = true
		e := Entry{Name: name, OS: oi.Get(i, "osvers"), Arch: oi.Get(i, "osarch"), Profile: oi.Get(i, "profile"), Provmethod: oi.Get(i, "provmethod"), Nodes: users[name]}
		if d, err := resolver.ImageDir(s, name, ""); err == nil {
			e.Dir, e.Root = d, filepath.Join(d, "rootimg")
			_, err := os.Stat(filepath.Join(d, KernelName))
			e.Kernel = err == nil
			_, err = os.Stat(filepath.Join(d, InitrdName))
			e.Initrd = err == nil
			fi, err := os.Stat(e.Root)
			e.RootExists = err == nil && fi.IsDir()
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DiskUsage returns the bytes a tree takes on disk (hard links counted once).
func DiskUsage(root string) (int64, error) {
	var total int64
	type ino struct{ dev, ino uint64 }
	seen := map[ino]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if st.Nlink > 1 && !fi.IsDir() {
				k := ino{uint64(st.Dev), st.Ino}
				if seen[k] {
					return nil
				}
				seen[k] = true
			}
			total += st.Blocks * 512
			return nil
		}
		total += fi.Size()
		return nil
	})
	return total, err
}

// InUseError is returned by Remove for an image that nodes use.
type InUseError struct {
	Image string
	Nodes []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("image %s is used by %d node(s): %s (change their nodetype.provmethod or os/arch/profile first)", e.Image, len(e.Nodes), tables.FoldNodes(e.Nodes))
}

// Remove deletes an image's osimage and linuximage rows and, unless keepFiles, its
// files: <dir>/rootimg, <dir>/kernel, <dir>/initrd-statelite.gz and <dir> when that
// leaves it empty. It refuses (*InUseError) while any node uses the image, and keeps
// the files when another osimage row still names the same directory.
func Remove(ctx context.Context, st tables.Store, name string, keepFiles bool, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	var dir string
	var shared []string
	_, err := st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		dir, shared = "", nil
		if len(cur.RowsByKey("osimage", name)) == 0 && len(cur.RowsByKey("linuximage", name)) == 0 {
			return nil, fmt.Errorf("image %s: not in the osimage table", name)
		}
		if u := Users(cur, name); len(u) > 0 {
			return nil, &InUseError{Image: name, Nodes: u}
		}
		dir, _ = resolver.ImageDir(cur, name, "")
		for _, e := range List(cur) {
			if e.Name != name && e.Dir != "" && filepath.Clean(e.Dir) == filepath.Clean(dir) {
				shared = append(shared, e.Name)
			}
		}
		out := map[string]*tables.Table{}
		for _, tn := range []string{"osimage", "linuximage"} {
			t := cur.Table(tn).Clone()
			rows := t.Rows[:0]
			for i, r := range t.Rows {
				if t.Get(i, "imagename") != name {
					rows = append(rows, r)
				}
			}
			t.Rows = rows
			out[tn] = t
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "image %s: osimage and linuximage rows removed\n", name)
	switch {
	case keepFiles || dir == "":
		return nil
	case len(shared) > 0:
		fmt.Fprintf(log, "image %s: files in %s kept: image(s) %s use the same directory\n", name, dir, strings.Join(shared, ","))
		return nil
	case !filepath.IsAbs(dir) || filepath.Clean(dir) == "/":
		return fmt.Errorf("image %s: directory %q is not a safe place to delete from; files kept", name, dir)
	}
	for _, f := range []string{"rootimg", KernelName, InitrdName} {
		p := filepath.Join(dir, f)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
		fmt.Fprintf(log, "image %s: removed %s\n", name, p)
	}
	if err := os.Remove(dir); err == nil {
		fmt.Fprintf(log, "image %s: removed %s\n", name, dir)
	}
	return nil
}

// LitefileRows returns the shipped litefile sample of a family (tabrestore format).
func LitefileRows(fam Family) ([]byte, error) {
	return fs.ReadFile(Defaults(), string(fam)+"/litefile.csv")
}

// WriteDefaults copies the shipped defaults (pkglists, postinstall scripts, litefile.csv
// per family) into dir/<family>/, as xCAT ships /opt/xcat/share/xcat/netboot/<platform>.
// Existing files are left alone unless overwrite.
func WriteDefaults(dir string, overwrite bool, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	return fs.WalkDir(Defaults(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if _, err := os.Stat(dst); err == nil && !overwrite {
			fmt.Fprintf(log, "kept %s\n", dst)
			return nil
		}
		b, err := fs.ReadFile(Defaults(), p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".postinstall") {
			mode = 0o755
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s\n", dst)
		return nil
	})
}

// LitefilePaths returns the file column of a family's shipped litefile sample, in order.
func LitefilePaths(fam Family) []string {
	b, err := LitefileRows(fam)
	if err != nil {
		panic(err)
	}
	t, err := tables.Parse("litefile", strings.NewReader(string(b)))
	if err != nil {
		panic(fmt.Sprintf("shipped %s litefile.csv: %v", fam, err))
	}
	out := make([]string, 0, len(t.Rows))
	for i := range t.Rows {
		out = append(out, t.Get(i, "file"))
	}
	return out
}
