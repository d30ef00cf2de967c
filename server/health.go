package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"statelite/internal/version"
	"statelite/tables"
)

// The server's health: what /healthz, /readyz and systemd (Type=notify) are told, and
// the metrics of the service as a whole (build, tables, boots, store) beside nfsd's and
// the DHCP server's, all in one registry per server.

// Store checks: /readyz and statelite_store_up ask the store at most once per
// storeCheckEvery (probes every 100 ms cost the database nothing more), and a check
// that gets no answer within storeCheckTimeout says the store is down.
const (
	storeCheckEvery   = time.Second
	storeCheckTimeout = time.Second
)

// health is what Run says about the server's readiness.
type health struct {
	mu        sync.Mutex
	listeners []listenerState // in the order Run started them
	ready     bool            // Run has started every listener (systemd was told READY=1)
	stopping  bool            // Run is stopping

	checkMu   sync.Mutex // one store check at a time
	checkedAt time.Time
	checkErr  error
}

type listenerState struct {
	name, addr string
	err        error // not nil: it stopped serving
}

// serving records that listener name serves on addr.
func (h *health) serving(name, addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listeners = append(h.listeners, listenerState{name: name, addr: addr})
}

// ended records that listener name stopped serving (err nil: without an error).
func (h *health) ended(name string, err error) {
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		err = errors.New("stopped serving")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.listeners {
		if h.listeners[i].name == name && h.listeners[i].err == nil {
			h.listeners[i].err = err
		}
	}
}

func (h *health) setReady() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = true
}

func (h *health) setStopping() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
}

// check is one line of /readyz.
type check struct {
	name string
	err  error  // nil: ok
	info string // what is in force, serving, asked
}

// readiness checks the server: the tables in force, every listener, the store.
func (s *Server) readiness(ctx context.Context) (ready bool, checks []check) {
	h := &s.health
	h.mu.Lock()
	started, stopping := h.ready, h.stopping
	ls := append([]listenerState(nil), h.listeners...)
	h.mu.Unlock()

	// The tables: a valid generation is in force (New refuses invalid tables; an edit
	// that does not validate leaves the last good tables in force: it is reported here,
	// but does not make the server unready, as it serves correct views meanwhile).
	st := s.live.status.view(false)
	tc := check{name: "tables"}
	if r := s.fs.Resolver(); r == nil || r.Snap == nil {
		tc.err = errors.New("no tables in force")
	} else {
		gen := st.generation
		if gen == 0 {
			gen = r.Snap.Gen
		}
		tc.info = fmt.Sprintf("generation %d in force, %d nodes", gen, len(r.Snap.Nodes()))
		if st.pending != nil {
			tc.info += fmt.Sprintf("; the store holds a rejected edit (store generation %d): the last good tables stay in force", st.pending.StoreGen)
		}
	}
	checks = append(checks, tc)

	lc := check{name: "listeners"}
	var up, down []string
	for _, l := range ls {
		if l.err != nil {
			down = append(down, fmt.Sprintf("%s %s: %v", l.name, l.addr, l.err))
		} else {
			up = append(up, l.name+" "+l.addr)
		}
	}
	switch {
	case stopping:
		lc.err = errors.New("the server is stopping")
	case !started:
		lc.err = errors.New("not serving yet")
	case len(down) > 0:
		lc.err = errors.New(strings.Join(down, "; "))
	}
	lc.info = strings.Join(up, ", ")
	checks = append(checks, lc)

	checks = append(checks, check{name: "store", info: StoreName(s.cfg.Tables), err: s.checkStore(ctx)})

	ready = true
	for _, c := range checks {
		if c.err != nil {
			ready = false
		}
	}
	return ready, checks
}

// checkStore says whether the table store is reachable: first what the table follower
// last saw (the PostgreSQL watcher records the loss of the database and its return in
// the status, within Config.CheckEvery), then a check of its own with a short timeout,
// at most once per storeCheckEvery (a query of the watcher may hang on a network
// partition for as long as TCP takes to give up; the check does not).
func (s *Server) checkStore(ctx context.Context) error {
	if down := s.live.status.view(false).storeDown; down != "" {
		return fmt.Errorf("the table follower lost the store: %s", down)
	}
	h := &s.health
	h.checkMu.Lock()
	defer h.checkMu.Unlock()
	if !h.checkedAt.IsZero() && time.Since(h.checkedAt) < storeCheckEvery {
		return h.checkErr
	}
	ctx, cancel := context.WithTimeout(ctx, storeCheckTimeout)
	defer cancel()
	h.checkErr = pingStore(ctx, s.store, s.cfg.Tables)
	h.checkedAt = time.Now()
	return h.checkErr
}

// pingStore asks the store whether it answers: the database for PostgreSQL, the
// directory for CSV tables.
func pingStore(ctx context.Context, st tables.Store, loc string) error {
	if pg, ok := st.(*tables.PGStore); ok {
		if err := pg.Pool.Ping(ctx); err != nil {
			return fmt.Errorf("the database does not answer: %w", err)
		}
		return nil
	}
	fi, err := os.Stat(loc)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", loc)
	}
	return nil
}

