package nfsd

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"statelite/nfsd/wire"
)

var nfsProcNames = []string{"null", "getattr", "setattr", "lookup", "access", "readlink", "read", "write", "create",
	"mkdir", "symlink", "mknod", "remove", "rmdir", "rename", "link", "readdir", "readdirplus", "fsstat", "fsinfo",
	"pathconf", "commit"}

var mountProcNames = []string{"null", "mnt", "dump", "umnt", "umntall", "export"}

var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// Metrics counts requests for Prometheus: per-procedure counts and latency histograms,
// per-node request and byte counters, NFS errors by status.
type Metrics struct {
	calls    atomic.Uint64 // every call answered
	mu       sync.Mutex
	procs    map[string]*histogram // "nfs/read" -> latency
	nodeReqs map[string]uint64
	nodeIO   map[[2]string]uint64 // (node, read|write) -> bytes
	status   map[uint32]uint64
	rpcErr   map[uint32]uint64 // accept_stat != SUCCESS
	// gauges, when set, writes the server's own counters (handle log, intake).
	gauges func(w io.Writer)
}

type histogram struct {
	counts []uint64
	sum    float64
	n      uint64
}

func newMetrics() *Metrics {
	return &Metrics{procs: map[string]*histogram{}, nodeReqs: map[string]uint64{}, nodeIO: map[[2]string]uint64{},
		status: map[uint32]uint64{}, rpcErr: map[uint32]uint64{}}
}

func procName(prog, proc uint32) string {
	switch prog {
	case wire.ProgNFS:
		if int(proc) < len(nfsProcNames) {
			return "nfs/" + nfsProcNames[proc]
		}
	case wire.ProgMount:
		if int(proc) < len(mountProcNames) {
			return "mount/" + mountProcNames[proc]
		}
	case wire.ProgPortmap:
		return fmt.Sprintf("portmap/%d", proc)
	}
	return fmt.Sprintf("%d/%d", prog, proc)
}

func (m *Metrics) observe(c *call, status uint32, d time.Duration) {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if status == wire.AcceptProgUnavail || status == wire.AcceptProgMismatch || status == wire.AcceptProcUnavail {
		// Not a procedure of ours: count it, but make no series per program/procedure
		// a client can choose.
		m.rpcErr[status]++
		return
	}
	name := procName(c.prog, c.proc)
	h := m.procs[name]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.procs[name] = h
	}
	sec := d.Seconds()
	for i, b := range latencyBuckets {
		if sec <= b {
			h.counts[i]++
		}
	}
	h.sum += sec
	h.n++
	if status != wire.AcceptSuccess {
		m.rpcErr[status]++
	}
}

func (m *Metrics) nfsStatus(node string, proc, st uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if node != "" {
		m.nodeReqs[node]++
	}
	if st != wire.NFS3OK {
		m.status[st]++
	}
}

func (m *Metrics) bytes(node, dir string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodeIO[[2]string{node, dir}] += uint64(n)
}

// WriteTo writes the metrics in the Prometheus text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cw := &countWriter{w: w}
	fmt.Fprintln(cw, "# HELP statelite_rpc_duration_seconds Time to serve one RPC procedure.")
	fmt.Fprintln(cw, "# TYPE statelite_rpc_duration_seconds histogram")
	names := make([]string, 0, len(m.procs))
	for n := range m.procs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := m.procs[n]
		for i, b := range latencyBuckets {
			fmt.Fprintf(cw, "statelite_rpc_duration_seconds_bucket{proc=%q,le=\"%g\"} %d\n", n, b, h.counts[i])
		}
		fmt.Fprintf(cw, "statelite_rpc_duration_seconds_bucket{proc=%q,le=\"+Inf\"} %d\n", n, h.n)
		fmt.Fprintf(cw, "statelite_rpc_duration_seconds_sum{proc=%q} %g\n", n, h.sum)
		fmt.Fprintf(cw, "statelite_rpc_duration_seconds_count{proc=%q} %d\n", n, h.n)
	}
	fmt.Fprintln(cw, "# HELP statelite_node_requests_total NFS requests per node.")
	fmt.Fprintln(cw, "# TYPE statelite_node_requests_total counter")
	for _, n := range sortedKeys(m.nodeReqs) {
		fmt.Fprintf(cw, "statelite_node_requests_total{node=%q} %d\n", n, m.nodeReqs[n])
	}
	fmt.Fprintln(cw, "# HELP statelite_node_bytes_total Bytes read and written per node.")
	fmt.Fprintln(cw, "# TYPE statelite_node_bytes_total counter")
	keys := make([][2]string, 0, len(m.nodeIO))
	for k := range m.nodeIO {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(cw, "statelite_node_bytes_total{node=%q,dir=%q} %d\n", k[0], k[1], m.nodeIO[k])
	}
	fmt.Fprintln(cw, "# HELP statelite_nfs_errors_total NFS replies with an error status.")
	fmt.Fprintln(cw, "# TYPE statelite_nfs_errors_total counter")
	for _, st := range sortedKeys(m.status) {
		fmt.Fprintf(cw, "statelite_nfs_errors_total{status=\"%d\"} %d\n", st, m.status[st])
	}
	fmt.Fprintln(cw, "# HELP statelite_rpc_errors_total RPC calls not accepted as SUCCESS, by accept_stat.")
	fmt.Fprintln(cw, "# TYPE statelite_rpc_errors_total counter")
	for _, st := range sortedKeys(m.rpcErr) {
		fmt.Fprintf(cw, "statelite_rpc_errors_total{accept_stat=\"%d\"} %d\n", st, m.rpcErr[st])
	}
	if m.gauges != nil {
		m.gauges(cw)
	}
	return cw.n, cw.err
}

// ServeHTTP serves /metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	m.WriteTo(w)
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func sortedKeys[K string | uint32, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
