package storm

import (
	"sort"
	"time"
)

// OpStats are latency figures of one operation type (milliseconds).
type OpStats struct {
	Count         int
	P50, P99, Max float64
}

// StormSummary is one storm's figures.
type StormSummary struct {
	N           int
	Boots       int     // boots per node
	Wall        float64 // seconds until every node booted
	BootP50     float64 // seconds from the start until the median node finished
	Calls       int
	Errors      int
	ErrorSample []string `json:",omitempty"`
	Stale       int      // STALE answers retried after a fresh lookup
	Extra       int      // LOOKUPs to find handles the trace had from elsewhere
	Skipped     int
	ServerCPU   float64 // seconds
	PeakRSS     int64   // bytes (VmHWM)
	RSSStart    int64   // bytes, before the storm
	RSSIdle     int64   `json:",omitempty"` // bytes, after the storm with every node's connection open and idle
	Cluster     int     `json:",omitempty"` // nodes in the tables (0: N)
	Startup     float64 `json:",omitempty"` // seconds from the server's exec to serving (a fresh state)
	Ops         map[string]OpStats
	CDF         map[string][][2]float64 // op -> (latency ms, fraction) points
	Load        string
}

// LatStats summarises latencies (sorted, ms).
func LatStats(xs []float64) OpStats {
	if len(xs) == 0 {
		return OpStats{}
	}
	return OpStats{Count: len(xs), P50: Quantile(xs, 0.5), P99: Quantile(xs, 0.99), Max: xs[len(xs)-1]}
}

// cdfPoints picks about 200 points of the CDF of sorted xs.
func cdfPoints(xs []float64) [][2]float64 {
	var out [][2]float64
	n := len(xs)
	if n == 0 {
		return nil
	}
	step := max(1, n/200)
	for i := 0; i < n; i += step {
		out = append(out, [2]float64{xs[i], float64(i+1) / float64(n)})
	}
	out = append(out, [2]float64{xs[n-1], 1})
	return out
}

// Summarize turns a storm's result into its figures (server figures filled by the caller).
func Summarize(r *Result, boots int) StormSummary {
	s := StormSummary{N: r.N, Boots: boots, Wall: r.Wall.Seconds(), Ops: map[string]OpStats{}, CDF: map[string][][2]float64{}}
	var nodeEnd []float64
	for _, nr := range r.Nodes {
		s.Calls += len(nr.Samples)
		s.Stale += nr.Stale
		s.Extra += nr.Extra
		s.Skipped += nr.Skipped
		if len(nr.Boots) > 0 {
			nodeEnd = append(nodeEnd, nr.Boots[len(nr.Boots)-1].End.Seconds())
		}
	}
	sort.Float64s(nodeEnd)
	s.BootP50 = Quantile(nodeEnd, 0.5)
	s.Errors, s.ErrorSample = r.Errors()
	s.Errors += r.BootErrors - countTransportLogged(r)
	for op, xs := range r.Latencies(0, 0) {
		s.Ops[op] = LatStats(xs)
		s.CDF[op] = cdfPoints(xs)
	}
	return s
}

// countTransportLogged: boots that ended early already logged an error each (so
// BootErrors is not counted twice).
func countTransportLogged(r *Result) int {
	n := 0
	for _, nr := range r.Nodes {
		if nr.NErrors > 0 && len(nr.Boots) == 0 {
			n++
		}
	}
	return min(n, r.BootErrors)
}

// FlipSummary is the figures of the live-change scenario.
type FlipSummary struct {
	N, Boots     int
	Wall         float64
	FlipAt       float64 // seconds since the storm's start when the table was edited
	FirstNewAt   float64 // when a node first saw the new generation
	LastOldAt    float64 // when a node last saw the old generation
	BootsTotal   int
	AllOld       int // boots that saw only the old generation
	AllNew       int // boots that saw only the new
	Crossed      int // boots that saw the old, then the new (in flight during the switch)
	Mixed        int // boots with an answer mixing generations, or the new then the old
	OldAfterNew  int // probe answers of the old generation after any node had seen the new
	NodesStuck   int // nodes whose last boot still saw the old generation
	Stale        int
	Errors       int
	ErrorSample  []string `json:",omitempty"`
	Windows      []Window
	ServerCPU    float64
	PeakRSS      int64
	SwitchLagSec float64 // FirstNewAt - FlipAt
	// LastOldSentAt is when the last call answered from the old generation was sent:
	// every call sent after it saw the new one, however long it then waited to be
	// served. OldSentLagSec is LastOldSentAt - FlipAt.
	LastOldSentAt float64
	OldSentLagSec float64
}

// Window is the latency of calls started within a time window around the switch.
type Window struct {
	Name     string
	From, To float64 // seconds since the storm's start
	All      OpStats
}

