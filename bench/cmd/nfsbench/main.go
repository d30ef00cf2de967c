// Command nfsbench measures statelite's NFS server side by side with nfs-ganesha 4.3
// (VFS FSAL) serving the same data, using the libnfs command-line client (nfs-cp,
// nfs-cat, nfs-ls) on the same host:
//
//   - read: nfs-cp of a 200 MiB file of pseudo-random bytes to a tmpfs file
//     (and nfs-cat of it to /dev/null, as a second read figure);
//   - write: nfs-cp of a 200 MiB tmpfs file to a new file on the server (the export on
//     ganesha, a volatile path, /tmp, of a node's overlay view on statelite);
//   - list: nfs-ls -R of a tree of about 5,000 entries in nested directories;
//   - go-read, go-write, go-list, go-walk: the same with a Go NFSv3 client
//     (bench/nfsclient, one call at a time, 1 MiB READ/WRITE), and a metadata-heavy
//     walk of the tree (LOOKUP and GETATTR of every entry, as a stat of every file on a
//     kernel mount with cold caches does; libnfs-utils has no stat tool).
//
// Servers: ganesha; statelite serving node n1 of the demo cluster with the Cookbook's
// litefile rules; statelite-plain, a second statelite on the same image with a litefile
// table of a single `/tmp/` tmpfs row (the least a node needs to write anywhere): the
// overlay's overhead is statelite against statelite-plain.
//
// ganesha exports a plain directory; statelite serves the demo cluster (statelite demo)
// whose image root holds the same files, hard-linked, so both read the same pages. Both
// servers, rpcbind (which ganesha 4.3 needs) and every client run inside one private
// network and mount namespace (unshare -n -m --propagation private): the program
// re-executes itself there (marked by NFSBENCH_IN_NAMESPACE=1). It stops every process
// it started, by PID, when it ends; every client command runs under a timeout.
//
// Per run it measures the client's wall time and the server process's CPU seconds
// (its threads' run times before and after); it reports the medians and the best of N
// runs, the ratios statelite/ganesha and whether the targets (time <= ganesha's, CPU <=
// 1.5x ganesha's) are met, on stdout and as markdown (-out).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"statelite/bench/storm"
)

const nsMarker = "NFSBENCH_IN_NAMESPACE"

type options struct {
	work        string
	statelite   string
	gonfs       string
	out         string
	runs        int
	sizeMiB     int
	entries     int
	cmdTimeout  time.Duration
	servers     string
	perfDir     string
	perfRun     int
	perfServers string
	metrics     bool
	phases      []string
	flags       []string // flags given, for the report
	jsonOut     string   // write the medians as JSON (bench/results/throughput.json)
}

func main() {
	var o options
	flag.StringVar(&o.work, "work", "/tmp/statelite-nfsbench", "work directory (data, demo cluster, server state, logs)")
	flag.StringVar(&o.statelite, "statelite", "bin/statelite", "the statelite binary")
	flag.StringVar(&o.gonfs, "gonfs", "bin/gonfs", "the go-nfs baseline server (bench/cmd/gonfs)")
	flag.StringVar(&o.out, "out", "", "write the results as markdown to this file")
	flag.IntVar(&o.runs, "n", 3, "repetitions of each benchmark")
	flag.IntVar(&o.sizeMiB, "size", 200, "size of the read/write file in MiB")
	flag.IntVar(&o.entries, "entries", 5000, "entries of the listed tree (directories and files)")
	flag.DurationVar(&o.cmdTimeout, "cmd-timeout", 2*time.Minute, "timeout of each client command")
	flag.StringVar(&o.servers, "servers", "ganesha,statelite,statelite-plain,go-nfs", "servers to measure (comma list of ganesha, statelite, statelite-plain, go-nfs)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the medians as JSON to this file (read by go run ./bench report)")
	flag.StringVar(&o.perfDir, "perf", "", "record profiles (perf record -g) of the servers named by -perf-servers, per benchmark, into this `directory`")
	flag.IntVar(&o.perfRun, "perf-run", 1, "which run -perf records")
	flag.StringVar(&o.perfServers, "perf-servers", "statelite", "servers -perf records (comma list)")
	flag.BoolVar(&o.metrics, "metrics", false, "serve statelite's /metrics on 127.0.0.1:19100 and save them at the end")
	ph := flag.String("phases", strings.Join(allPhases, ","), "benchmarks to run (comma list of "+strings.Join(allPhases, ", ")+")")
	flag.Parse()
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "statelite", "work", "out", "json":
		default:
			o.flags = append(o.flags, "-"+f.Name+" "+f.Value.String())
		}
	})
	for _, p := range strings.Split(*ph, ",") {
		if !slices.Contains(allPhases, p) {
			fmt.Fprintf(os.Stderr, "nfsbench: unknown benchmark %q\n", p)
			os.Exit(2)
		}
		o.phases = append(o.phases, p)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "nfsbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root (network and mount namespaces, tmpfs, rpcbind)")
	}
	for _, p := range []*string{&o.work, &o.statelite, &o.gonfs, &o.out, &o.perfDir, &o.jsonOut} {
		if *p != "" {
			a, err := filepath.Abs(*p)
			if err != nil {
				return err
			}
			*p = a
		}
	}
	if o.runs < 1 {
		return errors.New("-n must be at least 1")
	}
	if os.Getenv(nsMarker) != "1" {
		return reexecInNamespace()
	}
	b := &bench{o: o}
	defer b.stopAll()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return b.main(ctx)
}

