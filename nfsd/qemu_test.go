package nfsd_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"statelite/cmd/demo"
	"statelite/internal/qemutest"
)

// TestQemuNFSRoot is the acceptance test of the NFS server against a real Linux client:
// Debian's kernel boots under qemu (TCG) with its root mounted from /nodes/<node> of an
// in-process `statelite serve` over a fresh demo cluster, and runs
// testdata/qemu/check.sh as its init; the script prints "CHECK <name> OK|FAIL …" lines
// and ALLDONE on the serial console. Three boots: n1 (reads, writes, errors, links,
// permissions; leaves markers), n1 again with a new boot token (persistent markers kept,
// volatile files gone), n2 (none of n1's files).
//
// The kernel and initramfs come from testdata/qemu/build.sh, cached under the user's
// cache directory (or $STATELITE_QEMU_CACHE). Without qemu or the build's tools, or when
// the build fails, the test is skipped, except under CI=true where it fails.
func TestQemuNFSRoot(t *testing.T) {
	if testing.Short() && !qemuInCI() {
		t.Skip("qemu boots take about 10 s each; skipped in -short mode")
	}
	for _, tool := range []string{"qemu-system-x86_64", "timeout", "apt-get", "dpkg-deb", "depmod", "modprobe", "cpio", "gzip", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			qemuSkip(t, "%s not found (install qemu-system-x86 kmod cpio: see .ci/run)", tool)
		}
	}
	boot := qemuBuild(t)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
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
	passwd, err := os.ReadFile(filepath.Join(cl.Root, "usr", "bin", "passwd"))
	if err != nil {
		t.Fatal(err)
	}

	srv := qemuServe(ctx, t, cl, filepath.Join(dir, "srvstate"))
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.log())
		}
	}()

	boots := []struct {
		node, token, phase string
		want               []string // checks that must be among the OKs
	}{
		{"n1", "boot1", "first", []string{
			"read_image", "read_tmpfs", "read_ro", "read_persistent", "read_con_common", "read_con_node",
			"write_tmp", "write_tmpfs", "write_persistent", "write_root",
			"rofs_passwd", "rofs_passwd_unchanged", "rofs_bin", "rofs_ro_path",
			"shadow_root", "su_alice", "shadow_alice", "stat_setuid",
			"hardlink", "hardlink_shared", "symlink", "mkfifo", "fifo_type", "rm_tree", "rm_tree_gone", "mv_file", "mv_new",
			"read_big", "sticky_tmp", "chmod_setuid_mode",
		}},
		{"n1", "boot2", "second", []string{
			"persistent_hostname", "persistent_root", "volatile_tmp", "volatile_tmpfs", "volatile_whiteout", "tmp_empty",
		}},
		{"n2", "boot1", "other", []string{
			"other_hostname", "other_root", "other_tmp", "read_con_node",
		}},
	}
	for i, b := range boots {
		name := fmt.Sprintf("%s-%s", b.node, b.phase)
		start := time.Now()
		console, runErr := qemuBoot(ctx, boot, srv.port, b.node, b.token, b.phase)
		wall := time.Since(start)
		os.WriteFile(filepath.Join(dir, name+".console.log"), console, 0o644)
		res := qemuParse(console)
		t.Logf("boot %d (%s): %.1f s wall, root mounted at guest uptime %ss, checks done at %ss; %d OK, %d FAIL",
			i+1, name, wall.Seconds(), res.mounted, res.done, len(res.ok), len(res.fail))
		failed := false
		for _, f := range res.fail {
			t.Errorf("%s: CHECK %s", name, f)
			failed = true
		}
		for _, w := range b.want {
			if !res.ok[w] && !res.failed[w] {
				t.Errorf("%s: check %s did not run", name, w)
				failed = true
			}
		}
		if !res.alldone {
			t.Errorf("%s: no ALLDONE on the console (qemu: %v)", name, runErr)
			failed = true
		}
		if failed {
			t.Logf("%s console:\n%s", name, qemuClean(console))
		}
		if !res.alldone {
			t.FailNow() // the next boots depend on this one
		}
		if b.phase == "first" {
			// The node's persistent writes are in its persistent root on the server.
			for p, want := range map[string]string{"root/marker": "root-n1\n", "etc/hostname": "n1-boot1\n"} {
				got, err := os.ReadFile(filepath.Join(cl.State, "n1", p))
				if err != nil || string(got) != want {
					t.Errorf("after %s: PR(n1)/%s = %q, %v; want %q", name, p, got, err, want)
				}
			}
			if got, _ := os.ReadFile(filepath.Join(cl.Root, "usr", "bin", "passwd")); !bytes.Equal(got, passwd) {
				t.Errorf("after %s: the image's /usr/bin/passwd changed: %q", name, got)
			}
		}
	}
}

