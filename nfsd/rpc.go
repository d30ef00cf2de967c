package nfsd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"statelite/nfsd/wire"
)

// ONC-RPC constants (RFC 5531).
const (
	maxRecord      = 4 << 20
	maxAuthBody    = 400
	workersPerConn = 16
)

// Cred is the caller of a request: AUTH_SYS identity, or nobody for AUTH_NONE.
type Cred struct {
	Flavor  uint32
	Machine string
	UID     uint32
	GID     uint32
	GIDs    []uint32
}

// call is one decoded RPC call.
type call struct {
	xid              uint32
	prog, vers, proc uint32
	cred             Cred
	args             []byte
	remote           net.Addr
	received         time.Time
}

// procFunc serves one procedure: it reads the arguments and writes the result body.
// Returning wire.ErrGarbage answers GARBAGE_ARGS; another error answers SYSTEM_ERR.
type procFunc func(ctx context.Context, c *call, r *wire.R, w *writer) error

// program is one RPC program version range with its procedures per version.
type program struct {
	low, high uint32
	procs     map[uint32][]procFunc // version -> procedure table
}

// rpcServer runs ONC-RPC over TCP: record marking, a bounded worker pool per connection
// with out-of-order replies, panic recovery.
type rpcServer struct {
	budget *intakeBudget // memory of the records being received (intake.go)
	stall  time.Duration // how long a record may make no progress (intake.go)
	big    chan struct{} // turns of big work (bufpool.go)
	progs  map[uint32]*program
	log    *slog.Logger
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	// observe is called after each call (for metrics).
	observe func(c *call, status uint32, dur time.Duration)
	// deny, when set, is called for each call denied (RPC version, credentials), with
	// the reason (metrics).
	deny func(reason string)
	// record, when set, is called after each call with its result body (record.go).
	record func(c *call, status uint32, res []byte)

	live    map[*rpcConn]struct{} // open connections (under mu)
	inlineN atomic.Int32          // calls being served by their connection's reader
	// inl holds the connections whose reader serves a call itself, with when it began:
	// the watchdog looks at these only (looking at every connection each millisecond
	// cost a fifth of a core with 10,000 nodes connected).
	inlMu    sync.Mutex
	inl      map[*rpcConn]int64
	wdAsleep atomic.Bool
	wdKick   chan struct{}
	wdOnce   sync.Once
}

func (s *rpcServer) serve(ctx context.Context, l net.Listener) error {
	s.wdOnce.Do(func() { s.wdKick = make(chan struct{}, 1) })
	// Defaults for a server not made by New (the portmapper's).
	if s.budget == nil {
		s.budget = newIntakeBudget(defaultIntakeMax, defaultIntakeAddrMax)
	}
	if s.stall == 0 {
		s.stall = defaultRecordStall
	}
	if s.big == nil {
		s.big = make(chan struct{}, bigWorkMax())
	}
	go s.watchdog(ctx)
	go func() {
		<-ctx.Done()
		s.budget.close()
		l.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	}()
	var backoff time.Duration
	var lastLog time.Time
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.wg.Wait()
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors (EMFILE, ENFILE), buffers or a connection reset
			// before it was accepted: the nodes already connected go on being served,
			// and accepting resumes when the condition passes (as net/http does), with
			// a log line a minute.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if time.Since(lastLog) >= time.Minute {
				lastLog = time.Now()
				s.log.Error("accepting connections failed: retrying", "err", err, "retry_in", backoff.String(),
					"hint", "raise the open-file limit (LimitNOFILE) when this says too many open files")
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			continue
		}
		if s.conns == nil {
			s.conns = map[net.Conn]struct{}{}
		}
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1) // done by the connection's last reader (rpcConn.end)
		go s.handleConn(ctx, conn)
	}
}

