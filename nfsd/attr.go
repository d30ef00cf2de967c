package nfsd

import (
	"errors"
	"io/fs"
	"syscall"
	"time"

	sfs "statelite/fs"
)

// NFSv3 status codes (RFC 1813 §2.6).
const (
	nfs3OK          = 0
	nfs3Perm        = 1
	nfs3NoEnt       = 2
	nfs3IO          = 5
	nfs3NXIO        = 6
	nfs3Acces       = 13
	nfs3Exist       = 17
	nfs3XDev        = 18
	nfs3NoDev       = 19
	nfs3NotDir      = 20
	nfs3IsDir       = 21
	nfs3Inval       = 22
	nfs3FBig        = 27
	nfs3NoSpc       = 28
	nfs3ROFS        = 30
	nfs3MLink       = 31
	nfs3NameTooLong = 63
	nfs3NotEmpty    = 66
	nfs3DQuot       = 69
	nfs3Stale       = 70
	nfs3BadHandle   = 10001
	nfs3BadCookie   = 10003
	nfs3NotSupp     = 10004
	nfs3TooSmall    = 10005
	nfs3ServerFault = 10006
	nfs3BadType     = 10007
	nfs3Jukebox     = 10008
)

// statusOf maps an error from the overlay to an NFSv3 status.
func statusOf(err error) uint32 {
	if err == nil {
		return nfs3OK
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		switch en {
		case syscall.EPERM:
			return nfs3Perm
		case syscall.ENOENT:
			return nfs3NoEnt
		case syscall.ENXIO:
			return nfs3NXIO
		case syscall.EACCES:
			return nfs3Acces
		case syscall.EEXIST:
			return nfs3Exist
		case syscall.EXDEV:
			return nfs3XDev
		case syscall.ENODEV:
			return nfs3NoDev
		case syscall.ENOTDIR:
			return nfs3NotDir
		case syscall.EISDIR:
			return nfs3IsDir
		case syscall.EINVAL:
			return nfs3Inval
		case syscall.EFBIG:
			return nfs3FBig
		case syscall.ENOSPC:
			return nfs3NoSpc
		case syscall.EROFS:
			return nfs3ROFS
		case syscall.EMLINK:
			return nfs3MLink
		case syscall.ENAMETOOLONG:
			return nfs3NameTooLong
		case syscall.ENOTEMPTY:
			return nfs3NotEmpty
		case syscall.EDQUOT:
			return nfs3DQuot
		case syscall.ESTALE:
			return nfs3Stale
		case syscall.EBUSY:
			return nfs3Acces // knfsd answers EBUSY (a mount point) this way too
		case syscall.ELOOP:
			return nfs3Inval
		case syscall.ENOTSUP:
			return nfs3NotSupp
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nfs3NoEnt
	case errors.Is(err, fs.ErrExist):
		return nfs3Exist
	case errors.Is(err, fs.ErrPermission):
		return nfs3Acces
	}
	return nfs3IO
}

// NFS file types.
const (
	nf3Reg  = 1
	nf3Dir  = 2
	nf3Blk  = 3
	nf3Chr  = 4
	nf3Lnk  = 5
	nf3Sock = 6
	nf3Fifo = 7
)

func ftype(mode uint32) uint32 {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return nf3Dir
	case syscall.S_IFBLK:
		return nf3Blk
	case syscall.S_IFCHR:
		return nf3Chr
	case syscall.S_IFLNK:
		return nf3Lnk
	case syscall.S_IFSOCK:
		return nf3Sock
	case syscall.S_IFIFO:
		return nf3Fifo
	}
	return nf3Reg
}

func major(rdev uint64) uint32 { return uint32((rdev>>8)&0xfff | (rdev>>32)&^0xfff) }
func minor(rdev uint64) uint32 { return uint32(rdev&0xff | (rdev>>12)&^0xff) }
func mkdev(maj, min uint32) uint64 {
	return uint64(min&0xff) | uint64(maj&0xfff)<<8 | uint64(min&^0xff)<<12 | uint64(maj&^0xfff)<<32
}

func putTime(w *writer, t time.Time) {
	w.u32(uint32(t.Unix()))
	w.u32(uint32(t.Nanosecond()))
}

// fattr3 writes the attributes of an object of node's view (fsid = the node's id).
func fattr3(w *writer, a sfs.Attr, fsid uint64) {
	w.u32(ftype(a.Mode))
	w.u32(a.Mode & 0o7777)
	w.u32(a.Nlink)
	w.u32(a.UID)
	w.u32(a.GID)
	w.u64(a.Size)
	w.u64(a.Blocks * 512)
	w.u32(major(a.Rdev))
	w.u32(minor(a.Rdev))
	w.u64(fsid)
	w.u64(a.FileID)
	putTime(w, a.Atime)
	putTime(w, a.Mtime)
	putTime(w, a.Ctime)
}

// postOp writes post_op_attr.
func postOp(w *writer, a *sfs.Attr, fsid uint64) {
	if a == nil {
		w.boolean(false)
		return
	}
	w.boolean(true)
	fattr3(w, *a, fsid)
}

// wcc writes wcc_data from the attributes before and after an operation.
func wcc(w *writer, before, after *sfs.Attr, fsid uint64) {
	if before == nil {
		w.boolean(false)
	} else {
		w.boolean(true)
		w.u64(before.Size)
		putTime(w, before.Mtime)
		putTime(w, before.Ctime)
	}
	postOp(w, after, fsid)
}

// sattr3 is a decoded set-attributes request.
type sattr3 struct {
	sfs.SetAttr
	atimeServer, mtimeServer bool
}

func readTime(r *reader) time.Time {
	sec, nsec := r.u32(), r.u32()
	return time.Unix(int64(sec), int64(nsec))
}

func readSattr(r *reader) sattr3 {
	var s sattr3
	if r.boolean() {
		m := r.u32()
		s.Mode = &m
	}
	if r.boolean() {
		u := r.u32()
		s.UID = &u
	}
	if r.boolean() {
		g := r.u32()
		s.GID = &g
	}
	if r.boolean() {
		sz := r.u64()
		s.Size = &sz
	}
	for i, dst := range []**time.Time{&s.Atime, &s.Mtime} {
		switch r.u32() {
		case 1: // SET_TO_SERVER_TIME
			t := time.Now()
			*dst = &t
			if i == 0 {
				s.atimeServer = true
			} else {
				s.mtimeServer = true
			}
		case 2:
			t := readTime(r)
			*dst = &t
		}
	}
	return s
}

func (s sattr3) empty() bool {
	return s.Mode == nil && s.UID == nil && s.GID == nil && s.Size == nil && s.Atime == nil && s.Mtime == nil
}
