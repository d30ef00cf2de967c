package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	qemuTools(t)
	boot := qemuBuild(t)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir, cl := qemuCluster(ctx, t)
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