func qemuInCI() bool { return qemutest.InCI() }

// qemuSkip skips the test, or fails it under CI, where everything must be installed.
func qemuSkip(t *testing.T, format string, a ...any) {
	t.Helper()
	qemutest.Skip(t, format, a...)
}

type qemuFiles struct{ kernel, initrd string }

// qemuBuild runs testdata/qemu/build.sh into the cache directory (a no-op when cached).
func qemuBuild(t *testing.T) qemuFiles {
	t.Helper()
	cache := os.Getenv("STATELITE_QEMU_CACHE")
	if cache == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(d, "statelite-qemu")
		} else {
			cache = "/var/cache/statelite-qemu"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join("testdata", "qemu", "build.sh"), cache).CombinedOutput()
	if err != nil {
		qemuSkip(t, "building the kernel and initramfs failed (%v):\n%s", err, out)
	}
	t.Logf("%s (%.1f s)", bytes.TrimSpace(out), time.Since(start).Seconds())
	return qemuFiles{kernel: filepath.Join(cache, "vmlinuz"), initrd: filepath.Join(cache, "initrd.gz")}
}

// qemuServer is an in-process `statelite serve` on 127.0.0.1:0 (qemutest.Serve).
type qemuServer struct {
	port string
	srv  *qemutest.Server
}

func (s *qemuServer) log() string { return s.srv.Text(0) }

func qemuServe(ctx context.Context, t *testing.T, cl *demo.Cluster, state string) *qemuServer {
	t.Helper()
	s := qemutest.Serve(ctx, t, qemutest.ServeOptions{Tables: cl.Tables, Mnt: filepath.Join(cl.Dir, "mnt"), State: state})
	return &qemuServer{port: s.NFSPort, srv: s}
}

// qemuBoot boots node under qemu with its root from the server on port; it returns the
// serial console's output.
func qemuBoot(ctx context.Context, f qemuFiles, port, node, token, phase string) ([]byte, error) {
	appendLine := strings.Join([]string{
		"console=ttyS0", "panic=-1", "quiet",
		"statelite.node=" + node, "statelite.port=" + port, "statelite.token=" + token,
		"statelite.phase=" + phase, "statelite.init=/sbin/statelite-check",
	}, " ")
	cmd := exec.CommandContext(ctx, "timeout", "-k", "5", "180",
		"qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
		"-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
		"-kernel", f.kernel, "-initrd", f.initrd, "-append", appendLine,
		"-netdev", "user,id=n0,net=10.0.2.0/24", "-device", "virtio-net-pci,netdev=n0,romfile=")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.Bytes(), err
}

type qemuResult struct {
	ok, failed    map[string]bool
	fail          []string // "name FAIL detail"
	alldone       bool
	mounted, done string // guest uptimes
}

var (
	qemuCheckRE   = regexp.MustCompile(`CHECK (\S+) (OK|FAIL)(.*)`)
	qemuMountedRE = regexp.MustCompile(`INIT mounted .* \(uptime ([0-9.]+)s\)`)
	qemuDoneRE    = regexp.MustCompile(`ALLDONE uptime=([0-9.]+)`)
)

func qemuParse(console []byte) qemuResult {
	r := qemuResult{ok: map[string]bool{}, failed: map[string]bool{}, mounted: "?", done: "?"}
	for _, line := range strings.Split(string(console), "\n") {
		line = strings.TrimRight(line, "\r")
		if m := qemuCheckRE.FindStringSubmatch(line); m != nil {
			if m[2] == "OK" {
				r.ok[m[1]] = true
			} else {
				r.failed[m[1]] = true
				r.fail = append(r.fail, m[1]+" FAIL"+m[3])
			}
		}
		if m := qemuMountedRE.FindStringSubmatch(line); m != nil {
			r.mounted = m[1]
		}
		if m := qemuDoneRE.FindStringSubmatch(line); m != nil {
			r.alldone, r.done = true, m[1]
		}
	}
	return r
}

// qemuClean strips the terminal escapes SeaBIOS prints.
func qemuClean(console []byte) string { return qemutest.Clean(console) }
