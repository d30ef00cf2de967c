package nfsd

import (
	"runtime"
	"sync"
)

// Request records and replies live in reused buffers: a 1 MiB READ or WRITE would
// otherwise allocate (and fault in) megabytes per call and keep the garbage collector
// busy; with pooled buffers a READ costs the copy from the file and the send.
const (
	smallBuf = 8 << 10
	midBuf   = 128<<10 + 8<<10 // a 128 KiB READ reply or WRITE call with its headers
	bigBuf   = maxIO + 64<<10  // a full READ reply or WRITE call with its headers
)

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, 0, smallBuf); return &b }}
	midPool   = sync.Pool{New: func() any { b := make([]byte, 0, midBuf); return &b }}
	bigPool   = sync.Pool{New: func() any { b := make([]byte, 0, bigBuf); return &b }}
)

// Big work: at most bigWorkMax calls make a big reply at once (a READ's); another waits
// for its turn. A boot storm of hundreds of nodes reading would otherwise hold a buffer
// per node, and the memory the runtime keeps for the garbage collector after such a peak
// stays. The turn ends before the reply is sent, so a client that does not read its
// replies holds no turn. Request records (a WRITE's) take no turn: the intake caps their
// memory (intake.go).
func bigWorkMax() int { return max(32, 8*runtime.GOMAXPROCS(0)) }

// acquireBig waits for a turn of big work of this server; releaseBig gives it back.
func (s *rpcServer) acquireBig() { s.big <- struct{}{} }
func (s *rpcServer) releaseBig() { <-s.big }

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) []byte {
	switch {
	case n <= smallBuf:
		return (*smallPool.Get().(*[]byte))[:0]
	case n <= midBuf:
		return (*midPool.Get().(*[]byte))[:0]
	case n <= bigBuf:
		return (*bigPool.Get().(*[]byte))[:0]
	}
	return make([]byte, 0, n)
}

// putBuf gives a buffer back; nothing may use it afterwards.
func putBuf(b []byte) {
	switch cap(b) {
	case smallBuf:
		b = b[:0]
		smallPool.Put(&b)
	case midBuf:
		b = b[:0]
		midPool.Put(&b)
	case bigBuf:
		b = b[:0]
		bigPool.Put(&b)
	}
}

// grow makes room for n more bytes in w without reallocating on the way.
func (w *writer) grow(n int) {
	if cap(w.B)-len(w.B) >= n {
		return
	}
	nb := append(getBuf(len(w.B)+n), w.B...)
	putBuf(w.B)
	w.B = nb
}