// handleConn starts reading conn's calls. It returns when its reading ends or is handed
// to another goroutine; the connection is closed by whichever reader sees its input end
// (no goroutine per connection waits for that: an idle connection costs one parked
// reader and its stack).
func (s *rpcServer) handleConn(ctx context.Context, conn net.Conn) {
	c := &rpcConn{s: s, ctx: ctx, conn: conn, remote: conn.RemoteAddr(), addr: remoteAddr(conn.RemoteAddr()),
		cw:  &connWriter{conn: conn},
		br:  newConnReader(conn),
		sem: make(chan struct{}, workersPerConn)}
	s.mu.Lock()
	if s.live == nil {
		s.live = map[*rpcConn]struct{}{}
	}
	s.live[c] = struct{}{}
	s.mu.Unlock()
	c.read()
}

// end closes the connection once its calls in flight are answered.
func (c *rpcConn) end() {
	c.inflight.Wait()
	c.conn.Close()
	c.s.mu.Lock()
	delete(c.s.live, c)
	delete(c.s.conns, c.conn)
	c.s.mu.Unlock()
	c.s.wg.Done()
}

// rpcConn is one client connection. One goroutine at a time reads calls from it (the
// reader); calls are served concurrently, at most workersPerConn at once.
type rpcConn struct {
	s        *rpcServer
	ctx      context.Context
	conn     net.Conn
	remote   net.Addr
	addr     netip.Addr // the client's address (its intake share)
	cw       *connWriter
	br       *connReader
	sem      chan struct{}
	inflight sync.WaitGroup
	inline   atomic.Int64 // when (mono) the reader began serving a call itself; 0: it isn't
}

// Inline serving: a reader may serve a call itself for up to inlineBudget (checked
// every watchTick) before the watchdog hands reading to a new goroutine.
const (
	inlineBudget = time.Millisecond
	watchTick    = time.Millisecond
	watchIdle    = 20 // ticks without inline calls before the watchdog sleeps
)

var monoBase = time.Now()

// mono is a monotonic clock in nanoseconds, never 0.
func mono() int64 { return int64(time.Since(monoBase)) + 1 }

// read reads and serves calls until the input ends or reading has been handed to
// another goroutine. A call whose successor has already arrived is served by a new
// goroutine. Otherwise (a client that waits for each reply: most metadata traffic, a
// booting node) the reader serves it itself, which saves waking another thread for
// every call; should the call take longer than inlineBudget, the watchdog starts a new
// reader, so a slow call never holds up the calls behind it for long.
func (c *rpcConn) read() {
	for {
		// A connection has at most workersPerConn calls in flight: with all its slots
		// taken it is not read (its client waits on TCP).
		c.sem <- struct{}{}
		rec, held, err := c.readRecord()
		if err != nil {
			<-c.sem
			switch {
			case errors.Is(err, errStalled):
				c.s.log.Warn("rpc connection closed: a call record stalled", "remote", c.remote.String(), "err", err)
			case !errors.Is(err, io.EOF) && c.ctx.Err() == nil && !errors.Is(err, net.ErrClosed):
				c.s.log.Debug("rpc connection closed", "remote", c.remote.String(), "err", err)
			}
			c.end()
			return
		}
		c.inflight.Add(1)
		if c.br.Buffered() > 0 {
			go c.serve(rec, held)
			continue
		}
		start := mono()
		c.inline.Store(start)
		c.s.inlineBegins(c, start)
		c.serve(rec, held)
		c.s.inlineEnds(c, start)
		if !c.inline.CompareAndSwap(start, 0) {
			return // the watchdog's reader reads now
		}
	}
}

// serve answers one call and frees its worker slot; held: the intake memory the record
// holds.
func (c *rpcConn) serve(rec []byte, held int64) {
	defer func() { <-c.sem; c.inflight.Done() }()
	reply, late, bigReply := c.s.dispatch(c.ctx, rec, c.remote)
	putBuf(rec) // the call's arguments are not used after dispatch
	c.s.budget.release(c.addr, held)
	if bigReply {
		c.s.releaseBig() // the reply is made; sending it takes no turn
	}
	if reply != nil {
		c.cw.send(reply, late)
	}
}

