package nfsd

import (
	"errors"
	"io/fs"
	"syscall"
	"time"

	sfs "statelite/fs"
	"statelite/nfsd/wire"
)

// NFSv3 status codes (RFC 1813 §2.6).
const ()

// statusOf maps an error from the overlay to an NFSv3 status.
func statusOf(err error) uint32 {
	if err == nil {
		return wire.NFS3OK
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		switch en {
		case syscall.EPERM:
			return wire.NFS3ErrPerm
		case syscall.ENOENT:
			return wire.NFS3ErrNoEnt
		case syscall.ENXIO:
			return wire.NFS3ErrNXIO
		case syscall.EACCES:
			return wire.NFS3ErrAcces
		case syscall.EEXIST:
			return wire.NFS3ErrExist
		case syscall.EXDEV:
			return wire.NFS3ErrXDev
		case syscall.ENODEV:
			return wire.NFS3ErrNoDev
		case syscall.ENOTDIR:
			return wire.NFS3ErrNotDir
		case syscall.EISDIR:
			return wire.NFS3ErrIsDir
		case syscall.EINVAL:
			return wire.NFS3ErrInval
		case syscall.EFBIG:
			return wire.NFS3ErrFBig
		case syscall.ENOSPC:
			return wire.NFS3ErrNoSpc
		case syscall.EROFS:
			return wire.NFS3ErrROFS
		case syscall.EMLINK:
			return wire.NFS3ErrMLink
		case syscall.ENAMETOOLONG:
			return wire.NFS3ErrNameTooLong
		case syscall.ENOTEMPTY:
			return wire.NFS3ErrNotEmpty
		case syscall.EDQUOT:
			return wire.NFS3ErrDQuot
		case syscall.ESTALE:
			return wire.NFS3ErrStale
		case syscall.EBUSY:
			return wire.NFS3ErrAcces // knfsd answers EBUSY (a mount point) this way too
		case syscall.ELOOP:
			return wire.NFS3ErrInval
		case syscall.ENOTSUP:
			return wire.NFS3ErrNotSupp
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return wire.NFS3ErrNoEnt
	case errors.Is(err, fs.ErrExist):
		return wire.NFS3ErrExist
	case errors.Is(err, fs.ErrPermission):
		return wire.NFS3ErrAcces
	}
	return wire.NFS3ErrIO
}

// NFS file types.
const ()

func ftype(mode uint32) uint32 {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return wire.NF3Dir
	case syscall.S_IFBLK:
		return wire.NF3Blk
	case syscall.S_IFCHR:
		return wire.NF3Chr
	case syscall.S_IFLNK:
		return wire.NF3Lnk
	case syscall.S_IFSOCK:
		return wire.NF3Sock
	case syscall.S_IFIFO:
		return wire.NF3Fifo
	}
	return wire.NF3Reg
}

func major(rdev uint64) uint32 { return uint32((rdev>>8)&0xfff | (rdev>>32)&^0xfff) }
func minor(rdev uint64) uint32 { return uint32(rdev&0xff | (rdev>>12)&^0xff) }
func mkdev(maj, min uint32) uint64 {
	return uint64(min&0xff) | uint64(maj&0xfff)<<8 | uint64(min&^0xff)<<12 | uint64(maj&^0xfff)<<32
}

func putTime(w *writer, t time.Time) {
	w.U32(uint32(t.Unix()))
	w.U32(uint32(t.Nanosecond()))
}

// fattr3 writes the attributes of an object of node's view (fsid = the node's id).
func fattr3(w *writer, a sfs.Attr, fsid uint64) {
	w.U32(ftype(a.Mode))
	w.U32(a.Mode & 0o7777)
	w.U32(a.Nlink)
	w.U32(a.UID)
	w.U32(a.GID)
	w.U64(a.Size)
	w.U64(a.Blocks * 512)
	w.U32(major(a.Rdev))
	w.U32(minor(a.Rdev))
	w.U64(fsid)
	w.U64(a.FileID)
	putTime(w, a.Atime)
	putTime(w, a.Mtime)
	putTime(w, a.Ctime)
}

// postOp writes post_op_attr.
func postOp(w *writer, a *sfs.Attr, fsid uint64) {
	if a == nil {
		w.Bool(false)
		return
	}
	w.Bool(true)
	fattr3(w, *a, fsid)
}

// wcc writes wcc_data from the attributes before and after an operation.
func wcc(w *writer, before, after *sfs.Attr, fsid uint64) {
	if before == nil {
		w.Bool(false)
	} else {
		w.Bool(true)
		w.U64(before.Size)
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

func readTime(r *wire.R) time.Time {
	sec, nsec := r.U32(), r.U32()
	return time.Unix(int64(sec), int64(nsec))
}

func readSattr(r *wire.R) sattr3 {
	var s sattr3
	if r.Bool() {
		m := r.U32()
		s.Mode = &m
	}
	if r.Bool() {
		u := r.U32()
		s.UID = &u
	}
	if r.Bool() {
		g := r.U32()
		s.GID = &g
	}
	if r.Bool() {
		sz := r.U64()
		s.Size = &sz
	}
	for i, dst := range []**time.Time{&s.Atime, &s.Mtime} {
		switch r.U32() {
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