// healthz answers 200 while the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

// readyz answers 200 when the server is ready (readiness), else 503; the body says each
// check's state, one line each, in plain text.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ready, checks := s.readiness(r.Context())
	var b strings.Builder
	if ready {
		b.WriteString("ready\n")
	} else {
		b.WriteString("not ready\n")
	}
	for _, c := range checks {
		if c.err != nil {
			fmt.Fprintf(&b, "%s: not ready: %v", c.name, c.err)
			if c.info != "" {
				fmt.Fprintf(&b, " (%s)", c.info)
			}
		} else {
			fmt.Fprintf(&b, "%s: ok: %s", c.name, c.info)
		}
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Write([]byte(b.String()))
}

// notify tells systemd (Type=notify) the service's state; without NOTIFY_SOCKET it does
// nothing.
func notify(log *slog.Logger, state string) {
	if ok, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("systemd notification not sent", "state", strings.ReplaceAll(state, "\n", " "), "err", err)
	} else if ok {
		log.Debug("systemd notified", "state", strings.ReplaceAll(state, "\n", " "))
	}
}

// statusView is what the metrics and /readyz read of the status.
type statusView struct {
	generation uint64
	nodes      []string
	boots      map[string]time.Time // last boot per node (nil unless asked for)
	pending    *tables.Rejection
	storeDown  string
}

// view returns the status's current values; withBoots, the last boot of each node too.
func (w *statusWriter) view(withBoots bool) statusView {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := statusView{generation: w.st.Generation, nodes: w.st.Nodes, pending: w.st.Pending, storeDown: w.st.StoreDown}
	if withBoots {
		v.boots = make(map[string]time.Time, len(w.st.Boots))
		for n, b := range w.st.Boots {
			v.boots[n] = b.Time
		}
		w.bmu.Lock()
		for n, b := range w.pending {
			v.boots[n] = b.Time
		}
		w.bmu.Unlock()
	}
	return v
}

// newRegistry makes the server's metrics registry: the Go runtime's and the process's
// series, nfsd's, the DHCP server's, and the service's own (serviceCollector).
func (s *Server) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.nfs.Metrics,
		serviceCollector{s: s, build: version.Get()},
	)
	if s.dhcp != nil {
		reg.MustRegister(s.dhcp)
	}
	return reg
}

var (
	buildInfoDesc = prometheus.NewDesc("statelite_build_info", "The running statelite: its version, commit and Go version (always 1).",
		[]string{"version", "commit", "goversion"}, nil)
	generationDesc = prometheus.NewDesc("statelite_tables_generation", "The table generation in force (numbered as statelite status and history number it).", nil, nil)
	rejectedDesc   = prometheus.NewDesc("statelite_table_edits_rejected_total", "Table edits rejected since the start (they did not validate: the last good tables stayed in force).", nil, nil)
	bootsDesc      = prometheus.NewDesc("statelite_boots_total", "Node boots (resets of a node's volatile layer) since the start.", nil, nil)
	lastBootDesc   = prometheus.NewDesc("statelite_node_last_boot_timestamp_seconds", "When each node of the tables in force last booted (Unix time; kept across restarts in the status file).", []string{"node"}, nil)
	storeUpDesc    = prometheus.NewDesc("statelite_store_up", "Whether the table store answers (1) or not (0).", nil, nil)
)

// serviceCollector collects the service's own series, from the server's status.
type serviceCollector struct {
	s     *Server
	build version.Info
}

func (c serviceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{buildInfoDesc, generationDesc, rejectedDesc, bootsDesc, lastBootDesc, storeUpDesc} {
		ch <- d
	}
}

func (c serviceCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, c.build.Version, c.build.Commit, c.build.GoVersion)
	st := s.live.status.view(true)
	ch <- prometheus.MustNewConstMetric(generationDesc, prometheus.GaugeValue, float64(st.generation))
	ch <- prometheus.MustNewConstMetric(rejectedDesc, prometheus.CounterValue, float64(s.live.status.rejectedN.Load()))
	ch <- prometheus.MustNewConstMetric(bootsDesc, prometheus.CounterValue, float64(s.boots.Load()))
	for _, n := range st.nodes {
		if t, ok := st.boots[n]; ok {
			ch <- prometheus.MustNewConstMetric(lastBootDesc, prometheus.GaugeValue, float64(t.UnixNano())/1e9, n)
		}
	}
	up := 1.0
	if s.checkStore(context.Background()) != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(storeUpDesc, prometheus.GaugeValue, up)
}

// metricsHandler serves the registry (promhttp, with its own scrape counters).
func (s *Server) metricsHandler() http.Handler {
	return promhttp.InstrumentMetricHandler(s.reg, promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      promLog{s.log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
}

// promLog gives promhttp's errors to the server's log.
type promLog struct{ log *slog.Logger }

func (l promLog) Println(v ...any) { l.log.Error("metrics: " + strings.TrimSpace(fmt.Sprintln(v...))) }
