package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"statelite/cmd/cli"
	"statelite/internal/qemutest"
)

// TestQemuPXEBoot is the end-to-end acceptance of the boot package (issue 5): qemu under
// TCG PXE-boots with its iPXE ROM from the TFTP server of an in-process `statelite serve
// --tftp` on 127.0.0.1 (bootfile=tftp://10.0.2.2:PORT/pxelinux.0: port 69 is qemu's
// own), pxelinux loads the configuration rendered for the node's MAC
// (pxelinux.cfg/01-<mac>), the kernel and initrd from <rootimgdir>, and the kernel
// mounts its root from the server's nfsd through the dracut-style root=nfs:… the
// configuration carries (image/initramfs/init, the initrd init shared with genimage, parses it). Nothing is staged by hand: the
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
	qemuTools(t)
	const (
		pxelinux = qemutest.PXELinux
		ldlinux  = qemutest.LDLinux
	)
	for f, pkg := range map[string]string{pxelinux: "pxelinux", ldlinux: "syslinux-common"} {
		if _, err := os.Stat(f); err != nil {
			qemuSkip(t, "%s not found (install %s: see .ci/run)", f, pkg)
		}
	}
	if !qemutest.HaveROM() {
		qemuSkip(t, "qemu's virtio-net boot ROM efi-virtio.rom not found (install ipxe-qemu: see .ci/run)")
	}
	bootFiles := qemuBuild(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, cl := qemuCluster(ctx, t)
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
		if err := qemutest.CopyFile(src, dst); err != nil {
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

	srv := qemutest.Serve(ctx, t, qemutest.ServeOptions{Tables: cl.Tables, Mnt: filepath.Join(cl.Dir, "mnt"), State: filepath.Join(dir, "srvstate"), TFTPRoot: tftproot})
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.Text(0))
		}
	}()
	t.Logf("statelite serve: nfs 127.0.0.1:%s, tftp 127.0.0.1:%s", srv.NFSPort, srv.TFTPPort)

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
		mark := srv.Mark()
		start := time.Now()
		console, runErr := qemutest.PXEBoot(ctx, qemutest.BootOptions{TFTPPort: srv.TFTPPort, MAC: macs[b.node]})
		wall := time.Since(start)
		os.WriteFile(filepath.Join(dir, name+".console.log"), console, 0o644)
		res := qemuParse(console)
		g := pxeGuest(console)
		ev := srv.Events(mark, b.node, start)

		t.Logf("boot %d (%s, MAC %s): %.1f s wall; config %s served at +%s; kernel (%s bytes) over TFTP in %s (blksize %s, sent by +%s); initrd in %s; root mounted at guest uptime %ss, checks done at %ss; %d OK, %d FAIL",
			i+1, name, macs[b.node], wall.Seconds(), ev.Config, ev.ConfigAt, ev.KernelSize, ev.KernelTime, ev.Blksize, ev.KernelAt,
			ev.InitrdTime, res.mounted, res.done, len(res.ok), len(res.fail))
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
		if ev.Config != wantCfg {
			errorf("configuration served for the node: %q, want %q", ev.Config, wantCfg)
		}
		if len(ev.Tokens) != 1 {
			errorf("boot events of %s on the server: %q, want exactly one", b.node, ev.Tokens)
		}
		if ev.KernelTime == "" || ev.InitrdTime == "" {
			errorf("the server logged no TFTP transfer of the image's kernel and initrd")
		}
		if g.node != b.node || len(ev.Tokens) == 0 || g.token != ev.Tokens[0] {
			errorf("guest mounted %q (node %q, token %q); the server's boot event: node %s, tokens %q", g.src, g.node, g.token, b.node, ev.Tokens)
		}
		if prev, ok := tokens[b.node]; ok && prev == g.token {
			errorf("the second boot of %s reuses the token %s", b.node, prev)
		}
		tokens[b.node] = g.token
		lastCfg[b.node] = ev.LastCfg
		if failed {
			t.Logf("%s console:\n%s", name, qemuClean(console))
			t.Logf("%s server log:\n%s", name, srv.Text(mark))
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
