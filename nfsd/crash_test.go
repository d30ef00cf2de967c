package nfsd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"statelite/fs"
	"statelite/nfsd"
	"statelite/nfsd/wire"
	"statelite/resolver"
	"statelite/tables"
)

// The server as a process of its own, so that a test can kill it with SIGKILL: the test
// binary runs itself with childServeEnv set to a JSON childConfig.
const childServeEnv = "STATELITE_NFSD_TEST_CHILD"

type childConfig struct {
	Tables, Mnt, FSState, NFSState, Addr string
	// PGURL, when set, is the PostgreSQL database of the shared handle table (with
	// Secret, the handle secret every server of the store shares).
	PGURL  string
	Secret []byte
}

// childServe serves the cluster of the config in $childServeEnv until killed.
func childServe() {
	var cfg childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childServeEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	st, err := tables.OpenDir(cfg.Tables)
	if err != nil {
		fail(err)
	}
	snap, err := st.Load(ctx)
	if err != nil {
		fail(err)
	}
	fsrv, err := fs.New(fs.Config{State: cfg.FSState}, resolver.New(snap, resolver.Config{Mnt: cfg.Mnt}))
	if err != nil {
		fail(err)
	}
	ncfg := nfsd.Config{FS: fsrv, State: cfg.NFSState, Secret: cfg.Secret,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if cfg.PGURL != "" {
		pg, err := tables.OpenPostgres(ctx, cfg.PGURL)
		if err != nil {
			fail(err)
		}
		ncfg.SharedPaths = nfsd.NewPGPaths(pg, time.Hour) // records go in before their replies only
	}
	srv, err := nfsd.New(ncfg)
	if err != nil {
		fail(err)
	}
	var l net.Listener
	for i := 0; ; i++ {
		if l, err = net.Listen("tcp", cfg.Addr); err == nil || i == 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		fail(err)
	}
	fmt.Println("ready")
	fail(srv.Serve(ctx, l))
}

// childServer is a server process of the test.
type childServer struct {
	t    *testing.T
	cfg  childConfig
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
}

func startChild(t *testing.T, cfg childConfig, logs *lockedBuffer) *childServer {
	t.Helper()
	b, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childServeEnv+"="+string(b))
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cs := &childServer{t: t, cfg: cfg, cmd: cmd, logs: logs, done: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "ready"
		for sc.Scan() {
		}
	}()
	go func() { cmd.Wait(); close(cs.done) }()
	t.Cleanup(cs.kill)
	select {
	case ok := <-ready:
		if !ok {
			cs.kill()
			t.Fatalf("the server process did not start:\n%s", logs.String())
		}
	case <-time.After(30 * time.Second):
		cs.kill()
		t.Fatalf("the server process was not ready in 30 s:\n%s", logs.String())
	}
	return cs
}

// freeAddr is a loopback address with a port free a moment ago (a server process of
// the test listens on it, and its successor after it was killed).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// kill sends SIGKILL and waits for the process to end.
func (cs *childServer) kill() {
	cs.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-cs.done:
	case <-time.After(10 * time.Second):
		cs.t.Errorf("server process %d did not end 10 s after SIGKILL", cs.cmd.Process.Pid)
	}
}

// softT turns a client helper's Fatalf into a panic that try recovers: a call to a
// killed server fails, and the stream retries it.
type softT struct{ testing.TB }

type softFail struct{ msg string }

func (s softT) Fatalf(format string, a ...any) { panic(softFail{fmt.Sprintf(format, a...)}) }
func (s softT) Fatal(a ...any)                 { panic(softFail{fmt.Sprint(a...)}) }

// try runs f, turning a softT failure into an error.
func try(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			sf, ok := p.(softFail)
			if !ok {
				panic(p)
			}
			err = errors.New(sf.msg)
		}
	}()
	f()
	return nil
}

