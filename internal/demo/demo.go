// Package demo builds a small demo cluster: tables, an image tree with its .default,
// litetree sources and a persistent state directory, all under one folder.
package demo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"statelite/image"
	"statelite/tables"
)

// Cluster describes a built demo cluster.
type Cluster struct {
	Dir     string // the folder holding everything
	Tables  string // table directory
	Image   string // osimage name
	Root    string // image root R
	State   string // statemnt directory (PR(node) = State/<node>)
	Tree    string // litetree sources parent
	Nodes   []string
	Busybox bool // the image holds a busybox userland
}

// RedHatLitefile is the Cookbook's RedHat statelite sample (§2.2), without the PDF's
// blanks after commas: the file column of image/defaults/rh/litefile.csv.
var RedHatLitefile = image.LitefilePaths(image.RedHat)

func q(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// layout returns the cluster of dir (absolute) before anything is made.
func layout(dir string) (*Cluster, string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	c := &Cluster{
		Dir: dir, Tables: filepath.Join(dir, "tables"), Image: "demo-x86_64-statelite-compute",
		State: filepath.Join(dir, "state"), Tree: filepath.Join(dir, "litetree"), Nodes: []string{"n1", "n2"},
	}
	imgdir := filepath.Join(dir, "install", "netboot", "demo", "x86_64", "compute")
	c.Root = filepath.Join(imgdir, "rootimg")
	return c, imgdir, nil
}

// treeFiles are the demo's litetree files and their content.
func (c *Cluster) treeFiles() map[string]string {
	return map[string]string{
		filepath.Join(c.Tree, "common", "etc", "motd"):           "Site notice from the common litetree.\n",
		filepath.Join(c.Tree, "n1", "etc", "motd"):               "n1's own notice.\n",
		filepath.Join(c.Tree, "n1", "etc", "ntp.conf"):           "server 10.0.0.1 iburst # n1 only\n",
		filepath.Join(c.Tree, "common", "opt", "app", "app.cfg"): "threads=4\n",
	}
}

// writeTree writes the litetree files; keep leaves the ones that exist as they are.
func (c *Cluster) writeTree(keep bool) error {
	for p, body := range c.treeFiles() {
		if _, err := os.Lstat(p); keep && err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return os.MkdirAll(c.State, 0o755)
}

// HasTables reports whether dir holds a demo's table store with tables in it
// (<dir>/tables/<table>.csv): a demo built before, perhaps edited since.
func HasTables(dir string) bool {
	ents, err := os.ReadDir(filepath.Join(dir, "tables"))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if t, ok := strings.CutSuffix(e.Name(), ".csv"); ok && e.Type().IsRegular() {
			if _, err := tables.LookupSchema(t); err == nil {
				return true
			}
		}
	}
	return false
}

// Reuse returns the demo cluster in dir with its tables as they are (edits kept):
// nothing that is there is changed; what is missing of the image root, the litetree
// files and the state directory is made again. Nodes are the tables' nodes; Gen is the
// store generation (1 for a demo as built, more once it was edited).
func Reuse(ctx context.Context, dir string) (*Cluster, uint64, error) {
	c, _, err := layout(dir)
	if err != nil {
		return nil, 0, err
	}
	if _, err := os.Stat(c.Root); err != nil {
		if err := c.buildImage(); err != nil {
			return nil, 0, err
		}
	} else if _, err := os.Stat(filepath.Join(c.Root, "bin", "busybox")); err == nil {
		c.Busybox = true
	}
	if err := c.writeTree(true); err != nil {
		return nil, 0, err
	}
	st, err := tables.OpenDir(c.Tables)
	if err != nil {
		return nil, 0, err
	}
	snap, err := st.Load(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("the demo's tables in %s: %w", c.Tables, err)
	}
	c.Nodes = snap.Nodes()
	return c, snap.Gen, nil
}

// madePaths are what Build makes in a demo directory (Remove deletes them).
var madePaths = []string{"tables", "install", "litetree", "state", "server-state", "tftpboot"}

// Remove deletes what Build made in dir, so that Build starts over. It refuses when
// dir's tables are not a demo's (site.installdir is not <dir>/install): only a demo
// directory is emptied.
func Remove(ctx context.Context, dir string) error {
	c, _, err := layout(dir)
	if err != nil {
		return err
	}
	st, err := tables.OpenDir(c.Tables)
	if err != nil {
		return err
	}
	snap, err := st.Load(ctx)
	if err != nil {
		return fmt.Errorf("the tables in %s: %w", c.Tables, err)
	}
	if v, _ := snap.Site("installdir"); filepath.Clean(v) != filepath.Join(c.Dir, "install") {
		return fmt.Errorf("%s does not hold a statelite demo (its site.installdir is %q, not %s): nothing removed", c.Dir, v, filepath.Join(c.Dir, "install"))
	}
	for _, p := range madePaths {
		if err := os.RemoveAll(filepath.Join(c.Dir, p)); err != nil {
			return err
		}
	}
	return nil
}

// Build creates the demo cluster in dir (made if missing; existing demo tables are replaced).
func Build(ctx context.Context, dir string) (*Cluster, error) {
	c, imgdir, err := layout(dir)
	if err != nil {
		return nil, err
	}
	dir = c.Dir
	if err := c.buildImage(); err != nil {
		return nil, err
	}
	if err := c.writeTree(false); err != nil {
		return nil, err
	}

	var lf strings.Builder
	lf.WriteString("#image,file,options,comments,disable\n")
	for _, f := range RedHatLitefile {
		fmt.Fprintf(&lf, "%s,%s,,,\n", q("ALL"), q(f))
	}
	for _, r := range [][3]string{
		{"ALL", "/etc/motd", "con"},
		{"ALL", "/root/", "persistent"},
		{c.Image, "/opt/app/", "ro"},
		{c.Image, "/etc/hostname", "persistent"},
	} {
		fmt.Fprintf(&lf, "%s,%s,%s,,\n", q(r[0]), q(r[1]), q(r[2]))
	}
	text := map[string]string{
		"site": "#key,value,comments,disable\n" +
			`"master","127.0.0.1",,` + "\n" +
			`"installdir",` + q(filepath.Join(dir, "install")) + ",,\n" +
			`"tftpdir",` + q(filepath.Join(dir, "tftpboot")) + ",,\n",
		"nodelist": "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n" +
			`"n1","compute,all",,,,,,,,,,,` + "\n" + `"n2","compute,all",,,,,,,,,,,` + "\n",
		"nodetype": "#node,os,arch,profile,provmethod,comments,disable\n" +
			`"compute","demo","x86_64","compute","demo-x86_64-statelite-compute",,` + "\n",
		"hosts":   "#node,ip,comments,disable\n" + `"n1","127.0.0.11",,` + "\n" + `"n2","127.0.0.12",,` + "\n",
		"noderes": "#node,netboot,xcatmaster,comments,disable\n" + `"compute","pxe","127.0.0.1",,` + "\n",
		"osimage": "#imagename,profile,imagetype,provmethod,rootfstype,osvers,osarch,comments,disable\n" +
			q(c.Image) + `,"compute","linux","statelite","nfs","demo","x86_64",,` + "\n",
		"linuximage": "#imagename,rootimgdir,comments,disable\n" + q(c.Image) + "," + q(imgdir) + ",,\n",
		"litefile":   lf.String(),
		"litetree": "#priority,image,directory,mntopts,comments,disable\n" +
			`"1","ALL",` + q(filepath.Join(c.Tree, "$node")) + ",,,\n" +
			`"2","ALL",` + q("$noderes.xcatmaster:"+filepath.Join(c.Tree, "common")) + ",,,\n",
		"statelite": "#node,image,statemnt,mntopts,comments,disable\n" +
			`"compute",,` + q("$noderes.xcatmaster:"+c.State) + ",,,\n",
	}
	st, err := tables.OpenDir(c.Tables)
	if err != nil {
		return nil, err
	}
	_, err = st.Edit(ctx, func(*tables.Snapshot) (map[string]*tables.Table, error) {
		out := map[string]*tables.Table{}
		for name, body := range text {
			t, err := tables.Parse(name, strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			out[name] = t
		}
		return out, nil
	})
	if err != nil {
		return nil, fmt.Errorf("demo tables: %w", err)
	}
	return c, nil
}

// busyboxApplets are the commands linked to /bin/busybox in a busybox image: a shell
// userland enough for a node to boot and for nfsd's qemu test to check its root.
var busyboxApplets = []string{
	"sh", "ls", "cat", "echo", "mount", "umount", "su", "ln", "mkfifo", "rm", "mv", "cp",
	"stat", "id", "poweroff", "reboot", "sync", "touch", "grep", "cut", "tr", "head", "dd",
	"md5sum", "readlink", "mkdir", "rmdir", "chmod", "chown", "sleep", "test", "[", "df",
	"ip", "hostname", "uname", "ps", "vi", "setpriv",
}

// buildImage makes a small image root: busybox-static's userland when installed, else a
// synthetic tree; plus R/.default holding the pristine copies of litefile paths.
func (c *Cluster) buildImage() error {
	R := c.Root
	dirs := []string{"bin", "sbin", "etc/ssh", "root", "tmp", "var/log", "var/lib", "var/tmp", "var/run", "opt/app", "proc", "sys", "dev", "home/alice", "usr/bin"}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(R, d), 0o755); err != nil {
			return err
		}
	}
	syscall.Chmod(filepath.Join(R, "tmp"), 0o1777)
	files := []struct {
		path string
		mode os.FileMode
		body string
	}{
		{"etc/hostname", 0o644, "demo\n"},
		{"etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"},
		{"etc/group", 0o644, "root:x:0:\nalice:x:1000:\n"},
		{"etc/shadow", 0o600, "root:*:19000:0:99999:7:::\nalice:*:19000:0:99999:7:::\n"},
		{"etc/motd", 0o644, "Welcome to the statelite demo image.\n"},
		{"etc/fstab", 0o644, "proc /proc proc defaults 0 0\n"},
		{"etc/ssh/sshd_config", 0o644, "PermitRootLogin prohibit-password\n"},
		{"etc/resolv.conf", 0o644, "nameserver 127.0.0.53\n"},
		{"opt/app/app.cfg", 0o644, "threads=1\n"},
		{"root/.profile", 0o644, "export PS1='demo# '\n"},
		{"usr/bin/passwd", 0o4755, "#!/bin/sh\necho demo setuid binary\n"},
	}
	for _, f := range files {
		p := filepath.Join(R, f.path)
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			return err
		}
		if err := syscall.Chmod(p, uint32(f.mode)); err != nil { // keeps setuid (os.Chmod needs os.ModeSetuid)
			return err
		}
	}
	if bb, err := exec.LookPath("busybox"); err == nil {
		if out, err := exec.Command("file", bb).Output(); err != nil || strings.Contains(string(out), "statically") {
			data, err := os.ReadFile(bb)
			if err == nil && os.WriteFile(filepath.Join(R, "bin", "busybox"), data, 0o755) == nil {
				c.Busybox = true
				for _, a := range busyboxApplets {
					os.Symlink("busybox", filepath.Join(R, "bin", a))
				}
			}
		}
	}
	// The default tree holds pristine copies of the litefile paths that exist in the image.
	for _, p := range []string{"etc/fstab", "etc/resolv.conf", "etc/motd", "etc/hostname"} {
		data, err := os.ReadFile(filepath.Join(R, p))
		if err != nil {
			return err
		}
		dst := filepath.Join(R, ".default", p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
