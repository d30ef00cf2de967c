package storm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RecordOptions say how to record a boot.
type RecordOptions struct {
	Bin   string // the statelite binary
	Repo  string // the repository root (e2e/testdata/qemu/build.sh)
	Cache string // kernel and initramfs cache ($STATELITE_QEMU_CACHE)
	Work  string // work directory
	Out   string // the trace file to write
	Logf  func(format string, a ...any)
	// Image, when set, is an image directory made by `statelite genimage` (rootimg,
	// kernel, initrd-statelite.gz) booted with its own kernel, initrd and init (systemd)
	// instead of the demo's busybox image and boot.sh; the boot is done when a line
	// ALLDONE reaches the console (a unit of the image prints it, then powers off).
	// Litefile holds that image's litefile rows (CSV).
	Image, Litefile string
}

// QemuCache returns the qemu test's cache directory: $STATELITE_QEMU_CACHE, else the
// user cache directory's statelite-qemu.
func QemuCache() string {
	if c := os.Getenv("STATELITE_QEMU_CACHE"); c != "" {
		return c
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "statelite-qemu")
	}
	return "/var/cache/statelite-qemu"
}

// Record boots Debian's kernel under qemu (TCG) as node n0001 of a one-node bench
// cluster, its root over NFS from `statelite serve --record`, with
// boot.sh (BootScript) as its init, and writes the node's recorded calls to o.Out.
func Record(ctx context.Context, o RecordOptions) error {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	for _, tool := range []string{"qemu-system-x86_64", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (apt-get install qemu-system-x86 kmod cpio busybox-static)", tool)
		}
	}
	if o.Cache == "" {
		o.Cache = QemuCache()
	}
	kernel, initrd := filepath.Join(o.Cache, "vmlinuz"), filepath.Join(o.Cache, "initrd.gz")
	if o.Image == "" {
		logf("building the kernel and initramfs into %s (e2e/testdata/qemu/build.sh)", o.Cache)
		bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		out, err := exec.CommandContext(bctx, "bash", filepath.Join(o.Repo, "e2e", "testdata", "qemu", "build.sh"), o.Cache).CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("build.sh: %v: %s", err, out)
		}
	} else {
		kernel, initrd = filepath.Join(o.Image, "kernel"), filepath.Join(o.Image, "initrd-statelite.gz")
	}
	cl, err := Build(ctx, filepath.Join(o.Work, "cluster"), 1)
	if err != nil {
		return err
	}
	if o.Image != "" {
		if err := cl.UseImage(ctx, o.Image, o.Litefile); err != nil {
			return err
		}
	} else if !cl.Busybox {
		return fmt.Errorf("the bench image has no busybox userland (apt-get install busybox-static)")
	}
	recDir := filepath.Join(o.Work, "record")
	os.RemoveAll(recDir)
	// A fresh server state: with the state of an earlier recording, the node's boot
	// token would be a used one, its mount no boot, and its volatile files (systemd's
	// random-seed…) those of the earlier boot, which the trace would then expect.
	state := filepath.Join(o.Work, "state")
	if err := os.RemoveAll(state); err != nil {
		return err
	}
	srv, err := StartProcess(ctx, o.Bin, cl, state, filepath.Join(o.Work, "record-server.log"), "--record", recDir)
	if err != nil {
		return err
	}
	defer srv.Stop()
	_, port, _ := strings.Cut(srv.Addr, ":")
	node := cl.Names[0]
	args := []string{"console=ttyS0", "panic=-1", "quiet",
		"statelite.node=" + node, "statelite.port=" + port, "statelite.token=record1"}
	if o.Image == "" {
		args = append(args, "statelite.init=/sbin/statelite-boot")
	}
	appendLine := strings.Join(args, " ")
	logf("booting %s under qemu (TCG) from %s", node, srv.Addr)
	start := time.Now()
	qctx, qcancel := context.WithTimeout(ctx, 4*time.Minute)
	defer qcancel()
	cmd := exec.CommandContext(qctx, "timeout", "-k", "5", "180",
		"qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "1",
		"-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
		"-kernel", kernel, "-initrd", initrd,
		"-append", appendLine,
		"-netdev", "user,id=n0,net=10.0.2.0/24", "-device", "virtio-net-pci,netdev=n0,romfile=")
	var console bytes.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	runErr := cmd.Run()
	os.WriteFile(filepath.Join(o.Work, "record-console.log"), console.Bytes(), 0o644)
	if !bytes.Contains(console.Bytes(), []byte("ALLDONE")) {
		return fmt.Errorf("the recorded boot did not finish (qemu: %v); console in %s", runErr, filepath.Join(o.Work, "record-console.log"))
	}
	logf("boot done in %.1f s wall", time.Since(start).Seconds())
	if err := srv.Stop(); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(recDir, node+".jsonl"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.Out, data, 0o644); err != nil {
		return err
	}
	tr, err := LoadTrace(o.Out)
	if err != nil {
		return err
	}
	logf("recorded %d calls of %s to %s: %v", len(tr.Ops), node, o.Out, tr.Counts())
	return nil
}
