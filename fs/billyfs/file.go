package billyfs

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/go-git/go-billy/v5"

	"statelite/fs"
)

// File is an open file of an FS (billy.File). It keeps its own offset for Read,
// Write and Seek; ReadAt and WriteAt leave it alone. It is safe for concurrent use.
type File struct {
	name string

	mu     sync.Mutex
	h      *fs.Handle // nil for a directory
	dir    bool
	read   bool
	write  bool
	append bool
	off    int64
	size   int64 // size at open: used when the handle has no descriptor to ask
	closed bool
}

var _ billy.File = (*File)(nil)

func newFile(name string, h *fs.Handle, a fs.Attr, flag int) *File {
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	return &File{
		name: name, h: h, size: int64(a.Size),
		read:   acc != os.O_WRONLY,
		write:  acc != os.O_RDONLY,
		append: flag&os.O_APPEND != 0,
	}
}

// Name returns the name the file was opened with.
func (f *File) Name() string { return f.name }

func (f *File) err(op string, err error) error {
	if err == io.EOF {
		return err
	}
	return pathErr(op, f.name, err)
}

// check returns an error unless the file is open for op (read or write).
func (f *File) check(op string, write bool) error {
	switch {
	case f.closed:
		return &os.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	case f.dir:
		return f.err(op, syscall.EISDIR)
	case write && !f.write, !write && !f.read:
		return f.err(op, syscall.EBADF)
	}
	return nil
}

// Read reads from the current offset.
func (f *File) Read(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, nil
	}
	n, err := f.h.ReadAt(b, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	if err != nil {
		return n, f.err("read", err)
	}
	return n, nil
}

// ReadAt reads len(b) bytes at off (io.ReaderAt).
func (f *File) ReadAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, f.err("read", syscall.EINVAL)
	}
	n, err := f.h.ReadAt(b, off)
	if err != nil {
		return n, f.err("read", err)
	}
	return n, nil
}

// Write writes at the current offset (at the end for O_APPEND).
func (f *File) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if f.append {
		sz, err := f.curSize()
		if err != nil {
			return 0, f.err("write", err)
		}
		f.off = sz
	}
	n, err := f.h.WriteAt(b, f.off)
	f.off += int64(n)
	if err != nil {
		return n, f.err("write", err)
	}
	return n, nil
}

// WriteAt writes b at off (io.WriterAt); the offset is unchanged.
func (f *File) WriteAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, f.err("write", syscall.EINVAL)
	}
	n, err := f.h.WriteAt(b, off)
	if err != nil {
		return n, f.err("write", err)
	}
	return n, nil
}

// curSize is the file's current size.
func (f *File) curSize() (int64, error) {
	if f.h == nil {
		return f.size, nil
	}
	fd := f.h.Fd()
	if fd < 0 {
		return f.size, nil
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// Seek sets the offset for the next Read or Write.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, &os.PathError{Op: "seek", Path: f.name, Err: os.ErrClosed}
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		sz, err := f.curSize()
		if err != nil {
			return 0, f.err("seek", err)
		}
		base = sz
	default:
		return 0, f.err("seek", syscall.EINVAL)
	}
	if base+offset < 0 {
		return 0, f.err("seek", syscall.EINVAL)
	}
	f.off = base + offset
	return f.off, nil
}

// Truncate sets the file's size; the file must be open for writing.
func (f *File) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return f.err("truncate", syscall.EINVAL)
	}
	if err := f.h.Truncate(size); err != nil {
		return f.err("truncate", err)
	}
	return nil
}

// Sync flushes written data to stable storage.
func (f *File) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &os.PathError{Op: "sync", Path: f.name, Err: os.ErrClosed}
	}
	if f.h == nil {
		return nil
	}
	if err := f.h.Sync(); err != nil {
		return f.err("sync", err)
	}
	return nil
}

// Close releases the file; a second Close reports os.ErrClosed.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &os.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	f.closed = true
	if f.h == nil {
		return nil
	}
	if err := f.h.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return f.err("close", err)
	}
	return nil
}

// Lock does nothing (no advisory locks across the view).
func (f *File) Lock() error { return nil }

// Unlock does nothing.
func (f *File) Unlock() error { return nil }

// fileInfo describes a view object (os.FileInfo); Sys returns its fs.Attr.
type fileInfo struct {
	name string
	attr fs.Attr
}

func newInfo(name string, a fs.Attr) os.FileInfo { return &fileInfo{name: name, attr: a} }

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return int64(i.attr.Size) }
func (i *fileInfo) Mode() os.FileMode  { return FileMode(i.attr.Mode) }
func (i *fileInfo) ModTime() time.Time { return i.attr.Mtime }
func (i *fileInfo) IsDir() bool        { return i.attr.IsDir() }
func (i *fileInfo) Sys() any           { return i.attr }

// FileMode converts a Unix mode (type and permission bits) to an os.FileMode.
func FileMode(m uint32) os.FileMode { return fs.FileMode(m) }
