package nfsd_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"statelite/cmd/cli"
	"statelite/cmd/demo"
)

// TestQemuPXEBoot is the end-to-end acceptance of the boot package (issue 5): qemu under
// TCG PXE-boots with its iPXE ROM from the TFTP server of an in-process `statelite serve
// --tftp` on 127.0.0.1 (bootfile=tftp://10.0.2.2:PORT/pxelinux.0: port 69 is qemu's
// own), pxelinux loads the configuration rendered for the node's MAC
// (pxelinux.cfg/01-<mac>), the kernel and initrd from <rootimgdir>, and the kernel
// mounts its root from the server's nfsd through the dracut-style root=nfs:… the
// configuration carries (testdata/qemu/init parses it). Nothing is staged by hand: the
// tables get mac, noderes.nfsserver (10.0.2.2, the host as the guest sees it) and
// linuximage.addkcmdline, then `statelite nodeset n1,n2 statelite`.
//
// Three boots, told apart by MAC: n1 (the checks of testdata/qemu/check.sh; leaves
// persistent and volatile markers), n1 again (a new boot: a new token in its root path,
// the volatile layer reset, the persistent markers kept), n2 (none of n1's files). The
// check script runs as the node's init and finds its phase from what it sees; the test
// checks that the expected phase ran.
//
// Skipped like TestQemuNFSRoot when tools are missing (failed under CI=true), and in
// -short mode.
func TestQemuPXEBoot(t *testing.T) {
	if testing.Short() && !qemuInCI() {
		t.Skip("PXE boots under qemu take about 20 s each; skipped in -short mode")
	}
	for _, tool := range []string{"qemu-system-x86_64", "timeout", "apt-get", "dpkg-deb", "depmod", "modprobe", "cpio", "gzip", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			qemuSkip(t, "%s not found (install qemu-system-x86 kmod cpio: see .ci/run)", tool)
		}
	}
	const (
		pxelinux = "/usr/lib/PXELINUX/pxelinux.0"
		ldlinux  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	)
	for f, pkg := range map[string]string{pxelinux: "pxelinux", ldlinux: "syslinux-common"} {
		if _, err := os.Stat(f); err != nil {
			qemuSkip(t, "%s not found (install %s: see .ci/run)", f, pkg)
		}
	}
	if !pxeHaveROM() {
		qemuSkip(t, "qemu's virtio-net boot ROM efi-virtio.rom not found (install ipxe-qemu: see .ci/run)")
	}
	bootFiles := qemuBuild(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cl, err := demo.Build(ctx, filepath.Join(dir, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	if !cl.Busybox {
		qemuSkip(t, "the demo image has no busybox userland (install busybox-static)")
	}
	check, err := os.ReadFile(filepath.Join("testdata", "qemu", "check.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cl.Root, "sbin", "statelite-check"), check, 0o755); err != nil {
		t.Fatal(err)
	}
	// The image's boot files where the boot package reads them: <rootimgdir>/kernel and
	// <rootimgdir>/initrd-statelite.gz; the TFTP root holds pxelinux and its ldlinux.c32.
	imgdir := filepath.Dir(cl.Root)
	tftproot := filepath.Join(dir, "tftpboot")
	for src, dst := range map[string]string{
		bootFiles.kernel: filepath.Join(imgdir, "kernel"),
		bootFiles.initrd: filepath.Join(imgdir, "initrd-statelite.gz"),
		pxelinux:         filepath.Join(tftproot, "pxelinux.0"),
		ldlinux:          filepath.Join(tftproot, "ldlinux.c32"),
	} {
		if err := pxeCopy(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	macs := map[string]string{"n1": "52:54:00:00:00:01", "n2": "52:54:00:00:00:02"}
	for _, args := range [][]string{
		{"chtab", "node=n1", "mac.interface=eth0", "mac.mac=" + macs["n1"]},
		{"chtab", "node=n2", "mac.interface=eth0", "mac.mac=" + macs["n2"]},
		{"chtab", "node=compute", "noderes.nfsserver=10.0.2.2"},
		{"chtab", "imagename=" + cl.Image, "linuximage.addkcmdline=console=ttyS0 panic=-1 quiet statelite.init=/sbin/statelite-check"},
		{"nodeset", "n1,n2", "statelite"},
	} {
		var out, errb bytes.Buffer
		root := cli.NewRoot(strings.NewReader(""), &out, &errb)
		root.SetArgs(append([]string{"--tables", cl.Tables, "--mnt", filepath.Join(cl.Dir, "mnt")}, args...))
		if err := root.ExecuteContext(ctx); err != nil {
			t.Fatalf("statelite %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		if args[0] == "nodeset" {
			t.Logf("statelite %s: %s", strings.Join(args, " "), strings.TrimSpace(out.String()))
		}
	}

	srv := pxeServe(ctx, t, cl, filepath.Join(dir, "srvstate"), tftproot)
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.text(0))
		}
	}()
	t.Logf("statelite serve: nfs 127.0.0.1:%s, tftp 127.0.0.1:%s", srv.nfsPort, srv.tftpPort)

	boots := []struct {
		node, phase string
		want        []string // checks that must be among the OKs
	}{
		{"n1", "first", []string{
			"read_image", "read_tmpfs", "read_ro", "read_persistent", "read_con_common", "read_con_node",
			"write_tmp", "write_tmpfs", "write_persistent", "write_root",
			"rofs_passwd", "rofs_passwd_unchanged", "rofs_bin", "rofs_ro_path",
			"shadow_root", "su_alice", "shadow_alice", "stat_setuid",
			"hardlink", "symlink", "mkfifo", "rm_tree", "mv_file", "read_big", "sticky_tmp",
		}},
		{"n1", "second", []string{
			"persistent_hostname", "persistent_root", "volatile_tmp", "volatile_tmpfs", "volatile_whiteout", "tmp_empty",
		}},
		{"n2", "other", []string{
			"other_hostname", "other_root", "other_tmp", "read_con_node",
		}},
	}
	tokens := map[string]string{}     // node -> token of its last boot
	lastCfg := map[string]time.Time{} // node -> when its last configuration was served
	for i, b := range boots {
		name := fmt.Sprintf("%s-%s", b.node, b.phase)
		// Configuration fetches of a node less than boot.DefaultBootWindow (10 s) apart
		// are one boot: a node's next boot starts at least that long after its last
		// fetch, as a real reboot does (qemu adds ~5 s of firmware and DHCP before it).
		if d := time.Until(lastCfg[b.node].Add(10 * time.Second)); d > 0 {
			t.Logf("waiting %.1f s: the boot window of %s's last configuration fetch", d.Seconds(), b.node)
			time.Sleep(d)
		}
		mark := srv.mark()
		start := time.Now()
		console, runErr := pxeBoot(ctx, srv.tftpPort, macs[b.node])
		wall := time.Since(start)
		os.WriteFile(filepath.Join(dir, name+".console.log"), console, 0o644)
		res := qemuParse(console)
		g := pxeGuest(console)
		ev := srv.events(mark, b.node, start)

		t.Logf("boot %d (%s, MAC %s): %.1f s wall; config %s served at +%s; kernel (%s bytes) over TFTP in %s (blksize %s, sent by +%s); initrd in %s; root mounted at guest uptime %ss, checks done at %ss; %d OK, %d FAIL",
			i+1, name, macs[b.node], wall.Seconds(), ev.config, ev.configAt, ev.kernelSize, ev.kernelTime, ev.blksize, ev.kernelAt,
			ev.initrdTime, res.mounted, res.done, len(res.ok), len(res.fail))
		t.Logf("boot %d (%s): guest mounted %s; its / in /proc/mounts: %s; its kernel command line: %s", i+1, name, g.src, g.rootLine, g.cmdline)

		failed := false
		errorf := func(format string, a ...any) {
			t.Errorf(name+": "+format, a...)
			failed = true
		}
		for _, f := range res.fail {
			errorf("CHECK %s", f)
		}
		for _, w := range b.want {
			if !res.ok[w] && !res.failed[w] {
				errorf("check %s did not run", w)
			}
		}
		if !res.alldone {
			errorf("no ALLDONE on the console (qemu: %v)", runErr)
		}
		if g.phase != b.phase {
			errorf("the check script ran phase %q, want %q (BOOT line: %q)", g.phase, b.phase, g.bootLine)
		}
		// The server: one boot of this node, its configuration rendered for its MAC,
		// the image's kernel and initrd sent over TFTP; the guest mounted the root path
		// with the boot's token.
		wantCfg := "pxelinux.cfg/01-" + strings.ReplaceAll(macs[b.node], ":", "-")
		if ev.config != wantCfg {
			errorf("configuration served for the node: %q, want %q", ev.config, wantCfg)
		}
		if len(ev.tokens) != 1 {
			errorf("boot events of %s on the server: %q, want exactly one", b.node, ev.tokens)
		}
		if ev.kernelTime == "" || ev.initrdTime == "" {
			errorf("the server logged no TFTP transfer of the image's kernel and initrd")
		}
		if g.node != b.node || len(ev.tokens) == 0 || g.token != ev.tokens[0] {
			errorf("guest mounted %q (node %q, token %q); the server's boot event: node %s, tokens %q", g.src, g.node, g.token, b.node, ev.tokens)
		}
		if prev, ok := tokens[b.node]; ok && prev == g.token {
			errorf("the second boot of %s reuses the token %s", b.node, prev)
		}
		tokens[b.node] = g.token
		lastCfg[b.node] = ev.lastCfg
		if failed {
			t.Logf("%s console:\n%s", name, qemuClean(console))
			t.Logf("%s server log:\n%s", name, srv.text(mark))
		}
		if !res.alldone {
			t.FailNow() // the next boots depend on this one
		}
		if b.phase == "first" {
			for p, want := range map[string]string{"root/marker": "root-n1\n", "etc/hostname": "n1-boot1\n"} {
				got, err := os.ReadFile(filepath.Join(cl.State, "n1", p))
				if err != nil || string(got) != want {
					t.Errorf("after %s: PR(n1)/%s = %q, %v; want %q", name, p, got, err, want)
				}
			}
		}
	}
}

// pxeHaveROM reports whether qemu finds the virtio-net option ROM (efi-virtio.rom of
// ipxe-qemu) in one of Debian's firmware directories.
func pxeHaveROM() bool {
	for _, d := range []string{"/usr/lib/ipxe/qemu", "/usr/share/qemu"} {
		if _, err := os.Stat(filepath.Join(d, "efi-virtio.rom")); err == nil {
			return true
		}
	}
	return false
}

func pxeCopy(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// pxeServer is an in-process `statelite serve --nfs 127.0.0.1:0 --tftp 127.0.0.1:0`; it
// keeps the server's log lines with the time each arrived.
type pxeServer struct {
	nfsPort, tftpPort string
	mu                sync.Mutex
	lines             []pxeLine
}

type pxeLine struct {
	at   time.Time
	text string
}

func (s *pxeServer) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

func (s *pxeServer) since(mark int) []pxeLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pxeLine(nil), s.lines[mark:]...)
}

func (s *pxeServer) text(mark int) string {
	var b strings.Builder
	for _, l := range s.since(mark) {
		b.WriteString(l.text + "\n")
	}
	return b.String()
}

var (
	pxeServingRE = regexp.MustCompile(`msg=serving nfs=127\.0\.0\.1:(\d+)`)
	pxeTFTPRE    = regexp.MustCompile(`msg=tftp addr=127\.0\.0\.1:(\d+)`)
	pxeBootRE    = regexp.MustCompile(`msg=boot node=(\S+) token=(\S+)`)
	pxeConfigRE  = regexp.MustCompile(`msg="boot config served" name=(\S+) node=(\S+)`)
	pxeSentRE    = regexp.MustCompile(`msg="tftp sent" name=xcat/osimage/\S+/(kernel|initrd-statelite\.gz) .*duration=(\S+) blksize=(\S*) tsize=(\S*)`)
)

func pxeServe(ctx context.Context, t *testing.T, cl *demo.Cluster, state, tftproot string) *pxeServer {
	t.Helper()
	s := &pxeServer{}
	pr, pw := io.Pipe()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.lines = append(s.lines, pxeLine{time.Now(), line})
			if m := pxeTFTPRE.FindStringSubmatch(line); m != nil {
				s.tftpPort = m[1]
			}
			if m := pxeServingRE.FindStringSubmatch(line); m != nil {
				s.nfsPort = m[1]
				once.Do(func() { close(ready) })
			}
			s.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		root := cli.NewRoot(strings.NewReader(""), io.Discard, pw)
		root.SetArgs([]string{"--tables", cl.Tables, "--mnt", filepath.Join(cl.Dir, "mnt"),
			"serve", "--state", state, "--nfs", "127.0.0.1:0", "--tftp", "127.0.0.1:0", "--tftp-root", tftproot})
		done <- root.ExecuteContext(sctx)
		pw.Close()
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("statelite serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("statelite serve did not stop within 10 s")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("statelite serve exited: %v\n%s", err, s.text(0))
	case <-time.After(30 * time.Second):
		t.Fatalf("statelite serve did not start within 30 s:\n%s", s.text(0))
	}
	s.mu.Lock()
	port := s.tftpPort
	s.mu.Unlock()
	if port == "" {
		t.Fatalf("statelite serve logged no TFTP address:\n%s", s.text(0))
	}
	return s
}

// pxeEvents is what the server logged about one boot.
type pxeEvents struct {
	tokens                 []string // boot events (volatile layer resets) of the node
	config                 string   // the configuration name served for the node
	configAt, kernelAt     string   // seconds after qemu started
	kernelTime, initrdTime string   // TFTP transfer durations
	kernelSize, blksize    string
	lastCfg                time.Time // when the last configuration was served
}

func (s *pxeServer) events(mark int, node string, start time.Time) pxeEvents {
	var ev pxeEvents
	rel := func(at time.Time) string { return fmt.Sprintf("%.1fs", at.Sub(start).Seconds()) }
	for _, l := range s.since(mark) {
		if m := pxeBootRE.FindStringSubmatch(l.text); m != nil && m[1] == node {
			ev.tokens = append(ev.tokens, m[2])
		}
		if m := pxeConfigRE.FindStringSubmatch(l.text); m != nil && m[2] == node {
			if ev.config == "" {
				ev.config, ev.configAt = m[1], rel(l.at)
			}
			ev.lastCfg = l.at
		}
		if m := pxeSentRE.FindStringSubmatch(l.text); m != nil {
			if m[1] == "kernel" {
				ev.kernelTime, ev.blksize, ev.kernelSize, ev.kernelAt = m[2], m[3], m[4], rel(l.at)
			} else {
				ev.initrdTime = m[2]
			}
		}
	}
	return ev
}

// pxeBoot PXE-boots a qemu guest with MAC mac from the TFTP server on 127.0.0.1:port
// (10.0.2.2:port in the guest); it returns the serial console's output. A boot that
// cannot go on (pxelinux found no configuration, the firmware found nothing to boot) is
// stopped at once rather than at the timeout.
func pxeBoot(ctx context.Context, port, mac string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "timeout", "-k", "5", "150",
		"qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
		"-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-boot", "n",
		"-netdev", "user,id=n0,net=10.0.2.0/24,bootfile=tftp://10.0.2.2:"+port+"/pxelinux.0",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac)
	// timeout passes SIGTERM on to qemu (SIGKILL would leave qemu running).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out := &pxeConsole{stop: func() {
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
	}
	return out.buf.Bytes(), err
}

