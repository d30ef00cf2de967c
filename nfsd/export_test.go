package nfsd

import (
	"net/netip"
	"os"
	"time"
)

// BigTurnsInUse is how many turns of big work are taken (bufpool.go), for tests.
func BigTurnsInUse() int { return len(bigTurns) }

// BigTurnsMax is how many there are.
func BigTurnsMax() int { return cap(bigTurns) }

// SetRecordStall sets how long a record may make no progress; the returned func restores it.
func SetRecordStall(d time.Duration) func() {
	old := recordStall
	recordStall = d
	return func() { recordStall = old }
}

// SetIntakeCaps sets the intake caps of servers made from now on; the returned func
// restores them.
func SetIntakeCaps(total, perAddr int64) func() {
	ot, oa := intakeMaxBytes, intakeAddrMaxBytes
	intakeMaxBytes, intakeAddrMaxBytes = total, perAddr
	return func() { intakeMaxBytes, intakeAddrMaxBytes = ot, oa }
}

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
