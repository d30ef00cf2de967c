package storm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a running `statelite serve`.
type Server struct {
	Addr string // NFS address (127.0.0.1:port)
	PID  int    // 0 when in-process
	Log  string // log file (separate process)
	// Startup is the time from exec to the "serving" log line (separate process): loading
	// the tables and the handle log, the cluster index, every node's plan checked.
	Startup time.Duration
	stop    func() error
	kill    func()
}

// Kill kills the server process with SIGKILL (kill -9) and waits for it to be gone.
func (s *Server) Kill() {
	if s.kill != nil {
		s.kill()
	}
}

// Stop stops the server (a process: SIGTERM, then SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() error { return s.stop() }

// NewServer describes a server started otherwise (in-process: pid 0) with its stop
// function.
func NewServer(addr string, pid int, stop func() error) *Server {
	return &Server{Addr: addr, PID: pid, stop: stop}
}

// ServingRE matches the log line of a started server, with its NFS address.
var ServingRE = regexp.MustCompile(`msg=serving nfs=(127\.0\.0\.1:\d+)`)

// ServeArgs are the arguments of `statelite serve` for cluster c.
func ServeArgs(c *Cluster, state string, extra []string) []string {
	args := []string{"--tables", c.Tables, "--mnt", c.Mnt, "serve", "--state", state,
		"--nfs", "127.0.0.1:0", "--admin-allow", "127.0.0.1/32"}
	return append(args, extra...)
}

// StartProcess starts `bin serve` for cluster c as a separate process (its CPU and
// memory are its own), logging to logfile; only 127.0.0.1 is an admin address, so each
// simulated node may mount only its own view.
func StartProcess(ctx context.Context, bin string, c *Cluster, state, logfile string, extra ...string) (*Server, error) {
	lf, err := os.Create(logfile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, ServeArgs(c, state, extra)...)
	t0 := time.Now()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = lf
	pr, err := cmd.StderrPipe()
	if err != nil {
		lf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			lf.WriteString(line + "\n")
			if m := ServingRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(lf, pr)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); lf.Close() }()
	s := &Server{PID: cmd.Process.Pid, Log: logfile}
	var stopErr error
	stopped := false
	s.kill = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Kill()
		<-exited
	}
	s.stop = func() error {
		if stopped {
			return stopErr
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			stopErr = fmt.Errorf("statelite serve (pid %d) did not stop within 10 s of SIGTERM", s.PID)
		}
		return stopErr
	}
	select {
	case s.Addr = <-addr:
		s.Startup = time.Since(t0)
		return s, nil
	case err := <-exited:
		return nil, fmt.Errorf("statelite serve exited (%v); see %s", err, logfile)
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("statelite serve did not start within 60 s; see %s", logfile)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// ProcStats are a process's CPU and memory figures.
type ProcStats struct {
	CPU        float64 // user+system seconds
	RSS, HWM   int64   // bytes: resident now, peak resident (VmHWM)
	Threads    int
	FDs        int
	VoluntaryC int64
}

// Stats reads /proc/PID/stat and /proc/PID/status.
func Stats(pid int) (ProcStats, error) {
	var ps ProcStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return ps, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	ps.CPU = float64(ut+st) / 100 // sysconf(_SC_CLK_TCK) on Linux
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.Fields(v + " 0")[0], 10, 64)
		switch k {
		case "VmRSS":
			ps.RSS = n << 10
		case "VmHWM":
			ps.HWM = n << 10
		case "Threads":
			ps.Threads = int(n)
		case "voluntary_ctxt_switches":
			ps.VoluntaryC = n
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		ps.FDs = len(ents)
	}
	return ps, nil
}

// LoadAvg returns the 1, 5 and 15 minute load averages.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// RaiseNofile raises this process's open-file limit (the servers it starts inherit it):
// to the hard limit, and as root the hard limit to 1,048,576 (the kernel's nr_open
// default) when it is lower. 1,000 client connections need more than the usual 1,024,
// and 10,000 nodes more than a hard limit of 20,000 (a connection, and the files a booted
// node has open, on each side).
func RaiseNofile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if want := uint64(1 << 20); rl.Max < want && os.Geteuid() == 0 {
		up := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			return want, nil
		}
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}
