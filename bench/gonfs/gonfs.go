// Package gonfs serves a node's view through go-nfs (github.com/willscott/go-nfs v0.0.4)
// on the view's go-billy face (fs/billyfs): the NFS server a Go developer would build
// first, measured beside nfs-ganesha and ours (`make bench-nfs`, server "go-nfs") and
// compared with ours operation by operation (the conformance test). Its known
// differences from RFC 1813 and from our server are listed in KnownDifferences.
package gonfs

import (
	"context"
	"net"
	"os"
	"path"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/helper/chroot"
	nfs "github.com/willscott/go-nfs"
	nfshelper "github.com/willscott/go-nfs/helpers"

	"statelite/fs"
	"statelite/fs/billyfs"
)

// KnownDifferences are where go-nfs v0.0.4 serving the billy face is known to answer
// otherwise than our nfsd (measured by the conformance test, and in the notes on
// go-nfs): the conformance test does not compare these.
var KnownDifferences = []string{
	"no permission checks: every call runs as the server (AUTH_SYS ignored; ACCESS grants what is asked)",
	"setuid, setgid and sticky bits are dropped (os.FileMode on the wire; SETATTR masks with ModePerm)",
	"handles are random and kept in a bounded cache: they are lost on restart (STALE)",
	"LINK arguments are mis-parsed: hard links fail",
	"errors other than a missing name or a refused permission become NFS3ERR_IO (RMDIR of a non-empty directory is IO, not NOTEMPTY)",
	"one goroutine per connection: calls of one connection are served in order",
}

// Serve answers MOUNT and NFSv3 for v (as root) on l until ctx is done; an export path
// mounts that directory of the view (as a client such as libnfs mounts the directory of
// the file it names), "/" the view's root.
func Serve(ctx context.Context, l net.Listener, v *fs.View) error {
	h := nfshelper.NewCachingHandler(subdirs{nfshelper.NewNullAuthHandler(billyfs.New(v, fs.Root)).(*nfshelper.NullAuthHandler), billyfs.New(v, fs.Root)}, 1<<20)
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	err := nfs.Serve(l, h)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// subdirs is go-nfs's NullAuthHandler, but MOUNT of a directory below the root mounts
// that directory (go-nfs's mounts the root whatever the path).
type subdirs struct {
	*nfshelper.NullAuthHandler
	root billy.Filesystem
}

func (h subdirs) Mount(ctx context.Context, c net.Conn, req nfs.MountRequest) (nfs.MountStatus, billy.Filesystem, []nfs.AuthFlavor) {
	p := path.Clean("/" + string(req.Dirpath))
	if p == "/" {
		return nfs.MountStatusOk, h.root, []nfs.AuthFlavor{nfs.AuthFlavorNull}
	}
	fi, err := h.root.Stat(p)
	if err != nil {
		return nfs.MountStatusErrNoEnt, nil, nil
	}
	if !fi.IsDir() {
		return nfs.MountStatusErrNotDir, nil, nil
	}
	return nfs.MountStatusOk, subdir{chroot.New(h.root, p), h.root.(billy.Change), p}, []nfs.AuthFlavor{nfs.AuthFlavorNull}
}

// subdir is a directory of the view as a filesystem of its own, with the view's
// attribute changes (billy's chroot has none).
type subdir struct {
	billy.Filesystem
	change billy.Change // the view's
	base   string
}

func (s subdir) Chmod(name string, mode os.FileMode) error {
	return s.change.Chmod(path.Join(s.base, name), mode)
}

func (s subdir) Lchown(name string, uid, gid int) error {
	return s.change.Lchown(path.Join(s.base, name), uid, gid)
}

func (s subdir) Chown(name string, uid, gid int) error {
	return s.change.Chown(path.Join(s.base, name), uid, gid)
}

func (s subdir) Chtimes(name string, atime, mtime time.Time) error {
	return s.change.Chtimes(path.Join(s.base, name), atime, mtime)
}

// Change is the attribute changer of the mounted filesystem f (go-nfs's is always the
// root's, whose paths are not f's when f is a subdirectory).
func (h subdirs) Change(f billy.Filesystem) billy.Change {
	if c, ok := f.(billy.Change); ok {
		return c
	}
	return nil
}
