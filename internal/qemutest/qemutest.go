// Package qemutest holds what the qemu tests (and the short boot-storm test) of several
// packages share: an in-process server (package server, as `statelite serve` runs it: NFS, optionally TFTP) whose log lines
// are kept, a PXE boot of a qemu
// guest (TCG, iPXE ROM, serial console) stopped as soon as the console says it is done
// or stuck, and the CI/skip conventions. Tests only: everything is bounded in time and
// stopped by the test.
package qemutest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"statelite/internal/need"
	"statelite/server"
)

// InCI reports whether everything the tests need must be there: under make test or CI
// (need.Strict).
func InCI() bool { return need.Strict() }

// Skip skips the test, or fails it under make test and CI, where everything must be
// installed (need.Skip).
func Skip(t testing.TB, format string, a ...any) {
	t.Helper()
	need.Skip(t, format, a...)
}

var escRE = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|c)`)

// Clean strips the terminal escapes SeaBIOS prints and carriage returns.
func Clean(console []byte) string {
	return strings.ReplaceAll(escRE.ReplaceAllString(string(console), ""), "\r", "")
}

// HaveROM reports whether qemu finds the virtio-net option ROM (efi-virtio.rom of
// ipxe-qemu) in one of Debian's firmware directories.
func HaveROM() bool {
	for _, d := range []string{"/usr/lib/ipxe/qemu", "/usr/share/qemu"} {
		if _, err := os.Stat(filepath.Join(d, "efi-virtio.rom")); err == nil {
			return true
		}
	}
	return false
}

// PXELinux and LDLinux are Debian's pxelinux (package pxelinux) and its ldlinux.c32
// (syslinux-common).
const (
	PXELinux = "/usr/lib/PXELINUX/pxelinux.0"
	LDLinux  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
)

// CopyFile copies src to dst, making dst's directory.
func CopyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// Server is an in-process `statelite serve --nfs 127.0.0.1:0 [--tftp 127.0.0.1:0]`; it
// keeps the server's log lines with the time each arrived.
type Server struct {
	NFSPort, TFTPPort string
	mu                sync.Mutex
	lines             []Line
}

// Line is one log line of the server.
type Line struct {
	At   time.Time
	Text string
}

// Mark returns a position in the log (for Since and Text).
func (s *Server) Mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// Since returns the log lines after mark.
func (s *Server) Since(mark int) []Line {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Line(nil), s.lines[mark:]...)
}

// Text returns the log after mark.
func (s *Server) Text(mark int) string {
	var b strings.Builder
	for _, l := range s.Since(mark) {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

var (
	bootRE   = regexp.MustCompile(`msg=boot node=(\S+) token=(\S+)`)
	configRE = regexp.MustCompile(`msg="boot config served" name=(\S+) node=(\S+)`)
	sentRE   = regexp.MustCompile(`msg="tftp sent" name=xcat/osimage/\S+/(kernel|initrd-statelite\.gz) .*duration=(\S+) blksize=(\S*) tsize=(\S*)`)
)

// ServeOptions say what to serve.
type ServeOptions struct {
	Tables, Mnt, State string
	TFTPRoot           string               // "" = no TFTP server
	Tune               func(*server.Config) // more of the server's configuration
}

// Serve starts the server for the test (server.New, as statelite serve does, on
// 127.0.0.1 with an ephemeral port); it is stopped at the test's cleanup. Its log lines
// are kept (Mark, Since, Text, Events).
func Serve(ctx context.Context, t testing.TB, o ServeOptions) *Server {
	t.Helper()
	s := &Server{}
	pr, pw := io.Pipe()
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, Line{time.Now(), sc.Text()})
			s.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	cfg := server.Config{Tables: o.Tables, Mnt: o.Mnt, State: o.State, NFS: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(pw, nil))}
	if o.TFTPRoot != "" {
		cfg.TFTP, cfg.TFTPRoot = "127.0.0.1:0", o.TFTPRoot
	}
	if o.Tune != nil {
		o.Tune(&cfg)
	}
	srv, err := server.New(ctx, cfg)
	if err != nil {
		pw.Close()
		<-logDone
		t.Fatalf("statelite server: %v\n%s", err, s.Text(0))
	}
	port := func(a net.Addr) string {
		_, p, _ := net.SplitHostPort(a.String())
		return p
	}
	s.NFSPort = port(srv.NFSAddr())
	if a := srv.TFTPAddr(); a != nil {
		s.TFTPPort = port(a)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- srv.Run(sctx)
		pw.Close()
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("statelite server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("statelite server did not stop within 10 s")
		}
	})
	return s
}

// Events is what the server logged about one boot of a node.
type Events struct {
	Tokens                 []string // boot events (volatile layer resets) of the node
	Config                 string   // the configuration name served for the node
	ConfigAt, KernelAt     string   // seconds after start
	KernelTime, InitrdTime string   // TFTP transfer durations
	KernelSize, Blksize    string
	LastCfg                time.Time // when the last configuration was served
}

// Events returns what the server logged after mark about node's boot started at start.
func (s *Server) Events(mark int, node string, start time.Time) Events {
	var ev Events
	rel := func(at time.Time) string { return fmt.Sprintf("%.1fs", at.Sub(start).Seconds()) }
	for _, l := range s.Since(mark) {
		if m := bootRE.FindStringSubmatch(l.Text); m != nil && m[1] == node {
			ev.Tokens = append(ev.Tokens, m[2])
		}
		if m := configRE.FindStringSubmatch(l.Text); m != nil && m[2] == node {
			if ev.Config == "" {
				ev.Config, ev.ConfigAt = m[1], rel(l.At)
			}
			ev.LastCfg = l.At
		}
		if m := sentRE.FindStringSubmatch(l.Text); m != nil {
			if m[1] == "kernel" {
				ev.KernelTime, ev.Blksize, ev.KernelSize, ev.KernelAt = m[2], m[3], m[4], rel(l.At)
			} else {
				ev.InitrdTime = m[2]
			}
		}
	}
	return ev
}

// Fatal are console messages after which a PXE boot goes nowhere.
var Fatal = []string{
	"Boot failed: press a key to retry", // pxelinux: no configuration, or no kernel
	"No bootable device",                // SeaBIOS: iPXE got no DHCP answer or boot file
	"INIT FAILED",                       // statelite's initrd
	"Kernel panic",
}

// BootOptions say how to PXE-boot a guest.
type BootOptions struct {
	TFTPPort string        // the server's TFTP port on 127.0.0.1 (10.0.2.2 in the guest)
	MAC      string        // the guest's MAC
	Timeout  time.Duration // default 150 s
	MemoryMB int           // default 512
	Done     []string      // console text after which the boot is over (qemu is stopped)
	Log      io.Writer     // the console as it comes, if set
	// Netdev replaces qemu's user networking (whose bootfile is TFTPPort's pxelinux.0),
	// e.g. "tap,id=n0,ifname=tap0,script=no,downscript=no"; its id must be n0.
	Netdev string
	// Wrap runs qemu through a command, e.g. nsenter --net=… (a network namespace).
	Wrap []string
}

// PXEBoot PXE-boots a qemu guest (TCG, one CPU, virtio-net with its iPXE ROM) from the
// TFTP server; it returns the serial console's output. A boot that cannot go on (Fatal)
// or is done (Done) is stopped at once rather than at the timeout.
func PXEBoot(ctx context.Context, o BootOptions) ([]byte, error) {
	if o.Timeout == 0 {
		o.Timeout = 150 * time.Second
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 512
	}
	netdev := o.Netdev
	if netdev == "" {
		netdev = "user,id=n0,net=10.0.2.0/24,bootfile=tftp://10.0.2.2:" + o.TFTPPort + "/pxelinux.0"
	}
	args := append(append([]string(nil), o.Wrap...), "timeout", "-k", "5", fmt.Sprint(int(o.Timeout.Seconds())),
		"qemu-system-x86_64", "-accel", "tcg", "-m", fmt.Sprint(o.MemoryMB), "-smp", "1",
		"-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-boot", "n",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,mac="+o.MAC)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	// timeout passes SIGTERM on to qemu (SIGKILL would leave qemu running).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out := &console{done: o.Done, log: o.Log, stop: func() {
		if cmd.Process != nil {
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}}
	cmd.Stdout = out
	cmd.Stderr = out
	err := cmd.Run()
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.fatal != "" {
		err = fmt.Errorf("stopped early, the console shows %q (qemu exit: %v)", out.fatal, err)
	} else if out.finished {
		err = nil // stopped by us
	}
	return out.buf.Bytes(), err
}

// console collects qemu's output and calls stop once a Fatal or done message shows.
type console struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	fatal    string
	finished bool
	done     []string
	log      io.Writer
	stop     func()
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.log != nil {
		c.log.Write(p)
	}
	from := max(c.buf.Len()-256, 0)
	c.buf.Write(p)
	if c.fatal != "" || c.finished {
		return len(p), nil
	}
	tail := c.buf.Bytes()[from:]
	for _, m := range Fatal {
		if bytes.Contains(tail, []byte(m)) {
			c.fatal = m
			// Let the guest print what follows (INIT FAILED prints dmesg) before stopping.
			time.AfterFunc(2*time.Second, c.stop)
			return len(p), nil
		}
	}
	for _, m := range c.done {
		if i := bytes.Index(tail, []byte(m)); i >= 0 && bytes.IndexByte(tail[i:], '\n') >= 0 {
			c.finished = true
			c.stop()
			break
		}
	}
	return len(p), nil
}
