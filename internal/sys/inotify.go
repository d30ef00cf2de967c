package sys

import (
	"encoding/binary"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Inotify event bits (inotify(7)).
const (
	InModify     = unix.IN_MODIFY
	InAttrib     = unix.IN_ATTRIB
	InCloseWrite = unix.IN_CLOSE_WRITE
	InMovedFrom  = unix.IN_MOVED_FROM
	InMovedTo    = unix.IN_MOVED_TO
	InCreate     = unix.IN_CREATE
	InDelete     = unix.IN_DELETE
	InDeleteSelf = unix.IN_DELETE_SELF
	InMoveSelf   = unix.IN_MOVE_SELF
	InQOverflow  = unix.IN_Q_OVERFLOW
	InIgnored    = unix.IN_IGNORED
	InOnlyDir    = unix.IN_ONLYDIR
)

// InotifyEvent is one event: the watch, the event bits, and the name of the entry of the
// watched directory it is about (empty for the directory itself). Name points into the
// read buffer: it is valid during the callback only.
type InotifyEvent struct {
	WD   int32
	Mask uint32
	Name []byte
}

// Inotify is one inotify instance (non-blocking, close-on-exec): the table watcher of
// tables and the directory watches of fs's listing cache. Read waits for events in Go's
// poller; ReadNow takes what is queued without waiting.
type Inotify struct {
	fd   int
	file *os.File
}

// NewInotify makes an inotify instance (an error when the user's instances are used up:
// fs.inotify.max_user_instances).
func NewInotify() (*Inotify, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	return &Inotify{fd: fd, file: os.NewFile(uintptr(fd), "inotify")}, nil
}

// Add watches path for the events of mask and returns the watch.
func (in *Inotify) Add(path string, mask uint32) (int32, error) {
	wd, err := unix.InotifyAddWatch(in.fd, path, mask)
	if err != nil {
		return 0, os.NewSyscallError("inotify_add_watch "+path, err)
	}
	return int32(wd), nil
}

// Remove removes watch wd.
func (in *Inotify) Remove(wd int32) { unix.InotifyRmWatch(in.fd, uint32(wd)) }

// Read waits for events and calls fn with each of those read into buf; Close ends a
// pending Read with an error.
func (in *Inotify) Read(buf []byte, fn func(InotifyEvent)) error {
	n, err := in.file.Read(buf)
	if err != nil {
		return err
	}
	parseInotify(buf[:n], fn)
	return nil
}

// ReadNow calls fn with every event queued now, without waiting (a raw system call on
// the non-blocking descriptor: see the package's comment).
func (in *Inotify) ReadNow(buf []byte, fn func(InotifyEvent)) {
	for {
		n, e := ReadRaw(uintptr(in.fd), buf)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 || n <= 0 {
			return // EAGAIN: nothing more
		}
		parseInotify(buf[:n], fn)
	}
}

// Close closes the instance (its watches go with it).
func (in *Inotify) Close() error { return in.file.Close() }

// parseInotify calls fn with each whole event of b (struct inotify_event, in the
// machine's byte order).
func parseInotify(b []byte, fn func(InotifyEvent)) {
	for off := 0; off+unix.SizeofInotifyEvent <= len(b); {
		ev := InotifyEvent{
			WD:   int32(binary.NativeEndian.Uint32(b[off:])),
			Mask: binary.NativeEndian.Uint32(b[off+4:]),
		}
		l := int(binary.NativeEndian.Uint32(b[off+12:]))
		start := off + unix.SizeofInotifyEvent
		if off = start + l; off > len(b) {
			return
		}
		name := b[start:off]
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		ev.Name = name
		fn(ev)
	}
}
