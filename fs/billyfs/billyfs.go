package billyfs

import (
	"errors"
	"math/rand/v2"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-billy/v5"

	"statelite/fs"
)

// maxHops is the most symbolic links one lookup follows (Linux's MAXSYMLINKS).
const maxHops = 40

// FS is a billy filesystem over a node's view. New objects are owned by its
// credential. It is safe for concurrent use.
type FS struct {
	v    *fs.View
	cred fs.Cred
	base string // view path of the filesystem's root ("/" unless chrooted)
}

var (
	_ billy.Filesystem = (*FS)(nil)
	_ billy.Change     = (*FS)(nil)
	_ billy.Capable    = (*FS)(nil)
)

// New returns the billy filesystem of view v acting as cred.
func New(v *fs.View, cred fs.Cred) *FS {
	return &FS{v: v, cred: cred, base: "/"}
}

// View returns the view the filesystem works on.
func (f *FS) View() *fs.View { return f.v }

// Cred returns the credential new objects get.
func (f *FS) Cred() fs.Cred { return f.cred }

// ViewPath returns the view path a billy name denotes, without resolving symbolic links.
func (f *FS) ViewPath(name string) string { return f.view(clean(name)) }

// clean turns a billy name into a clean "/"-rooted path relative to the filesystem root.
func clean(name string) string { return path.Clean("/" + name) }

// view turns a "/"-rooted relative path into a view path.
func (f *FS) view(rel string) string { return path.Join(f.base, rel) }

func split(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// resolve looks up rel ("/"-rooted, clean) following symbolic links in its directory
// components, and in the final one when follow is set, without leaving the filesystem
// root. It returns the resolved path and its attributes. When the object is missing
// the error satisfies os.IsNotExist and rp says where it would be created (its
// unresolved missing tail appended to the resolved part).
func (f *FS) resolve(op, name, rel string, follow bool) (rp string, a fs.Attr, err error) {
	todo := split(rel)
	cur := "/"
	have := false
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c == ".." {
			cur, have = path.Dir(cur), false
			continue
		}
		next := path.Join(cur, c)
		last := len(todo) == 0
		at, err := f.v.Getattr(f.view(next))
		if err != nil {
			if isNotExist(err) {
				return path.Join(append([]string{next}, todo...)...), fs.Attr{}, pathErr(op, name, syscall.ENOENT)
			}
			return "", fs.Attr{}, pathErr(op, name, err)
		}
		if at.IsSymlink() && (follow || !last) {
			if hops++; hops > maxHops {
				return "", fs.Attr{}, pathErr(op, name, syscall.ELOOP)
			}
			t, err := f.v.Readlink(f.view(next))
			if err != nil {
				return "", fs.Attr{}, pathErr(op, name, err)
			}
			if strings.HasPrefix(t, "/") {
				cur = "/"
			}
			todo = append(split(t), todo...)
			have = false
			continue
		}
		if !last && !at.IsDir() {
			return "", fs.Attr{}, pathErr(op, name, syscall.ENOTDIR)
		}
		cur, a, have = next, at, true
	}
	if !have {
		if a, err = f.v.Getattr(f.view(cur)); err != nil {
			return cur, fs.Attr{}, pathErr(op, name, err)
		}
	}
	return cur, a, nil
}

func isNotExist(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, os.ErrNotExist)
}

func isExist(err error) bool {
	return errors.Is(err, syscall.EEXIST) || errors.Is(err, os.ErrExist)
}

