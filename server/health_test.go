package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"statelite/bench/nfsclient"
	"statelite/internal/pgtest"
	"statelite/internal/testenv"
	"statelite/nfsd/wire"
	"statelite/tables"
)

// running is a server being Run by a test.
type running struct {
	*Server
	log  *syncBuf
	stop func() // ends Run and waits for it
}

// runServer makes a server of cfg (a state directory and loopback addresses unless set)
// and runs it until the test ends or stop is called.
func runServer(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.State == "" {
		cfg.State = filepath.Join(t.TempDir(), "state")
	}
	if cfg.NFS == "" {
		cfg.NFS = "127.0.0.1:0"
	}
	if cfg.Metrics == "" {
		cfg.Metrics = "127.0.0.1:0"
	}
	logb := &syncBuf{}
	cfg.Log = slog.New(slog.NewTextHandler(logb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	stop := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return within 20 s of its context's end")
		}
	}
	t.Cleanup(stop)
	return &running{Server: srv, log: logb, stop: stop}
}

// get fetches path from the server's metrics address.
func (r *running) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.MetricsAddr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape parses /metrics.
func (r *running) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := r.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return mfs
}

// series returns the series of family name whose labels include labels (name, value
// pairs), nil when none.
func series(mfs map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value, a histogram's count (-1: no such series).
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := series(mfs, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetricsHealth: /metrics in the Prometheus text format with the Go runtime's and
// process's series, build information, the calls (an NFS error by its status name),
// boots, table generations and rejected edits; /healthz; /readyz with a CSV store, not
// ready while the table directory is gone and ready again once it is back.
func TestMetricsHealth(t *testing.T) {
	cl := testenv.Demo(t)
	srv := runServer(t, Config{Tables: cl.Tables, Mnt: filepath.Join(cl.Dir, "mnt"), HTTP: "127.0.0.1:0"})

	c, err := nfsclient.Dial(srv.NFSAddr().String(), "", "test", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A boot (a new token in the mount path), a READ and a LOOKUP of nothing (NOENT).
	root, err := c.Mount("/nodes/n1/@20260101T000000Z")
	if err != nil {
		t.Fatal(err)
	}
	fh, err := c.Walk(root, "etc/motd")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(fh, 0, 4096); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Lookup(root, "nosuch"); nfsclient.Status(err) != wire.NFS3ErrNoEnt {
		t.Fatalf("lookup of nothing: %v, want NOENT", err)
	}

	mfs := srv.scrape(t)
	types := map[string]dto.MetricType{
		"go_goroutines":                              dto.MetricType_GAUGE,
		"process_cpu_seconds_total":                  dto.MetricType_COUNTER,
		"statelite_build_info":                       dto.MetricType_GAUGE,
		"statelite_rpc_duration_seconds":             dto.MetricType_HISTOGRAM,
		"statelite_node_requests_total":              dto.MetricType_COUNTER,
		"statelite_node_bytes_total":                 dto.MetricType_COUNTER,
		"statelite_nfs_errors_total":                 dto.MetricType_COUNTER,
		"statelite_rpc_errors_total":                 dto.MetricType_COUNTER,
		"statelite_rpc_denied_total":                 dto.MetricType_COUNTER,
		"statelite_handle_commits_total":             dto.MetricType_COUNTER,
		"statelite_handle_commit_seconds_total":      dto.MetricType_COUNTER,
		"statelite_handle_records_total":             dto.MetricType_COUNTER,
		"statelite_intake_bytes":                     dto.MetricType_GAUGE,
		"statelite_tables_generation":                dto.MetricType_GAUGE,
		"statelite_table_edits_rejected_total":       dto.MetricType_COUNTER,
		"statelite_boots_total":                      dto.MetricType_COUNTER,
		"statelite_node_last_boot_timestamp_seconds": dto.MetricType_GAUGE,
		"statelite_store_up":                         dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		if mf := mfs[name]; mf == nil || mf.GetType() != typ {
			t.Errorf("%s: %v, want a %v", name, mf, typ)
		}
	}
	if bi := series(mfs, "statelite_build_info"); bi == nil || bi.Gauge.GetValue() != 1 {
		t.Errorf("build info: %v", bi)
	} else {
		labels := map[string]string{}
		for _, l := range bi.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if len(labels) != 3 || labels["version"] == "" || !strings.HasPrefix(labels["goversion"], "go") {
			t.Errorf("build info labels %v, want version, commit, goversion", labels)
		}
	}
	if v := value(mfs, "go_goroutines"); v < 1 {
		t.Errorf("go_goroutines %v", v)
	}
	for _, want := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"statelite_rpc_duration_seconds", []string{"proc", "nfs/read"}, 1},
		{"statelite_rpc_duration_seconds", []string{"proc", "mount/mnt"}, 1},
		{"statelite_node_requests_total", []string{"node", "n1"}, 3},
		{"statelite_nfs_errors_total", []string{"status", "NOENT"}, 1},
		{"statelite_tables_generation", nil, 1},
		{"statelite_boots_total", nil, 1},
		{"statelite_node_last_boot_timestamp_seconds", []string{"node", "n1"}, float64(time.Now().Add(-time.Minute).Unix())},
		{"statelite_handle_records_total", nil, 1},
		{"statelite_store_up", nil, 1},
	} {
		if v := value(mfs, want.name, want.labels...); v < want.min {
			t.Errorf("%s%v = %v, want at least %v", want.name, want.labels, v, want.min)
		}
	}
	if v := value(mfs, "statelite_rpc_duration_seconds", "proc", "nfs/read"); v != 1 {
		t.Errorf("nfs/read count %v, want 1", v)
	}
	if v := value(mfs, "statelite_table_edits_rejected_total"); v != 0 {
		t.Errorf("rejected edits %v, want 0", v)
	}

	if code, body := srv.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := srv.get(t, "/readyz"); code != http.StatusOK || !strings.HasPrefix(body, "ready\n") || !strings.Contains(body, "listeners: ok: metrics ") || !strings.Contains(body, " nfs 127.0.0.1:") {
		t.Errorf("/readyz: %d\n%s", code, body)
	}

	// A rejected edit: counted; the last good tables stay in force, and the server
	// stays ready (it serves correct views), saying so.
	lf := filepath.Join(cl.Tables, "litefile.csv")
	b, err := os.ReadFile(lf)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(b), `"ALL","/etc/adjtime",,,`, `"ALL","/etc/adjtime","tmpfs,ro",,`, 1)
	if broken == string(b) {
		t.Fatalf("litefile lacks /etc/adjtime:\n%s", b)
	}
	if err := os.WriteFile(lf, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the broken edit rejected", func() bool {
		return value(srv.scrape(t), "statelite_table_edits_rejected_total") == 1
	})
	if code, body := srv.get(t, "/readyz"); code != http.StatusOK || !strings.Contains(body, "rejected edit") {
		t.Errorf("/readyz with a rejected edit pending: %d\n%s", code, body)
	}
	if err := os.WriteFile(lf, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The table directory gone: not ready (the store), though alive; back: ready.
	gone := cl.Tables + ".gone"
	if err := os.Rename(cl.Tables, gone); err != nil {
		t.Fatal(err)
	}
	var body string
	waitFor(t, 10*time.Second, "/readyz unready without the table directory", func() bool {
		var code int
		code, body = srv.get(t, "/readyz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.HasPrefix(body, "not ready\n") || !strings.Contains(body, "store: not ready: ") || !strings.Contains(body, "tables: ok: ") {
		t.Errorf("/readyz without the table directory:\n%s", body)
	}
	if v := value(srv.scrape(t), "statelite_store_up"); v != 0 {
		t.Errorf("statelite_store_up %v without the table directory", v)
	}
	if code, _ := srv.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d while unready", code)
	}
	if err := os.Rename(gone, cl.Tables); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "/readyz ready with the table directory back", func() bool {
		code, _ := srv.get(t, "/readyz")
		return code == http.StatusOK
	})
}

