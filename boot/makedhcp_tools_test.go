package boot_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"statelite/boot"
	"statelite/internal/qemutest"
	"statelite/tables"
)

// TestMakeDHCPRealTools has the real servers check makedhcp's output for the Cookbook
// cluster (testdata/makedhcp/tables): `dhcpd -t` (isc-dhcp-server) parses the ISC
// configuration and `dnsmasq --test` (dnsmasq-base) the dnsmasq one, each given only
// our file. A missing tool skips the test, or fails it under CI (qemutest.Skip). Each
// tool must also refuse the same file with one line broken, or its "OK" would prove
// nothing.
func TestMakeDHCPRealTools(t *testing.T) {
	s := boot.LoadTableDir(t, "testdata/makedhcp/tables")
	render := func(t *testing.T, format string) string {
		c, err := boot.MakeDHCP(s, boot.NodesWithMAC(s), boot.MakeDHCPOptions{Format: format, HTTPPort: 80, AllNetworks: true})
		if err != nil {
			t.Fatal(err)
		}
		return c.Text()
	}
	t.Run("dhcpd", func(t *testing.T) {
		dhcpd := tool(t, "dhcpd", "isc-dhcp-server")
		text := render(t, boot.DHCPFormatISC)
		// -t: test the configuration file and exit (no lease file, no PID file, no
		// sockets); -4: DHCPv4; -cf: this file, not /etc/dhcp/dhcpd.conf. No -q: the
		// errors are printed only without it.
		check := func(t *testing.T, text string) (string, error) {
			f := writeTemp(t, "dhcpd.conf", text)
			return run(dhcpd, "-t", "-4", "-cf", f)
		}
		if out, err := check(t, text); err != nil {
			t.Fatalf("dhcpd -t refuses our configuration: %v\n%s", err, out)
		}
		t.Run("broken", func(t *testing.T) {
			bad := strings.Replace(text, "fixed-address 172.10.0.11;", "fixed-address 172.10.0.11", 1)
			if bad == text {
				t.Fatal("no fixed-address 172.10.0.11 to break")
			}
			out, err := check(t, bad)
			if err == nil {
				t.Fatalf("dhcpd -t took a configuration with a missing semicolon:\n%s", out)
			}
			if !strings.Contains(out, "line ") {
				t.Errorf("dhcpd -t failed without naming a line:\n%s", out)
			}
		})
		t.Run("answers", func(t *testing.T) {
			f := writeTemp(t, "dhcpd.conf", text)
			dir := filepath.Dir(f)
			leases := filepath.Join(dir, "dhcpd.leases")
			if err := os.WriteFile(leases, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			checkAnswers(t, s, func(ns, iface string) []string {
				return []string{"ip", "netns", "exec", ns, dhcpd, "-4", "-f", "-d", "-cf", f, "-lf", leases, "-pf", filepath.Join(dir, "dhcpd.pid"), iface}
			})
		})
	})
	t.Run("dnsmasq", func(t *testing.T) {
		dnsmasq := tool(t, "dnsmasq", "dnsmasq-base")
		text := render(t, boot.DHCPFormatDnsmasq)
		// --conf-file (-C) names the one configuration file read: dnsmasq then reads
		// neither /etc/dnsmasq.conf nor the conf-dir that file may name.
		check := func(t *testing.T, text string) (string, error) {
			f := writeTemp(t, "statelite.conf", text)
			return run(dnsmasq, "--test", "--conf-file="+f)
		}
		if out, err := check(t, text); err != nil {
			t.Fatalf("dnsmasq --test refuses our configuration: %v\n%s", err, out)
		}
		t.Run("broken", func(t *testing.T) {
			bad := strings.Replace(text, "dhcp-host=52:54:00:0a:00:01,", "dhcp-host=52:54:00:0a:00:zz,", 1)
			if bad == text {
				t.Fatal("no dhcp-host of 52:54:00:0a:00:01 to break")
			}
			out, err := check(t, bad)
			if err == nil {
				t.Fatalf("dnsmasq --test took a configuration with a bad MAC:\n%s", out)
			}
			if !strings.Contains(out, "line ") {
				t.Errorf("dnsmasq --test failed without naming a line:\n%s", out)
			}
		})
		t.Run("answers", func(t *testing.T) {
			f := writeTemp(t, "statelite.conf", text)
			dir := filepath.Dir(f)
			checkAnswers(t, s, func(ns, iface string) []string {
				// --port=0: no DNS; the user stays root (no "dnsmasq" user needed).
				return []string{"ip", "netns", "exec", ns, dnsmasq, "--keep-in-foreground", "--port=0", "--conf-file=" + f, "--interface=" + iface,
					"--bind-interfaces", "--dhcp-leasefile=" + filepath.Join(dir, "leases"), "--pid-file=" + filepath.Join(dir, "pid"), "--user=root", "--log-dhcp"}
			})
		})
	})
}

// tool returns the path of a server binary (in $PATH or /usr/sbin, which a user's PATH
// may lack), or skips the test naming the Debian package (fails it under CI).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join("/usr/sbin", name)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return p
	}
	qemutest.Skip(t, "%s not found (apt-get install %s)", name, pkg)
	return ""
}