// inlineBegins counts an inline call of c that began at start and wakes the watchdog if
// it sleeps.
func (s *rpcServer) inlineBegins(c *rpcConn, start int64) {
	s.inlMu.Lock()
	if s.inl == nil {
		s.inl = map[*rpcConn]int64{}
	}
	s.inl[c] = start
	s.inlMu.Unlock()
	s.inlineN.Add(1)
	if s.wdAsleep.Load() && s.wdAsleep.CompareAndSwap(true, false) {
		select {
		case s.wdKick <- struct{}{}:
		default:
		}
	}
}

// inlineEnds counts the end of an inline call of c that began at start (a later reader
// of c may have begun its own meanwhile).
func (s *rpcServer) inlineEnds(c *rpcConn, start int64) {
	s.inlMu.Lock()
	if s.inl[c] == start {
		delete(s.inl, c)
	}
	s.inlMu.Unlock()
	s.inlineN.Add(-1)
}

// watchdog hands reading to a new goroutine on every connection whose reader has been
// serving one call for longer than inlineBudget. It ticks while calls are served inline
// and sleeps after watchIdle ticks without.
func (s *rpcServer) watchdog(ctx context.Context) {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.inlineN.Load() == 0 {
			if idle++; idle < watchIdle {
				continue
			}
			t.Stop()
			s.wdAsleep.Store(true)
			if s.inlineN.Load() == 0 {
				select {
				case <-ctx.Done():
					return
				case <-s.wdKick:
				}
			}
			s.wdAsleep.Store(false)
			t.Reset(watchTick)
			idle = 0
			continue
		}
		idle = 0
		now := mono()
		s.inlMu.Lock()
		for c, v := range s.inl {
			if now-v > int64(inlineBudget) {
				delete(s.inl, c)
				if c.inline.CompareAndSwap(v, 0) {
					go c.read()
				}
			}
		}
		s.inlMu.Unlock()
	}
}

// connWriter sends the replies of one connection. The goroutine that served a call
// sends its reply itself (no hand-off to a writer goroutine); replies that finish
// meanwhile queue on the lock, and the last of them sends them all in one writev. It
// holds no buffer of its own: an idle connection costs no memory here.
type connWriter struct {
	conn    net.Conn
	mu      sync.Mutex
	pend    [][]byte // replies to send (pooled buffers)
	sent    [][]byte // the same, kept to give the buffers back (writev consumes pend)
	waiting atomic.Int32
	err     error
}

// maxPending bounds the replies one writev sends.
const maxPending = 64

// send sends reply r (4 bytes left at its start for the record mark) and gives its
// buffer back. late, when not nil, is a region of r still to be read: the reply is sent
// up to it at once, then late is read and sent chunk by chunk.
func (cw *connWriter) send(r []byte, late *lateData) {
	wire.MarkRecord(r)
	cw.waiting.Add(1)
	cw.mu.Lock()
	defer cw.mu.Unlock()
	cw.waiting.Add(-1)
	if cw.err != nil {
		if late != nil {
			late.h.Close()
		}
		putBuf(r)
		return
	}
	var tail []byte
	if late != nil {
		// r = [head][late.b][tail]: the head goes with the pending replies.
		tail = r[late.at+len(late.b):]
		cw.pend = append(cw.pend, r[:late.at])
	} else {
		cw.pend = append(cw.pend, r)
		if cw.waiting.Load() > 0 && len(cw.pend) < maxPending {
			return // a reply queued behind this one sends both
		}
	}
	cw.sent = append(cw.sent[:0], cw.pend...)
	cw.err = writeBuffers(cw.conn, cw.pend)
	if late != nil {
		if cw.err == nil {
			cw.err = late.send(cw.conn, tail)
		} else {
			late.h.Close()
		}
		cw.sent[len(cw.sent)-1] = r
	}
	for i, b := range cw.sent {
		putBuf(b)
		cw.sent[i] = nil
	}
	clear(cw.pend)
	cw.pend = cw.pend[:0]
	if cw.err != nil {
		cw.conn.Close() // the reader stops too
	}
}