// TestReadyzPostgres: with a PostgreSQL store, /readyz and statelite_store_up say the
// database is down while it is stopped, and ready again once it is back.
func TestReadyzPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	cl := testenv.Demo(t)
	ctx := context.Background()
	src, err := tables.OpenDir(cl.Tables)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := tables.OpenPostgres(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Edit(ctx, func(*tables.Snapshot) (map[string]*tables.Table, error) { return snap.Tables(), nil }); err != nil {
		t.Fatal(err)
	}
	dst.Close()

	srv := runServer(t, Config{Tables: pg.URL, Mnt: filepath.Join(cl.Dir, "mnt"), CheckEvery: 100 * time.Millisecond})
	if code, body := srv.get(t, "/readyz"); code != http.StatusOK || !strings.Contains(body, "store: ok: postgres") {
		t.Fatalf("/readyz: %d\n%s", code, body)
	}
	if v := value(srv.scrape(t), "statelite_store_up"); v != 1 {
		t.Errorf("statelite_store_up %v", v)
	}

	pg.Stop()
	var body string
	start := time.Now()
	waitFor(t, 10*time.Second, "/readyz unready with the database stopped", func() bool {
		var code int
		code, body = srv.get(t, "/readyz")
		return code == http.StatusServiceUnavailable
	})
	t.Logf("unready %v after the database stopped:\n%s", time.Since(start).Round(time.Millisecond), body)
	if !strings.Contains(body, "store: not ready: ") {
		t.Errorf("/readyz does not blame the store:\n%s", body)
	}
	if v := value(srv.scrape(t), "statelite_store_up"); v != 0 {
		t.Errorf("statelite_store_up %v with the database stopped", v)
	}
	if code, _ := srv.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d with the database stopped", code)
	}

	pg.StartAgain()
	start = time.Now()
	waitFor(t, 15*time.Second, "/readyz ready with the database back", func() bool {
		var code int
		code, body = srv.get(t, "/readyz")
		return code == http.StatusOK
	})
	t.Logf("ready %v after the database started again", time.Since(start).Round(time.Millisecond))
	if v := value(srv.scrape(t), "statelite_store_up"); v != 1 {
		t.Errorf("statelite_store_up %v with the database back", v)
	}
}

