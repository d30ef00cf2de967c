package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"statelite/cmd/cli"
	"statelite/internal/qemutest"
)

// TestQemuDHCP is the acceptance of issue 17: a node with nothing but its MAC (mac) and
// its address (hosts) boots from statelite alone. A private network namespace (unshare
// -n) holds one TAP device, tap0 (10.9.0.1/24), and nothing else: no qemu user
// networking, no other DHCP server. `statelite serve --dhcp tap0 --tftp 10.9.0.1:69
// --http 10.9.0.1:80 --nfs 10.9.0.1:2049` runs in it (a separate process, the binary of
// TestMain) and qemu's guests are on tap0:
//
//  1. n1 (netboot pxe): iPXE's DHCP from us (pxelinux.0, next-server 10.9.0.1), pxelinux
//     and its configuration from our TFTP, the kernel and initrd, the initrd's own DHCP
//     (udhcpc) from us again, the NFS root from us as 10.9.0.11, the check script.
//  2. An unknown MAC: no answer, no boot; it shows in `statelite nodediscoverls`; after
//     `nodediscoverdef -m MAC -n n2` the same guest boots as n2.
//  3. n1 with noderes.netboot = xnba: its iPXE ROM is handed our HTTP URL of
//     xcat/xnba/nodes/n1 and boots from the script.
//  4. proxyDHCP: dnsmasq (dnsmasq-base) owns the addresses of tap0's network (n1's
//     fixed address from a dhcp-host line) and statelite runs with --dhcp-proxy tap0: the
//     proxy offer and the port 4011 answer give iPXE pxelinux.0, and n1 boots.
//
// Root only (network namespaces, TAP, port 67); skipped like the other qemu tests when
// something is missing, and failed for it under CI.
func TestQemuDHCP(t *testing.T) {
	if testing.Short() && !qemuInCI() {
		t.Skip("PXE boots under qemu take about 20 s each; skipped in -short mode")
	}
	qemuTools(t)
	if os.Geteuid() != 0 {
		qemuSkip(t, "needs root: a network namespace with a TAP device, DHCP on port 67")
	}
	for _, tool := range []string{"unshare", "nsenter", "ip", "dnsmasq"} {
		if _, err := exec.LookPath(tool); err != nil {
			qemuSkip(t, "%s not found (util-linux, iproute2, dnsmasq-base: see .ci/run)", tool)
		}
	}
	for f, pkg := range map[string]string{qemutest.PXELinux: "pxelinux", qemutest.LDLinux: "syslinux-common"} {
		if _, err := os.Stat(f); err != nil {
			qemuSkip(t, "%s not found (install %s: see .ci/run)", f, pkg)
		}
	}
	if !qemutest.HaveROM() {
		qemuSkip(t, "qemu's virtio-net boot ROM not found (install ipxe-qemu: see .ci/run)")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	bootFiles := qemuBuild(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	dir, cl := qemuCluster(ctx, t)
	check, err := os.ReadFile(filepath.Join("testdata", "qemu", "check.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cl.Root, "sbin", "statelite-check"), check, 0o755); err != nil {
		t.Fatal(err)
	}
	imgdir := filepath.Dir(cl.Root)
	tftproot := filepath.Join(dir, "tftpboot")
	for src, dst := range map[string]string{
		bootFiles.kernel:  filepath.Join(imgdir, "kernel"),
		bootFiles.initrd:  filepath.Join(imgdir, "initrd-statelite.gz"),
		qemutest.PXELinux: filepath.Join(tftproot, "pxelinux.0"),
		qemutest.LDLinux:  filepath.Join(tftproot, "ldlinux.c32"),
	} {
		if err := qemutest.CopyFile(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		root := cli.NewRoot(strings.NewReader(""), &out, &errb)
		root.SetArgs(append([]string{"--tables", cl.Tables, "--mnt", filepath.Join(cl.Dir, "mnt")}, args...))
		if err := root.ExecuteContext(ctx); err != nil {
			t.Fatalf("statelite %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	const (
		macN1      = "52:54:00:00:09:01"
		macUnknown = "52:54:00:00:09:02"
	)
	// n1: its MAC and its address; n2: its address only (its MAC comes by discovery).
	// The boot configuration is the image's (nodeset); the demo's noderes.xcatmaster
	// is 127.0.0.1 (its litetree reads local directories), so the group's nfsserver
	// names our address on tap0. DHCP's next-server is the address the request
	// arrived on.
	run("chtab", "node=compute", "noderes.nfsserver=10.9.0.1")
	run("chtab", "node=n1", "mac.interface=eth0", "mac.mac="+macN1)
	run("chtab", "node=n1", "hosts.ip=10.9.0.11")
	run("chtab", "node=n2", "hosts.ip=10.9.0.12")
	run("chtab", "imagename="+cl.Image, "linuximage.addkcmdline=console=ttyS0 panic=-1 quiet statelite.init=/sbin/statelite-check")
	run("nodeset", "n1,n2", "statelite")

	ns := newNetns(ctx, t, dir)
	state := filepath.Join(dir, "srvstate")
	serve := func(name string, dhcpFlag string) *nsProc {
		return ns.start(ctx, t, name, "dhcp listen=", statelite, "--tables", cl.Tables, "--mnt", filepath.Join(cl.Dir, "mnt"),
			"serve", "--state", state, "--nfs", "10.9.0.1:2049", "--tftp", "10.9.0.1:69", "--http", "10.9.0.1:80",
			"--tftp-root", tftproot, dhcpFlag, "tap0")
	}
	srv := serve("statelite", "--dhcp")

	lastBoot := map[string]time.Time{}
	boot := func(name, mac, node string, timeout time.Duration) ([]byte, error) {
		t.Helper()
		// Boots of one node closer than the boot window would be one boot.
		if d := time.Until(lastBoot[node].Add(11 * time.Second)); node != "" && d > 0 {
			time.Sleep(d)
		}
		start := time.Now()
		console, err := qemutest.PXEBoot(ctx, qemutest.BootOptions{MAC: mac, Timeout: timeout,
			Netdev: "tap,id=n0,ifname=tap0,script=no,downscript=no", Wrap: ns.enter()})
		os.WriteFile(filepath.Join(dir, name+".console.log"), console, 0o644)
		lastBoot[node] = time.Now()
		t.Logf("%s: %.1f s", name, time.Since(start).Seconds())
		return console, err
	}
	// booted checks that the guest ran the check script to its end as node, its root
	// mounted from us at 10.9.0.1.
	booted := func(name, node string, console []byte, runErr error) {
		t.Helper()
		res := qemuParse(console)
		g := pxeGuest(console)
		for _, f := range res.fail {
			t.Errorf("%s: CHECK %s", name, f)
		}
		if !res.alldone || g.node != node || !strings.HasPrefix(g.src, "10.9.0.1:") {
			t.Fatalf("%s: guest mounted %q (node %q), ALLDONE %v (qemu: %v); want node %s from 10.9.0.1\nconsole:\n%s\nserver log:\n%s",
				name, g.src, g.node, res.alldone, runErr, node, qemuClean(console), srv.log())
		}
		t.Logf("%s: guest mounted %s, phase %s, %d checks OK", name, g.src, g.phase, len(res.ok))
	}

	// 1. n1 over our DHCP, netboot pxe.
	mark := srv.mark()
	console, err := boot("n1-pxe", macN1, "n1", 150*time.Second)
	booted("n1-pxe", "n1", console, err)
	srv.want(t, mark, "n1-pxe",
		`msg="dhcp offer" node=n1 mac=`+macN1+` ip=10.9.0.11 file=pxelinux.0 next_server=10.9.0.1 iface=tap0 client=bios\+ipxe`,
		`msg="dhcp ack" node=n1 mac=`+macN1+` ip=10.9.0.11 file=pxelinux.0`,
		`msg="boot config served" name=pxelinux.cfg/01-52-54-00-00-09-01 node=n1`,
		`msg="dhcp ack" node=n1 mac=`+macN1+` ip=10.9.0.11 .* client=plain`) // the initrd's udhcpc

	// 2. An unknown MAC: no answer, recorded; bound with nodediscoverdef, it boots as n2.
	mark = srv.mark()
	console, err = boot("unknown", macUnknown, "", 90*time.Second)
	if g := pxeGuest(console); g.node != "" || qemuParse(console).alldone {
		t.Fatalf("the unknown MAC booted (node %q; qemu: %v):\n%s", g.node, err, qemuClean(console))
	}
	if regexp.MustCompile(`msg="dhcp (offer|ack)".*mac=` + macUnknown).MatchString(srv.since(mark)) {
		t.Errorf("the server answered the unknown MAC:\n%s", srv.since(mark))
	}
	ls := run("nodediscoverls", "--state", state)
	t.Logf("nodediscoverls:\n%s", ls)
	if !strings.Contains(ls, macUnknown) {
		t.Fatalf("nodediscoverls does not list %s:\n%s", macUnknown, ls)
	}
	t.Logf("nodediscoverdef: %s", strings.TrimSpace(run("nodediscoverdef", "--state", state, "-m", macUnknown, "-n", "n2")))
	mark = srv.mark()
	console, err = boot("n2-discovered", macUnknown, "n2", 150*time.Second)
	booted("n2-discovered", "n2", console, err)
	srv.want(t, mark, "n2-discovered", `msg="dhcp ack" node=n2 mac=`+macUnknown+` ip=10.9.0.12`)

	// 3. netboot xnba: the iPXE ROM gets our HTTP URL of its script.
	run("chtab", "node=n1", "noderes.netboot=xnba")
	mark = srv.mark()
	console, err = boot("n1-xnba", macN1, "n1", 150*time.Second)
	booted("n1-xnba", "n1", console, err)
	srv.want(t, mark, "n1-xnba",
		`msg="dhcp ack" node=n1 mac=`+macN1+` ip=10.9.0.11 file=http://10.9.0.1/tftpboot/xcat/xnba/nodes/n1 .*client=bios\+ipxe`,
		`msg="boot config served" name=xcat/xnba/nodes/n1 node=n1`)
	run("chtab", "node=n1", "noderes.netboot=pxe")

	// 4. proxyDHCP beside dnsmasq, which owns the addresses.
	srv.stop(t)
	conf := filepath.Join(dir, "dnsmasq.conf")
	os.WriteFile(conf, []byte(strings.Join([]string{
		"port=0", "interface=tap0", "bind-interfaces", "no-resolv", "no-hosts",
		"dhcp-range=10.9.0.100,10.9.0.150,255.255.255.0,1h",
		"dhcp-host=" + macN1 + ",10.9.0.11",
		"dhcp-leasefile=" + filepath.Join(dir, "dnsmasq.leases"),
		"log-dhcp", "",
	}, "\n")), 0o644)
	dm := ns.start(ctx, t, "dnsmasq", "started, version", "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file="+conf, "--user=root")
	defer dm.stop(t)
	srv = serve("statelite-proxy", "--dhcp-proxy")
	mark = srv.mark()
	console, err = boot("n1-proxy", macN1, "n1", 150*time.Second)
	booted("n1-proxy", "n1", console, err)
	srv.want(t, mark, "n1-proxy",
		`msg="dhcp proxy offer" node=n1 mac=`+macN1+` file=pxelinux.0 next_server=10.9.0.1`,
		`msg="boot config served" name=pxelinux.cfg/01-52-54-00-00-09-01 node=n1`)
	if srv.matches(mark, `msg="dhcp (offer|ack)"`) {
		t.Errorf("in proxy mode the server handed out an address:\n%s", srv.since(mark))
	}
	if !regexp.MustCompile(`DHCPACK\(tap0\) 10\.9\.0\.11 ` + macN1).MatchString(dm.log()) {
		t.Errorf("dnsmasq did not give n1 its address:\n%s", dm.log())
	}
	if srv.matches(mark, `msg="dhcp proxy ack"`) {
		t.Logf("n1-proxy: iPXE asked our PXE boot server (port 4011) too")
	}
}

// netns is a private network namespace held by a sleeping process: lo and tap0
// (10.9.0.1/24), nothing else.
type netns struct {
	holder *exec.Cmd
}

func newNetns(ctx context.Context, t *testing.T, dir string) *netns {
	t.Helper()
	script := "set -e; ip link set lo up; ip tuntap add dev tap0 mode tap; ip addr add 10.9.0.1/24 dev tap0; ip link set tap0 up; echo ready; exec sleep 900"
	cmd := exec.CommandContext(ctx, "unshare", "-n", "--", "sh", "-c", script)
	var out bytes.Buffer
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make([]byte, 6)
	r.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := r.Read(line); err != nil || string(line) != "ready\n" {
		t.Fatalf("network namespace: %q, %v: %s", line, err, out.String())
	}
	r.Close()
	return &netns{holder: cmd}
}

// enter is the command prefix that runs a program in the namespace.
func (n *netns) enter() []string {
	return []string{"nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", n.holder.Process.Pid), "--"}
}

// nsProc is a process in the namespace with its output kept.
type nsProc struct {
	name string
	cmd  *exec.Cmd
	out  *procLog
	done chan struct{}
}

// start runs args in the namespace and waits (up to 30 s) for ready in its output.
func (n *netns) start(ctx context.Context, t *testing.T, name, ready string, args ...string) *nsProc {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &nsProc{name: name, out: &procLog{f: f}, done: make(chan struct{})}
	full := append(n.enter(), args...)
	p.cmd = exec.Command(full[0], full[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.After(30 * time.Second)
	for !strings.Contains(p.out.String(), ready) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v):\n%s", name, p.cmd.ProcessState, p.out.String())
		case <-deadline:
			t.Fatalf("%s: no %q within 30 s:\n%s", name, ready, p.out.String())
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return p
}

// stop ends the process: SIGTERM, SIGKILL after 10 s.
func (p *nsProc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s (pid %d) did not stop within 10 s of SIGTERM; killing it", p.name, p.cmd.Process.Pid)
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *nsProc) log() string { return p.out.String() }
func (p *nsProc) mark() int   { return len(p.out.String()) }
func (p *nsProc) since(mark int) string {
	s := p.out.String()
	if mark > len(s) {
		return ""
	}
	return s[mark:]
}

func (p *nsProc) matches(mark int, re string) bool {
	return regexp.MustCompile(re).MatchString(p.since(mark))
}

// want requires each pattern in the output after mark, in order.
func (p *nsProc) want(t *testing.T, mark int, name string, patterns ...string) {
	t.Helper()
	rest := p.since(mark)
	for _, pat := range patterns {
		loc := regexp.MustCompile(pat).FindStringIndex(rest)
		if loc == nil {
			t.Errorf("%s: the %s log has no line matching %q (in order) after the boot started:\n%s", name, p.name, pat, p.since(mark))
			return
		}
		rest = rest[loc[1]:]
	}
}
