package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	needtool "statelite/internal/need"
)

// readCpio reads a newc archive into name → (mode, data).
func readCpio(t *testing.T, r io.Reader) map[string][2]string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]string{}
	for off := 0; ; {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d", off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		mode, size, namesize := field(1), field(6), field(11)
		name := string(b[off+110 : off+110+namesize-1])
		off += 110 + namesize
		off = (off + 3) &^ 3
		data := string(b[off : off+size])
		off = (off + size + 3) &^ 3
		if name == "TRAILER!!!" {
			return out
		}
		out[name] = [2]string{strconv.FormatInt(int64(mode), 8), data}
	}
}

func TestBuildInitrd(t *testing.T) {
	bb := ""
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if StaticELF(p) {
			bb = p
		}
	}
	if bb == "" {
		needtool.Skip(t, "no static busybox on this host (install busybox-static)")
	}
	root := t.TempDir()
	kv := "6.1.0-99-amd64"
	md := filepath.Join(root, "lib", "modules", kv)
	mods := map[string]string{
		"kernel/fs/nfs/nfsv3.ko":            "nfsv3",
		"kernel/fs/nfs/nfs.ko":              "nfs",
		"kernel/net/sunrpc/sunrpc.ko":       "sunrpc",
		"kernel/fs/lockd/lockd.ko":          "lockd",
		"kernel/drivers/net/virtio_net.ko":  "virtio_net",
		"kernel/drivers/virtio/virtio.ko":   "virtio",
		"kernel/drivers/net/e1000/e1000.ko": "e1000",
		"kernel/drivers/net/extra-nic.ko":   "extra_nic",
	}
	for p, body := range mods {
		write(t, filepath.Join(md, p), "\x7fELF module "+body)
	}
	// A gzipped module is decompressed.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte("\x7fELF module virtio_pci"))
	zw.Close()
	write(t, filepath.Join(md, "kernel/drivers/virtio/virtio_pci.ko.gz"), z.String())
	write(t, filepath.Join(md, "modules.dep"), strings.Join([]string{
		"kernel/fs/nfs/nfsv3.ko: kernel/fs/nfs/nfs.ko kernel/fs/lockd/lockd.ko kernel/net/sunrpc/sunrpc.ko",
		"kernel/fs/nfs/nfs.ko: kernel/fs/lockd/lockd.ko kernel/net/sunrpc/sunrpc.ko",
		"kernel/fs/lockd/lockd.ko: kernel/net/sunrpc/sunrpc.ko",
		"kernel/net/sunrpc/sunrpc.ko:",
		"kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko",
		"kernel/drivers/virtio/virtio_pci.ko.gz: kernel/drivers/virtio/virtio.ko",
		"kernel/drivers/virtio/virtio.ko:",
		"kernel/drivers/net/e1000/e1000.ko:",
		"kernel/drivers/net/extra-nic.ko:",
	}, "\n")+"\n")
	write(t, filepath.Join(md, "modules.builtin"), "kernel/net/packet/af_packet.ko\n")

	var out bytes.Buffer
	res, err := BuildInitrd(context.Background(), InitrdOptions{Root: root, KernelVersion: kv, Modules: []string{"extra-nic"}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	wantLoad := []string{"virtio.ko", "virtio_pci.ko", "virtio_net.ko", "e1000.ko", "sunrpc.ko", "lockd.ko", "nfs.ko", "nfsv3.ko", "extra_nic.ko"}
	if !reflect.DeepEqual(res.Modules, wantLoad) {
		t.Errorf("modules %q, want %q", res.Modules, wantLoad)
	}
	if !reflect.DeepEqual(res.Builtin, []string{"af_packet"}) {
		t.Errorf("builtin %q", res.Builtin)
	}
	zr, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	files := readCpio(t, zr)
	if got := files["lib/modules/load"][1]; got != strings.Join(wantLoad, "\n")+"\n" {
		t.Errorf("load list %q", got)
	}
	if got := files["lib/modules/virtio_pci.ko"][1]; got != "\x7fELF module virtio_pci" {
		t.Errorf("virtio_pci.ko %q", got)
	}
	if files["init"][1] != string(initScript) || files["init"][0] != "100755" {
		t.Errorf("init: mode %s", files["init"][0])
	}
	if files["dev/console"][0] != "20600" || files["bin/sh"][1] != "busybox" || files["newroot"][0] != "40755" {
		t.Errorf("console %v, sh %v, newroot %v", files["dev/console"], files["bin/sh"], files["newroot"])
	}
	want, _ := os.ReadFile(bb)
	if files["bin/busybox"][1] != string(want) {
		t.Error("bin/busybox is not the host's busybox")
	}

	// Without nfsv3 the kernel cannot mount its root: an error.
	os.WriteFile(filepath.Join(md, "modules.dep"), []byte("kernel/drivers/virtio/virtio.ko:\n"), 0o644)
	if _, err := BuildInitrd(context.Background(), InitrdOptions{Root: root, KernelVersion: kv}, io.Discard); err == nil || !strings.Contains(err.Error(), "nfsv3") {
		t.Errorf("no nfsv3: %v", err)
	}
}

func TestFindKernel(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"6.1.0-9-amd64", "6.1.0-28-amd64", "5.10.0-30-amd64"} {
		write(t, filepath.Join(root, "boot", "vmlinuz-"+v), v)
	}
	if k, err := FindKernel(root, ""); err != nil || k.Version != "6.1.0-28-amd64" {
		t.Errorf("newest: %+v %v", k, err)
	}
	if k, err := FindKernel(root, "5.10"); err != nil || k.Version != "5.10.0-30-amd64" {
		t.Errorf("-k 5.10: %+v %v", k, err)
	}
	if _, err := FindKernel(root, "7.0"); err == nil {
		t.Error("-k 7.0: no error")
	}
	if _, err := FindKernel(t.TempDir(), ""); err == nil {
		t.Error("no kernel: no error")
	}
}

