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

// Build creates the demo cluster in dir (made if missing; existing demo tables are replaced).
func Build(ctx context.Context, dir string) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Dir: dir, Tables: filepath.Join(dir, "tables"), Image: "demo-x86_64-statelite-compute",
		State: filepath.Join(dir, "state"), Tree: filepath.Join(dir, "litetree"), Nodes: []string{"n1", "n2"},
	}
	imgdir := filepath.Join(dir, "install", "netboot", "demo", "x86_64", "compute")
	c.Root = filepath.Join(imgdir, "rootimg")
	if err := c.buildImage(); err != nil {
		return nil, err
	}
	files := map[string]string{
		filepath.Join(c.Tree, "common", "etc", "motd"):           "Site notice from the common litetree.\n",
		filepath.Join(c.Tree, "n1", "etc", "motd"):               "n1's own notice.\n",
		filepath.Join(c.Tree, "n1", "etc", "ntp.conf"):           "server 10.0.0.1 iburst # n1 only\n",
		filepath.Join(c.Tree, "common", "opt", "app", "app.cfg"): "threads=4\n",
	}
	for p, body := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(c.State, 0o755); err != nil {
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
