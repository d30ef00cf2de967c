package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"statelite/bench/storm"
	"statelite/internal/pgtest"
)

func stormCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("storm", flag.ExitOnError)
	ns := fs.String("n", "10,100,1000", "storm sizes (comma list of node counts)")
	flipN := fs.Int("flip-n", 100, "nodes of the live-change storm (0: skip it)")
	flipBoots := fs.Int("flip-boots", 3, "boots per node in the live-change storm")
	idleN := fs.Int("idle-n", 1000, "nodes mounted idle for the memory figure (0: skip)")
	clusterN := fs.Int("cluster", 0, "nodes in the tables (0: the largest of -n, -flip-n, -idle-n); the storms boot the first N of them")
	restart := fs.Bool("restart", false, "after the largest storm, start a server on the state it left (its handle log) and report the start-up time")
	trace := fs.String("trace", "bench/testdata/boot-trace.jsonl", "the recorded boot")
	out := fs.String("out", "bench/results", "results directory (storm.json, report.md, *.svg)")
	work := fs.String("work", "/tmp/statelite-bench/storm", "work directory (cluster, server state, logs)")
	bin := fs.String("bin", "", "the statelite binary (default: build bin/statelite)")
	image := fs.String("image", "", "the nodes boot this genimage image directory (for a trace recorded with record -image)")
	litefile := fs.String("litefile", "image/defaults/debian/litefile.csv", "with -image: the image's litefile rows (CSV)")
	timeout := fs.Duration("timeout", 5*time.Minute, "timeout of each storm")
	serverFlags := fs.String("server-flags", "", "more flags for `statelite serve` (space-separated; e.g. --metrics 127.0.0.1:19100 for /debug/pprof)")
	failoverN := fs.Int("failover", 0, "with -pg: a storm of this many nodes over two servers (own state each, one volatiledir), one killed with SIGKILL once a third of the boots are done; its nodes move to the other (0: skip)")
	pg := fs.Bool("pg", false, "serve the tables from a throw-away PostgreSQL (its durable defaults: fsync and synchronous_commit on) instead of the CSV directory: the store, and the handle table, of several servers")
	fs.DurationVar(&holdIdle, "hold", 0, "after the memory of the booted idle nodes is read, keep their connections open this long (to profile the server meanwhile)")
	fs.Parse(args)
	if os.Geteuid() != 0 {
		return fmt.Errorf("storm: run as root (the server chowns files to their callers)")
	}
	var sizes []int
	maxN := max(*flipN, *idleN, *clusterN, *failoverN)
	for _, f := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-n: bad node count %q", f)
		}
		sizes = append(sizes, n)
		maxN = max(maxN, n)
	}
	repo, b, err := buildStatelite(ctx, *bin)
	if err != nil {
		return err
	}
	nofile, err := storm.RaiseNofile()
	if err != nil {
		return err
	}
	tr, err := storm.LoadTrace(*trace)
	if err != nil {
		return err
	}
	rep := &storm.Report{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Machine: machine(), Commit: commit(repo),
		LoadStart: storm.LoadAvg(), Trace: tr.Info(*trace), Nofile: nofile, Image: *image, Cluster: maxN}
	logf("trace %s: %d calls of a boot of %s (%v)", *trace, len(tr.Ops), tr.Node, tr.Counts())
	logf("building a cluster of %d nodes in %s", maxN, *work)
	cl, err := storm.Build(ctx, filepath.Join(*work, "cluster"), maxN)
	if err == nil && *image != "" {
		err = cl.UseImage(ctx, *image, *litefile)
	}
	if err != nil {
		return err
	}
	extra := strings.Fields(*serverFlags)
	rep.Store = "csv"
	if *failoverN > 0 && !*pg {
		return fmt.Errorf("-failover needs -pg (the servers share the store and handle table)")
	}
	var pgURL string
	if *pg {
		url, stop, err := pgStore(ctx, b, cl)
		if err != nil {
			return err
		}
		defer stop()
		pgURL = url
		extra = append(extra, "--store", url)
		rep.Store = "postgresql"
	}
	serverRun := 0
	var lastState string
	startOn := func(state string) (*storm.Server, error) {
		serverRun++
		return storm.StartProcess(ctx, b, cl, state, filepath.Join(*work, fmt.Sprintf("server%d.log", serverRun)), extra...)
	}
	start := func() (*storm.Server, error) {
		lastState = filepath.Join(*work, fmt.Sprintf("state%d", serverRun+1))
		os.RemoveAll(lastState)
		return startOn(lastState)
	}
	maxSize := slices.Max(sizes)
	for _, n := range sizes {
		srv, err := start()
		if err != nil {
			return err
		}
		logf("server started in %.2f s (%d nodes in the tables, a fresh state)", srv.Startup.Seconds(), maxN)
		keep := n == maxN
		s, err := runStorm(ctx, srv, cl, tr, n, 1, *timeout, keep)
		srv.Stop()
		if err != nil {
			return err
		}
		s.Cluster, s.Startup = maxN, srv.Startup.Seconds()
		if *restart && n == maxSize {
			r, err := restartOn(startOn, lastState, n, srv.Startup)
			if err != nil {
				return err
			}
			rep.Restart = r
		}
		rep.Storms = append(rep.Storms, s)
		if s.RSSIdle > 0 {
			rep.IdleBooted = &storm.IdleSummary{N: n, RSSBase: s.RSSStart, RSSN: s.RSSIdle,
				PerNode: float64(s.RSSIdle-s.RSSStart) / float64(n), HowNodes: "booted (the whole trace replayed), connections open and idle for 5 s; base: the server before the storm"}
		}
	}
	if *failoverN > 0 {
		f, err := failoverStorm(ctx, b, pgURL, cl, tr, *failoverN, *timeout, *work, startOn)
		if err != nil {
			return err
		}
		rep.Failover = f
	}
	if *idleN > 1 {
		srv, err := start()
		if err != nil {
			return err
		}
		idle, err := idleMemory(ctx, srv, cl, *idleN)
		srv.Stop()
		if err != nil {
			return err
		}
		rep.Idle = idle
	}
	if *flipN > 0 {
		srv, err := start()
		if err != nil {
			return err
		}
		f, err := flipStorm(ctx, srv, cl, tr, *flipN, *flipBoots, *timeout)
		srv.Stop()
		if err != nil {
			return err
		}
		rep.Flip = f
	}
	rep.LoadEnd = storm.LoadAvg()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(rep) // compact: the CDF points are many
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "storm.json"), data, 0o644); err != nil {
		return err
	}
	return writeReport(*out)
}