// run runs a tool for at most a minute and returns its output (stdout and stderr).
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkAnswers runs a DHCP server (the command serverArgs returns for a network
// namespace and interface) on 172.10.0.1/16 in a network namespace of its own, joined
// by a veth pair to a second namespace from which the test asks, as every kind of
// client, for each MAC on 172.10.0.0/16: the offer must carry the lease's address,
// next-server and name servers and the file BootFile gives that client. This is what
// the syntax checks cannot show: that the ISC conditions and the dnsmasq tags choose
// as our server does.
func checkAnswers(t *testing.T, s *tables.Snapshot, serverArgs func(ns, iface string) []string) {
	if os.Geteuid() != 0 {
		qemutest.Skip(t, "the DHCP server answers in a network namespace: run as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		qemutest.Skip(t, "ip not found (apt-get install iproute2)")
	}
	id := strconv.Itoa(os.Getpid() % 100000)
	srvNS, cliNS := "slmkdhcp-s"+id, "slmkdhcp-c"+id
	srvIf, cliIf := "slmk"+id+"s", "slmk"+id+"c" // interface names have 15 bytes at most
	t.Cleanup(func() {
		run("ip", "netns", "del", srvNS)
		run("ip", "netns", "del", cliNS)
		run("ip", "link", "del", srvIf) // left in this namespace when a move failed
	})
	for i, a := range [][]string{
		{"netns", "add", srvNS}, {"netns", "add", cliNS},
		{"link", "add", srvIf, "type", "veth", "peer", "name", cliIf},
		{"link", "set", srvIf, "netns", srvNS}, {"link", "set", cliIf, "netns", cliNS},
		{"-n", srvNS, "addr", "add", "172.10.0.1/16", "dev", srvIf},
		{"-n", srvNS, "link", "set", srvIf, "up"}, {"-n", cliNS, "link", "set", cliIf, "up"},
		// The client has no address: a route for the limited broadcast lets it send.
		{"-n", cliNS, "route", "add", "255.255.255.255/32", "dev", cliIf},
	} {
		if out, err := run("ip", a...); err != nil {
			if i == 0 {
				qemutest.Skip(t, "no network namespaces here: ip netns add: %v\n%s", err, out)
			}
			t.Fatalf("ip %s: %v\n%s", strings.Join(a, " "), err, out)
		}
	}

	logf, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := serverArgs(srvNS, srvIf)
	cmd := exec.Command(args[0], args[1:]...) // ip netns exec execs the server: one process
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s:\n%s", strings.Join(args, " "), b)
		}
		logf.Close()
	})

	conn, err := listenIn(cliNS)
	if err != nil {
		t.Fatalf("client socket in %s: %v", cliNS, err)
	}
	defer conn.Close()
	self := netip.MustParseAddr("172.10.0.1")
	onLink := netip.MustParsePrefix("172.10.0.0/16")
	clients := []boot.Client{{}, {HasArch: true}, {Arch: 7, HasArch: true}, {Arch: 9, HasArch: true}, {Arch: 11, HasArch: true},
		{Arch: 19, HasArch: true}, {IPXE: true, HasArch: true}, {IPXE: true, Arch: 7, HasArch: true}, {IPXE: true, Arch: 11, HasArch: true}}
	c, err := boot.MakeDHCP(s, boot.NodesWithMAC(s), boot.MakeDHCPOptions{HTTPPort: 80, AllNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	for _, h := range c.Hosts {
		for _, l := range h.Leases {
			if !onLink.Contains(l.IP) {
				continue // served through a relay only
			}
			for _, cl := range clients {
				asked++
				got, err := askDHCP(conn, l.MAC, cl, uint32(asked))
				if err != nil {
					t.Fatalf("%s (%s) as %+v: %v", l.Node, boot.FormatMAC(l.MAC), cl, err)
				}
				want := offer{yiaddr: l.IP, siaddr: l.NextServer, file: boot.BootFile(s, l, cl, self, 80), dns: l.DNS}
				if !got.equal(want) {
					t.Errorf("%s (%s) as %+v: offered %s; want %s", l.Node, boot.FormatMAC(l.MAC), cl, got, want)
				}
			}
		}
	}
	if asked < 4*len(clients) {
		t.Errorf("asked %d times: fewer leases on 172.10.0.0/16 than the Cookbook cluster has", asked)
	}
}

// listenIn returns a UDP socket on port 68 of the network namespace ns (made by ip
// netns): it is created by a thread that enters ns and then returns; the socket stays
// in ns.
func listenIn(ns string) (net.PacketConn, error) {
	type result struct {
		c   net.PacketConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		c, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
		// A thread that cannot go back ends with this goroutine (still locked).
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// offer is what a DHCP offer says that makedhcp decides.
type offer struct {
	yiaddr, siaddr netip.Addr
	file           string
	dns            []netip.Addr
}

func (o offer) String() string {
	return fmt.Sprintf("address %s, next-server %s, file %q, name servers %v", o.yiaddr, o.siaddr, o.file, o.dns)
}

func (o offer) equal(p offer) bool {
	return o.yiaddr == p.yiaddr && o.siaddr == p.siaddr && o.file == p.file && slices.Equal(o.dns, p.dns)
}

// askDHCP broadcasts a DHCPDISCOVER from mac as client c (option 77 "iPXE" as iPXE
// sends it, option 93 when the client has an architecture) every half second until an
// offer of transaction xid arrives, for at most 10 s (the server may still be starting).
func askDHCP(conn net.PacketConn, mac string, c boot.Client, xid uint32) (offer, error) {
	hw, err := net.ParseMAC(boot.FormatMAC(mac))
	if err != nil {
		return offer{}, err
	}
	p := make([]byte, 240, 300)
	p[0], p[1], p[2] = 1, 1, 6 // BOOTREQUEST, Ethernet
	binary.BigEndian.PutUint32(p[4:], xid)
	binary.BigEndian.PutUint16(p[10:], 0x8000) // broadcast the answer: we have no address
	copy(p[28:], hw)
	binary.BigEndian.PutUint32(p[236:], 0x63825363)
	p = append(p, 53, 1, 1) // DHCPDISCOVER
	if c.IPXE {
		p = append(p, 77, 4, 'i', 'P', 'X', 'E')
	}
	if c.HasArch {
		p = append(p, 93, 2, byte(c.Arch>>8), byte(c.Arch))
	}
	p = append(p, 55, 4, 1, 3, 6, 15, 255)
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		if _, err := conn.WriteTo(p, &net.UDPAddr{IP: net.IPv4bcast, Port: 67}); err != nil {
			return offer{}, err
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				break // resend
			}
			b := buf[:n]
			if n < 240 || b[0] != 2 || binary.BigEndian.Uint32(b[4:]) != xid {
				continue
			}
			o := offer{yiaddr: netip.AddrFrom4([4]byte(b[16:20])), siaddr: netip.AddrFrom4([4]byte(b[20:24]))}
			o.file, _, _ = strings.Cut(string(b[108:236]), "\x00")
			for opts := b[240:]; len(opts) >= 2 && opts[0] != 255; {
				if opts[0] == 0 {
					opts = opts[1:]
					continue
				}
				code, l := opts[0], int(opts[1])
				if len(opts) < 2+l {
					break
				}
				if code == 6 {
					for v := opts[2 : 2+l]; len(v) >= 4; v = v[4:] {
						o.dns = append(o.dns, netip.AddrFrom4([4]byte(v[:4])))
					}
				}
				opts = opts[2+l:]
			}
			return o, nil
		}
	}
	return offer{}, fmt.Errorf("no offer in 10 s")
}
