package resolver_test

import (
	"errors"
	"strings"
	"testing"

	"statelite/resolver"
	"statelite/tables"
)

const img = "rhels8.6-x86_64-statelite-compute"

// docs/behaviour.md#which-rows-apply: the image a node uses for litefile/litetree.
func TestImageName(t *testing.T) {
	const hdr = "#node,os,arch,profile,provmethod,supportedarchs,nodetype,comments,disable\n"
	cases := []struct {
		name     string
		nodetype string
		want     string
		wantErr  bool
	}{
		{"blank provmethod", `"compute","rhels8.6","x86_64","compute",,,,,`, img, false},
		{"provmethod install", `"compute","rhels8.6","x86_64","compute","install",,,,`, img, false},
		{"provmethod netboot", `"compute","rhels8.6","x86_64","compute","netboot",,,,`, img, false},
		{"provmethod statelite", `"compute","rhels8.6","x86_64","compute","statelite",,,,`, img, false},
		{"provmethod names an image", `"compute","rhels8.6","x86_64","compute","myimage",,,,`, "myimage", false},
		{"node row beats group row per attribute",
			`"compute","rhels8.6","x86_64","compute","statelite",,,,` + "\n" + `"n1",,,"special","nodeimg",,,,`, "nodeimg", false},
		{"node row profile only", `"compute","rhels8.6","x86_64","compute",,,,,` + "\n" + `"n1",,,"special",,,,,`,
			"rhels8.6-x86_64-statelite-special", false},
		{"missing profile", `"compute","rhels8.6","x86_64",,,,,,`, "", true},
		{"missing arch", `"compute","rhels8.6",,"compute",,,,,`, "", true},
		{"missing os although provmethod names an image", `"compute",,"x86_64","compute","myimage",,,,`, "", true},
		{"empty strings count as unset", `"compute","","x86_64","compute","myimage",,,,`, "", true},
		{"disabled row ignored", `"compute","rhels8.6","x86_64","compute",,,,,"1"`, "", true},
		{"no nodetype row", ``, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mkSnap(t, baseTabs().with(tabs{"nodetype": hdr + c.nodetype + "\n"}))
			p, err := resolver.New(s, cfg(t.TempDir())).Plan("n1")
			if c.wantErr {
				if err == nil {
					t.Fatalf("Plan: no error, image %q", p.Image)
				}
				if got, want := err.Error(), "n1 does not have os, arch, or profile defined in nodetype table"; got != want {
					t.Errorf("error %q, want %q", got, want)
				}
				if !errors.Is(err, resolver.ErrNoImage) {
					t.Errorf("error %v does not wrap ErrNoImage", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Image != c.want {
				t.Errorf("image %q, want %q", p.Image, c.want)
			}
		})
	}
}

func TestPlanUnknownNode(t *testing.T) {
	s := mkSnap(t, baseTabs())
	if _, err := resolver.New(s, cfg(t.TempDir())).Plan("n9"); err == nil || !strings.Contains(err.Error(), "n9") {
		t.Errorf("Plan(n9): err %v, want an error naming n9", err)
	}
}

// docs/behaviour.md#locations: the image root R and the default tree R/.default.
func TestImageRoot(t *testing.T) {
	const (
		ntImg  = "#node,os,arch,profile,provmethod\n\"compute\",\"rhels8.6\",\"x86_64\",\"compute\",\"img1\"\n"
		liImg  = "#imagename,rootimgdir\n\"img1\",\"/images/img1\"\n"
		liOff  = "#imagename,rootimgdir,disable\n\"img1\",\"/images/img1\",\"yes\"\n"
		resHdr = "#node,nfsdir\n"
	)
	cases := []struct {
		name string
		t    tabs
		want string
	}{
		{"linuximage.rootimgdir", tabs{"nodetype": ntImg, "linuximage": liImg}, "/images/img1/rootimg"},
		{"rootimgdir with trailing slash", tabs{"nodetype": ntImg, "linuximage": "#imagename,rootimgdir\n\"img1\",\"/images/img1/\"\n"}, "/images/img1/rootimg"},
		{"noderes.nfsdir beats rootimgdir", tabs{"nodetype": ntImg, "linuximage": liImg, "noderes": resHdr + `"compute","/exports"` + "\n"},
			"/exports/netboot/rhels8.6/x86_64/compute/rootimg"},
		{"nfsdir on the node row", tabs{"noderes": resHdr + `"n1","/nodes"` + "\n" + `"compute","/exports"` + "\n"},
			"/nodes/netboot/rhels8.6/x86_64/compute/rootimg"},
		{"nfsdir starting with // is literal minus one /", tabs{"nodetype": ntImg, "linuximage": liImg, "noderes": resHdr + `"compute","//exports/lit/img"` + "\n"},
			"/exports/lit/img/rootimg"},
		{"default under site.installdir", tabs{"site": "#key,value,comments,disable\n\"installdir\",\"/inst\",,\n"},
			"/inst/netboot/rhels8.6/x86_64/compute/rootimg"},
		{"default installdir is /install", tabs{}, "/install/netboot/rhels8.6/x86_64/compute/rootimg"},
		{"disabled site row ignored", tabs{"site": "#key,value,comments,disable\n\"installdir\",\"/inst\",,\"1\"\n"},
			"/install/netboot/rhels8.6/x86_64/compute/rootimg"},
		{"disabled linuximage row ignored", tabs{"nodetype": ntImg, "linuximage": liOff},
			"/install/netboot/rhels8.6/x86_64/compute/rootimg"},
		// As xCAT's anaconda.pm: for an osimage, the default root uses its osvers, osarch
		// and profile.
		{"default uses the osimage's osvers/osarch/profile", tabs{"nodetype": ntImg,
			"osimage": "#imagename,osvers,osarch,profile\n\"img1\",\"rhels9\",\"ppc64le\",\"p2\"\n"},
			"/install/netboot/rhels9/ppc64le/p2/rootimg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mkPlan(t, mkSnap(t, baseTabs().with(c.t)), cfg(t.TempDir()), "n1")
			if p.Root != c.want {
				t.Errorf("Root %q, want %q", p.Root, c.want)
			}
			if p.Default != c.want+"/.default" {
				t.Errorf("Default %q, want %q", p.Default, c.want+"/.default")
			}
		})
	}
}

type wantEntry struct {
	file, option string
	class        tables.Class
	link         bool
	from         string
}

func entriesOf(p *resolver.Plan) map[string]*resolver.Entry {
	m := map[string]*resolver.Entry{}
	for _, e := range p.Entries() {
		m[e.File] = e
	}
	return m
}

// docs/behaviour.md#which-rows-apply: image row beats group row beats ALL; blank image =
// ALL; each of osimage.groups counts, the first listed first; disabled rows are ignored;
// blank option = tmpfs,rw; /etc/mtab forced to tmpfs,rw.
func TestLitefilePrecedence(t *testing.T) {
	lf := "#image,file,options,comments,disable\n" +
		`"ALL","/a","tmpfs",,` + "\n" +
		`"g1","/a","ro",,` + "\n" +
		`"` + img + `","/a","persistent",,` + "\n" +
		`"g1","/b","ro",,` + "\n" +
		`"ALL","/b","tmpfs",,` + "\n" +
		`"g2","/c","persistent",,` + "\n" +
		`"g1","/c","ro",,` + "\n" +
		`"ALL","/c","rw",,` + "\n" +
		`"","/d","link",,` + "\n" +
		`,"/d2","link,ro",,` + "\n" +
		`"g2","/e","localdisk",,` + "\n" +
		`"otherimg","/f","ro",,` + "\n" +
		`"ALL","/g","ro",,"1"` + "\n" +
		`"ALL","/h","ro",,"yes"` + "\n" +
		`"` + img + `","/h","persistent",,"x"` + "\n" +
		`"ALL","/i","ro",,"no"` + "\n" +
		`"ALL","/j","ro",,"0"` + "\n" +
		`"ALL","/jj","ro",,""` + "\n" +
		`"g1","/k","ro",,"1"` + "\n" +
		`"ALL","/k","tmpfs",,` + "\n" +
		`"ALL","/blank",,,` + "\n" +
		`"ALL","/blank2","",,` + "\n" +
		`"ALL","/etc/mtab","ro",,` + "\n" +
		`"ALL","/z/","con,bad",,` + "\n"
	s := mkSnap(t, baseTabs().with(tabs{
		"osimage":  "#imagename,groups\n\"" + img + "\",\"g1,g2\"\n",
		"litefile": lf,
	}))
	p := mkPlan(t, s, cfg(t.TempDir()), "n1")
	want := []wantEntry{
		{"/a", "persistent", tables.Persistent, false, "image"},
		{"/b", "ro", tables.ReadOnly, false, "group g1"},
		{"/blank", "tmpfs,rw", tables.Volatile, true, "ALL"},
		{"/blank2", "tmpfs,rw", tables.Volatile, true, "ALL"},
		{"/c", "ro", tables.ReadOnly, false, "group g1"},
		{"/d", "link", tables.Volatile, true, "ALL"},
		{"/d2", "link,ro", tables.ReadOnly, true, "ALL"},
		{"/e", "localdisk", tables.LocalDisk, false, "group g2"},
		{"/etc/mtab", "tmpfs,rw", tables.Volatile, true, "ALL"},
		{"/i", "ro", tables.ReadOnly, false, "ALL"},
		{"/j", "ro", tables.ReadOnly, false, "ALL"},
		{"/jj", "ro", tables.ReadOnly, false, "ALL"},
		{"/k", "tmpfs", tables.Volatile, false, "ALL"},
	}
	got := p.Entries()
	if len(got) != len(want) {
		var fs []string
		for _, e := range got {
			fs = append(fs, e.File+" "+e.Option)
		}
		t.Fatalf("got %d entries %q, want %d", len(got), fs, len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.File != w.file || e.Option != w.option || e.Opt.Class != w.class || e.Opt.Link != w.link || e.From != w.from {
			t.Errorf("entry %d: %s %q class %v link %v from %q; want %s %q class %v link %v from %q",
				i, e.File, e.Option, e.Opt.Class, e.Opt.Link, e.From, w.file, w.option, w.class, w.link, w.from)
		}
	}
}

func TestEtcMtabImplicit(t *testing.T) {
	s := mkSnap(t, baseTabs().with(tabs{"litefile": "#image,file,options,comments,disable\n\"ALL\",\"/etc/hosts\",\"tmpfs\",,\n"}))
	p := mkPlan(t, s, cfg(t.TempDir()), "n1")
	m := entriesOf(p)
	e := m["/etc/mtab"]
	if e == nil {
		t.Fatal("/etc/mtab not added")
	}
	if e.Option != "link" || e.Row != -1 || e.Opt.Class != tables.Volatile || !e.Opt.Link {
		t.Errorf("/etc/mtab: %+v, want implicit link", e.LiteEntry)
	}
	if len(p.Entries()) != 2 {
		t.Errorf("%d entries, want 2", len(p.Entries()))
	}
	// With no rows at all, /etc/mtab is still there.
	p = mkPlan(t, mkSnap(t, baseTabs()), cfg(t.TempDir()), "n1")
	if es := p.Entries(); len(es) != 1 || es[0].File != "/etc/mtab" {
		t.Errorf("empty litefile: entries %v, want only /etc/mtab", es)
	}
}

const ltHdr = "#priority,image,directory,mntopts,comments,disable\n"

// docs/behaviour.md#variables, #locations: litetree sources in numeric priority
// order, variables substituted, locations mapped; a source with an unset variable is left
// out with an error.
func TestLitetreeSources(t *testing.T) {
	tmp := t.TempDir()
	s := mkSnap(t, baseTabs().with(tabs{
		"osimage": "#imagename,groups\n\"" + img + "\",\"g1\"\n",
		"nodepos": "#node,rack\n\"n1\",\"r07\"\n",
		"noderes": "#node,xcatmaster\n\"compute\",\"mn1\"\n",
		"litetree": ltHdr +
			`"10","ALL","mn1:/srv/ten/",,,` + "\n" +
			`"9",,"mn1:/srv/tree/$node",,,` + "\n" +
			`"1.5","g1","other:/x/$nodepos.rack/","soft",,` + "\n" +
			`"2","otherimg","/nope",,,` + "\n" +
			`"3","ALL","$noderes.xcatmaster:/srv/$nodepos.room",,,` + "\n" +
			`"4","ALL","/disabled",,,"1"` + "\n" +
			`"5","` + img + `","$noderes.xcatmaster:/srv/img/${node}-x",,,` + "\n" +
			`"6","ALL",,,,` + "\n",
	}))
	p := mkPlan(t, s, cfg(tmp), "n1")
	want := []resolver.Source{
		{Priority: "1.5", Row: 2, Raw: "other:/x/$nodepos.rack/", Server: "other", Dir: "/x/r07", Display: "other:/x/r07 :soft", Path: tmp + "/mnt/other/x/r07"},
		{Priority: "5", Row: 6, Raw: "$noderes.xcatmaster:/srv/img/${node}-x", Server: "mn1", Dir: "/srv/img/n1-x", Display: "mn1:/srv/img/n1-x", Path: "/srv/img/n1-x"},
		{Priority: "9", Row: 1, Raw: "mn1:/srv/tree/$node", Server: "mn1", Dir: "/srv/tree/n1", Display: "mn1:/srv/tree/n1", Path: "/srv/tree/n1"},
		{Priority: "10", Row: 0, Raw: "mn1:/srv/ten/", Server: "mn1", Dir: "/srv/ten/", Display: "mn1:/srv/ten/", Path: "/srv/ten"},
	}
	if len(p.Sources) != len(want) {
		t.Fatalf("sources %+v, want %+v", p.Sources, want)
	}
	for i := range want {
		if p.Sources[i] != want[i] {
			t.Errorf("source %d: %+v\nwant %+v", i, p.Sources[i], want[i])
		}
	}
	if len(p.Errors) != 1 {
		t.Fatalf("errors %q, want one (priority 3)", p.Errors)
	}
	containsAll(t, "error", p.Errors[0], "n1", "nodepos", "room", "litetree.csv line 6", "priority 3")
}

// docs/behaviour.md#variables: an unset variable in either part of a location leaves
// that source out.
func TestLitetreeUnsetVariable(t *testing.T) {
	cases := []struct {
		name, dir string
		want      []string
	}{
		{"server part", "$noderes.xcatmaster:/srv/a", []string{"n1", "noderes", "xcatmaster", "litetree.csv line 3"}},
		{"directory part", "mn1:/srv/$nodepos.room/x", []string{"n1", "nodepos", "room", "litetree.csv line 3"}},
		{"braced", "/srv/${nodepos.room}x", []string{"n1", "nodepos", "room", "litetree.csv line 3"}},
		{"site key", "/srv/$site.nosuchkey", []string{"n1", "site", "nosuchkey", "litetree.csv line 3"}},
		// Not unset variables, but the same treatment: #CMD and bad locations.
		{"#CMD refused", "mn1:/srv/#CMD=uname -r#", []string{"n1", "#CMD", "not supported", "litetree.csv line 3"}},
		{"unknown table", "$nosuch.col:/srv", []string{"n1", "nosuch", "litetree.csv line 3"}},
		{"relative after substitution", "mn1:$nodepos.rack/x", []string{"n1", "not absolute", "litetree.csv line 3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mkSnap(t, baseTabs().with(tabs{
				"nodepos":  "#node,rack\n\"compute\",\"r07\"\n",
				"litetree": ltHdr + `"1","ALL","/srv/ok",,,` + "\n" + `"2","ALL","` + c.dir + `",,,` + "\n",
			}))
			p := mkPlan(t, s, cfg(t.TempDir()), "n1")
			if len(p.Sources) != 1 || p.Sources[0].Path != "/srv/ok" {
				t.Errorf("sources %+v, want only /srv/ok", p.Sources)
			}
			if len(p.Errors) != 1 {
				t.Fatalf("errors %q, want one", p.Errors)
			}
			containsAll(t, "error", p.Errors[0], c.want...)
			// n2 has the same tables: its own error names n2.
			p2 := mkPlan(t, s, cfg(t.TempDir()), "n2")
			if len(p2.Errors) != 1 || !strings.Contains(p2.Errors[0], "n2") {
				t.Errorf("n2 errors %q", p2.Errors)
			}
		})
	}
}

