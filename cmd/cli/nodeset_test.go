package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"statelite/cmd/cli"
)

// bootCluster writes tables for nodes n1..n3 (group compute) and an image "img" whose
// rootimgdir holds rootimg/, kernel and initrd-statelite.gz; it returns the table
// directory and the rootimgdir.
func bootCluster(t *testing.T, nfsrootopts string) (tabdir, imgdir string) {
	t.Helper()
	base := t.TempDir()
	imgdir = filepath.Join(base, "images", "img")
	if err := os.MkdirAll(filepath.Join(imgdir, "rootimg", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kernel", "initrd-statelite.gz"} {
		if err := os.WriteFile(filepath.Join(imgdir, f), []byte(f+" bytes\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(base, "tftpboot"), 0o755); err != nil {
		t.Fatal(err)
	}
	tabdir = writeTables(t, map[string]string{
		"site":     "#key,value,comments,disable\n\"master\",\"10.0.0.1\",,\n\"tftpdir\",\"" + filepath.Join(base, "tftpboot") + "\",,\n",
		"nodelist": "#node,groups\n\"n1\",\"compute,all\"\n\"n2\",\"compute,all\"\n\"n3\",\"compute,all\"\n",
		"osimage": "#imagename,profile,provmethod,osvers,osarch,nfsrootopts\n" +
			"\"img\",\"compute\",\"statelite\",\"rhels8.6\",\"x86_64\",\"" + nfsrootopts + "\"\n" +
			"\"broken\",\"compute\",\"statelite\",\"rhels8.6\",\"x86_64\",\n" +
			"\"inst\",\"compute\",\"install\",\"rhels8.6\",\"x86_64\",\n",
		"linuximage": "#imagename,rootimgdir,addkcmdline\n" +
			"\"img\",\"" + imgdir + "\",\"console=ttyS0 R::crashkernel=auto\"\n" +
			"\"broken\",\"" + filepath.Join(base, "images", "broken") + "\",\n",
		"noderes":   "#node,xcatmaster,nfsserver\n\"compute\",\"10.0.0.1\",\"10.0.0.2\"\n",
		"mac":       "#node,mac\n\"n1\",\"52:54:00:12:34:01\"\n\"n2\",\"52:54:00:12:34:02\"\n",
		"statelite": "#node,statemnt\n\"compute\",\"10.0.0.1:/statelite\"\n",
	})
	return tabdir, imgdir
}

func TestNodesetOsimage(t *testing.T) {
	dir, _ := bootCluster(t, "noac")
	r := cliRun(t, dir, "", "nodeset", "n1,n2", "osimage=img")
	if r.code != 0 || r.stdout != "n1: statelite rhels8.6-x86_64-compute\nn2: statelite rhels8.6-x86_64-compute\n" || r.stderr != "" {
		t.Fatalf("nodeset: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	nt := mustRun(t, dir, "tabdump", "nodetype")
	for _, n := range []string{"n1", "n2"} {
		if !strings.Contains(nt, `"`+n+`","rhels8.6","x86_64","compute","img"`) {
			t.Errorf("nodetype of %s:\n%s", n, nt)
		}
	}
	ch := mustRun(t, dir, "tabdump", "chain")
	if !strings.Contains(ch, `"n1","statelite rhels8.6-x86_64-compute"`) || strings.Contains(ch, `"n3"`) {
		t.Errorf("chain:\n%s", ch)
	}
	bp := mustRun(t, dir, "tabdump", "bootparams")
	want := `"n1","xcat/osimage/img/kernel","xcat/osimage/img/initrd-statelite.gz","root=nfs:10.0.0.2:/nodes/n1:vers=3,port=2049,mountport=2049,mountproto=tcp,nolock,noacl,rsize=1048576,wsize=1048576,noac STATEMNT=10.0.0.1:/statelite XCAT=10.0.0.1:3001 NODE=n1 MNTOPTS= console=ttyS0"`
	if !strings.Contains(bp, want) {
		t.Errorf("bootparams:\n%s\nwant a row starting %s", bp, want)
	}
	if r := mustRun(t, dir, "nodeset", "n1-n3", "stat"); r != "n1: statelite rhels8.6-x86_64-compute\nn2: statelite rhels8.6-x86_64-compute\nn3: none\n" {
		t.Errorf("stat:\n%s", r)
	}
	// statelite: the image nodetype names (n1 now names img).
	if r := mustRun(t, dir, "nodeset", "n1", "statelite"); r != "n1: statelite rhels8.6-x86_64-compute\n" {
		t.Errorf("statelite: %q", r)
	}
	if r := mustRun(t, dir, "nodeset", "n1", "boot"); r != "n1: boot\n" {
		t.Errorf("boot: %q", r)
	}
	if ch := mustRun(t, dir, "tabdump", "chain"); !strings.Contains(ch, `"n1","boot"`) {
		t.Errorf("chain after boot:\n%s", ch)
	}
	if bp := mustRun(t, dir, "tabdump", "bootparams"); !strings.Contains(bp, `"n1","","","",`) {
		t.Errorf("bootparams after boot:\n%s", bp)
	}
	if r := mustRun(t, dir, "nodeset", "n2", "offline"); r != "n2: offline\n" {
		t.Errorf("offline: %q", r)
	}
	// n3 has no MAC and no address: a warning.
	r = cliRun(t, dir, "", "nodeset", "n3", "osimage=img")
	if r.code != 0 || !strings.Contains(r.stderr, "Warning: n3: no mac table entry") {
		t.Errorf("n3: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

func TestNodesetErrors(t *testing.T) {
	dir, _ := bootCluster(t, "noac,rw")
	// A bad nfsrootopts names the image; nothing is written.
	r := cliRun(t, dir, "", "nodeset", "n1", "osimage=img")
	if r.code != 1 || !strings.Contains(r.stderr, "osimage img: nfsrootopts \"noac,rw\": rw is not allowed") {
		t.Errorf("bad nfsrootopts: %d\n%s", r.code, r.stderr)
	}
	if ch := mustRun(t, dir, "tabdump", "chain"); strings.Contains(ch, "n1") {
		t.Errorf("chain written despite the error:\n%s", ch)
	}
	dir, imgdir := bootCluster(t, "")
	if err := os.Remove(filepath.Join(imgdir, "kernel")); err != nil {
		t.Fatal(err)
	}
	r = cliRun(t, dir, "", "nodeset", "n1", "osimage=img")
	if r.code != 1 || !strings.Contains(r.stderr, "Error: n1: kernel "+filepath.Join(imgdir, "kernel")+" of osimage img: no such file") {
		t.Errorf("missing kernel: %d\n%s", r.code, r.stderr)
	}
	if ch := mustRun(t, dir, "tabdump", "chain"); strings.Contains(ch, "n1") {
		t.Errorf("chain written despite the error:\n%s", ch)
	}
	r = cliRun(t, dir, "", "nodeset", "n1", "osimage=broken")
	if r.code != 1 || !strings.Contains(r.stderr, "image root "+filepath.Join(filepath.Dir(imgdir), "broken", "rootimg")+" of osimage broken does not exist") {
		t.Errorf("missing image root: %d\n%s", r.code, r.stderr)
	}
	for _, c := range [][2]string{
		{"osimage=nosuch", "osimage nosuch: not in the osimage table"},
		{"osimage=inst", "provmethod is install"},
		{"install", "not osimage=IMAGE"},
	} {
		if r := cliRun(t, dir, "", "nodeset", "n1", c[0]); r.code == 0 || !strings.Contains(r.stderr, c[1]) {
			t.Errorf("%s: %d %s", c[0], r.code, r.stderr)
		}
	}
	// statelite without nodetype data names the node.
	if r := cliRun(t, dir, "", "nodeset", "n2", "statelite"); r.code != 1 || !strings.Contains(r.stderr, "n2 does not have os, arch, or profile defined in nodetype table") {
		t.Errorf("statelite without nodetype: %d %s", r.code, r.stderr)
	}
}

// TestServeBootLive: statelite serve --tftp --http serves what nodeset wrote a moment
// before, and a config fetch resets the node's volatile layer.
func TestServeBootLive(t *testing.T) {
	dir, _ := bootCluster(t, "")
	state := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		root := cli.NewRoot(strings.NewReader(""), &out, &errb)
		root.SetArgs([]string{"serve", "--tables", dir, "--mnt", "/mnt/sl", "--state", state, "--nfs", "127.0.0.1:0", "--tftp", "127.0.0.1:0", "--http", "127.0.0.1:0"})
		done <- root.ExecuteContext(ctx)
	}()
	re := regexp.MustCompile(`msg=tftp addr=127\.0\.0\.1:(\d+)`)
	var port string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			port = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tftp address logged:\n%s", errb.String())
		}
	}
	if !strings.Contains(errb.String(), "msg=\"http boot\" addr=127.0.0.1:") {
		t.Errorf("no http address logged:\n%s", errb.String())
	}
	fetch := func(name string) (string, error) {
		c, err := tftp.NewClient("127.0.0.1:" + port)
		if err != nil {
			return "", err
		}
		c.SetTimeout(2 * time.Second)
		wt, err := c.Receive(name, "octet")
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		_, err = wt.WriteTo(&b)
		return b.String(), err
	}
	if s, err := fetch("pxelinux.cfg/01-52-54-00-12-34-01"); err == nil {
		t.Fatalf("n1 served before nodeset:\n%s", s)
	}
	mustRun(t, dir, "nodeset", "n1", "osimage=img")
	var cfg string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s, err := fetch("pxelinux.cfg/01-52-54-00-12-34-01")
		if err == nil {
			cfg = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1's config never served after nodeset: %v\n%s", err, errb.String())
		}
	}
	if !strings.Contains(cfg, " KERNEL xcat/osimage/img/kernel\n") || !regexp.MustCompile(`root=nfs:10\.0\.0\.2:/nodes/n1/@\d{8}T\d{6}Z:vers=3,port=\d+,`).MatchString(cfg) {
		t.Errorf("config:\n%s", cfg)
	}
	if k, err := fetch("xcat/osimage/img/kernel"); err != nil || k != "kernel bytes\n" {
		t.Errorf("kernel: %v %q", err, k)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(errb.String(), "msg=boot node=n1"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no boot event logged:\n%s", errb.String())
		}
	}
	// The reset made a new volatile epoch for n1.
	if b, err := os.ReadFile(filepath.Join(state, "fs", "volatile", "n1", "current")); err != nil || strings.TrimSpace(string(b)) != "2" {
		t.Errorf("n1's volatile epoch after the boot: %q %v", b, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
