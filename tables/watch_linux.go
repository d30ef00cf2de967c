package tables

import (
	"io"

	"statelite/internal/sys"
)

// startInotify watches dir and sends the events on out until done is closed or the
// returned closer is closed; out is closed when the watch ends (the directory went away).
func startInotify(dir string, out chan<- watchEvent, done <-chan struct{}) (io.Closer, error) {
	in, err := sys.NewInotify()
	if err != nil {
		return nil, err
	}
	const mask = sys.InModify | sys.InCloseWrite | sys.InMovedTo | sys.InMovedFrom |
		sys.InCreate | sys.InDelete | sys.InDeleteSelf | sys.InMoveSelf
	if _, err := in.Add(dir, mask); err != nil {
		in.Close()
		return nil, err
	}
	go func() {
		defer close(out)
		defer in.Close()
		buf := make([]byte, 64*1024)
		stop := false
		for !stop {
			err := in.Read(buf, func(e sys.InotifyEvent) {
				if stop {
					return
				}
				ev := watchEvent{name: string(e.Name), mask: e.Mask}
				if e.Mask&sys.InQOverflow != 0 {
					ev.name = ""
				}
				select {
				case out <- ev:
				case <-done:
					stop = true
					return
				}
				if e.Mask&(sys.InDeleteSelf|sys.InMoveSelf|sys.InIgnored) != 0 {
					stop = true
				}
			})
			if err != nil {
				return
			}
		}
	}()
	return in, nil
}