// TestSystemdNotify: with NOTIFY_SOCKET set, Run tells systemd READY=1 (with a STATUS)
// once it serves, and STOPPING=1 when it stops.
func TestSystemdNotify(t *testing.T) {
	cl := testenv.Demo(t)
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	recv := func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 4096)
		n, err := conn.Read(b)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(b[:n])
	}
	srv := runServer(t, Config{Tables: cl.Tables, Mnt: filepath.Join(cl.Dir, "mnt")})
	msg := recv()
	if !strings.Contains(msg, "READY=1\n") || !strings.Contains(msg, "STATUS=serving 2 nodes") {
		t.Errorf("first notification %q, want READY=1 and a STATUS", msg)
	}
	// Ready means served: a MOUNT is answered.
	c, err := nfsclient.Dial(srv.NFSAddr().String(), "", "test", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mount("/nodes/n1"); err != nil {
		t.Errorf("mount after READY=1: %v", err)
	}
	c.Close()
	srv.stop()
	if msg := recv(); !strings.Contains(msg, "STOPPING=1") {
		t.Errorf("notification at the stop %q, want STOPPING=1", msg)
	}
}

// TestReadyzBootListeners: the HTTP boot loop ending while the server runs (its listener
// gone) makes the server unready, naming it. (pin/tftp's loop does not end when its
// socket fails, it retries; TFTP is reported if its Serve returns.)
func TestReadyzBootListeners(t *testing.T) {
	cl := testenv.Demo(t)
	ctx := context.Background()
	srv := runServer(t, Config{Tables: cl.Tables, Mnt: filepath.Join(cl.Dir, "mnt"), TFTP: "127.0.0.1:0", HTTP: "127.0.0.1:0", TFTPRoot: t.TempDir()})
	wait := func(want bool, what string) []check {
		deadline := time.Now().Add(10 * time.Second)
		for {
			ready, checks := srv.readiness(ctx)
			if ready == want {
				return checks
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: ready %v, want %v: %+v", what, ready, want, checks)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait(true, "after start")
	srv.httpL.Close()
	checks := wait(false, "HTTP listener closed")
	var msg string
	for _, c := range checks {
		if c.err != nil {
			msg += c.name + ": " + c.err.Error() + "\n"
		}
	}
	if !strings.Contains(msg, "http 127.0.0.1:") {
		t.Errorf("not ready, but the HTTP loop is not named:\n%s", msg)
	}
}
