package nfsd

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"statelite/nfsd/wire"
)

var nfsProcNames = []string{"null", "getattr", "setattr", "lookup", "access", "readlink", "read", "write", "create",
	"mkdir", "symlink", "mknod", "remove", "rmdir", "rename", "link", "readdir", "readdirplus", "fsstat", "fsinfo",
	"pathconf", "commit"}

var mountProcNames = []string{"null", "mnt", "dump", "umnt", "umntall", "export"}

var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// nfsStatusNames names the NFSv3 error statuses (nfsstat3, RFC 1813, without NFS3ERR_)
// for the status label of statelite_nfs_errors_total.
var nfsStatusNames = map[uint32]string{
	wire.NFS3ErrPerm: "PERM", wire.NFS3ErrNoEnt: "NOENT", wire.NFS3ErrIO: "IO", wire.NFS3ErrNXIO: "NXIO",
	wire.NFS3ErrAcces: "ACCES", wire.NFS3ErrExist: "EXIST", wire.NFS3ErrXDev: "XDEV", wire.NFS3ErrNoDev: "NODEV",
	wire.NFS3ErrNotDir: "NOTDIR", wire.NFS3ErrIsDir: "ISDIR", wire.NFS3ErrInval: "INVAL", wire.NFS3ErrFBig: "FBIG",
	wire.NFS3ErrNoSpc: "NOSPC", wire.NFS3ErrROFS: "ROFS", wire.NFS3ErrMLink: "MLINK",
	wire.NFS3ErrNameTooLong: "NAMETOOLONG", wire.NFS3ErrNotEmpty: "NOTEMPTY", wire.NFS3ErrDQuot: "DQUOT",
	wire.NFS3ErrStale: "STALE", 71: "REMOTE", wire.NFS3ErrBadHandle: "BADHANDLE", 10002: "NOT_SYNC",
	wire.NFS3ErrBadCookie: "BAD_COOKIE", wire.NFS3ErrNotSupp: "NOTSUPP", wire.NFS3ErrTooSmall: "TOOSMALL",
	wire.NFS3ErrServerFault: "SERVERFAULT", wire.NFS3ErrBadType: "BADTYPE", wire.NFS3ErrJukebox: "JUKEBOX",
}

// NFSStatusName is the name of an NFSv3 status ("NOENT" for 2), its number when it has none.
func NFSStatusName(st uint32) string {
	if st == wire.NFS3OK {
		return "OK"
	}
	if n, ok := nfsStatusNames[st]; ok {
		return n
	}
	return strconv.FormatUint(uint64(st), 10)
}

// acceptStatNames names the accept_stat values of RPC replies (RFC 5531).
var acceptStatNames = [...]string{wire.AcceptSuccess: "SUCCESS", wire.AcceptProgUnavail: "PROG_UNAVAIL",
	wire.AcceptProgMismatch: "PROG_MISMATCH", wire.AcceptProcUnavail: "PROC_UNAVAIL",
	wire.AcceptGarbageArgs: "GARBAGE_ARGS", wire.AcceptSystemErr: "SYSTEM_ERR"}

// The reasons of denied RPC replies (reject_stat, and auth_stat for AUTH_ERROR).
const (
	deniedRPCMismatch = "RPC_MISMATCH"
	deniedBadCred     = "AUTH_BADCRED"
	deniedRejected    = "AUTH_REJECTEDCRED"
)

var deniedReasons = []string{deniedRPCMismatch, deniedBadCred, deniedRejected}

// Metrics counts requests for Prometheus: per-procedure latency histograms, per-node
// request and byte counters, NFS errors by status, RPC errors. It is a
// prometheus.Collector: a server registers it in its registry (statelite serve's
// --metrics). Every series a call touches is resolved when Metrics is made (per node:
// at the node's first call), so counting a call costs a few atomic additions.
type Metrics struct {
	calls atomic.Uint64 // every call answered

	durations *prometheus.HistogramVec
	nfsObs    []prometheus.Observer // by NFS procedure
	mountObs  []prometheus.Observer // by MOUNT procedure

	rpcErrors *prometheus.CounterVec
	rpcErr    [len(acceptStatNames)]prometheus.Counter // by accept_stat
	denied    *prometheus.CounterVec
	deniedBy  map[string]prometheus.Counter

	nfsErrors *prometheus.CounterVec
	nfsErr    map[uint32]prometheus.Counter // by status (read-only once made)

	nodes sync.Map // node -> *nodeStats

	// more are the server's own series (handle log, intake, leases: server.go).
	more []prometheus.Collector
}

// nodeStats are one node's counters.
type nodeStats struct {
	reqs, read, written atomic.Uint64
}

var (
	nodeReqsDesc  = prometheus.NewDesc("statelite_node_requests_total", "NFS requests per node.", []string{"node"}, nil)
	nodeBytesDesc = prometheus.NewDesc("statelite_node_bytes_total", "Bytes read and written per node.", []string{"node", "dir"}, nil)
)

