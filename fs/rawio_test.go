package fs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"statelite/internal/need"
	"statelite/internal/sys"
)

// Raw system calls (openRO, and lstat, lstatRO, fstatat on local layers) are used only
// on local file systems: a layer on FUSE (or NFS…) is served the usual way, and both
// give the same answers.
func TestRawOnlyOnLocalLayers(t *testing.T) {
	if os.Geteuid() != 0 {
		need.Skip(t, "mounting FUSE needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		need.Skip(t, "no /dev/fuse")
	}
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "etc", "motd"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	root, err := gofs.NewLoopbackRoot(src)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gofs.Mount(mnt, root, &gofs.Options{MountOptions: fuse.MountOptions{DirectMountStrict: true}})
	if err != nil {
		need.Skip(t, "FUSE mount: %v", err)
	}
	c := newLayers()
	defer func() {
		// The layers keep directories open; the mount is busy until they are closed.
		c.cached(func(d *layerDir) { d.f.Close() })
		for _, d := range c.roDirs {
			syscall.Close(d.fd)
		}
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	}()
	for _, l := range []struct {
		root  string
		local bool
	}{{src, true}, {mnt, false}} {
		d, err := c.layerDir(l.root)
		if err != nil {
			t.Fatal(err)
		}
		if d.local != l.local {
			t.Errorf("%s: local %v, want %v", l.root, d.local, l.local)
		}
		if _, local, err := c.roDir(l.root, "etc"); err != nil || local != l.local {
			t.Errorf("%s: roDir(etc): local %v, %v; want %v", l.root, local, err, l.local)
		}
		for name, stat := range map[string]func(string, string) (os.FileInfo, error){"lstat": c.lstat, "lstatRO": c.lstatRO} {
			fi, err := stat(l.root, "/etc/motd")
			if err != nil || fi.Size() != 6 {
				t.Errorf("%s: %s(/etc/motd): %v, %v", l.root, name, fi, err)
				continue
			}
			if _, err := stat(l.root, "/etc/none"); !os.IsNotExist(err) {
				t.Errorf("%s: %s(/etc/none): %v, want ENOENT", l.root, name, err)
			}
			dev := fi.Sys().(*syscall.Stat_t).Dev
			fd, ok := c.openRO(l.root, "/etc/motd", dev)
			if ok != l.local {
				t.Errorf("%s: openRO ok %v, want %v", l.root, ok, l.local)
			}
			if ok {
				b := make([]byte, 16)
				n, _ := ReadAtFd(fd, b, 0)
				sys.Close(fd, true)
				if string(b[:n]) != "hello\n" {
					t.Errorf("%s: read %q through openRO", l.root, b[:n])
				}
				if fd, ok := c.openRO(l.root, "/etc/motd", dev+1); ok {
					sys.Close(fd, true)
					t.Errorf("%s: openRO of a file on another device (a mount inside the layer) was raw", l.root)
				}
			}
		}
	}
}