// pxeFatal are console messages after which a PXE boot goes nowhere.
var pxeFatal = []string{
	"Boot failed: press a key to retry", // pxelinux: no configuration, or no kernel
	"No bootable device",                // SeaBIOS: iPXE got no DHCP answer or boot file
}

// pxeConsole collects qemu's output and calls stop once a pxeFatal message shows.
type pxeConsole struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	fatal string
	stop  func()
}

func (c *pxeConsole) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := max(c.buf.Len()-64, 0)
	c.buf.Write(p)
	if c.fatal == "" {
		for _, m := range pxeFatal {
			if bytes.Contains(c.buf.Bytes()[from:], []byte(m)) {
				c.fatal = m
				c.stop()
				break
			}
		}
	}
	return len(p), nil
}

// pxeGuestView is what the guest printed about its root and its phase.
type pxeGuestView struct {
	src, node, token string // INIT mounted SRC: /nodes/NODE/@TOKEN
	phase, bootLine  string // check.sh's BOOT line
	rootLine         string // check.sh's line of /proc/mounts for /
	cmdline          string // the kernel command line (check.sh's BOOT cmdline)
}

var (
	pxeMountedRE = regexp.MustCompile(`INIT mounted (\S+:/nodes/([^/\s]+)(?:/@(\S+))?) on /newroot`)
	pxePhaseRE   = regexp.MustCompile(`BOOT node=\S* phase=(\S+)`)
	pxeRootRE    = regexp.MustCompile(`BOOT root (.*)`)
	pxeCmdlineRE = regexp.MustCompile(`BOOT cmdline (.*)`)
)

func pxeGuest(console []byte) pxeGuestView {
	var g pxeGuestView
	for _, line := range strings.Split(qemuClean(console), "\n") {
		if m := pxeMountedRE.FindStringSubmatch(line); m != nil {
			g.src, g.node, g.token = m[1], m[2], m[3]
		}
		if m := pxePhaseRE.FindStringSubmatch(line); m != nil {
			g.phase, g.bootLine = m[1], line
		}
		if m := pxeRootRE.FindStringSubmatch(line); m != nil {
			g.rootLine = m[1]
		}
		if m := pxeCmdlineRE.FindStringSubmatch(line); m != nil {
			g.cmdline = m[1]
		}
	}
	return g
}
