package fs

import (
	"io"
	"os"
	"syscall"

	"statelite/internal/sys"
)

// Handle is an open file of a view.
type Handle struct {
	f     *os.File // the file (nil for con and synthetic files, and with raw)
	raw   bool     // rfd is a file opened for reading by raw system calls (openRO)
	rfd   int
	parts []*os.File // con: the concatenated files
	sizes []int64
	write bool
}

// openRead opens an object's content for reading.
func (v *View) openRead(o *object) (*Handle, error) {
	c := v.srv.layers
	switch o.kind {
	case kSynthFile:
		return &Handle{}, nil
	case kCon:
		h := &Handle{}
		for _, l := range o.con {
			f, err := c.open(l.Root, l.Rel, os.O_RDONLY)
			if err != nil {
				continue
			}
			fi, err := f.Stat()
			if err != nil || !fi.Mode().IsRegular() {
				f.Close()
				continue
			}
			h.parts = append(h.parts, f)
			h.sizes = append(h.sizes, fi.Size())
		}
		return h, nil
	case kLayer, kUpper, kPersist:
		if o.attr.IsDir() {
			return nil, errno("open", o.path, syscall.EISDIR)
		}
		if !o.attr.IsRegular() {
			return nil, errno("open", o.path, syscall.EINVAL)
		}
		if o.fi != nil {
			if st, ok := o.fi.Sys().(*syscall.Stat_t); ok {
				if fd, ok := c.openRO(o.root, o.rel, st.Dev); ok {
					return &Handle{raw: true, rfd: fd}, nil
				}
			}
		}
		f, err := c.open(o.root, o.rel, os.O_RDONLY)
		if err != nil {
			return nil, err
		}
		return &Handle{f: f}, nil
	case kSynthDir:
		return nil, errno("open", o.path, syscall.EISDIR)
	}
	return nil, errno("open", o.path, syscall.EINVAL)
}

// ReadAt reads len(b) bytes at off (io.ReaderAt).
func (h *Handle) ReadAt(b []byte, off int64) (int, error) {
	if h.f != nil {
		return h.f.ReadAt(b, off)
	}
	if h.raw {
		return ReadAtFd(h.rfd, b, off)
	}
	n := 0
	for i, f := range h.parts {
		if off >= h.sizes[i] {
			off -= h.sizes[i]
			continue
		}
		m, err := f.ReadAt(b[n:min(len(b), n+int(h.sizes[i]-off))], off)
		n += m
		if err != nil && err != io.EOF {
			return n, err
		}
		off = 0
		if n == len(b) {
			return n, nil
		}
	}
	return n, io.EOF
}

// WriteAt writes b at off; the handle must have been opened for writing.
func (h *Handle) WriteAt(b []byte, off int64) (int, error) {
	if !h.write || h.f == nil {
		return 0, syscall.EBADF
	}
	return h.f.WriteAt(b, off)
}

// Truncate sets the file's size.
func (h *Handle) Truncate(size int64) error {
	if !h.write || h.f == nil {
		return syscall.EBADF
	}
	return h.f.Truncate(size)
}

// Sync flushes the file to stable storage.
func (h *Handle) Sync() error {
	if h.f == nil {
		return nil
	}
	if !h.write {
		return nil
	}
	return h.f.Sync()
}

// Fd returns the underlying file's descriptor, or -1 (con and synthetic files).
func (h *Handle) Fd() int {
	if h.raw {
		return h.rfd
	}
	if h.f == nil {
		return -1
	}
	return int(h.f.Fd())
}

// Close releases the handle.
func (h *Handle) Close() error {
	var err error
	if h.f != nil {
		err = h.f.Close()
	}
	if h.raw {
		sys.Close(h.rfd, true)
		h.raw = false
	}
	for _, f := range h.parts {
		f.Close()
	}
	return err
}

// ReadAtFd reads len(b) bytes at off from fd (fewer, and io.EOF, at the end of the
// file): what is in the page cache with preadCached, the rest with pread.
func ReadAtFd(fd int, b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		m := sys.PreadNowait(fd, b[n:], off+int64(n))
		if m == 0 {
			k, err := syscall.Pread(fd, b[n:], off+int64(n))
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return n, err
			}
			if k == 0 {
				return n, io.EOF
			}
			m = k
		}
		n += m
	}
	return n, nil
}
