package boot

import (
	"errors"
	"strings"
	"testing"

	"statelite/resolver"
)

var goldenSettings = Settings{ServerIP: "10.0.0.1", NFSPort: 2049, HTTPPort: 8080, TFTPPort: 69, Token: "20261125T210305Z"}

// TestRenderGolden renders the cases of xCAT's pxe.pm, grub2.pm and xnba.pm with our root= form for every loader.
func TestRenderGolden(t *testing.T) {
	f := newFixture(t, 100, nil)
	r := f.resolver()
	noHTTP := goldenSettings
	noHTTP.HTTPPort, noHTTP.TFTPPort = 0, 6969
	noToken := goldenSettings
	noToken.Token = ""
	cases := []struct {
		name   string
		node   string
		loader Loader
		set    Settings
	}{
		// statelite with nfsrootopts, statemnt, mntopts, bootparams.addkcmdline with a
		// #NODEATTRIB# placeholder and R:: options, linuximage.addkcmdline with R::.
		{"pxelinux-statelite", "n1", PXELinux, goldenSettings},
		{"pxelinux-statelite-notoken", "n1", PXELinux, noToken},
		{"pxelinux-boot", "n3", PXELinux, goldenSettings},
		{"pxelinux-legacy-nodetype", "n7", PXELinux, goldenSettings},
		{"grub2-statelite", "n2", Grub2, goldenSettings},
		{"grub2-statelite-tftp-port", "n2", Grub2, noHTTP},
		{"grub2-http", "n6", Grub2, goldenSettings},
		{"grub2-boot", "n3", Grub2, goldenSettings},
		{"ipxe-statelite-http", "n1", IPXE, goldenSettings},
		{"ipxe-statelite-tftp", "n1", IPXE, noHTTP},
		{"ipxe-boot", "n3", IPXE, goldenSettings},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Render(r, c.node, c.loader, c.set)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, c.name, string(b))
		})
	}
}

// TestRenderServiceNode: a node whose noderes names a service node and no nfsserver gets
// its root= from the service node (the first of the list), by hosts.ip when the service
// node has one, else as written.
func TestRenderServiceNode(t *testing.T) {
	f := newFixture(t, 100, func(m map[string]string) {
		m["noderes"] = "#node,netboot,xcatmaster,tftpserver,servicenode\n" +
			`"compute","pxe","10.0.0.1","10.0.0.3","sn1,sn2"` + "\n" +
			`"n2",,,,"sn9.example.org"` + "\n"
		m["hosts"] += `"sn1","10.0.1.1"` + "\n"
	})
	r := f.resolver()
	b, err := Render(r, "n1", PXELinux, goldenSettings)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "pxelinux-servicenode", string(b))
	p, err := NodeParams(r, "n2", goldenSettings)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Kcmdline, "root=nfs:sn9.example.org:/nodes/n2/") {
		t.Errorf("n2 (service node without hosts.ip): %s", p.Kcmdline)
	}
}

// TestRenderKernelLine checks xCAT's anaconda.pm order and our adaptations piece by piece.
func TestRenderKernelLine(t *testing.T) {
	f := newFixture(t, 100, nil)
	p, err := NodeParams(f.resolver(), "n1", goldenSettings)
	if err != nil {
		t.Fatal(err)
	}
	want := "root=nfs:10.0.0.2:/nodes/n1/@20261125T210305Z:vers=3,port=2049,mountport=2049,mountproto=tcp,nolock,noacl,rsize=1048576,wsize=1048576,noac,actimeo=0" +
		" STATEMNT=10.0.0.1:/statelite XCAT=10.0.0.1:3001 NODE=n1 MNTOPTS=nolock,tcp" +
		" rd.shell r07 console=ttyS0,115200 net.ifnames=0"
	if p.Kcmdline != want {
		t.Errorf("kcmdline\n got %s\nwant %s", p.Kcmdline, want)
	}
	if strings.Contains(p.Kcmdline, ":ro") || strings.Contains(p.Kcmdline, "R::") {
		t.Errorf("kcmdline has :ro or an R:: option: %s", p.Kcmdline)
	}
	if p.Kernel != "xcat/osimage/"+image+"/kernel" || p.Initrd != "xcat/osimage/"+image+"/initrd-statelite.gz" || p.ImageDir != f.imgdir {
		t.Errorf("boot files: %s %s from %s", p.Kernel, p.Initrd, p.ImageDir)
	}
}

