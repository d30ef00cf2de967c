package nfsd_test

import (
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// families parses the Prometheus text format.
func families(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, text)
	}
	return mfs
}

// sample is the value of family name's series with exactly labels (name=value pairs),
// ok false when there is none; for a histogram, its count.
func sample(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range mf.Metric {
		if len(m.Label) != len(want) {
			continue
		}
		for _, l := range m.Label {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	f := c.mustCreate(c.walk(root, "tmp"), "m", 0o644)
	c.write(f, 0, make([]byte, 1000), 2)
	c.read(f, 0, 300)
	c.read(f, 300, 400)
	c.lookup(root, "nosuch")                                  // NOENT
	c.lookup(root, "nosuch2")                                 // NOENT
	c.create(c.walk(root, "usr"), "x", 1, wire.Sattr{})       // ROFS
	c.getattr(flip(c.walk(root, "etc"), 15))                  // BADHANDLE
	c.rc.call(wire.ProgNFS, 3, 99, c.cred, nil)               // PROC_UNAVAIL
	c.rc.call(wire.ProgNFS, 3, wire.ProcGetattr, c.cred, nil) // GARBAGE_ARGS
	n2 := c.mustMount("/nodes/n2")
	c.getattr(n2)

	scrape := func() (string, map[string]*dto.MetricFamily) {
		t.Helper()
		var b strings.Builder
		if _, err := srv.Metrics.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		return b.String(), families(t, b.String())
	}
	out, mfs := scrape()
	value := func(name string, labels ...string) float64 {
		t.Helper()
		v, ok := sample(mfs, name, labels...)
		if !ok {
			t.Errorf("metrics lack %s%v", name, labels)
			return -1
		}
		return v
	}
	types := map[string]dto.MetricType{
		"statelite_rpc_duration_seconds":        dto.MetricType_HISTOGRAM,
		"statelite_node_requests_total":         dto.MetricType_COUNTER,
		"statelite_node_bytes_total":            dto.MetricType_COUNTER,
		"statelite_nfs_errors_total":            dto.MetricType_COUNTER,
		"statelite_rpc_errors_total":            dto.MetricType_COUNTER,
		"statelite_rpc_denied_total":            dto.MetricType_COUNTER,
		"statelite_handle_commits_total":        dto.MetricType_COUNTER,
		"statelite_handle_commit_seconds_total": dto.MetricType_COUNTER,
		"statelite_handle_records_total":        dto.MetricType_COUNTER,
		"statelite_intake_bytes":                dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		if mf := mfs[name]; mf == nil || mf.GetType() != typ {
			t.Errorf("%s: %v, want a %v", name, mf, typ)
		}
	}
	for _, proc := range []string{"nfs/lookup", "nfs/read", "nfs/write", "nfs/create", "nfs/getattr", "mount/mnt"} {
		if v := value("statelite_rpc_duration_seconds", "proc", proc); v < 1 {
			t.Errorf("%s count %v", proc, v)
		}
	}
	if v := value("statelite_rpc_duration_seconds", "proc", "nfs/read"); v != 2 {
		t.Errorf("nfs/read count %v, want 2", v)
	}
	// Buckets are cumulative, and the last one holds every call.
	for _, m := range mfs["statelite_rpc_duration_seconds"].Metric {
		prev := uint64(0)
		for _, b := range m.Histogram.Bucket {
			if b.GetCumulativeCount() < prev {
				t.Errorf("buckets not cumulative: %v", m)
			}
			prev = b.GetCumulativeCount()
		}
		if prev > m.Histogram.GetSampleCount() {
			t.Errorf("buckets above the count: %v", m)
		}
	}
	if !strings.Contains(out, `statelite_rpc_duration_seconds_bucket{proc="nfs/read",le="+Inf"} 2`) {
		t.Errorf("no +Inf bucket line for nfs/read:\n%s", out)
	}
	if v := value("statelite_node_requests_total", "node", "n1"); v < 8 {
		t.Errorf("n1 requests %v", v)
	}
	if v := value("statelite_node_requests_total", "node", "n2"); v != 1 {
		t.Errorf("n2 requests %v, want 1", v)
	}
	if v := value("statelite_node_bytes_total", "node", "n1", "dir", "read"); v != 700 {
		t.Errorf("n1 bytes read %v, want 700", v)
	}
	if v := value("statelite_node_bytes_total", "node", "n1", "dir", "write"); v != 1000 {
		t.Errorf("n1 bytes written %v, want 1000", v)
	}
	// Statuses by name.
	if v := value("statelite_nfs_errors_total", "status", "NOENT"); v != 2 {
		t.Errorf("NOENT errors %v, want 2", v)
	}
	if v := value("statelite_nfs_errors_total", "status", "ROFS"); v != 1 {
		t.Errorf("ROFS errors %v, want 1", v)
	}
	if v := value("statelite_nfs_errors_total", "status", "BADHANDLE"); v != 1 {
		t.Errorf("BADHANDLE errors %v, want 1", v)
	}
	if v := value("statelite_nfs_errors_total", "status", "JUKEBOX"); v != 0 {
		t.Errorf("JUKEBOX errors %v, want a series at 0", v)
	}
	if strings.Contains(out, `status="2"`) {
		t.Error("an NFS status by number")
	}
	if v := value("statelite_handle_commits_total"); v < 1 {
		t.Errorf("handle commits %v: the mount's and creates' records were committed", v)
	}
	if v := value("statelite_handle_records_total"); v < 2 {
		t.Errorf("handle records %v: the roots' and the created file's records were written", v)
	}
	if v := value("statelite_intake_bytes"); v != 0 {
		t.Errorf("intake bytes %v with no call in flight, want 0", v)
	}
	if v := value("statelite_rpc_errors_total", "accept_stat", "GARBAGE_ARGS"); v != 1 {
		t.Errorf("GARBAGE_ARGS %v, want 1", v)
	}
	if v := value("statelite_rpc_errors_total", "accept_stat", "PROC_UNAVAIL"); v != 1 {
		t.Errorf("PROC_UNAVAIL %v, want 1", v)
	}
	c.rc.call(100099, 1, 7, c.cred, nil)       // PROG_UNAVAIL
	c.rc.call(wire.ProgNFS, 4, 1, c.cred, nil) // PROG_MISMATCH
	// A credential that does not decode: GARBAGE_ARGS before any procedure runs.
	bad := callMsg(c.rc.xid+1, 2, wire.ProgNFS, 3, wire.ProcGetattr, authSys(0, 0), nil)
	binary.BigEndian.PutUint32(bad[28:], 1000) // the credential's length, past the record
	c.rc.xid++
	if err := c.rc.writeFrags(bad); err != nil {
		t.Fatal(err)
	}
	if rp := c.rc.recv(); rp.denied || rp.acceptStat != wire.AcceptGarbageArgs {
		t.Fatalf("undecodable credential: %+v, want GARBAGE_ARGS", rp)
	}
	// Denied calls: an unknown auth flavor, and an RPC version mismatch.
	if rp := c.rc.call(wire.ProgNFS, 3, wire.ProcNull, auth{flavor: 99}, nil); !rp.denied {
		t.Fatalf("flavor 99 not denied: %+v", rp)
	}
	c.rc.xid++
	if err := c.rc.writeFrags(callMsg(c.rc.xid, 3, wire.ProgNFS, 3, wire.ProcNull, authSys(0, 0), nil)); err != nil {
		t.Fatal(err)
	}
	if rp := c.rc.recv(); !rp.denied || rp.rejectStat != wire.RejectRPCMismatch {
		t.Fatalf("RPC version 3: %+v, want RPC_MISMATCH", rp)
	}
	out, mfs = scrape()
	if value("statelite_rpc_errors_total", "accept_stat", "PROG_UNAVAIL") != 1 || value("statelite_rpc_errors_total", "accept_stat", "PROG_MISMATCH") != 1 {
		t.Error("PROG_UNAVAIL / PROG_MISMATCH not counted")
	}
	if v := value("statelite_rpc_errors_total", "accept_stat", "GARBAGE_ARGS"); v != 2 {
		t.Errorf("GARBAGE_ARGS %v, want 2 (the bad arguments and the bad credential)", v)
	}
	if value("statelite_rpc_denied_total", "reason", "AUTH_REJECTEDCRED") != 1 || value("statelite_rpc_denied_total", "reason", "RPC_MISMATCH") != 1 {
		t.Error("denied calls not counted")
	}
	if strings.Contains(out, "100099") || strings.Contains(out, "/99\"") || strings.Contains(out, "nfs/1\"") {
		t.Error("a series per unknown program/procedure")
	}

	// Served over HTTP too.
	hs := httptest.NewServer(srv.Metrics)
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(string(body), `statelite_node_requests_total{node="n1"}`) {
		t.Errorf("HTTP metrics: %s\n%s", resp.Header.Get("Content-Type"), body)
	}
}
