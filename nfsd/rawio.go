package nfsd

import (
	"errors"
	"io"
	"net"
	"syscall"

	sfs "statelite/fs"
	"statelite/internal/sys"
)

// Copies between the page cache and sockets without telling Go's scheduler. A system
// call the runtime knows of (entersyscall) that runs longer than 20 µs has its processor
// taken away and handed to another thread, and the runtime's monitor then wakes every
// 20 µs: for a 1 MiB READ, that is several context switches more than the copy itself
// costs. A copy that cannot sleep is CPU work like any other, so these use raw system
// calls: writev on a non-blocking socket (EAGAIN: wait through the poller, as net does),
// and preadv2 with RWF_NOWAIT, which fails instead of waiting for the disk (the rest is
// then read the usual way).

// readAtFd reads len(b) bytes at off from fd (fewer, and io.EOF, at the end of the
// file): from the page cache without sleeping, the rest with pread (fs.ReadAtFd).
func readAtFd(fd int, b []byte, off int64) (int, error) { return sfs.ReadAtFd(fd, b, off) }

// rawRead is read(2) on a non-blocking socket, as a raw system call.
func rawRead(fd uintptr, b []byte) (int, error) {
	n, e := sys.ReadRaw(fd, b)
	if e != 0 {
		return 0, e
	}
	return n, nil
}

// writeBuffers writes bufs to conn: with raw writev calls on a TCP socket, else through
// net.Buffers. The elements of bufs are consumed.
func writeBuffers(conn net.Conn, bufs [][]byte) error {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		nb := net.Buffers(bufs)
		_, err := nb.WriteTo(conn)
		return err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	iovs := make([]syscall.Iovec, 0, len(bufs))
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(bufs) > 0 {
			iovs = iovs[:0]
			for _, b := range bufs {
				if len(b) == 0 {
					continue
				}
				iov := syscall.Iovec{Base: &b[0]}
				iov.SetLen(len(b))
				iovs = append(iovs, iov)
				if len(iovs) == 1024 { // IOV_MAX
					break
				}
			}
			if len(iovs) == 0 {
				return true
			}
			n, e := sys.WritevRaw(fd, iovs)
			if e == syscall.EAGAIN {
				return false // wait until writable
			}
			if e == syscall.EINTR {
				continue
			}
			if e != 0 {
				werr = e
				return true
			}
			for k := n; k > 0 && len(bufs) > 0; {
				if l := len(bufs[0]); l <= k {
					k -= l
					bufs = bufs[1:]
				} else {
					bufs[0] = bufs[0][k:]
					k = 0
				}
			}
			for len(bufs) > 0 && len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// fdSize is the size of the open file fd (fstat as a raw system call: it describes an
// open file and never waits for the disk); -1 on error.
func fdSize(fd int) int64 {
	var st syscall.Stat_t
	if e := sys.Fstat(fd, &st, true); e != 0 {
		return -1
	}
	return st.Size
}

// lateChunk is how much of a large READ is read before its reply begins to leave
// (lateData). Measured against ganesha (bench/results/README.md, NFS): halves of a 1 MiB READ were the
// fastest, 18 % less server CPU than the whole; quarters and thirds cost more than they
// saved (a writev and a wake-up of the client each).
const lateChunk = 512 << 10

// lateData is the rest of a large READ reply's data, read while the first part is on its
// way: the client copies that out of the socket while the rest is read from the page
// cache, instead of waiting for all of it to be read first. b is the reply's own data
// region from byte at of the reply on (its length was sent in the header), filled from
// fd at off. The reply's sender owns h.
type lateData struct {
	h   io.Closer
	fd  int
	off int64
	at  int
	b   []byte
}

var errLateShort = errors.New("file shrank while a READ reply was sent")

// send reads b and writes it to conn, then tail. A file that got shorter meanwhile
// cannot be answered any more (the count has been sent): that is an error, on which the
// connection is closed and the client sends the READ again.
func (l *lateData) send(conn net.Conn, tail []byte) error {
	defer l.h.Close()
	n, err := readAtFd(l.fd, l.b, l.off)
	if err == io.EOF || (err == nil && n < len(l.b)) {
		err = errLateShort
	}
	if err != nil {
		return err
	}
	return writeBuffers(conn, [][]byte{l.b, tail})
}