// connReader reads a connection through a buffer that it takes from a pool only while
// bytes are buffered: a connection waiting for its next call holds none (a thousand
// booted, idle nodes keep a thousand connections open).
type connReader struct {
	conn net.Conn
	rc   syscall.RawConn // nil: plain reads (not a socket)
	buf  []byte
	r, w int
}

const readBufSize = 64 << 10

var readPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

func newConnReader(conn net.Conn) *connReader {
	cr := &connReader{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			cr.rc = rc
		}
	}
	return cr
}

// Buffered is the number of bytes read from the connection and not yet consumed.
func (cr *connReader) Buffered() int { return cr.w - cr.r }

// release gives the buffer back once everything in it is consumed.
func (cr *connReader) release() {
	if cr.buf != nil && cr.r == cr.w {
		b := cr.buf
		readPool.Put(&b)
		cr.buf, cr.r, cr.w = nil, 0, 0
	}
}

// Read implements io.Reader.
func (cr *connReader) Read(p []byte) (int, error) {
	if cr.r == cr.w {
		if len(p) >= readBufSize {
			return cr.readDirect(p) // a large payload: straight into p
		}
		if err := cr.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, cr.buf[cr.r:cr.w])
	cr.r += n
	cr.release()
	return n, nil
}

// readDirect reads into p without the buffer (on a socket by raw reads, as fill does).
func (cr *connReader) readDirect(p []byte) (int, error) {
	if cr.rc == nil {
		return cr.conn.Read(p)
	}
	var n int
	var rerr error
	err := cr.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = rawRead(fd, p)
			if rerr != syscall.EINTR {
				break
			}
		}
		return rerr != syscall.EAGAIN // EAGAIN: wait until readable
	})
	if err == nil {
		err = rerr
	}
	if err == nil && n <= 0 {
		err = io.EOF
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// wait returns once bytes are buffered (reading them if none are).
func (cr *connReader) wait() error {
	if cr.r < cr.w {
		return nil
	}
	return cr.fill()
}

// fill waits for bytes (holding no buffer meanwhile) and reads what has arrived.
func (cr *connReader) fill() error {
	if cr.rc == nil {
		cr.buf = *readPool.Get().(*[]byte)
		n, err := cr.conn.Read(cr.buf)
		cr.w = n
		if n == 0 {
			cr.release()
			if err == nil {
				err = io.ErrNoProgress
			}
			return err
		}
		return nil
	}
	var n int
	var rerr error
	err := cr.rc.Read(func(fd uintptr) bool {
		if cr.buf == nil {
			cr.buf = *readPool.Get().(*[]byte)
		}
		for {
			n, rerr = rawRead(fd, cr.buf)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			cr.release()
			return false // wait until readable
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	if err == nil && n <= 0 {
		err = io.EOF
	}
	if err != nil {
		cr.release()
		return err
	}
	cr.w = n
	return nil
}

// dispatch decodes one call and returns the encoded reply (nil: not a call, no reply),
// in a pooled buffer that starts with 4 bytes left for the record mark.
func (s *rpcServer) dispatch(ctx context.Context, rec []byte, remote net.Addr) ([]byte, *lateData, bool) {
	var w writer
	b := s.dispatchTo(ctx, rec, remote, &w)
	return b, w.late, w.bigTurn
}

// dispatchTo serves call rec; the reply is written to w.
func (s *rpcServer) dispatchTo(ctx context.Context, rec []byte, remote net.Addr, w *writer) []byte {
	r := &wire.R{B: rec}
	c := &call{remote: remote, received: time.Now()}
	c.xid = r.U32()
	if r.U32() != wire.MsgCall || r.Err != nil {
		return nil
	}
	w.B = getBuf(0)[:4] // 4 bytes for the record mark, set when sent
	w.U32(c.xid)
	w.U32(wire.MsgReply)
	if rv := r.U32(); rv != 2 {
		s.denied(deniedRPCMismatch)
		w.U32(wire.ReplyDenied)
		w.U32(wire.RejectRPCMismatch)
		w.U32(2)
		w.U32(2)
		return w.B
	}
	c.prog, c.vers, c.proc = r.U32(), r.U32(), r.U32()
	flavor := r.U32()
	body := r.Opaque(maxAuthBody)
	r.U32()               // verifier flavor
	r.Opaque(maxAuthBody) // verifier body
	if r.Err != nil {
		if s.observe != nil {
			s.observe(c, wire.AcceptGarbageArgs, time.Since(c.received))
		}
		return s.accepted(w, c, wire.AcceptGarbageArgs)
	}
	switch flavor {
	case wire.FlavorNone:
		c.cred = Cred{Flavor: wire.FlavorNone, UID: 65534, GID: 65534}
	case wire.FlavorSys:
		ar := &wire.R{B: body}
		ar.U32() // stamp
		c.cred.Flavor = wire.FlavorSys
		c.cred.Machine = ar.Str(255)
		c.cred.UID, c.cred.GID = ar.U32(), ar.U32()
		n := ar.U32()
		if n > 16 {
			ar.Err = wire.ErrGarbage
		}
		for i := uint32(0); i < n && ar.Err == nil; i++ {
			c.cred.GIDs = append(c.cred.GIDs, ar.U32())
		}
		if ar.Err != nil {
			s.denied(deniedBadCred)
			w.U32(wire.ReplyDenied)
			w.U32(wire.RejectAuthError)
			w.U32(wire.AuthBadCred)
			return w.B
		}
	default:
		s.denied(deniedRejected)
		w.U32(wire.ReplyDenied)
		w.U32(wire.RejectAuthError)
		w.U32(wire.AuthRejected)
		return w.B
	}
	c.args = r.B
	unavail := func(stat uint32) { // counted, though no procedure of ours ran
		if s.observe != nil {
			s.observe(c, stat, time.Since(c.received))
		}
	}
	p := s.progs[c.prog]
	if p == nil {
		unavail(wire.AcceptProgUnavail)
		return s.accepted(w, c, wire.AcceptProgUnavail)
	}
	procs, ok := p.procs[c.vers]
	if !ok {
		unavail(wire.AcceptProgMismatch)
		s.accepted(w, c, wire.AcceptProgMismatch)
		w.U32(p.low)
		w.U32(p.high)
		return w.B
	}
	if int(c.proc) >= len(procs) || procs[c.proc] == nil {
		unavail(wire.AcceptProcUnavail)
		return s.accepted(w, c, wire.AcceptProcUnavail)
	}
	head := len(w.B)
	s.accepted(w, c, wire.AcceptSuccess)
	status := uint32(wire.AcceptSuccess)
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic serving request", "prog", c.prog, "proc", c.proc, "remote", remote.String(), "panic", p, "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return procs[c.proc](ctx, c, &wire.R{B: c.args}, w)
	}()
	if err != nil {
		if w.late != nil {
			w.late.h.Close()
			w.late = nil
		}
		w.B = w.B[:head]
		status = wire.AcceptSystemErr
		if errors.Is(err, wire.ErrGarbage) {
			status = wire.AcceptGarbageArgs
		} else {
			s.log.Error("request failed", "prog", c.prog, "proc", c.proc, "remote", remote.String(), "err", err)
		}
		s.accepted(w, c, status)
	}
	if s.observe != nil {
		s.observe(c, status, time.Since(c.received))
	}
	if s.record != nil {
		s.record(c, status, w.B[head+16:])
	}
	return w.B
}

// denied counts a call denied for reason.
func (s *rpcServer) denied(reason string) {
	if s.deny != nil {
		s.deny(reason)
	}
}

// accepted writes an accepted reply header with a null verifier and stat.
func (s *rpcServer) accepted(w *writer, c *call, stat uint32) []byte {
	w.U32(wire.ReplyAccepted)
	w.U32(wire.FlavorNone)
	w.U32(0)
	w.U32(stat)
	return w.B
}