// runStorm replays the trace from n nodes against srv and adds the server's figures.
func runStorm(ctx context.Context, srv *storm.Server, cl *storm.Cluster, tr *storm.Trace, n, boots int, timeout time.Duration, keepOpen bool) (storm.StormSummary, error) {
	load := storm.LoadAvg()
	st0, err := storm.Stats(srv.PID)
	if err != nil {
		return storm.StormSummary{}, err
	}
	logf("storm: %d nodes × %d boot(s) against pid %d (load %s)", n, boots, srv.PID, load)
	res, err := storm.Run(ctx, storm.Options{Addr: srv.Addr, Trace: tr, Cluster: cl, N: n, Boots: boots, Timeout: timeout, KeepOpen: keepOpen,
		BeforeBoot: cl.FreshPersistent})
	if err != nil {
		res.Close()
		return storm.StormSummary{}, fmt.Errorf("storm of %d nodes: %w", n, err)
	}
	st1, err := storm.Stats(srv.PID)
	if err != nil {
		return storm.StormSummary{}, err
	}
	s := storm.Summarize(res, boots)
	s.Load = load
	s.ServerCPU = st1.CPU - st0.CPU
	s.PeakRSS = st1.HWM
	s.RSSStart = st0.RSS
	if keepOpen {
		time.Sleep(idleSettle)
		if st2, err := storm.Stats(srv.PID); err == nil {
			s.RSSIdle = st2.RSS
		}
		if holdIdle > 0 {
			logf("storm: holding %d idle nodes for %v (-hold)", n, holdIdle)
			time.Sleep(holdIdle)
		}
		res.Close()
	}
	all := s.Ops["ALL"]
	logf("storm: %d nodes booted in %.2f s (median node %.2f s); %d calls, %d errors, %d stale retries; p50 %.2f ms, p99 %.2f ms, max %.1f ms; server CPU %.2f s, peak RSS %.1f MiB",
		n, s.Wall, s.BootP50, s.Calls, s.Errors, s.Stale, all.P50, all.P99, all.Max, s.ServerCPU, float64(s.PeakRSS)/(1<<20))
	for _, m := range s.ErrorSample {
		logf("  error: %s", m)
	}
	return s, nil
}

