package nfsd

import (
	"net/netip"
	"os"
)

// BigTurnsInUse is how many of s's turns of big work are taken (bufpool.go).
func BigTurnsInUse(s *Server) int { return len(s.rpc.big) }

// BigTurnsMax is how many there are.
func BigTurnsMax(s *Server) int { return cap(s.rpc.big) }

// IntakeUsage returns the intake memory held in total and by addr.
func IntakeUsage(s *Server, addr string) (total, byAddr int64) {
	return s.rpc.budget.usage(netip.MustParseAddr(addr))
}

// SetHandleLogSync replaces how s makes its handle log durable (fdatasync), for tests
// of a failing disk.
func SetHandleLogSync(s *Server, f func(*os.File) error) {
	s.paths.commitMu.Lock()
	s.paths.syncFile = f
	s.paths.commitMu.Unlock()
}