func newMetrics() *Metrics {
	m := &Metrics{
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "statelite_rpc_duration_seconds",
			Help: "Time to serve one RPC procedure.", Buckets: latencyBuckets}, []string{"proc"}),
		rpcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "statelite_rpc_errors_total",
			Help: "RPC calls not accepted as SUCCESS, by accept_stat."}, []string{"accept_stat"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "statelite_rpc_denied_total",
			Help: "RPC calls denied: RPC version mismatch or credentials refused."}, []string{"reason"}),
		nfsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "statelite_nfs_errors_total",
			Help: "NFS replies with an error status."}, []string{"status"}),
		nfsErr:   map[uint32]prometheus.Counter{},
		deniedBy: map[string]prometheus.Counter{},
	}
	for _, n := range nfsProcNames {
		m.nfsObs = append(m.nfsObs, m.durations.WithLabelValues("nfs/"+n))
	}
	for _, n := range mountProcNames {
		m.mountObs = append(m.mountObs, m.durations.WithLabelValues("mount/"+n))
	}
	for st, n := range acceptStatNames {
		if st != wire.AcceptSuccess {
			m.rpcErr[st] = m.rpcErrors.WithLabelValues(n)
		}
	}
	for _, r := range deniedReasons {
		m.deniedBy[r] = m.denied.WithLabelValues(r)
	}
	for st, n := range nfsStatusNames {
		m.nfsErr[st] = m.nfsErrors.WithLabelValues(n)
	}
	return m
}

// observer is the latency histogram of a procedure of ours (nil for any other: a client
// chooses the program and procedure numbers it sends, and gets no series of its own).
func (m *Metrics) observer(prog, vers, proc uint32) prometheus.Observer {
	if vers != 3 {
		return nil
	}
	switch prog {
	case wire.ProgNFS:
		if int(proc) < len(m.nfsObs) {
			return m.nfsObs[proc]
		}
	case wire.ProgMount:
		if int(proc) < len(m.mountObs) {
			return m.mountObs[proc]
		}
	}
	return nil
}

// observe counts a call answered with accept_stat status after d.
func (m *Metrics) observe(c *call, status uint32, d time.Duration) {
	m.calls.Add(1)
	if status != wire.AcceptSuccess {
		if int(status) < len(m.rpcErr) {
			m.rpcErr[status].Inc()
		} else {
			m.rpcErrors.WithLabelValues(strconv.FormatUint(uint64(status), 10)).Inc()
		}
	}
	switch status {
	case wire.AcceptProgUnavail, wire.AcceptProgMismatch, wire.AcceptProcUnavail:
		// Not a procedure of ours: counted, but no series per program/procedure a client
		// can choose.
		return
	}
	if o := m.observer(c.prog, c.vers, c.proc); o != nil {
		o.Observe(d.Seconds())
	}
}

// deny counts a call denied for reason (deniedRPCMismatch, …).
func (m *Metrics) deny(reason string) {
	m.calls.Add(1)
	if c := m.deniedBy[reason]; c != nil {
		c.Inc()
	}
}

// node returns node's counters, made at its first call.
func (m *Metrics) node(node string) *nodeStats {
	if v, ok := m.nodes.Load(node); ok {
		return v.(*nodeStats)
	}
	v, _ := m.nodes.LoadOrStore(node, &nodeStats{})
	return v.(*nodeStats)
}

// nfsStatus counts an NFS procedure answered with status st for node ("": none known).
func (m *Metrics) nfsStatus(node string, proc, st uint32) {
	if node != "" {
		m.node(node).reqs.Add(1)
	}
	if st != wire.NFS3OK {
		if c := m.nfsErr[st]; c != nil {
			c.Inc()
		} else {
			m.nfsErrors.WithLabelValues(NFSStatusName(st)).Inc()
		}
	}
}

// bytes counts n bytes read or written (dir) by node.
func (m *Metrics) bytes(node, dir string, n int) {
	ns := m.node(node)
	if dir == "read" {
		ns.read.Add(uint64(n))
	} else {
		ns.written.Add(uint64(n))
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.durations.Describe(ch)
	m.rpcErrors.Describe(ch)
	m.denied.Describe(ch)
	m.nfsErrors.Describe(ch)
	ch <- nodeReqsDesc
	ch <- nodeBytesDesc
	for _, c := range m.more {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.durations.Collect(ch)
	m.rpcErrors.Collect(ch)
	m.denied.Collect(ch)
	m.nfsErrors.Collect(ch)
	m.nodes.Range(func(k, v any) bool {
		node, ns := k.(string), v.(*nodeStats)
		if n := ns.reqs.Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(nodeReqsDesc, prometheus.CounterValue, float64(n), node)
		}
		if n := ns.read.Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(nodeBytesDesc, prometheus.CounterValue, float64(n), node, "read")
		}
		if n := ns.written.Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(nodeBytesDesc, prometheus.CounterValue, float64(n), node, "write")
		}
		return true
	})
	for _, c := range m.more {
		c.Collect(ch)
	}
}

// registry is a registry of these metrics alone (a server registers them in its own,
// beside the Go runtime's and the rest of the service's).
func (m *Metrics) registry() *prometheus.Registry {
	r := prometheus.NewPedanticRegistry()
	r.MustRegister(m)
	return r
}

// WriteTo writes the metrics in the Prometheus text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	mfs, err := m.registry().Gather()
	if err != nil {
		return 0, err
	}
	cw := &countWriter{w: w}
	enc := expfmt.NewEncoder(cw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return cw.n, err
		}
	}
	return cw.n, cw.err
}

// ServeHTTP serves these metrics alone (statelite serve serves its registry's instead).
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(m.registry(), promhttp.HandlerOpts{}).ServeHTTP(w, r)
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
