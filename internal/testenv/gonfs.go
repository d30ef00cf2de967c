package testenv

import (
	"errors"
	"syscall"
	"testing"

	"github.com/willscott/go-nfs-client/nfs/rpc"
)

// DialGoNFSClient connects go-nfs-client's RPC client to addr. The library binds a
// random local port of 49152–65535 and, unprivileged, gives up when that port is taken
// (it overlaps the kernel's ephemeral range, busy under a parallel test run): the dial
// is tried again then, up to 50 times.
func DialGoNFSClient(t testing.TB, addr string) *rpc.Client {
	t.Helper()
	for i := 0; ; i++ {
		c, err := rpc.DialTCP("tcp", addr, false)
		if err == nil {
			return c
		}
		if !errors.Is(err, syscall.EADDRINUSE) || i == 49 {
			t.Fatalf("go-nfs-client dial %s: %v", addr, err)
		}
	}
}
