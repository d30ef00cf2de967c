// Package sys holds statelite's direct Linux system calls, one named wrapper each, with
// golang.org/x/sys/unix's numbers for each architecture (linux/amd64, arm64, ppc64le).
//
// Wrappers with a raw argument, and those named Raw, can make the call without telling
// Go's scheduler (RawSyscall): a call the runtime knows of that runs longer than 20 µs
// has its processor handed to another thread and the runtime's monitor then wakes every
// 20 µs, which for work that cannot sleep (a lookup in the page cache, a copy to a
// non-blocking socket) costs more context switches than the work. Calls that may wait
// for the disk or the network must not be raw.
package sys

import (
	"errors"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Resolve flags of openat2 (struct open_how).
const (
	ResolveNoXdev       = unix.RESOLVE_NO_XDEV
	ResolveNoMagiclinks = unix.RESOLVE_NO_MAGICLINKS
	ResolveNoSymlinks   = unix.RESOLVE_NO_SYMLINKS
	ResolveBeneath      = unix.RESOLVE_BENEATH
)

// Openat2 opens name relative to dirfd with flags (close-on-exec added) and resolve
// flags, retried on EINTR and EAGAIN; raw: without telling the scheduler.
func Openat2(dirfd int, name *byte, flags int, resolve uint64, raw bool) (int, syscall.Errno) {
	how := unix.OpenHow{Flags: uint64(flags | syscall.O_CLOEXEC), Resolve: resolve}
	for {
		var r uintptr
		var e syscall.Errno
		if raw {
			r, _, e = syscall.RawSyscall6(unix.SYS_OPENAT2, uintptr(dirfd), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
		} else {
			r, _, e = syscall.Syscall6(unix.SYS_OPENAT2, uintptr(dirfd), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
		}
		if e == syscall.EINTR || e == syscall.EAGAIN {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), 0
	}
}

// Close closes fd; raw: without telling the scheduler.
func Close(fd int, raw bool) {
	if raw {
		syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
	} else {
		syscall.Close(fd)
	}
}

// Fstat describes the open file fd; raw: without telling the scheduler.
func Fstat(fd int, st *syscall.Stat_t, raw bool) syscall.Errno {
	var e syscall.Errno
	if raw {
		_, _, e = syscall.RawSyscall(syscall.SYS_FSTAT, uintptr(fd), uintptr(unsafe.Pointer(st)), 0)
	} else {
		_, _, e = syscall.Syscall(syscall.SYS_FSTAT, uintptr(fd), uintptr(unsafe.Pointer(st)), 0)
	}
	return e
}

// LstatAt describes name in directory dirfd without following a symlink (fstatat with
// AT_SYMLINK_NOFOLLOW); raw: without telling the scheduler.
func LstatAt(dirfd int, name *byte, st *syscall.Stat_t, raw bool) syscall.Errno {
	var e syscall.Errno
	if raw {
		_, _, e = syscall.RawSyscall6(unix.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	} else {
		_, _, e = syscall.Syscall6(unix.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	}
	return e
}

// PreadNowait reads what of b at off is in the page cache, never waiting for the disk
// (preadv2 with RWF_NOWAIT, raw); it returns how many bytes it read (0: none, read the
// rest the usual way).
func PreadNowait(fd int, b []byte, off int64) int {
	if len(b) == 0 {
		return 0
	}
	iov := syscall.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	n, _, e := syscall.RawSyscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, uintptr(off), 0, unix.RWF_NOWAIT)
	if e != 0 {
		return 0
	}
	return int(n)
}

// ReadRaw is read(2) on a descriptor that never blocks (a non-blocking socket, an
// inotify instance), without telling the scheduler.
func ReadRaw(fd uintptr, b []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// WritevRaw is writev(2) on a non-blocking socket, without telling the scheduler.
func WritevRaw(fd uintptr, iovs []syscall.Iovec) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iovs[0])), uintptr(len(iovs)))
	return int(n), e
}

// Lgetxattr reads extended attribute attr of path (not following a symlink) into dest.
func Lgetxattr(path, attr string, dest []byte) (int, error) {
	return unix.Lgetxattr(path, attr, dest)
}

// Fdatasync flushes fd's data and the metadata needed to read it back, retried on EINTR.
func Fdatasync(fd int) error {
	for {
		if err := unix.Fdatasync(fd); err != unix.EINTR {
			return err
		}
	}
}

// StartWriteback starts writing [off, off+n) of fd to the disk without waiting
// (sync_file_range SYNC_FILE_RANGE_WRITE; ppc64le's sync_file_range2 by x/sys).
func StartWriteback(fd int, off, n int64) error {
	return unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// NofileLimit is the process's soft limit of open files (RLIMIT_NOFILE).
func NofileLimit() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// TryLock takes an exclusive flock(2) of f without waiting (retried on EINTR); an error
// wrapping unix.EWOULDBLOCK (IsWouldBlock) when another open file description holds it.
func TryLock(f interface{ Fd() uintptr }) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			return err
		}
	}
}

// IsWouldBlock reports whether err says a lock is held elsewhere.
func IsWouldBlock(err error) bool { return errors.Is(err, unix.EWOULDBLOCK) }

// Lock takes an exclusive flock(2) of f, waiting for it (retried on EINTR). On NFS the
// Linux client takes it as a lock of the whole file on the server: it works between
// hosts.
func Lock(f interface{ Fd() uintptr }) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}
