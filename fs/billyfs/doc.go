// Package billyfs presents one node's view (statelite/fs.View) as a go-billy v5
// filesystem: billy.Filesystem (Basic, TempFile, Dir, Symlink, Chroot), billy.Change
// and billy.Capable.
//
// Paths are billy-style, relative or absolute; both name the same view path (relative
// names start at the filesystem's root) and ".." never climbs above that root. Symbolic
// links are resolved inside the view, never on the host: absolute targets start at the
// filesystem's root, relative ones are clamped at it, and more than 40 links in one
// lookup give ELOOP. Stat, Open, ReadDir, Chmod, Chown and Chtimes follow a final
// symbolic link; Lstat, Readlink, Remove, Rename, Symlink, Lchown and exclusive creates
// do not. Symbolic links in directory components are always followed.
//
// FileInfo values carry the view's attributes: Mode maps the Unix type and the
// setuid, setgid and sticky bits to os.FileMode, and Sys returns the fs.Attr (owner,
// nlink, rdev, stable file id, all three times).
//
// Errors are *os.PathError (Rename: *os.LinkError) wrapping the engine's
// syscall.Errno, with the billy name as given, so os.IsNotExist, os.IsExist,
// os.IsPermission and errors.Is(err, syscall.EROFS) work.
package billyfs