func TestMirrorFromHostSources(t *testing.T) {
	etc := t.TempDir()
	write(t, filepath.Join(etc, "os-release"), "PRETTY_NAME=\"Debian\"\nID=debian\n")
	write(t, filepath.Join(etc, "apt", "sources.list.d", "debian.sources"),
		"Types: deb\nURIs: http://mirror.example.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"+
			"Types: deb\nURIs: http://security.example.org/debian-security\nSuites: bookworm-security\n")
	if m := Mirror(etc, "debian"); m != "http://mirror.example.org/debian" {
		t.Errorf("deb822: %s", m)
	}
	if m := Mirror(etc, "ubuntu"); m != "http://archive.ubuntu.com/ubuntu" {
		t.Errorf("ubuntu on a debian host: %s", m)
	}
	etc2 := t.TempDir()
	write(t, filepath.Join(etc2, "os-release"), "ID=debian\n")
	write(t, filepath.Join(etc2, "apt", "sources.list"), "# comment\ndeb [arch=amd64] http://ftp.example.com/debian/ bookworm main\n")
	if m := Mirror(etc2, "debian"); m != "http://ftp.example.com/debian" {
		t.Errorf("one-line: %s", m)
	}
	if m := Mirror(t.TempDir(), "debian"); m != "http://deb.debian.org/debian" {
		t.Errorf("nothing: %s", m)
	}
	args := DebootstrapArgs("x86_64", "bookworm", "/r", "http://m/debian", []string{"linux-image-amd64", "systemd-sysv"})
	if strings.Join(args, " ") != "--variant=minbase --arch=amd64 --include=linux-image-amd64,systemd-sysv bookworm /r http://m/debian" {
		t.Errorf("debootstrap args %q", args)
	}
	if KernelPackage(Debian, "x86_64", "") != "linux-image-amd64" || KernelPackage(Debian, "x86_64", "6.1.0-28-amd64") != "linux-image-6.1.0-28-amd64" ||
		KernelPackage(RedHat, "x86_64", "") != "kernel" || KernelPackage(SLES, "x86_64", "") != "kernel-default" {
		t.Error("KernelPackage")
	}
}