// restartOn starts a server on the state a storm of n nodes left and measures its
// start-up (fresh: the start-up of the storm's server on a fresh state).
func restartOn(startOn func(string) (*storm.Server, error), state string, n int, fresh time.Duration) (*storm.RestartSummary, error) {
	var size int64 // the handle log: the files of <state>/handles
	filepath.WalkDir(filepath.Join(state, "handles"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	srv, err := startOn(state)
	if err != nil {
		return nil, fmt.Errorf("restart on the state of the %d-node storm: %w", n, err)
	}
	defer srv.Stop()
	r := &storm.RestartSummary{Nodes: n, HandleLogBytes: size, Startup: srv.Startup.Seconds(), Fresh: fresh.Seconds()}
	if st, err := storm.Stats(srv.PID); err == nil {
		r.RSS = st.RSS
	}
	logf("restart: a server on the state of the %d-node storm (handle log %.1f MiB) started in %.2f s (fresh state: %.2f s), RSS %.1f MiB",
		n, float64(size)/(1<<20), r.Startup, r.Fresh, float64(r.RSS)/(1<<20))
	return r, nil
}

// holdIdle is -hold.
var holdIdle time.Duration

// idleSettle is how long nodes stay idle before the server's memory is read: the server
// gives back what a burst freed after a quiet second.
const idleSettle = 5 * time.Second

// idleMemory: the server's RSS with one node mounted, then with n.
func idleMemory(ctx context.Context, srv *storm.Server, cl *storm.Cluster, n int) (*storm.IdleSummary, error) {
	first, err := storm.MountIdle(ctx, srv.Addr, cl, 0, 1)
	defer func() {
		for _, c := range first {
			c.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	time.Sleep(idleSettle)
	st0, err := storm.Stats(srv.PID)
	if err != nil {
		return nil, err
	}
	rest, err := storm.MountIdle(ctx, srv.Addr, cl, 1, n)
	defer func() {
		for _, c := range rest {
			c.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	time.Sleep(idleSettle)
	st1, err := storm.Stats(srv.PID)
	if err != nil {
		return nil, err
	}
	idle := &storm.IdleSummary{N: n, RSSBase: st0.RSS, RSSN: st1.RSS, PerNode: float64(st1.RSS-st0.RSS) / float64(n-1),
		HowNodes: "mounted (MNT, GETATTR and FSINFO of the root), connections open and idle for 5 s; base: one node mounted"}
	logf("idle: RSS %.1f MiB with 1 node mounted, %.1f MiB with %d: %.1f KiB per idle node (%d fds)",
		float64(st0.RSS)/(1<<20), float64(st1.RSS)/(1<<20), n, idle.PerNode/1024, st1.FDs)
	return idle, nil
}

// flipStorm runs a storm of n nodes × boots boots and flips the litetree's probe source
// once a third of the boots are done.
func flipStorm(ctx context.Context, srv *storm.Server, cl *storm.Cluster, tr *storm.Trace, n, boots int, timeout time.Duration) (*storm.FlipSummary, error) {
	st0, err := storm.Stats(srv.PID)
	if err != nil {
		return nil, err
	}
	total := n * boots
	var flipAt time.Time
	var editTook time.Duration
	flipDone := make(chan error, 1)
	trigger := make(chan struct{})
	go func() {
		select {
		case <-trigger:
		case <-ctx.Done():
			flipDone <- ctx.Err()
			return
		}
		// The edit is made as chtab makes one (lock, load, validate, write, in this
		// process: at 10,000 nodes, while the simulated nodes load the machine, that
		// takes a while); the lag counts from when it landed.
		t := time.Now()
		err := cl.Flip(ctx, storm.GenB)
		flipAt, editTook = time.Now(), time.Since(t)
		flipDone <- err
	}()
	var once sync.Once
	fired := false
	logf("live change: %d nodes × %d boots; the litetree row flips after %d boots or %d probe reads", n, boots, total/3, total*len(storm.ProbeFiles)/3)
	res, err := storm.Run(ctx, storm.Options{Addr: srv.Addr, Trace: tr, Cluster: cl, N: n, Boots: boots, Timeout: timeout,
		BeforeBoot: cl.FreshPersistent,
		OnBoot: func(done int) {
			if done >= total/3 {
				once.Do(func() { fired = true; close(trigger) })
			}
		},
		// Or once a third of the probe reads are done: with one boot per node, nodes
		// read the probe files at about the same point of their boots, long before a
		// third of the boots are done.
		OnProbe: func(reads int) {
			if reads >= total*len(storm.ProbeFiles)/3 {
				once.Do(func() { fired = true; close(trigger) })
			}
		}})
	var ferr error
	if fired {
		ferr = <-flipDone
	}
	// Back to generation A for the next run (wait for the server to follow).
	defer cl.Flip(context.WithoutCancel(ctx), storm.GenA)
	if err != nil {
		return nil, fmt.Errorf("live-change storm: %w", err)
	}
	if ferr != nil {
		return nil, fmt.Errorf("flipping the litetree: %w", ferr)
	}
	if !fired {
		return nil, fmt.Errorf("live-change storm: the flip never fired")
	}
	st1, err := storm.Stats(srv.PID)
	if err != nil {
		return nil, err
	}
	f := storm.SummarizeFlip(res, boots, flipAt.Sub(res.T0))
	f.ServerCPU = st1.CPU - st0.CPU
	f.PeakRSS = st1.HWM
	logf("live change: the edit took %.2f s", editTook.Seconds())
	logf("live change: the last call answered from the old generation was sent %.3f s after the edit", f.OldSentLagSec)
	logf("live change: edit at %.2f s, first new view at %.2f s (lag %.3f s); boots: %d old, %d new, %d crossed the switch, %d mixed; old answers after the first new one: %d; stale retries %d; errors %d",
		f.FlipAt, f.FirstNewAt, f.SwitchLagSec, f.AllOld, f.AllNew, f.Crossed, f.Mixed, f.OldAfterNew, f.Stale, f.Errors)
	for _, m := range f.ErrorSample {
		logf("  error: %s", m)
	}
	for _, w := range f.Windows {
		logf("  %s: %d calls, p50 %.2f ms, p99 %.2f ms, max %.1f ms", w.Name, w.All.Count, w.All.P50, w.All.P99, w.All.Max)
	}
	return &f, nil
}

func machine() string {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var un string
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		un = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d CPUs, kernel %s", model, runtime.NumCPU(), un)
}

// pgStore starts a throw-away PostgreSQL with its durable defaults and copies the
// cluster's tables into it (statelite tabmigrate); stop stops and removes it.
func pgStore(ctx context.Context, bin string, cl *storm.Cluster) (url string, stop func(), err error) {
	c, err := pgtest.New(pgtest.Options{Durable: true})
	if err != nil {
		return "", nil, fmt.Errorf("-pg: %w", err)
	}
	out, err := exec.CommandContext(ctx, bin, "--mnt", cl.Mnt, "tabmigrate", "--from", cl.Tables, "--to", c.URL).CombinedOutput()
	if err != nil {
		c.Close()
		return "", nil, fmt.Errorf("-pg: statelite tabmigrate: %v\n%s", err, out)
	}
	logf("tables in PostgreSQL (%s): %s", c.Dir, strings.TrimSpace(string(out)))
	return c.URL, func() { c.Close() }, nil
}

// failoverStorm boots n nodes over two servers A and B (own state each) sharing the
// PostgreSQL store at url and a volatiledir, every other node on B; once a third of the
// boots are done, A is killed with SIGKILL and its nodes move to B.
func failoverStorm(ctx context.Context, bin, url string, cl *storm.Cluster, tr *storm.Trace, n int, timeout time.Duration, work string,
	startOn func(string) (*storm.Server, error)) (*storm.FailoverSummary, error) {
	vol := filepath.Join(work, "shared-volatile")
	os.RemoveAll(vol)
	if out, err := exec.CommandContext(ctx, bin, "--tables", url, "chtab", "key=volatiledir", "site.value="+vol).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("-failover: chtab site.volatiledir: %v\n%s", err, out)
	}
	var servers [2]*storm.Server
	for i, name := range []string{"failover-A", "failover-B"} {
		state := filepath.Join(work, name)
		os.RemoveAll(state)
		s, err := startOn(state)
		if err != nil {
			return nil, err
		}
		defer s.Stop()
		servers[i] = s
	}
	a, b := servers[0], servers[1]
	logf("failover storm: %d nodes over A (pid %d) and B (pid %d); A is killed once %d boots are done", n, a.PID, b.PID, n/3)
	var killedAt atomic.Int64 // UnixNano
	var once sync.Once
	res, err := storm.Run(ctx, storm.Options{Addr: a.Addr, Alt: b.Addr, Trace: tr, Cluster: cl, N: n, Timeout: timeout,
		BeforeBoot: cl.FreshPersistent,
		OnBoot: func(done int) {
			if done >= n/3 {
				once.Do(func() {
					a.Kill()
					killedAt.Store(time.Now().UnixNano())
					logf("failover storm: A killed (kill -9) after %d boots", done)
				})
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("failover storm: %w", err)
	}
	f := &storm.FailoverSummary{N: n, Wall: res.Wall.Seconds()}
	kill := time.Unix(0, killedAt.Load()).Sub(res.T0)
	if killedAt.Load() == 0 {
		return nil, fmt.Errorf("failover storm: A was never killed (fewer than %d boots done)", n/3)
	}
	f.KilledAt = kill.Seconds()
	f.Errors, f.ErrorSample = res.Errors()
	var all, moved []float64
	for _, nr := range res.Nodes {
		f.Jukebox += nr.Jukebox
		f.Replayed += nr.Replayed
		if nr.Moved > 0 {
			f.MovedNodes++
		}
		for _, s := range nr.Samples {
			ms := float64(s.Lat) / float64(time.Millisecond)
			all = append(all, ms)
			if nr.Moved > 0 && s.Start+s.Lat >= kill {
				moved = append(moved, ms)
			}
		}
	}
	sort.Float64s(all)
	sort.Float64s(moved)
	f.P50, f.P99 = storm.Quantile(all, 0.5), storm.Quantile(all, 0.99)
	if len(all) > 0 {
		f.Max = all[len(all)-1]
	}
	f.MovedP99 = storm.Quantile(moved, 0.99)
	if len(moved) > 0 {
		f.MovedMax = moved[len(moved)-1]
	}
	logf("failover storm: %d nodes booted in %.2f s, %d errors, %d moved nodes, %d JUKEBOX retries, %d calls replayed after a loss; p99 %.1f ms, max %.1f ms; moved nodes from the kill on: p99 %.1f ms, max %.1f ms",
		n, f.Wall, f.Errors, f.MovedNodes, f.Jukebox, f.Replayed, f.P99, f.Max, f.MovedP99, f.MovedMax)
	for _, m := range f.ErrorSample {
		logf("  error: %s", m)
	}
	return f, nil
}