func TestRenderStates(t *testing.T) {
	f := newFixture(t, 100, nil)
	r := f.resolver()
	if _, err := Render(r, "n4", PXELinux, goldenSettings); !errors.Is(err, ErrOffline) {
		t.Errorf("offline node: %v, want ErrOffline (no file)", err)
	}
	if _, err := Render(r, "n5", PXELinux, goldenSettings); !errors.Is(err, ErrNotManaged) {
		t.Errorf("node without chain row: %v, want ErrNotManaged (no file)", err)
	}
	if _, err := Render(r, "nosuch", PXELinux, goldenSettings); err == nil {
		t.Error("unknown node rendered")
	}
	g := newFixture(t, 100, func(m map[string]string) {
		m["chain"] = "#node,currstate\n\"n1\",\"install rhels8.6-x86_64-compute\"\n"
	})
	if _, err := Render(g.resolver(), "n1", PXELinux, goldenSettings); err == nil || !strings.Contains(err.Error(), "install") {
		t.Errorf("unsupported state: %v", err)
	}
}

func TestNFSRootOpts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // joined result, or "error"
	}{
		{"", ""},
		{"noac,actimeo=0", "noac,actimeo=0"},
		{"ro,nfsvers=4.1", "error"},
		{"ro,noac", "noac"},
		{"clientaddr=2001:db8::1", "clientaddr=2001:db8::1"},
		{"rw", "error"}, {"RW", "error"}, {"noac,rw", "error"}, {"defaults", "error"},
		{"noac, actimeo=0", "error"}, {"noac,,actimeo=0", "error"}, {"noac,", "error"},
		{"port=111", "error"}, {"mountproto=udp", "error"},
	} {
		got, err := CheckNFSRootOpts(c.in)
		if c.want == "error" {
			if err == nil || !strings.HasPrefix(err.Error(), "nfsrootopts ") {
				t.Errorf("%q: %v %v, want an nfsrootopts error", c.in, got, err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("%q: %v %v, want %q", c.in, got, err, c.want)
		}
	}
	// A bad value is an error naming the image.
	f := newFixture(t, 100, func(m map[string]string) {
		m["osimage"] = strings.Replace(m["osimage"], "noac,actimeo=0", "noac,rw", 1)
	})
	_, err := Render(f.resolver(), "n1", PXELinux, goldenSettings)
	if err == nil || !strings.Contains(err.Error(), "osimage "+image) || !strings.Contains(err.Error(), "rw") {
		t.Errorf("bad nfsrootopts: %v", err)
	}
}

func TestMACs(t *testing.T) {
	p, all := resolver.MACs("52:54:00:AB:CD:EF!n2|5254000000EE!n2-ib0", "n2")
	if p != "525400abcdef" || strings.Join(all, ",") != "525400abcdef,5254000000ee" {
		t.Errorf("got %s %v", p, all)
	}
	p, _ = resolver.MACs("aa:bb:cc:dd:ee:01!x|aa-bb-cc-dd-ee-02|AA:BB:CC:DD:EE:03", "n1")
	if p != "aabbccddee03" {
		t.Errorf("last plain entry: got %s", p)
	}
	if PXEMAC("525400abcdef") != "01-52-54-00-ab-cd-ef" || HexIP("192.168.1.10") != "C0A8010A" || HexIP("fe80::1") != "" {
		t.Error("PXEMAC/HexIP")
	}
	for _, n := range []string{"../etc/passwd", "a/../../b", "", "/", "x\x00y"} {
		if _, err := CleanName(n); err == nil {
			t.Errorf("CleanName(%q) accepted", n)
		}
	}
	if c, _ := CleanName("/boot//grub2/./grub.cfg"); c != "boot/grub2/grub.cfg" {
		t.Errorf("CleanName: %q", c)
	}
}