// reexecInNamespace runs this program again in a private network and mount namespace.
func reexecInNamespace() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{"-n", "-m", "--propagation", "private", "--", exe}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), nsMarker+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sig {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	signal.Stop(sig)
	if err != nil {
		return fmt.Errorf("benchmark in namespace: %w", err)
	}
	return nil
}

// proc is a process the benchmark started.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

type bench struct {
	o     options
	procs []*proc

	data     string // ganesha's export: big.bin, tree/
	shm      string // tmpfs for the client's files
	demoRoot string // statelite image root
	srcSum   [32]byte
	servers  []*server

	loadStart, loadEnd string
}

// server is one NFS server under test.
type server struct {
	name      string
	pid       int
	readURL   string // the big file
	writeURL  func(i int) string
	listURL   string
	written   func(i int) string // backing file of write i
	listLines []int
	firstList sample // the warm-up listing: the server's first, cold caches

	// The Go client's view of the server: NFS and MOUNT addresses, the export to
	// mount, the paths below it of the big file, the tree and the directory written to.
	nfsAddr, mountAddr, export string
	bigPath, treePath, wdir    string
}

const (
	ganeshaNFSPort   = 2049
	ganeshaMountPort = 20048
	stateliteNFSPort = 12049
	plainNFSPort     = 12050
	gonfsPort        = 12051
	metricsAddr      = "127.0.0.1:19100"
)

func (b *bench) logf(format string, args ...any) {
	fmt.Printf("[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func (b *bench) main(ctx context.Context) error {
	o := b.o
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	for _, tool := range []string{"ip", "mount", "rpcbind", "ganesha.nfsd", "nfs-cp", "nfs-cat", "nfs-ls"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (apt-get install -y nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils)", tool)
		}
	}
	if _, err := os.Stat(o.statelite); err != nil {
		return fmt.Errorf("statelite binary: %w", err)
	}
	// The namespace: loopback up (ganesha's address lookup wants a second loopback
	// address), a private /run for rpcbind, a tmpfs for the client's files.
	b.shm = filepath.Join(o.work, "shm")
	os.MkdirAll(b.shm, 0o755)
	for _, c := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "add", "127.0.0.2/8", "dev", "lo"},
		{"mount", "-t", "tmpfs", "tmpfs", "/run"},
		{"mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", b.shm},
	} {
		if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	if err := b.makeData(ctx); err != nil {
		return err
	}
	if err := b.startServers(ctx); err != nil {
		return err
	}
	// Warm-up: one listing and one read per server, so every measured run sees warm page
	// and server caches alike. The listing is the server's first: it is timed too, as
	// the figure with cold server caches (ganesha's metadata cache is empty then).
	for _, s := range b.servers {
		b.logf("warm-up %s", s.name)
		if err := b.goWarm(s); err != nil {
			return fmt.Errorf("%s warm-up (Go client): %w", s.name, err)
		}
		c0, err := procCPU(s.pid)
		if err != nil {
			return err
		}
		wall, _, err := b.client(ctx, s, "nfs-ls", []string{"-R", s.listURL}, io.Discard)
		if err != nil {
			return fmt.Errorf("%s warm-up list: %w", s.name, err)
		}
		c1, err := procCPU(s.pid)
		if err != nil {
			return err
		}
		s.firstList = sample{wall: wall.Seconds(), cpu: cpuDelta(c0, c1)}
		if _, _, err := b.client(ctx, s, "nfs-cat", []string{s.readURL}, io.Discard); err != nil {
			return fmt.Errorf("%s warm-up read: %w", s.name, err)
		}
	}
	b.loadStart = storm.LoadAvg()
	res := map[string]map[string][]sample{}
	for _, s := range b.servers {
		res[s.name] = map[string][]sample{}
	}
	for i := 1; i <= o.runs; i++ {
		order := slices.Clone(b.servers)
		if i%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			for _, ph := range o.phases {
				if err := ctx.Err(); err != nil {
					return err
				}
				smp, err := b.phase(ctx, s, ph, i)
				if err != nil {
					return fmt.Errorf("%s %s run %d: %w", s.name, ph, i, err)
				}
				b.logf("%-9s %-10s run %d: %.3f s wall, server CPU %.3f s, client CPU %.3f s", s.name, ph, i, smp.wall, smp.cpu, smp.clientCPU)
				res[s.name][ph] = append(res[s.name][ph], smp)
			}
		}
	}
	if o.metrics {
		if out, err := httpGet(metricsAddr, "/metrics"); err == nil {
			os.WriteFile(filepath.Join(o.work, "statelite-metrics.txt"), out, 0o644)
		}
	}
	b.loadEnd = storm.LoadAvg()
	if o.jsonOut != "" {
		if err := b.writeJSON(res); err != nil {
			return err
		}
		b.logf("medians written to %s", o.jsonOut)
	}
	md := b.report(res)
	fmt.Println()
	fmt.Print(md)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
			return err
		}
		b.logf("results written to %s", o.out)
	}
	return nil
}

