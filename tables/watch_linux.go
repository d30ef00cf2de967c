package tables

import (
	"encoding/binary"
	"io"
	"os"
	"strings"
	"syscall"

	"statelite/internal/sys"
)

// startInotify watches dir and sends the events on out until done is closed or the
// returned closer is closed; out is closed when the watch ends (the directory went away).
func startInotify(dir string, out chan<- watchEvent, done <-chan struct{}) (io.Closer, error) {
	fd, err := sys.InotifyInit()
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	const mask = syscall.IN_MODIFY | syscall.IN_CLOSE_WRITE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM |
		syscall.IN_CREATE | syscall.IN_DELETE | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF
	if _, err := sys.InotifyAddWatch(fd, dir, mask); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("inotify_add_watch "+dir, err)
	}
	// A non-blocking descriptor goes to the runtime's poller: Close ends a pending Read.
	f := os.NewFile(uintptr(fd), "inotify:"+dir)
	go func() {
		defer close(out)
		defer f.Close()
		buf := make([]byte, 64*1024)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				m := binary.NativeEndian.Uint32(buf[off+4:])
				l := int(binary.NativeEndian.Uint32(buf[off+12:]))
				start := off + syscall.SizeofInotifyEvent
				off = start + l
				if off > n {
					break
				}
				ev := watchEvent{name: strings.TrimRight(string(buf[start:off]), "\x00"), mask: m}
				if m&syscall.IN_Q_OVERFLOW != 0 {
					ev.name = ""
				}
				select {
				case out <- ev:
				case <-done:
					return
				}
				if m&(syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF|syscall.IN_IGNORED) != 0 {
					return
				}
			}
		}
	}()
	return f, nil
}
