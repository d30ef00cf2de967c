package nfsd

import (
	"testing"
	"time"

	"statelite/nfsd/wire"
)

// BenchmarkMetricsCall is what the metrics cost one NFS call on the hot path: the
// procedure's latency, the node's request count and its status (every eighth call an
// error), and a READ's bytes.
func BenchmarkMetricsCall(b *testing.B) {
	m := newMetrics()
	c := &call{prog: wire.ProgNFS, vers: 3, proc: wire.ProcRead}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			st := uint32(wire.NFS3OK)
			if i&7 == 0 {
				st = wire.NFS3ErrNoEnt
			}
			m.nfsStatus("n1", c.proc, st)
			m.bytes("n1", "read", 4096)
			m.observe(c, wire.AcceptSuccess, 150*time.Microsecond)
			i++
		}
	})
}