var allPhases = []string{"read", "read-cat", "write", "list", "go-read", "go-write", "go-list", "go-walk"}

type sample struct {
	wall, cpu, clientCPU float64
}

// phase runs one timed client command against s and checks its result.
func (b *bench) phase(ctx context.Context, s *server, ph string, i int) (sample, error) {
	if strings.HasPrefix(ph, "go-") {
		return b.goPhase(ctx, s, ph, i)
	}
	var name string
	var args []string
	var stdout io.Writer = io.Discard
	var lines countWriter
	readDst := filepath.Join(b.shm, "read.bin")
	os.Remove(readDst)
	switch ph {
	case "read":
		name, args = "nfs-cp", []string{s.readURL, readDst}
	case "read-cat":
		name, args = "nfs-cat", []string{s.readURL}
	case "write":
		name, args = "nfs-cp", []string{filepath.Join(b.shm, "src.bin"), s.writeURL(i)}

	case "list":
		name, args, stdout = "nfs-ls", []string{"-R", s.listURL}, &lines
	}
	stopPerf := b.perf(ctx, s, ph, i)
	cpu0, err := procCPU(s.pid)
	if err != nil {
		return sample{}, err
	}
	wall, ccpu, err := b.client(ctx, s, name, args, stdout)
	cpu1, cerr := procCPU(s.pid)
	stopPerf()
	if err != nil {
		return sample{}, err
	}
	if cerr != nil {
		return sample{}, cerr
	}
	smp := sample{wall: wall.Seconds(), cpu: cpuDelta(cpu0, cpu1), clientCPU: ccpu}
	// Check the outcome (untimed).
	switch ph {
	case "read":
		if err := b.sameAsSource(readDst); err != nil {
			return smp, err
		}
		os.Remove(readDst)
	case "write":
		f := s.written(i)
		if err := b.sameAsSource(f); err != nil {
			return smp, err
		}
		exec.CommandContext(ctx, "sync").Run()
		dropPages(f)
		os.Remove(f)
	case "list":
		if lines.n < b.o.entries {
			return smp, fmt.Errorf("listing printed %d lines, want at least %d", lines.n, b.o.entries)
		}
		s.listLines = append(s.listLines, lines.n)
	}
	return smp, nil
}

// dropPages drops the (clean, after sync) page-cache pages of file f. Removing f alone
// frees them only when no one has it open, and ganesha keeps the files it wrote open in
// its descriptor cache: their pages stayed, the next writes of every server took memory
// the VM had never touched, and a 200 MiB write then cost 0.5 s more of the writing
// server's CPU, at random for whichever server came next (bench/results/README.md, NFS). Dropped, the
// pages are reused by the next write, whoever makes it.
func dropPages(f string) {
	fd, err := syscall.Open(f, syscall.O_RDONLY, 0)
	if err != nil {
		return
	}
	defer syscall.Close(fd)
	unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
}

