package nfsd_test

import (
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"statelite/nfsd"
)

// failingListener fails Accept with EMFILE while fail is set (a server out of file
// descriptors), as the kernel does when the process's limit is reached.
type failingListener struct {
	net.Listener
	fail  atomic.Bool
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	for l.fail.Load() {
		l.fails.Add(1)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// A server that runs out of file descriptors keeps serving the nodes already connected,
// and accepts new connections again once descriptors are free (it used to stop serving
// altogether at the first failed accept).
func TestAcceptFailuresDoNotStopTheServer(t *testing.T) {
	tc := newTestCluster(t)
	srv, err := nfsd.New(nfsd.Config{FS: tc.fsrv, State: tc.nfState, AdminAllow: allowOnly("127.0.0.1/32")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &failingListener{Listener: inner}
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	addr := inner.Addr().String()
	n1 := newClient(t, addr, "127.0.0.11", authSys(0, 0))
	root := n1.mustMount("/nodes/n1")

	l.fail.Store(true)
	// A connection the kernel queues while accept fails (its handshake completes in the
	// backlog) is served once accepting works again.
	n2 := newClient(t, addr, "127.0.0.12", authSys(0, 0))
	deadline := time.Now().Add(10 * time.Second)
	for l.fails.Load() < 3 && time.Now().Before(deadline) {
		n1.mustGetattr(root) // the connected node is served meanwhile
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned while accept failed: %v", err)
	default:
	}
	if l.fails.Load() < 3 {
		t.Fatalf("accept was retried %d times in 10 s", l.fails.Load())
	}
	l.fail.Store(false)
	fh := n2.mustMount("/nodes/n2")
	n2.mustGetattr(fh)
	n1.mustGetattr(root)
}