// TestKillAtRandomPoints is a property test of "a handle is durable before it leaves":
// a client streams creates (persistent /root and volatile /tmp, in new directories too),
// FILE_SYNC writes, renames and lookups at a server process that is killed with SIGKILL
// at random points and restarted on the same port and state. Each call that fails
// because the server died is retried, as a hard mount does. No handle the client ever
// received may answer STALE afterwards, and every acknowledged byte must be there.
func TestKillAtRandomPoints(t *testing.T) {
	tc := newTestCluster(t)
	addr := freeAddr(t)
	cfg := childConfig{Tables: tc.cl.Tables, Mnt: tc.mnt, FSState: tc.fsState, NFSState: tc.nfState, Addr: addr}
	logs := &lockedBuffer{}
	defer func() {
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	}()
	srv := startChild(t, cfg, logs)

	type file struct {
		name  string
		fh    []byte
		dir   []byte // its directory's handle
		acked []byte // the bytes whose FILE_SYNC WRITE was answered
	}
	var (
		files   []*file
		handles [][]byte // every handle received
		stale   []string
	)
	st := softT{t}
	var c *nfsClient
	var root []byte
	connect := func() {
		for i := 0; ; i++ {
			err := try(func() {
				c = &nfsClient{t: st, rc: dialRPC(st, addr, ""), cred: authSys(0, 0)}
				fh := c.mustMount("/nodes/n1")
				if root != nil && !bytes.Equal(fh, root) {
					panic(softFail{"the root handle changed"})
				}
				root = fh
			})
			if err == nil {
				return
			}
			if i == 400 {
				t.Fatalf("no server for 20 s: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// do runs one call until it is answered (reconnecting while the server is down).
	do := func(f func()) {
		for {
			if err := try(f); err == nil {
				return
			} else if !strings.Contains(err.Error(), "recv") && !strings.Contains(err.Error(), "send") && !strings.Contains(err.Error(), "dial") {
				t.Fatal(err)
			}
			connect()
		}
	}
	connect()
	var dirs [][]byte
	do(func() { dirs = [][]byte{c.walk(root, "/root"), c.walk(root, "/tmp")} })

	stop := make(chan struct{})
	var kills atomic.Int32
	const rounds = 12
	var killer sync.WaitGroup
	killer.Add(1)
	go func() {
		defer killer.Done()
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		for kills.Load() < rounds {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(20+rng.IntN(300)) * time.Millisecond):
			}
			srv.kill()
			kills.Add(1)
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
			srv = startChild(t, cfg, logs)
		}
	}()

	rng := rand.New(rand.NewPCG(3, 4))
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; kills.Load() < rounds && time.Now().Before(deadline); i++ {
		switch op := rng.IntN(10); {
		case op < 3 || len(files) == 0: // create a file (sometimes in a new directory)
			dir := dirs[rng.IntN(len(dirs))]
			if rng.IntN(4) == 0 {
				name := fmt.Sprintf("d%d", i)
				do(func() {
					fh, _, st := c.mkdir(dir, name, 0o755)
					if st == wire.NFS3ErrExist {
						fh, _, st = c.lookup(dir, name)
					}
					if st != wire.NFS3OK {
						panic(softFail{fmt.Sprintf("MKDIR %s: status %d (not a send/recv failure)", name, st)})
					}
					dir = fh
				})
				dirs = append(dirs, dir)
				handles = append(handles, dir)
			}
			f := &file{name: fmt.Sprintf("f%d", i), dir: dir}
			do(func() {
				fh, _, st := c.create(dir, f.name, 0, wire.Sattr{Mode: u32p(0o644)})
				if st != wire.NFS3OK {
					t.Fatalf("CREATE %s: status %d", f.name, st)
				}
				f.fh = fh
			})
			files = append(files, f)
			handles = append(handles, f.fh)
		case op < 8: // append a chunk, FILE_SYNC, to a recent file
			f := files[len(files)-1-rng.IntN(min(len(files), 4))]
			chunk := []byte(fmt.Sprintf("%s line %d\n", f.name, i))
			do(func() {
				n, committed, _, st := c.write(f.fh, uint64(len(f.acked)), chunk, 2)
				if st != wire.NFS3OK || int(n) != len(chunk) || committed != 2 {
					t.Fatalf("WRITE %s: n=%d committed=%d status %d", f.name, n, committed, st)
				}
			})
			f.acked = append(f.acked, chunk...)
		case op < 9: // rename a file within its directory: its handle must follow
			f := files[rng.IntN(len(files))]
			to := f.name + "r"
			do(func() {
				st := c.rename(f.dir, f.name, f.dir, to)
				if st == wire.NFS3ErrNoEnt { // the first try was done before the server died
					if _, _, st2 := c.lookup(f.dir, to); st2 == wire.NFS3OK {
						st = wire.NFS3OK
					}
				}
				if st != wire.NFS3OK {
					t.Fatalf("RENAME %s: status %d", f.name, st)
				}
			})
			f.name = to
		default: // look a file up: the same handle
			f := files[rng.IntN(len(files))]
			do(func() {
				fh, _, st := c.lookup(f.dir, f.name)
				if st != wire.NFS3OK || !bytes.Equal(fh, f.fh) {
					t.Fatalf("LOOKUP %s: status %d, same handle %v", f.name, st, bytes.Equal(fh, f.fh))
				}
			})
		}
	}
	close(stop)
	killer.Wait()
	if n := kills.Load(); n < rounds {
		t.Fatalf("only %d kills in 60 s", n)
	}
	// Every handle ever received resolves; every acknowledged byte is there.
	for _, fh := range handles {
		do(func() {
			if _, st := c.getattr(fh); st != wire.NFS3OK {
				stale = append(stale, fmt.Sprintf("%x: status %d", fh, st))
			}
		})
	}
	for _, f := range files {
		var got string
		do(func() { got = c.readAll(f.fh) })
		if got != string(f.acked) {
			t.Errorf("%s: read %q, acknowledged %q", f.name, got, f.acked)
		}
	}
	if len(stale) > 0 {
		t.Fatalf("%d of %d handles are stale after %d kills: %v", len(stale), len(handles), rounds, stale)
	}
	t.Logf("%d kills, %d files, %d handles: none stale, every acknowledged byte there", rounds, len(files), len(handles))
}
