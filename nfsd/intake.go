package nfsd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	"statelite/nfsd/wire"
)

// The intake: how call records are received. A client may be slow, silent or hostile; it
// costs its own connection only:
//
//   - A record takes no shared capacity (no turn of big work, no pooled buffer) before
//     it has arrived whole: its bytes go into a buffer of its own, allocated when they
//     come (a header alone holds nothing).
//   - The memory of the records being received or waiting to be served is capped, in
//     total (intakeMax) and per client address (intakeAddrMax). A record reserves its
//     buffer's size before the buffer is made; when the cap is full, the reader waits,
//     and so stops reading its socket (TCP pushes back on that client alone), while
//     the records already received, of any client, are served and give their memory
//     back. Records of up to smallBuf bytes that arrive whole in one read are not
//     counted: they are what a booting node sends, and they are served at once.
//   - Fragments are gathered in a buffer that doubles: O(record size), whatever the
//     fragment size.
//   - A record that makes no progress for Config.RecordStall (30 s) closes its connection. An idle
//     connection (between records) has no deadline: a booted node keeps its connection.
const (
	defaultRecordStall         = 30 * time.Second
	defaultIntakeMax     int64 = 64 << 20
	defaultIntakeAddrMax int64 = 4 * maxRecord
)

// intakeBudget accounts the memory of records in the intake.
type intakeBudget struct {
	mu      sync.Mutex
	cond    *sync.Cond
	max     int64 // total cap
	addrMax int64 // per client address
	total   int64
	byAddr  map[netip.Addr]int64
	waiting int
	closed  bool
}

func newIntakeBudget(max, addrMax int64) *intakeBudget {
	b := &intakeBudget{max: max, addrMax: addrMax, byAddr: map[netip.Addr]int64{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// reserve takes n bytes for a record of a client at addr, waiting while either cap
// would be exceeded. It fails only when the server stops.
func (b *intakeBudget) reserve(addr netip.Addr, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !b.closed && (b.total+n > b.max || b.byAddr[addr]+n > b.addrMax) {
		// A reservation larger than a cap could never be granted: records are at most
		// maxRecord, and the caps are larger.
		b.waiting++
		b.cond.Wait()
		b.waiting--
	}
	if b.closed {
		return errIntakeClosed
	}
	b.total += n
	b.byAddr[addr] += n
	return nil
}

// release gives back n bytes reserved for addr.
func (b *intakeBudget) release(addr netip.Addr, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.total -= n
	if v := b.byAddr[addr] - n; v > 0 {
		b.byAddr[addr] = v
	} else {
		delete(b.byAddr, addr)
	}
	if b.waiting > 0 {
		b.cond.Broadcast()
	}
	b.mu.Unlock()
}

// close wakes every waiter for good (the server stops).
func (b *intakeBudget) close() {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

// usage returns the bytes reserved in total and by addr.
func (b *intakeBudget) usage(addr netip.Addr) (total, byAddr int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total, b.byAddr[addr]
}

var errIntakeClosed = errors.New("rpc intake closed")

// errStalled: a record made no progress for the stall time.
var errStalled = errors.New("rpc record stalled")

// readRecord reads one record-marked RPC message (all its fragments). rec is a buffer
// to give back with putBuf; held is the intake memory it holds, to give back with
// c.s.budget.release once the call is served.
func (c *rpcConn) readRecord() (rec []byte, held int64, err error) {
	b := c.s.budget
	armed := false // a read deadline is set: the record is partly here
	var armedAt int64
	arm := func() {
		// Refreshed at most once a second: the record may stall for 29 to 30 s.
		if now := mono(); !armed || now-armedAt > int64(time.Second) {
			c.conn.SetReadDeadline(time.Now().Add(c.s.stall))
			armed, armedAt = true, now
		}
	}
	fail := func(err error) ([]byte, int64, error) {
		putBuf(rec)
		b.release(c.addr, held)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w: no progress for %s", errStalled, c.s.stall)
		}
		return nil, 0, err
	}
	// read fills p, arming the deadline before each wait once the record has begun.
	read := func(p []byte, begun bool) error {
		for n := 0; n < len(p); {
			if c.br.Buffered() == 0 && (begun || n > 0) {
				arm()
			}
			m, err := c.br.Read(p[n:])
			n += m
			if err != nil {
				if n == len(p) {
					break
				}
				if err == io.EOF && (begun || n > 0) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			begun = true
		}
		return nil
	}
	begun := false
	for {
		var hdr [4]byte
		if err := read(hdr[:], begun); err != nil {
			return fail(err)
		}
		begun = true
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h &^ wire.LastFragment)
		last := h&wire.LastFragment != 0
		need := len(rec) + n
		if need > maxRecord {
			return fail(fmt.Errorf("rpc record of more than %d bytes", maxRecord))
		}
		if need > cap(rec) {
			whole := last && rec == nil && c.br.Buffered() >= n
			if !whole && c.br.Buffered() == 0 && n > 0 {
				// Nothing of the body yet: wait for it before making its buffer.
				arm()
				if err := c.br.wait(); err != nil {
					return fail(err)
				}
			}
			size := need
			if rec != nil {
				size = min(max(need, 2*cap(rec)), maxRecord)
			}
			nb := getBuf(size)
			if !whole || cap(nb) > smallBuf {
				// Counted: what the buffer really holds, less what rec held.
				if more := int64(cap(nb)) - held; more > 0 {
					if err := b.reserve(c.addr, more); err != nil {
						putBuf(nb)
						return fail(err)
					}
					held += more
				}
			}
			nb = append(nb, rec...)
			putBuf(rec)
			rec = nb
		}
		start := len(rec)
		rec = rec[:need]
		if err := read(rec[start:], true); err != nil {
			return fail(err)
		}
		if last {
			if armed {
				c.conn.SetReadDeadline(time.Time{})
			}
			return rec, held, nil
		}
	}
}
