package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"statelite/bench/nfsclient"
	"statelite/internal/testenv"
	"statelite/tables"
)

// syncBuf is a log buffer several goroutines write.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServer: New opens every listener and holds the state directory; Run serves a
// node's view over NFS, metrics and boot files over HTTP, and when its context ends it
// stops within seconds, says so in the status file and frees the state directory.
func TestServer(t *testing.T) {
	cl := testenv.Demo(t)
	state := filepath.Join(t.TempDir(), "state")
	var logb syncBuf
	cfg := Config{State: state, Tables: cl.Tables, Mnt: filepath.Join(cl.Dir, "mnt"),
		NFS: "127.0.0.1:0", Metrics: "127.0.0.1:0", HTTP: "127.0.0.1:0", TFTP: "127.0.0.1:0",
		TFTPRoot: t.TempDir(), Log: slog.New(slog.NewTextHandler(&logb, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if srv.TFTPAddr() == nil || srv.HTTPAddr() == nil || srv.MetricsAddr() == nil {
		t.Fatalf("addresses: tftp %v http %v metrics %v", srv.TFTPAddr(), srv.HTTPAddr(), srv.MetricsAddr())
	}
	// A second server on the same state is refused, naming the first.
	if _, err := New(ctx, Config{State: state, Tables: cl.Tables, NFS: "127.0.0.1:0"}); !errors.As(err, new(*StateBusyError)) {
		t.Fatalf("second server on %s: %v, want a StateBusyError", state, err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(rctx) }()

	c, err := nfsclient.Dial(srv.NFSAddr().String(), "", "test", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, err := c.Mount("/nodes/n1")
	if err != nil {
		t.Fatal(err)
	}
	fh, err := c.Walk(root, "etc/motd")
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := c.Read(fh, 0, 4096)
	if err != nil || len(data) == 0 {
		t.Fatalf("read n1's /etc/motd: %q, %v", data, err)
	}
	want, err := os.ReadFile(filepath.Join(cl.Tree, "common", "etc", "motd"))
	if err == nil && !bytes.Contains(data, bytes.TrimSpace(want)) {
		t.Errorf("n1's /etc/motd %q does not hold the litetree's %q", data, want)
	}
	resp, err := http.Get("http://" + srv.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "statelite_rpc_duration_seconds_count{proc=\"nfs/read\"} 1") {
		t.Errorf("/metrics does not count the one READ:\n%.2000s", body)
	}
	st, err := ReadStatus(StatusFile(state))
	if err != nil || !st.Running || !Alive(st.PID) {
		t.Fatalf("status while running: %+v, %v", st, err)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of its context's end")
	}
	if st, err := ReadStatus(StatusFile(state)); err != nil || st.Running {
		t.Errorf("status after Run: %+v, %v", st, err)
	}
	if _, err := net.Dial("tcp", srv.NFSAddr().String()); err == nil {
		t.Errorf("the NFS address still accepts connections after Run")
	}
	// The state directory is free again.
	again, err := New(ctx, Config{State: state, Tables: cl.Tables, NFS: "127.0.0.1:0", Log: cfg.Log})
	if err != nil {
		t.Fatalf("a server after the first stopped: %v", err)
	}
	again.Close()
	if !strings.Contains(logb.String(), "msg=serving") || !strings.Contains(logb.String(), "msg=stopped") {
		t.Errorf("log:\n%s", logb.String())
	}
}

// TestServerRefuses: tables with errors are a *tables.ValidationError naming the table
// and line, an address in use names its flag, and neither leaves anything held: a
// server starts on the same state directory and address right after.
func TestServerRefuses(t *testing.T) {
	cl := testenv.Demo(t)
	state := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	nl := filepath.Join(cl.Tables, "nodelist.csv")
	good, err := os.ReadFile(nl)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nl, append(good, []byte("\"../x\",\"compute,all\",,,,,,,,,,,\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(ctx, Config{State: state, Tables: cl.Tables, NFS: "127.0.0.1:0", Log: quiet})
	var ve *tables.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "nodelist") || !strings.Contains(err.Error(), "../x") {
		t.Fatalf("tables with a node named ../x: %v, want a ValidationError naming nodelist and ../x", err)
	}
	if err := os.WriteFile(nl, good, 0o644); err != nil {
		t.Fatal(err)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := busy.Addr().String()
	_, err = New(ctx, Config{State: state, Tables: cl.Tables, NFS: "127.0.0.1:0", Metrics: addr, Log: quiet})
	if err == nil || !strings.Contains(err.Error(), "--metrics "+addr) {
		t.Fatalf("metrics on a busy address: %v, want an error naming --metrics %s", err, addr)
	}
	busy.Close()

	srv, err := New(ctx, Config{State: state, Tables: cl.Tables, NFS: "127.0.0.1:0", Metrics: addr, Log: quiet})
	if err != nil {
		t.Fatalf("after the refusals: %v", err)
	}
	srv.Close()
}

// TestSharedVolatile: two servers (each its own state) whose tables name one
// site.volatiledir serve a node's volatile files alike, and decide its boots once: the
// node's mount with the boot token it already used on A drops nothing on B; a new token
// drops the layer once, and A, restarted, serves the new one.
func TestSharedVolatile(t *testing.T) {
	cl := testenv.Demo(t)
	vol := filepath.Join(t.TempDir(), "shared-volatile")
	site := filepath.Join(cl.Tables, "site.csv")
	b, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(site, append(b, []byte(`"volatiledir","`+vol+`",,`+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(name string) (addr string, stop func()) {
		srv, err := New(ctx, Config{State: filepath.Join(cl.Dir, "state-"+name), Tables: cl.Tables, Mnt: filepath.Join(cl.Dir, "mnt"),
			NFS: "127.0.0.1:0", Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- srv.Run(rctx) }()
		return srv.NFSAddr().String(), func() { cancel(); <-done }
	}
	mount := func(addr, token string) (*nfsclient.Conn, []byte) {
		c, err := nfsclient.Dial(addr, "", "test", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		root, err := c.Mount("/nodes/n1/@" + token)
		if err != nil {
			t.Fatalf("mount with token %s: %v", token, err)
		}
		tmp, err := c.Walk(root, "tmp")
		if err != nil {
			t.Fatal(err)
		}
		return c, tmp
	}
	read := func(c *nfsclient.Conn, tmp []byte) (string, error) {
		fh, _, err := c.Lookup(tmp, "scratch")
		if err != nil {
			return "", err
		}
		data, _, err := c.Read(fh, 0, 4096)
		return string(data), err
	}

	addrA, stopA := start("A")
	ca, tmpA := mount(addrA, "boot1")
	fh, err := ca.Create(tmpA, "scratch", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Write(fh, 0, []byte("written through A\n"), 2); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(vol); len(ents) == 0 {
		t.Fatalf("nothing in site.volatiledir %s", vol)
	}

	addrB, stopB := start("B")
	cb, tmpB := mount(addrB, "boot1") // the same boot, now on B
	if got, err := read(cb, tmpB); err != nil || got != "written through A\n" {
		t.Fatalf("n1's volatile file through B, same boot: %q, %v", got, err)
	}
	stopA()
	cb2, tmpB2 := mount(addrB, "boot2") // a new boot: the layer is dropped, once
	if got, err := read(cb2, tmpB2); err == nil {
		t.Fatalf("after a new boot on B, the old boot's volatile file: %q", got)
	}
	fh, err = cb2.Create(tmpB2, "scratch", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb2.Write(fh, 0, []byte("boot2\n"), 2); err != nil {
		t.Fatal(err)
	}
	stopB()

	addrA, stopA = start("A") // A again, after B's boot
	defer stopA()
	ca2, tmpA2 := mount(addrA, "boot2")
	if got, err := read(ca2, tmpA2); err != nil || got != "boot2\n" {
		t.Fatalf("A restarted, the node's boot2 volatile file: %q, %v", got, err)
	}
}
