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

// bootcfg renders what a node's noderes.netboot loader is served (all three with -a),
// from the tables, naming the files a loader fetches; nodes without a configuration are
// errors or say so.
func TestBootcfg(t *testing.T) {
	dir, _ := bootCluster(t, "noac")
	mustRun(t, dir, "nodeset", "n1,n2", "osimage=img")
	out := mustRun(t, dir, "bootcfg", "n1")
	for _, w := range []string{
		"== n1: pxelinux (noderes.netboot blank: pxe), served as pxelinux.cfg/01-52-54-00-12-34-01, pxelinux.cfg/n1",
		"#statelite rhels8.6-x86_64-compute",
		" KERNEL xcat/osimage/img/kernel",
		" APPEND initrd=xcat/osimage/img/initrd-statelite.gz root=nfs:10.0.0.2:/nodes/n1:vers=3,port=2049,mountport=2049,mountproto=tcp,nolock,noacl,rsize=1048576,wsize=1048576,noac STATEMNT=10.0.0.1:/statelite XCAT=10.0.0.1:3001 NODE=n1 MNTOPTS= console=ttyS0",
	} {
		if !hasLine(out, w) {
			t.Errorf("bootcfg n1 lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "grub") || strings.Contains(out, "ipxe") {
		t.Errorf("bootcfg n1 shows other loaders than pxelinux:\n%s", out)
	}
	mustRun(t, dir, "chtab", "node=n1", "noderes.netboot=xnba")
	if out := mustRun(t, dir, "bootcfg", "n1", "--http-port", "8080"); !hasLine(out, "== n1: ipxe (noderes.netboot xnba), served as xcat/xnba/nodes/n1") ||
		!hasLine(out, "imgfetch -n kernel http://${next-server}:8080/xcat/osimage/img/kernel") {
		t.Errorf("bootcfg n1 with netboot xnba:\n%s", out)
	}
	mustRun(t, dir, "chtab", "node=n1", "noderes.netboot=grub2-http")
	if out := mustRun(t, dir, "bootcfg", "n1", "--http-port", "8080"); !hasLine(out, "== n1: grub2 (noderes.netboot grub2-http), served as boot/grub2/grub.cfg-01-52-54-00-12-34-01, boot/grub2/n1") ||
		!hasLine(out, "    set root=http,10.0.0.1,8080") {
		t.Errorf("bootcfg n1 with netboot grub2-http:\n%s", out)
	}
	out = mustRun(t, dir, "bootcfg", "-a", "n1,n2")
	if n := strings.Count(out, "\n== "); n != 5 || !strings.HasPrefix(out, "== n1: pxelinux") || !strings.Contains(out, "\n== n2: ipxe (noderes.netboot blank: pxe)") {
		t.Errorf("bootcfg -a n1,n2: %d configurations:\n%s", n+1, out)
	}

	mustRun(t, dir, "chtab", "node=n1", "noderes.netboot=petitboot")
	mustRun(t, dir, "nodeset", "n2", "offline")
	r := cliRun(t, dir, "", "bootcfg", "n1-n3")
	if r.code != 1 || !strings.Contains(r.stderr, `node n1: noderes.netboot "petitboot"`) || !strings.Contains(r.stderr, "node n3: no chain.currstate") ||
		!hasLine(r.stdout, "== n2: chain.currstate offline: no configuration is served (the node gets none from this server)") {
		t.Errorf("bootcfg n1-n3: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustRun(t, dir, "nodeset", "n2", "boot")
	if out := mustRun(t, dir, "bootcfg", "n2"); !hasLine(out, "LOCALBOOT 0") {
		t.Errorf("bootcfg of a node set to boot:\n%s", out)
	}
	if r := cliRun(t, dir, "", "bootcfg"); r.code != 1 || !strings.Contains(r.stderr, "Usage: bootcfg <noderange>") {
		t.Errorf("bootcfg without a node: %d %s", r.code, r.stderr)
	}
}

// bootcfg beside a running server shows what its loaders are served (but the boot
// token), and is not a boot: the node's volatile layer stays; the loader's own fetch
// still is one.
func TestBootcfgIsNoBoot(t *testing.T) {
	dir, _ := bootCluster(t, "")
	mustRun(t, dir, "nodeset", "n1", "osimage=img")
	state := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		root := cli.NewRoot(strings.NewReader(""), &out, &errb)
		root.SetArgs([]string{"serve", "--tables", dir, "--mnt", "/mnt/sl", "--state", state, "--nfs", "127.0.0.1:0", "--tftp", "127.0.0.1:0"})
		done <- root.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	ports := map[string]string{}
	for deadline := time.Now().Add(30 * time.Second); ports["tftp"] == "" || ports["nfs"] == ""; time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`msg=tftp addr=127\.0\.0\.1:(\d+)`).FindStringSubmatch(errb.String()); m != nil {
			ports["tftp"] = m[1]
		}
		if m := regexp.MustCompile(`msg=serving nfs=127\.0\.0\.1:(\d+)`).FindStringSubmatch(errb.String()); m != nil {
			ports["nfs"] = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tftp or nfs address logged:\n%s", errb.String())
		}
	}
	epoch := filepath.Join(state, "fs", "volatile", "n1", "current")
	before, _ := os.ReadFile(epoch)
	shown := mustRun(t, dir, "bootcfg", "n1", "--nfs-port", ports["nfs"], "--tftp-port", ports["tftp"])
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(errb.String(), "msg=boot node=n1") {
		t.Errorf("bootcfg counted as a boot:\n%s", errb.String())
	}
	if after, _ := os.ReadFile(epoch); !bytes.Equal(before, after) {
		t.Errorf("n1's volatile epoch changed with bootcfg: %q → %q", before, after)
	}

	c, err := tftp.NewClient("127.0.0.1:" + ports["tftp"])
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(2 * time.Second)
	wt, err := c.Receive("pxelinux.cfg/01-52-54-00-12-34-01", "octet")
	if err != nil {
		t.Fatal(err)
	}
	var served bytes.Buffer
	if _, err := wt.WriteTo(&served); err != nil {
		t.Fatal(err)
	}
	_, text, _ := strings.Cut(shown, "\n")
	if got := regexp.MustCompile(`/@\d{8}T\d{6}Z:`).ReplaceAllString(served.String(), ":"); got != text {
		t.Errorf("served (token removed):\n%s\nbootcfg:\n%s", got, text)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(errb.String(), "msg=boot node=n1"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the loader's fetch was no boot:\n%s", errb.String())
		}
	}
}