// docs/behaviour.md#locations: where the serving host reads a location.
func TestLocationMapping(t *testing.T) {
	tmp := t.TempDir()
	cases := []struct{ dir, want string }{
		{"mn1:/x", "/x"},
		{"mn1:/x/", "/x"},
		{"other:/x", tmp + "/mnt/other/x"},
		{"other:/x/$node/", tmp + "/mnt/other/x/n1"},
		{"/x", "/x"},
		{"/x/$node", "/x/n1"},
		{"10.0.0.1:/x", "/x"}, // site.master
		{"10.0.0.2:/x", tmp + "/mnt/10.0.0.2/x"},
		{"localhost:/x", "/x"},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			s := mkSnap(t, baseTabs().with(tabs{
				"site":     "#key,value,comments,disable\n\"master\",\"10.0.0.1\",,\n",
				"litetree": ltHdr + `"1","ALL","` + c.dir + `",,,` + "\n",
			}))
			p := mkPlan(t, s, cfg(tmp), "n1")
			if len(p.Sources) != 1 {
				t.Fatalf("sources %+v errors %q", p.Sources, p.Errors)
			}
			if p.Sources[0].Path != c.want {
				t.Errorf("path %q, want %q", p.Sources[0].Path, c.want)
			}
		})
	}
}