// cause returns the errno behind err, or the innermost error of a path error.
func cause(err error) error {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// pathErr reports err for billy name (hiding host and view paths of engine errors).
func pathErr(op, name string, err error) error {
	return &os.PathError{Op: op, Path: name, Err: cause(err)}
}

// unixPerm converts os.FileMode permission bits (with setuid, setgid, sticky) to Unix
// bits. Unix's 04000, 02000 and 01000 in the low bits (unused by os.FileMode) are
// taken as well, so os.FileMode(04755) and 0755|os.ModeSetuid mean the same.
func unixPerm(m os.FileMode) uint32 {
	u := uint32(m) & 0o7777
	if m&os.ModeSetuid != 0 {
		u |= syscall.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		u |= syscall.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		u |= syscall.S_ISVTX
	}
	return u
}

// Create creates or truncates name (mode 0666) and opens it read-write.
func (f *FS) Create(name string) (billy.File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Open opens name for reading.
func (f *FS) Open(name string) (billy.File, error) {
	return f.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens name with os.O_* flags. O_CREATE makes missing parent directories
// (as osfs does) and creates the file with perm (no umask) owned by the credential;
// with O_EXCL an existing name, even a symbolic link, gives an os.IsExist error.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	const op = "open"
	rel := clean(name)
	excl := flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0
	rp, a, err := f.resolve(op, name, rel, !excl)
	if err == nil {
		if excl {
			return nil, pathErr(op, name, syscall.EEXIST)
		}
		return f.openExisting(name, rp, a, flag)
	}
	if flag&os.O_CREATE == 0 || !isNotExist(err) {
		return nil, err
	}
	if rp == "/" {
		return nil, err
	}
	if err := f.mkdirAll(op, name, path.Dir(rp), 0o755); err != nil {
		return nil, err
	}
	h, at, err := f.v.Create(f.view(rp), unixPerm(perm), f.cred)
	if err != nil {
		if isExist(err) && !excl { // made meanwhile
			if rp, a, err = f.resolve(op, name, rel, true); err == nil {
				return f.openExisting(name, rp, a, flag)
			}
		}
		return nil, pathErr(op, name, err)
	}
	return newFile(name, h, at, flag), nil
}

func (f *FS) openExisting(name, rp string, a fs.Attr, flag int) (billy.File, error) {
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if a.IsDir() {
		if acc != os.O_RDONLY || flag&os.O_TRUNC != 0 {
			return nil, pathErr("open", name, syscall.EISDIR)
		}
		return &File{name: name, dir: true, size: int64(a.Size)}, nil
	}
	// O_APPEND is done by File.Write: the engine's handles write at offsets.
	h, err := f.v.Open(f.view(rp), acc|flag&(os.O_TRUNC|os.O_SYNC))
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if flag&os.O_TRUNC != 0 {
		a.Size = 0
	}
	return newFile(name, h, a, flag), nil
}

// Stat describes name, following symbolic links.
func (f *FS) Stat(name string) (os.FileInfo, error) {
	_, a, err := f.resolve("stat", name, clean(name), true)
	if err != nil {
		return nil, err
	}
	return newInfo(path.Base(clean(name)), a), nil
}

// Lstat describes name without following a final symbolic link.
func (f *FS) Lstat(name string) (os.FileInfo, error) {
	_, a, err := f.resolve("lstat", name, clean(name), false)
	if err != nil {
		return nil, err
	}
	return newInfo(path.Base(clean(name)), a), nil
}

// Rename moves from to to (replacing a file, or an empty directory by a directory),
// making to's missing parent directories as osfs does. Neither final name is followed.
func (f *FS) Rename(from, to string) error {
	le := func(err error) error { return &os.LinkError{Op: "rename", Old: from, New: to, Err: cause(err)} }
	rf, _, err := f.resolve("rename", from, clean(from), false)
	if err != nil {
		return le(err)
	}
	rt, _, err := f.resolve("rename", to, clean(to), false)
	if err != nil && !isNotExist(err) {
		return le(err)
	}
	if err != nil {
		if err := f.mkdirAll("rename", to, path.Dir(rt), 0o755); err != nil {
			return le(err)
		}
	}
	if err := f.v.Rename(f.view(rf), f.view(rt)); err != nil {
		return le(err)
	}
	return nil
}

// Remove deletes a file, a symbolic link (not its target) or an empty directory.
func (f *FS) Remove(name string) error {
	rp, a, err := f.resolve("remove", name, clean(name), false)
	if err != nil {
		return err
	}
	if a.IsDir() {
		err = f.v.Rmdir(f.view(rp))
	} else {
		err = f.v.Remove(f.view(rp))
	}
	if err != nil {
		return pathErr("remove", name, err)
	}
	return nil
}

// Join joins path elements.
func (f *FS) Join(elem ...string) string { return path.Join(elem...) }

// TempFile creates a new file in dir (made if missing; "" means /tmp) with a name
// starting with prefix, and opens it read-write.
func (f *FS) TempFile(dir, prefix string) (billy.File, error) {
	if dir == "" {
		dir = "/tmp"
	}
	for range 10000 {
		name := path.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		fl, err := f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && isExist(err) {
			continue
		}
		return fl, err
	}
	return nil, pathErr("tempfile", path.Join(dir, prefix+"*"), syscall.EEXIST)
}

// ReadDir lists directory name (following symbolic links to it), sorted by name; the
// entries describe the names themselves (not link targets).
func (f *FS) ReadDir(name string) ([]os.FileInfo, error) {
	rp, a, err := f.resolve("readdir", name, clean(name), true)
	if err != nil {
		return nil, err
	}
	if !a.IsDir() {
		return nil, pathErr("readdir", name, syscall.ENOTDIR)
	}
	ents, err := f.v.ReadDir(f.view(rp))
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	out := make([]os.FileInfo, len(ents))
	for i, e := range ents {
		out[i] = newInfo(e.Name, e.Attr)
	}
	return out, nil
}

// MkdirAll makes directory name and any missing parents with perm (no umask).
func (f *FS) MkdirAll(name string, perm os.FileMode) error {
	return f.mkdirAll("mkdir", name, clean(name), unixPerm(perm))
}

func (f *FS) mkdirAll(op, name, rel string, mode uint32) error {
	rp, a, err := f.resolve(op, name, rel, true)
	if err == nil {
		if !a.IsDir() {
			return pathErr(op, name, syscall.ENOTDIR)
		}
		return nil
	}
	if !isNotExist(err) || rp == "/" {
		return err
	}
	if err := f.mkdirAll(op, name, path.Dir(rp), mode); err != nil {
		return err
	}
	if _, err := f.v.Mkdir(f.view(rp), mode, f.cred); err != nil {
		if isExist(err) { // made meanwhile
			if a, serr := f.v.Getattr(f.view(rp)); serr == nil && a.IsDir() {
				return nil
			}
		}
		return pathErr(op, name, err)
	}
	return nil
}

// Symlink makes link point at target (stored verbatim), making link's missing parent
// directories as osfs does.
func (f *FS) Symlink(target, link string) error {
	rp, _, err := f.resolve("symlink", link, clean(link), false)
	if err == nil {
		return pathErr("symlink", link, syscall.EEXIST)
	}
	if !isNotExist(err) || rp == "/" {
		return err
	}
	if err := f.mkdirAll("symlink", link, path.Dir(rp), 0o755); err != nil {
		return err
	}
	if _, err := f.v.Symlink(target, f.view(rp), f.cred); err != nil {
		return pathErr("symlink", link, err)
	}
	return nil
}

// Readlink returns the target of symbolic link name.
func (f *FS) Readlink(name string) (string, error) {
	rp, a, err := f.resolve("readlink", name, clean(name), false)
	if err != nil {
		return "", err
	}
	if !a.IsSymlink() {
		return "", pathErr("readlink", name, syscall.EINVAL)
	}
	t, err := f.v.Readlink(f.view(rp))
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	return t, nil
}

// Chroot returns the filesystem rooted at directory name (symbolic links to it
// followed); links inside it resolve against the new root.
func (f *FS) Chroot(name string) (billy.Filesystem, error) {
	rp, a, err := f.resolve("chroot", name, clean(name), true)
	if err != nil {
		return nil, err
	}
	if !a.IsDir() {
		return nil, pathErr("chroot", name, syscall.ENOTDIR)
	}
	return &FS{v: f.v, cred: f.cred, base: f.view(rp)}, nil
}

// Root returns the view path of the filesystem's root: "/" for New's filesystem.
func (f *FS) Root() string { return f.base }

// Capabilities reports every capability; writes to read-only paths fail per call
// with EROFS.
func (f *FS) Capabilities() billy.Capability { return billy.AllCapabilities }

func (f *FS) setattr(op, name string, follow bool, sa fs.SetAttr) error {
	rp, _, err := f.resolve(op, name, clean(name), follow)
	if err != nil {
		return err
	}
	if _, err := f.v.Setattr(f.view(rp), sa); err != nil {
		return pathErr(op, name, err)
	}
	return nil
}

// Chmod sets the permission bits (with setuid, setgid, sticky) of name, following
// symbolic links.
func (f *FS) Chmod(name string, mode os.FileMode) error {
	m := unixPerm(mode)
	return f.setattr("chmod", name, true, fs.SetAttr{Mode: &m})
}

func owner(uid, gid int) fs.SetAttr {
	var sa fs.SetAttr
	if uid >= 0 {
		u := uint32(uid)
		sa.UID = &u
	}
	if gid >= 0 {
		g := uint32(gid)
		sa.GID = &g
	}
	return sa
}

// Lchown sets the owner of name itself (uid or gid -1: unchanged).
func (f *FS) Lchown(name string, uid, gid int) error {
	return f.setattr("lchown", name, false, owner(uid, gid))
}

// Chown sets the owner of name, following symbolic links (uid or gid -1: unchanged).
func (f *FS) Chown(name string, uid, gid int) error {
	return f.setattr("chown", name, true, owner(uid, gid))
}

// Chtimes sets the access and modification times of name, following symbolic links.
func (f *FS) Chtimes(name string, atime, mtime time.Time) error {
	return f.setattr("chtimes", name, true, fs.SetAttr{Atime: &atime, Mtime: &mtime})
}