// perf starts `perf record` on the statelite server for one phase (-perf).
func (b *bench) perf(ctx context.Context, s *server, ph string, i int) func() {
	if b.o.perfDir == "" || !strings.Contains(","+b.o.perfServers+",", ","+s.name+",") || i != b.o.perfRun {
		return func() {}
	}
	os.MkdirAll(b.o.perfDir, 0o755)
	out := filepath.Join(b.o.perfDir, fmt.Sprintf("%s-%s.data", s.name, ph))
	cmd := exec.Command("perf", "record", "-q", "-g", "-F", "20000", "-p", strconv.Itoa(s.pid), "-o", out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.logf("perf: %v", err)
		return func() {}
	}
	time.Sleep(300 * time.Millisecond)
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// client runs one libnfs command with a timeout and returns its wall time and CPU time.
func (b *bench) client(ctx context.Context, s *server, name string, args []string, stdout io.Writer) (time.Duration, float64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var ccpu float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		ccpu = tv(ru.Utime) + tv(ru.Stime)
	}
	return wall, ccpu, nil
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// cpuSnap is a process's CPU time at one moment: utime+stime from /proc/PID/stat (in
// clock ticks, whole process, exited threads included) and the run time of each live
// thread from /proc/PID/task/TID/schedstat (nanoseconds).
type cpuSnap struct {
	ticks float64
	tasks map[int]uint64
}

func procCPU(pid int) (cpuSnap, error) {
	s := cpuSnap{tasks: map[int]uint64{}}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("server process %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	// After the command: state(3) ... utime(14) stime(15), so fields 11 and 12 here.
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	s.ticks = (ut + st) / clockTicks
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ss, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
		if err != nil {
			continue
		}
		if fs := strings.Fields(string(ss)); len(fs) > 0 {
			ns, _ := strconv.ParseUint(fs[0], 10, 64)
			s.tasks[tid] = ns
		}
	}
	return s, nil
}

// cpuDelta is the CPU seconds between two snapshots: the threads' nanosecond run times
// when no thread ended in between (new threads count whole), else the tick counts.
func cpuDelta(a, b cpuSnap) float64 {
	var ns uint64
	for tid, t := range b.tasks {
		ns += t - min(t, a.tasks[tid])
	}
	for tid := range a.tasks {
		if _, ok := b.tasks[tid]; !ok {
			return b.ticks - a.ticks
		}
	}
	if len(b.tasks) == 0 {
		return b.ticks - a.ticks
	}
	return float64(ns) / 1e9
}

const clockTicks = 100 // sysconf(_SC_CLK_TCK) on Linux

// makeData creates (or reuses) the data: a file of pseudo-random bytes and a tree of
// nested directories, in ganesha's export; statelite's image root gets the same files
// as hard links.
func (b *bench) makeData(ctx context.Context) error {
	o := b.o
	b.data = filepath.Join(o.work, "data", "export")
	big := filepath.Join(b.data, "big.bin")
	size := int64(o.sizeMiB) << 20
	if fi, err := os.Stat(big); err != nil || fi.Size() != size {
		b.logf("making %s (%d MiB of pseudo-random bytes)", big, o.sizeMiB)
		if err := os.MkdirAll(b.data, 0o755); err != nil {
			return err
		}
		if err := writeRandom(big, size); err != nil {
			return err
		}
	}
	// Leftovers of an interrupted run.
	olds, _ := filepath.Glob(filepath.Join(b.data, "wr-*.bin"))
	for _, f := range olds {
		os.Remove(f)
	}
	tree := filepath.Join(b.data, "tree")
	stamp := filepath.Join(b.data, ".tree-entries")
	if got, _ := os.ReadFile(stamp); strings.TrimSpace(string(got)) != strconv.Itoa(o.entries) {
		b.logf("making %s (%d entries)", tree, o.entries)
		os.RemoveAll(tree)
		if err := makeTree(tree, o.entries); err != nil {
			return err
		}
		if err := os.WriteFile(stamp, []byte(strconv.Itoa(o.entries)+"\n"), 0o644); err != nil {
			return err
		}
	}
	// The client's copy of the file, on tmpfs.
	src := filepath.Join(b.shm, "src.bin")
	if err := copyFile(big, src); err != nil {
		return err
	}
	sum, err := fileSum(src)
	if err != nil {
		return err
	}
	b.srcSum = sum
	// A fresh demo cluster and server state; the image root holds the data as hard links.
	demoDir := filepath.Join(o.work, "demo")
	os.RemoveAll(demoDir)
	os.RemoveAll(filepath.Join(o.work, "state"))
	os.RemoveAll(filepath.Join(o.work, "state-statelite-plain"))
	// The demo's remote litetree source and statemnt are "127.0.0.1:/dir", read at
	// MNT/127.0.0.1/dir: make them present, as mounted on a real server.
	os.RemoveAll(filepath.Join(o.work, "mnt"))
	os.MkdirAll(filepath.Join(o.work, "mnt"), 0o755)
	if err := os.Symlink("/", filepath.Join(o.work, "mnt", "127.0.0.1")); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, o.statelite, "demo", "--dir", demoDir).CombinedOutput(); err != nil {
		return fmt.Errorf("statelite demo: %v: %s", err, out)
	}
	// statelite-plain's tables: the demo's, with a litefile table of one /tmp/ row.
	plain := filepath.Join(demoDir, "tables-plain")
	if err := os.MkdirAll(plain, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(filepath.Join(demoDir, "tables"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".csv") {
			if err := copyFile(filepath.Join(demoDir, "tables", e.Name()), filepath.Join(plain, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(plain, "litefile.csv"), []byte("#image,file,options,comments,disable\n\"ALL\",\"/tmp/\",\"tmpfs\",,\n"), 0o644); err != nil {
		return err
	}
	b.demoRoot = filepath.Join(demoDir, "install", "netboot", "demo", "x86_64", "compute", "rootimg")
	if _, err := os.Stat(b.demoRoot); err != nil {
		return fmt.Errorf("demo image root: %w", err)
	}
	dst := filepath.Join(b.demoRoot, "bench")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := os.Link(big, filepath.Join(dst, "big.bin")); err != nil {
		return err
	}
	return linkTree(tree, filepath.Join(dst, "tree"))
}

func writeRandom(p string, size int64) error {
	f, err := os.Create(p + ".tmp")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.NewChaCha8([32]byte{'s', 't', 'a', 't', 'e', 'l', 'i', 't', 'e'})
	buf := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		r.Read(buf)
		if _, err := w.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(p+".tmp", p)
}

// makeTree makes about n entries: 10 directories of 10 subdirectories each, and the
// rest files of 1-4 KiB spread over the subdirectories.
func makeTree(root string, n int) error {
	const top, sub = 10, 10
	dirs := make([]string, 0, top*sub)
	for i := 0; i < top; i++ {
		for j := 0; j < sub; j++ {
			d := filepath.Join(root, fmt.Sprintf("d%02d", i), fmt.Sprintf("s%02d", j))
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, d)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, 4096)
	for i := 0; i < n-top-top*sub; i++ {
		d := dirs[i%len(dirs)]
		for k := range body {
			body[k] = byte('a' + r.IntN(26))
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file-%05d.txt", i)), body[:1024+r.IntN(3072)], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// linkTree mirrors the directories of src at dst and hard-links its files.
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		return os.Link(p, t)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func fileSum(p string) ([32]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s, nil
}

func (b *bench) sameAsSource(p string) error {
	s, err := fileSum(p)
	if err != nil {
		return err
	}
	if s != b.srcSum {
		return fmt.Errorf("%s differs from the source file", p)
	}
	return nil
}

func (b *bench) startServers(ctx context.Context) error {
	o := b.o
	want := map[string]bool{}
	for _, s := range strings.Split(o.servers, ",") {
		want[strings.TrimSpace(s)] = true
	}
	if want["ganesha"] {
		// ganesha 4.3 registers with rpcbind and will not start without it.
		if _, err := b.start("rpcbind", filepath.Join(o.work, "rpcbind.log"), "rpcbind", "-f"); err != nil {
			return err
		}
		if err := waitTCP(ctx, "127.0.0.1:111", 10*time.Second); err != nil {
			return fmt.Errorf("rpcbind: %w", err)
		}
		gdir := filepath.Join(o.work, "ganesha")
		os.RemoveAll(gdir)
		os.MkdirAll(filepath.Join(gdir, "recovery"), 0o755)
		conf := filepath.Join(gdir, "ganesha.conf")
		if err := os.WriteFile(conf, []byte(ganeshaConf(b.data, filepath.Join(gdir, "recovery"))), 0o644); err != nil {
			return err
		}
		p, err := b.start("ganesha", filepath.Join(gdir, "stdout.log"), "ganesha.nfsd", "-F", "-f", conf,
			"-L", filepath.Join(gdir, "ganesha.log"), "-p", filepath.Join(gdir, "ganesha.pid"), "-N", "NIV_EVENT")
		if err != nil {
			return err
		}
		for _, port := range []int{ganeshaNFSPort, ganeshaMountPort} {
			if err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second); err != nil {
				return fmt.Errorf("ganesha did not start (see %s): %w", filepath.Join(gdir, "ganesha.log"), err)
			}
		}
		u := fmt.Sprintf("?version=3&nfsport=%d&mountport=%d&auto-traverse-mounts=0", ganeshaNFSPort, ganeshaMountPort)
		base := "nfs://127.0.0.1" + b.data
		b.servers = append(b.servers, &server{
			name: "ganesha", pid: p.cmd.Process.Pid,
			readURL:  base + "/big.bin" + u,
			writeURL: func(i int) string { return fmt.Sprintf("%s/wr-%d.bin%s", base, i, u) },
			written: func(i int) string {
				if i < 0 {
					return filepath.Join(b.data, fmt.Sprintf("wr-go-%d.bin", -i))
				}
				return filepath.Join(b.data, fmt.Sprintf("wr-%d.bin", i))
			},
			listURL: base + "/tree" + u,
			nfsAddr: fmt.Sprintf("127.0.0.1:%d", ganeshaNFSPort), mountAddr: fmt.Sprintf("127.0.0.1:%d", ganeshaMountPort),
			export: b.data, bigPath: "big.bin", treePath: "tree", wdir: "",
		})
	}
	for _, sv := range []struct {
		name, tables string
		port         int
	}{
		{"statelite", filepath.Join(o.work, "demo", "tables"), stateliteNFSPort},
		{"statelite-plain", filepath.Join(o.work, "demo", "tables-plain"), plainNFSPort},
	} {
		if !want[sv.name] {
			continue
		}
		state := filepath.Join(o.work, "state")
		if sv.name != "statelite" {
			state = filepath.Join(o.work, "state-"+sv.name)
		}
		args := []string{"serve", "--tables", sv.tables, "--state", state,
			"--mnt", filepath.Join(o.work, "mnt"), "--nfs", fmt.Sprintf("127.0.0.1:%d", sv.port)}
		if o.metrics && sv.name == "statelite" {
			args = append(args, "--metrics", metricsAddr)
		}
		log := filepath.Join(o.work, sv.name+".log")
		p, err := b.start(sv.name, log, o.statelite, args...)
		if err != nil {
			return err
		}
		if err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", sv.port), 30*time.Second); err != nil {
			return fmt.Errorf("%s did not start (see %s): %w", sv.name, log, err)
		}
		b.servers = append(b.servers, viewServer(sv.name, p.cmd.Process.Pid, sv.port, "/nodes/n1", state))
	}
	if want["go-nfs"] {
		// The plain Go baseline: go-nfs v0.0.4 serving n1's view through the go-billy
		// face (bench/gonfs), MOUNT and NFS on one port; a mount of a directory mounts it.
		state := filepath.Join(o.work, "state-go-nfs")
		os.RemoveAll(state)
		log := filepath.Join(o.work, "go-nfs.log")
		addr := fmt.Sprintf("127.0.0.1:%d", gonfsPort)
		p, err := b.start("go-nfs", log, o.gonfs, "--tables", filepath.Join(o.work, "demo", "tables"),
			"--mnt", filepath.Join(o.work, "mnt"), "--state", state, "--node", "n1", "--addr", addr)
		if err != nil {
			return err
		}
		if err := waitTCP(ctx, addr, 30*time.Second); err != nil {
			return fmt.Errorf("go-nfs did not start (see %s): %w", log, err)
		}
		b.servers = append(b.servers, viewServer("go-nfs", p.cmd.Process.Pid, gonfsPort, "/", state))
	}
	if len(b.servers) == 0 {
		return errors.New("no server selected")
	}
	return nil
}

// viewServer is a server of node n1's view (statelite, statelite-plain, go-nfs) on
// 127.0.0.1:port (MOUNT and NFS), mounted at export, with its fs state in state: the big
// file and the tree are image files under /bench, writes go to the volatile /tmp.
func viewServer(name string, pid, port int, export, state string) *server {
	u := fmt.Sprintf("?version=3&nfsport=%d&mountport=%d&auto-traverse-mounts=0", port, port)
	base := "nfs://127.0.0.1" + strings.TrimSuffix(export, "/")
	upper := func(name string) string {
		// The node's volatile layer: state/fs/volatile/n1/<epoch>/tmp.
		cur, _ := os.ReadFile(filepath.Join(state, "fs", "volatile", "n1", "current"))
		return filepath.Join(state, "fs", "volatile", "n1", strings.TrimSpace(string(cur)), "tmp", name)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return &server{
		name: name, pid: pid,
		readURL:  base + "/bench/big.bin" + u,
		writeURL: func(i int) string { return fmt.Sprintf("%s/tmp/wr-%d.bin%s", base, i, u) },
		written: func(i int) string {
			if i < 0 {
				return upper(fmt.Sprintf("wr-go-%d.bin", -i))
			}
			return upper(fmt.Sprintf("wr-%d.bin", i))
		},
		listURL: base + "/bench/tree" + u,
		nfsAddr: addr, mountAddr: addr, export: export,
		bigPath: "bench/big.bin", treePath: "bench/tree", wdir: "tmp",
	}
}

func ganeshaConf(export, recovery string) string {
	return fmt.Sprintf(`NFS_CORE_PARAM {
	Bind_Addr = 127.0.0.1;
	NFS_Port = %d;
	MNT_Port = %d;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Enable_UDP = false;
	Protocols = 3;
}
NFSV4 {
	Graceless = true;
	RecoveryRoot = %q;
}
NFS_KRB5 {
	Active_krb5 = false;
}
EXPORT {
	Export_Id = 1;
	Path = %q;
	Pseudo = %q;
	Access_Type = RW;
	Squash = No_Root_Squash;
	Protocols = 3;
	Transports = TCP;
	SecType = sys;
	FSAL {
		Name = VFS;
	}
}
`, ganeshaNFSPort, ganeshaMountPort, recovery, export, export)
}

// start runs a long-lived process, its output going to logfile.
func (b *bench) start(name, logfile, bin string, args ...string) (*proc, error) {
	lf, err := os.Create(logfile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); lf.Close(); close(p.done) }()
	b.procs = append(b.procs, p)
	b.logf("started %s (pid %d)", name, cmd.Process.Pid)
	return p, nil
}

// stopAll stops the processes this program started, newest first, by PID: SIGTERM,
// then SIGKILL after 10 s.
func (b *bench) stopAll() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		p := b.procs[i]
		select {
		case <-p.done:
			continue
		default:
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		b.logf("stopped %s (pid %d)", p.name, p.cmd.Process.Pid)
	}
	b.procs = nil
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(end) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func httpGet(addr, path string) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr)
	return io.ReadAll(c)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func cmdOutput(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func pkgVersion(pkg string) string {
	return cmdOutput("dpkg-query", "-W", "-f", "${Version}", pkg)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

var phaseTitle = map[string]string{
	"read":     "read %d MiB (nfs-cp to tmpfs)",
	"read-cat": "read %d MiB (nfs-cat > /dev/null)",
	"write":    "write %d MiB (nfs-cp from tmpfs)",
	"list":     "list %d entries (nfs-ls -R)",
	"go-read":  "read %d MiB (Go client)",
	"go-write": "write %d MiB (Go client)",
	"go-list":  "list %d entries (Go client, READDIRPLUS)",
	"go-walk":  "stat %d entries (Go client, LOOKUP+GETATTR)",
}

func (b *bench) title(ph string) string {
	if ph == "list" || ph == "go-list" || ph == "go-walk" {
		return fmt.Sprintf(phaseTitle[ph], b.o.entries)
	}
	return fmt.Sprintf(phaseTitle[ph], b.o.sizeMiB)
}

// report renders the results as markdown.
func (b *bench) report(res map[string]map[string][]sample) string {
	var w strings.Builder
	o := b.o
	fmt.Fprintf(&w, "# NFS benchmark: statelite vs nfs-ganesha\n\n")
	cmd := "make bench-nfs"
	if len(o.flags) > 0 {
		cmd += " NFSBENCH_FLAGS='" + strings.Join(o.flags, " ") + "'"
	}
	fmt.Fprintf(&w, "Generated by `%s` (bench/ganesha/run.sh, bench/cmd/nfsbench) on %s.\n\n", cmd, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&w, "- machine: %s, %d CPUs, kernel %s\n", cpuModel(), runtime.NumCPU(), cmdOutput("uname", "-r"))
	fmt.Fprintf(&w, "- nfs-ganesha %s (FSAL VFS) exporting a plain directory; statelite serving node n1's overlay view of the demo cluster whose image root holds the same files (hard links)\n", pkgVersion("nfs-ganesha"))
	fmt.Fprintf(&w, "- client: libnfs-utils %s on the same host, NFSv3 over TCP on 127.0.0.1, both servers in one private network namespace\n", pkgVersion("libnfs-utils"))
	fmt.Fprintf(&w, "- statelite: %s\n", b.stateliteVersion())
	fmt.Fprintf(&w, "- load average (1/5/15 min) at the start: %s, at the end: %s\n", b.loadStart, b.loadEnd)
	fmt.Fprintf(&w, "- %d runs of each benchmark after one warm-up listing and read per server; servers alternate which goes first; figures are medians. Server CPU = the server process's CPU time over the run (sum of its threads' run times from /proc/PID/task/*/schedstat; utime+stime of /proc/PID/stat when a thread ended meanwhile). Writes go to a new file per run (ganesha: the export; statelite: `/tmp`, a volatile path of the view), followed by an untimed `sync`; the file's page-cache pages are then dropped and the file removed (ganesha keeps files it wrote open, so removing alone kept their pages).\n\n", o.runs)
	g, s := res["ganesha"], res["statelite"]
	if g != nil && s != nil {
		fmt.Fprintf(&w, "| benchmark | ganesha time (s) | statelite time (s) | time ratio (target ≤ 1) | ganesha CPU (s) | statelite CPU (s) | CPU ratio (target ≤ 1.5) | targets |\n")
		fmt.Fprintf(&w, "|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, ph := range o.phases {
			gw, sw := median(walls(g[ph])), median(walls(s[ph]))
			gc, sc := median(cpus(g[ph])), median(cpus(s[ph]))
			tr, cr := sw/gw, ratio(sc, gc)
			ok := "met"
			if tr > 1 || cr > 1.5 {
				ok = "**missed**"
			}
			fmt.Fprintf(&w, "| %s | %.3f | %.3f | %.2f | %.3f | %.3f | %s | %s |\n", b.title(ph), gw, sw, tr, gc, sc, fmtRatio(cr), ok)
		}
		fmt.Fprintln(&w)
		fmt.Fprintf(&w, "Best of %d runs (the least disturbed by other load on the machine):\n\n", o.runs)
		fmt.Fprintf(&w, "| benchmark | ganesha time (s) | statelite time (s) | time ratio | ganesha CPU (s) | statelite CPU (s) | CPU ratio |\n")
		fmt.Fprintf(&w, "|---|---:|---:|---:|---:|---:|---:|\n")
		for _, ph := range o.phases {
			gw, sw := slices.Min(walls(g[ph])), slices.Min(walls(s[ph]))
			gc, sc := slices.Min(cpus(g[ph])), slices.Min(cpus(s[ph]))
			fmt.Fprintf(&w, "| %s | %.3f | %.3f | %.2f | %.3f | %.3f | %s |\n", b.title(ph), gw, sw, sw/gw, gc, sc, fmtRatio(ratio(sc, gc)))
		}
		fmt.Fprintln(&w)
		gf, sf := b.server("ganesha").firstList, b.server("statelite").firstList
		fmt.Fprintf(&w, "The first listing after start (the warm-up, cold server caches: ganesha's metadata cache is still empty): ganesha %.3f s, %.3f s CPU; statelite %.3f s, %.3f s CPU (time ratio %.2f, CPU ratio %s).\n\n",
			gf.wall, gf.cpu, sf.wall, sf.cpu, sf.wall/gf.wall, fmtRatio(ratio(sf.cpu, gf.cpu)))
	}
	if g != nil && len(b.servers) > 2 {
		fmt.Fprintf(&w, "Every server's median time against ganesha's (statelite-plain: statelite without litefile rules, the overlay's cost; go-nfs: go-nfs v0.0.4 serving the same view through its go-billy face, what a Go developer would build first):\n\n| benchmark |")
		for _, sv := range b.servers {
			if sv.name != "ganesha" {
				fmt.Fprintf(&w, " %s |", sv.name)
			}
		}
		fmt.Fprintf(&w, "\n|---|")
		for _, sv := range b.servers {
			if sv.name != "ganesha" {
				fmt.Fprintf(&w, "---:|")
			}
		}
		fmt.Fprintln(&w)
		for _, ph := range o.phases {
			fmt.Fprintf(&w, "| %s |", b.title(ph))
			for _, sv := range b.servers {
				if sv.name == "ganesha" {
					continue
				}
				if r := res[sv.name][ph]; len(r) > 0 {
					fmt.Fprintf(&w, " %.2f |", median(walls(r))/median(walls(g[ph])))
				} else {
					fmt.Fprintf(&w, " – |")
				}
			}
			fmt.Fprintln(&w)
		}
		fmt.Fprintln(&w)
	}
	fmt.Fprintf(&w, "All runs (wall s / server CPU s / client CPU s):\n\n| server | benchmark |")
	for i := 1; i <= o.runs; i++ {
		fmt.Fprintf(&w, " run %d |", i)
	}
	fmt.Fprintf(&w, "\n|---|---|")
	for i := 1; i <= o.runs; i++ {
		fmt.Fprintf(&w, "---|")
	}
	fmt.Fprintln(&w)
	for _, sv := range b.servers {
		for _, ph := range o.phases {
			fmt.Fprintf(&w, "| %s | %s |", sv.name, ph)
			for _, x := range res[sv.name][ph] {
				fmt.Fprintf(&w, " %.3f / %.3f / %.3f |", x.wall, x.cpu, x.clientCPU)
			}
			fmt.Fprintln(&w)
		}
	}
	fmt.Fprintln(&w)
	for _, sv := range b.servers {
		if len(sv.listLines) > 0 {
			fmt.Fprintf(&w, "- %s: `nfs-ls -R` printed %d lines per listing\n", sv.name, sv.listLines[0])
		}
	}
	return w.String()
}

func (b *bench) server(name string) *server {
	for _, s := range b.servers {
		if s.name == name {
			return s
		}
	}
	return &server{}
}

func (b *bench) stateliteVersion() string {
	dir := filepath.Dir(filepath.Dir(b.o.statelite))
	rev := cmdOutput("git", "-C", dir, "rev-parse", "--short", "HEAD")
	if rev == "?" {
		return "binary " + b.o.statelite
	}
	if st := cmdOutput("git", "-C", dir, "status", "--porcelain", "--untracked-files=no"); st != "" && st != "?" {
		rev += " plus uncommitted changes"
	}
	return "commit " + rev
}

func walls(xs []sample) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x.wall
	}
	return out
}

func cpus(xs []sample) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x.cpu
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return 1
		}
		return a / 0.001
	}
	return a / b
}

func fmtRatio(r float64) string { return strconv.FormatFloat(r, 'f', 2, 64) }