const slHdr = "#node,image,statemnt,mntopts,comments,disable\n"

// docs/behaviour.md#locations: PR(node) = mapped statemnt + "/" + node.
func TestPersistentRoot(t *testing.T) {
	tmp := t.TempDir()
	cases := []struct {
		name, statelite      string
		wantPR, wantStatemnt string
	}{
		{"group row, local server", `"compute",,"mn1:/state",,,`, "/state/n1", "mn1:/state"},
		{"remote server with variable", `"compute",,"other:/state/$nodepos.rack",,,`, tmp + "/mnt/other/state/r07/n1", "other:/state/r07"},
		{"no server part", `"compute",,"/srv/local/state/",,,`, "/srv/local/state/n1", "/srv/local/state/"},
		// A group-row value |pattern|expression| is a regex cell (xCAT's node and group rows, docs/behaviour.md#which-rows-apply),
		// evaluated against the node name.
		{"regex cell", `"compute",,"|n(\d+)|/state/g($1+100)|",,,`, "/state/g101/n1", "/state/g101"},
		{"node row beats group row", `"compute",,"mn1:/state",,,` + "\n" + `"n1",,"mn1:/mine",,,`, "/mine/n1", "mn1:/mine"},
		{"first group wins", `"all",,"mn1:/all",,,` + "\n" + `"compute",,"mn1:/compute",,,`, "/compute/n1", "mn1:/compute"},
		{"disabled row ignored", `"compute",,"mn1:/off",,,"1"` + "\n" + `"all",,"mn1:/all",,,`, "/all/n1", "mn1:/all"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mkSnap(t, baseTabs().with(tabs{
				"nodepos":   "#node,rack\n\"n1\",\"r07\"\n",
				"statelite": slHdr + c.statelite + "\n",
				"litefile":  "#image,file,options,comments,disable\n\"ALL\",\"/var/lib/x/\",\"persistent\",,\n",
			}))
			p := mkPlan(t, s, cfg(tmp), "n1")
			if p.PR != c.wantPR || p.Statemnt != c.wantStatemnt {
				t.Errorf("PR %q statemnt %q, want %q %q", p.PR, p.Statemnt, c.wantPR, c.wantStatemnt)
			}
			if len(p.Warnings) != 0 || len(p.Errors) != 0 {
				t.Errorf("warnings %q errors %q", p.Warnings, p.Errors)
			}
		})
	}
}

