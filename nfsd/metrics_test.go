package nfsd_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

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

	var b strings.Builder
	if _, err := srv.Metrics.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	value := func(series string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("metrics lack %s", series)
			return -1
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Errorf("%s: %v", series, err)
		}
		return v
	}
	for _, proc := range []string{"nfs/lookup", "nfs/read", "nfs/write", "nfs/create", "nfs/getattr", "mount/mnt"} {
		if v := value(`statelite_rpc_duration_seconds_count{proc="` + proc + `"}`); v < 1 {
			t.Errorf("%s count %v", proc, v)
		}
		if v := value(`statelite_rpc_duration_seconds_bucket{proc="` + proc + `",le="+Inf"}`); v < 1 {
			t.Errorf("%s +Inf bucket %v", proc, v)
		}
		value(`statelite_rpc_duration_seconds_sum{proc="` + proc + `"}`)
	}
	if v := value(`statelite_rpc_duration_seconds_count{proc="nfs/read"}`); v != 2 {
		t.Errorf("nfs/read count %v, want 2", v)
	}
	// Buckets are cumulative.
	re := regexp.MustCompile(`(?m)^statelite_rpc_duration_seconds_bucket\{proc="nfs/lookup",le="[^"]+"\} (\d+)$`)
	prev := -1
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		if n < prev {
			t.Errorf("lookup buckets not cumulative: %v", re.FindAllString(out, -1))
			break
		}
		prev = n
	}
	if v := value(`statelite_node_requests_total{node="n1"}`); v < 8 {
		t.Errorf("n1 requests %v", v)
	}
	if v := value(`statelite_node_requests_total{node="n2"}`); v != 1 {
		t.Errorf("n2 requests %v, want 1", v)
	}
	if v := value(`statelite_node_bytes_total{node="n1",dir="read"}`); v != 700 {
		t.Errorf("n1 bytes read %v, want 700", v)
	}
	if v := value(`statelite_node_bytes_total{node="n1",dir="write"}`); v != 1000 {
		t.Errorf("n1 bytes written %v, want 1000", v)
	}
	if v := value(`statelite_nfs_errors_total{status="2"}`); v != 2 {
		t.Errorf("NOENT errors %v, want 2", v)
	}
	if v := value(`statelite_nfs_errors_total{status="30"}`); v != 1 {
		t.Errorf("ROFS errors %v, want 1", v)
	}
	if v := value(`statelite_nfs_errors_total{status="10001"}`); v != 1 {
		t.Errorf("BADHANDLE errors %v, want 1", v)
	}
	if v := value(`statelite_handle_commits_total`); v < 1 {
		t.Errorf("handle commits %v: the mount's and creates' records were committed", v)
	}
	if v := value(`statelite_intake_bytes`); v != 0 {
		t.Errorf("intake bytes %v with no call in flight, want 0", v)
	}
	if v := value(`statelite_rpc_errors_total{accept_stat="4"}`); v != 1 {
		t.Errorf("GARBAGE_ARGS %v, want 1", v)
	}
	if v := value(`statelite_rpc_errors_total{accept_stat="3"}`); v != 1 {
		t.Errorf("PROC_UNAVAIL %v, want 1", v)
	}
	c.rc.call(100099, 1, 7, c.cred, nil)       // PROG_UNAVAIL
	c.rc.call(wire.ProgNFS, 4, 1, c.cred, nil) // PROG_MISMATCH
	b.Reset()
	srv.Metrics.WriteTo(&b)
	out = b.String()
	if value(`statelite_rpc_errors_total{accept_stat="1"}`) != 1 || value(`statelite_rpc_errors_total{accept_stat="2"}`) != 1 {
		t.Error("PROG_UNAVAIL / PROG_MISMATCH not counted")
	}
	if strings.Contains(out, "100099") || strings.Contains(out, "/99\"") {
		t.Error("a series per unknown program/procedure")
	}
	for _, typ := range []string{"statelite_rpc_duration_seconds histogram", "statelite_node_requests_total counter", "statelite_node_bytes_total counter", "statelite_nfs_errors_total counter"} {
		if !strings.Contains(out, "# TYPE "+typ+"\n") {
			t.Errorf("no TYPE line for %s", typ)
		}
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
