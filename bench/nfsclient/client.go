// Package nfsclient is a small ONC-RPC/NFSv3/MOUNT v3 client over TCP for benchmarks:
// one connection, one call at a time, AUTH_SYS, an optional local address (so a client
// can act as a node's address 127.x.y.z). It encodes and decodes only what the bench
// harness needs.
package nfsclient

import (
	"bufio"
	"fmt"
	"net"
	"time"

	"statelite/nfsd/wire"
)

// StatusRPC + accept_stat is the status Status gives a call that was not accepted with
// SUCCESS (the protocol's numbers and types are package wire's).
const StatusRPC = 10000

// RPCError is a call that was denied or not accepted with SUCCESS.
type RPCError struct {
	Denied bool
	Stat   uint32 // accept_stat, or reject_stat when Denied
}

func (e *RPCError) Error() string {
	if e.Denied {
		return fmt.Sprintf("rpc denied (reject_stat %d)", e.Stat)
	}
	return fmt.Sprintf("rpc accept_stat %d", e.Stat)
}

// Conn is one client connection.
type Conn struct {
	c       net.Conn
	br      *bufio.Reader
	xid     uint32
	cred    []byte
	machine string
	Timeout time.Duration // per call (default 30 s)
	wbuf    []byte
	rbuf    []byte
}

// Dial connects to addr (host:port), from local (an IP address) when not empty, with the
// AUTH_SYS identity uid/gid and machine name.
func Dial(addr, local, machine string, uid, gid uint32) (*Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		ip := net.ParseIP(local)
		if ip == nil {
			return nil, fmt.Errorf("bad local address %q", local)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cn := &Conn{c: c, br: bufio.NewReaderSize(c, 64<<10), xid: uint32(time.Now().UnixNano()), machine: machine, Timeout: 30 * time.Second}
	cn.SetCred(uid, gid)
	return cn, nil
}

// SetCred sets the AUTH_SYS uid and gid of the next calls.
func (c *Conn) SetCred(uid, gid uint32) {
	c.cred = wire.AuthSys(uint32(time.Now().Unix()), c.machine, uid, gid)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// LocalAddr is the connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.c.LocalAddr() }

// Call sends one call and returns the result body of its reply (valid until the next
// call). A reply other than accepted SUCCESS is an *RPCError.
func (c *Conn) Call(prog, vers, proc uint32, args []byte) ([]byte, error) {
	c.xid++
	xid := c.xid
	w := wire.W{B: c.wbuf[:0]}
	w.U32(0) // record mark
	w.Call(xid, prog, vers, proc, wire.FlavorSys, c.cred)
	w.B = append(w.B, args...)
	wire.MarkRecord(w.B)
	c.wbuf = w.B
	deadline := time.Now().Add(c.Timeout)
	c.c.SetDeadline(deadline)
	if _, err := c.c.Write(w.B); err != nil {
		return nil, err
	}
	for {
		rec, err := wire.ReadRecord(c.br, c.rbuf, 8<<20)
		if err != nil {
			return nil, err
		}
		c.rbuf = rec
		r := wire.R{B: rec}
		h := r.Reply()
		switch {
		case r.Err != nil:
			return nil, r.Err
		case h.XID != xid:
			continue // a late reply to an earlier call
		case h.Denied:
			return nil, &RPCError{Denied: true, Stat: h.Stat}
		case h.Stat != wire.AcceptSuccess:
			return nil, &RPCError{Stat: h.Stat}
		}
		return r.B, nil
	}
}