// docs/behaviour.md#persistent-files: persistent entries without a statelite row are
// announced.
func TestNoStateliteWarning(t *testing.T) {
	pers := "#image,file,options,comments,disable\n\"ALL\",\"/var/lib/x/\",\"persistent\",,\n\"ALL\",\"/etc/hosts\",\"tmpfs\",,\n"
	lpers := "#image,file,options,comments,disable\n\"ALL\",\"/root/.ssh/\",\"link,persistent\",,\n"
	vol := "#image,file,options,comments,disable\n\"ALL\",\"/etc/hosts\",\"tmpfs\",,\n"
	cases := []struct {
		name      string
		litefile  string
		statelite string
		warn      bool
	}{
		{"persistent, no row", pers, "", true},
		{"link,persistent, no row", lpers, "", true},
		{"persistent, disabled row", pers, `"compute",,"mn1:/state",,,"yes"`, true},
		{"persistent, row of another group", pers, `"other",,"mn1:/state",,,`, true},
		{"persistent, row", pers, `"compute",,"mn1:/state",,,`, false},
		{"volatile only, no row", vol, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mkSnap(t, baseTabs().with(tabs{"litefile": c.litefile, "statelite": slHdr + c.statelite + "\n"}))
			p := mkPlan(t, s, cfg(t.TempDir()), "n1")
			if !c.warn {
				if len(p.Warnings) != 0 {
					t.Errorf("warnings %q, want none", p.Warnings)
				}
				return
			}
			if len(p.Warnings) != 1 {
				t.Fatalf("warnings %q, want one", p.Warnings)
			}
			containsAll(t, "warning", p.Warnings[0], "n1", "persistent", "statelite", "volatile")
			if p.PR != "" {
				t.Errorf("PR %q, want none", p.PR)
			}
		})
	}
}