// SummarizeFlip checks the probe observations of a storm with a table change at flipAt.
func SummarizeFlip(r *Result, boots int, flipAt time.Duration) FlipSummary {
	f := FlipSummary{N: r.N, Boots: boots, Wall: r.Wall.Seconds(), FlipAt: flipAt.Seconds(), FirstNewAt: -1, LastOldAt: -1}
	firstNew := time.Duration(-1)
	for _, nr := range r.Nodes {
		for _, b := range nr.Boots {
			for i, g := range b.Gens {
				if g == GenB && (firstNew < 0 || b.GenAt[i] < firstNew) {
					firstNew = b.GenAt[i]
				}
			}
		}
	}
	for _, nr := range r.Nodes {
		f.Stale += nr.Stale
		for bi, b := range nr.Boots {
			f.BootsTotal++
			hasA, hasB := false, false
			for i, g := range b.Gens {
				switch g {
				case GenA:
					hasA = true
					if i < len(b.GenSent) && b.GenSent[i].Seconds() > f.LastOldSentAt {
						f.LastOldSentAt = b.GenSent[i].Seconds()
					}
					if b.GenAt[i].Seconds() > f.LastOldAt {
						f.LastOldAt = b.GenAt[i].Seconds()
					}
					if firstNew >= 0 && b.GenAt[i] > firstNew {
						f.OldAfterNew++
					}
				case GenB:
					hasB = true
				}
			}
			switch {
			case b.Mixed:
				f.Mixed++
			case hasA && hasB:
				f.Crossed++
			case hasA:
				f.AllOld++
			case hasB:
				f.AllNew++
			}
			if bi == len(nr.Boots)-1 && hasA && !hasB {
				f.NodesStuck++
			}
		}
	}
	if firstNew >= 0 {
		f.FirstNewAt = firstNew.Seconds()
		f.SwitchLagSec = f.FirstNewAt - f.FlipAt
	}
	f.OldSentLagSec = f.LastOldSentAt - f.FlipAt
	f.Errors, f.ErrorSample = r.Errors()
	switchEnd := flipAt + time.Second
	if firstNew > 0 && firstNew+time.Second > switchEnd {
		switchEnd = firstNew + time.Second
	}
	for _, w := range []struct {
		name     string
		from, to time.Duration
	}{
		{"before the edit", 0, flipAt},
		{"edit → switch + 1 s", flipAt, switchEnd},
		{"after", switchEnd, 0},
	} {
		to := w.to.Seconds()
		if w.to == 0 {
			to = r.Wall.Seconds()
		}
		f.Windows = append(f.Windows, Window{Name: w.name, From: w.from.Seconds(), To: to, All: LatStats(r.Latencies(w.from, w.to)["ALL"])})
	}
	return f
}

// IdleSummary is the memory of idle nodes.
type IdleSummary struct {
	N        int
	RSSBase  int64   // bytes: the server with one node mounted
	RSSN     int64   // bytes: with N nodes mounted, connected and idle
	PerNode  float64 // bytes: (RSSN - RSSBase) / (N - 1)
	HowNodes string
}

// Report is everything bench storm measured.
type Report struct {
	Date       string
	Machine    string
	Commit     string
	LoadStart  string
	LoadEnd    string
	Trace      TraceInfo
	Storms     []StormSummary
	Idle       *IdleSummary `json:",omitempty"`
	IdleBooted *IdleSummary `json:",omitempty"`
	Flip       *FlipSummary `json:",omitempty"`
	Nofile     uint64
	Notes      []string `json:",omitempty"`
	// Cluster is the number of nodes in the tables (the storms boot some or all of them).
	Cluster int `json:",omitempty"`
	// Restart is the start-up of a server on the state the largest storm left.
	Restart *RestartSummary `json:",omitempty"`
	// Image is the genimage image directory the nodes booted (storm -image); empty: the
	// demo's busybox image and boot.sh.
	Image string `json:",omitempty"`
	// Store is the table store the servers used: "csv" (the cluster's directory), or
	// "postgresql" (storm -pg: a throw-away PostgreSQL with its durable defaults, which
	// also holds the shared handle table).
	Store string `json:",omitempty"`
	// Failover is the storm over two servers, one killed in the middle (storm -failover).
	Failover *FailoverSummary `json:",omitempty"`
}

// FailoverSummary is a storm over two servers sharing one PostgreSQL store and the
// nodes' volatile layers, the nodes split between them, one server killed with SIGKILL
// once a third of the boots are done: its nodes move to the other one.
type FailoverSummary struct {
	N             int
	KilledAt      float64 // seconds after the storm's start
	Wall          float64 // all booted
	Errors        int
	ErrorSample   []string `json:",omitempty"`
	MovedNodes    int      // nodes whose server went away
	Jukebox       int      // calls answered JUKEBOX (another server held the node's lease) and retried
	Replayed      int      // calls whose first try died with the server and whose retry found it done
	P50, P99, Max float64  // every call's latency (ms), retries and waits included
	// MovedP99 and MovedMax are the latencies of the moved nodes' calls started from
	// the kill on: the pause they saw.
	MovedP99, MovedMax float64
}

// RestartSummary is a server started on the state of a storm: its handle log holds a
// record of every object the booted nodes looked up or made.
type RestartSummary struct {
	Nodes          int     // nodes booted in the storm before
	HandleLogBytes int64   // the handle log's size
	Startup        float64 // seconds from exec to serving
	Fresh          float64 // seconds, the same server on a fresh state (for comparison)
	RSS            int64   // bytes, after start
}

// TraceInfo describes the replayed trace.
type TraceInfo struct {
	File     string
	Node     string
	Calls    int
	Counts   map[string]int
	Duration float64 // seconds, as recorded (the guest's own pace)
	ReadKiB  int64
}

// Info describes trace t (read from file).
func (t *Trace) Info(file string) TraceInfo {
	ti := TraceInfo{File: file, Node: t.Node, Calls: len(t.Ops), Counts: t.Counts()}
	for _, r := range t.Ops {
		if r.Op == "READ" {
			ti.ReadKiB += int64(r.Count) >> 10
		}
	}
	if n := len(t.Ops); n > 0 {
		ti.Duration = float64(t.Ops[n-1].T) / 1e6
	}
	return ti
}