// An unset variable in statemnt: error naming the statelite line, no PR.
func TestStatemntUnsetVariable(t *testing.T) {
	s := mkSnap(t, baseTabs().with(tabs{
		"statelite": slHdr + `"compute",,"mn1:/state/$nodepos.rack",,,` + "\n",
		"litefile":  "#image,file,options,comments,disable\n\"ALL\",\"/var/lib/x/\",\"persistent\",,\n",
	}))
	p := mkPlan(t, s, cfg(t.TempDir()), "n1")
	if p.PR != "" {
		t.Errorf("PR %q, want none", p.PR)
	}
	if len(p.Errors) != 1 {
		t.Fatalf("errors %q, want one", p.Errors)
	}
	containsAll(t, "error", p.Errors[0], "n1", "nodepos", "rack", "statelite.csv line 2", "volatile")
}

// Lookup: the deepest entry that is the path itself or a directory entry above it.
func TestLookup(t *testing.T) {
	s := mkSnap(t, baseTabs().with(tabs{"litefile": "#image,file,options,comments,disable\n" +
		`"ALL","/etc/hosts","tmpfs",,` + "\n" +
		`"ALL","/var/","tmpfs",,` + "\n" +
		`"ALL","/var/lib/x/","persistent",,` + "\n" +
		`"ALL","/var/log/","persistent",,` + "\n" +
		`"ALL","/var/log/app.log","persistent",,` + "\n" +
		`"ALL","/opt/app.conf","ro",,` + "\n" +
		`"ALL","/root/.ssh/","link,persistent",,` + "\n"}))
	mustValid(t, s)
	p := mkPlan(t, s, cfg(t.TempDir()), "n1")
	cases := []struct{ path, want string }{
		{"/etc/hosts", "/etc/hosts"},
		{"/etc/hosts/x", ""}, // a file entry does not govern paths below it
		{"/etc/hostsx", ""},
		{"/etc", ""},
		{"/etc/mtab", "/etc/mtab"},
		{"/var", "/var/"},
		{"/var/", "/var/"},
		{"/var/log2", "/var/"},
		{"/var/spool/mail/root", "/var/"},
		{"/var/lib", "/var/"},
		{"/var/lib/xy", "/var/"},
		{"/var/lib/x", "/var/lib/x/"},
		{"/var/lib/x/y/z", "/var/lib/x/"},
		{"/var/log/messages", "/var/log/"},
		{"/var/log/app.log", "/var/log/app.log"},
		{"/var/log/app.log/x", "/var/log/"},
		{"/opt/app.conf", "/opt/app.conf"},
		{"/opt", ""},
		{"/root/.ssh/authorized_keys", "/root/.ssh/"},
		{"/usr/bin/ls", ""},
		{"/", ""},
	}
	for _, c := range cases {
		e := p.Lookup(c.path)
		got := ""
		if e != nil {
			got = e.File
		}
		if got != c.want {
			t.Errorf("Lookup(%q) = %q, want %q", c.path, got, c.want)
		}
	}
	m := entriesOf(p)
	if m["/var/lib/x/"].Parent != m["/var/"] || m["/var/log/"].Parent != m["/var/"] || m["/var/log/app.log"].Parent != m["/var/log/"] {
		t.Errorf("parents wrong")
	}
	if !m["/var/"].Top() || m["/var/log/"].Top() {
		t.Errorf("Top wrong")
	}
	// Direct children only: /var/lib/x/ is below /var/ but not directly.
	if ch := m["/var/"].Children; len(ch) != 1 || ch[0].File != "/var/log/" {
		t.Errorf("children of /var/: %v, want [/var/log/]", ch)
	}
}

// Plans of one resolver share the image's compiled entries; plans are safe to build
// concurrently.
func TestPlanConcurrent(t *testing.T) {
	s := mkSnap(t, baseTabs().with(tabs{"litefile": "#image,file,options,comments,disable\n\"ALL\",\"/var/\",\"tmpfs\",,\n"}))
	r := resolver.New(s, cfg(t.TempDir()))
	done := make(chan *resolver.Plan)
	for i := 0; i < 8; i++ {
		go func(i int) {
			n := "n1"
			if i%2 == 1 {
				n = "n2"
			}
			p, err := r.Plan(n)
			if err != nil {
				t.Error(err)
			}
			done <- p
		}(i)
	}
	var first *resolver.Plan
	for i := 0; i < 8; i++ {
		p := <-done
		if p == nil {
			continue
		}
		if first == nil {
			first = p
		} else if p.Entries()[1] != first.Entries()[1] {
			t.Errorf("plans of one image do not share entries")
		}
	}
}
