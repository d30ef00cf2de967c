package resolver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"statelite/resolver"
	"statelite/tables"
)

// world is a small cluster on disk: image root R with its default tree D, two litetree
// sources (T1 priority 9 written mn1:/dir, T2 priority 10 written /dir with a blank
// image), and a state directory holding n1's persistent root. n1 has a statelite row,
// n2 has none.
type world struct {
	tmp, R, D, T1, T2, PR string
	snap                  *tables.Snapshot
	r                     *resolver.Resolver
}

const worldLitefile = `#image,file,options,comments,disable
"ALL","/etc/adjtime","tmpfs",,
"ALL","/etc/rwfile","rw",,
"ALL","/etc/linkfile","link",,
"ALL","/etc/tr","tmpfs,rw",,
"ALL","/etc/blank",,,
"ALL","/etc/bind","bind",,
"ALL","/etc/pfile","persistent",,
"ALL","/etc/pnew","persistent",,
"ALL","/etc/ro.conf","ro",,
"ALL","/etc/lro.conf","link,ro",,
"ALL","/etc/motd","con",,
"ALL","/etc/nocon","con",,
"ALL","/etc/lcon","link,con",,
"ALL","/scratch/","localdisk",,
"ALL","/var/","tmpfs",,
"ALL","/var/log/","persistent",,
"ALL","/opt/","tmpfs",,
"ALL","/opt/app.conf","con",,
"ALL","/srv/","tmpfs",,
"ALL","/srv/data/","tmpfs",,
"ALL","/home/","tmpfs",,
"ALL","/empty/","tmpfs",,
"ALL","/art","tmpfs",,
"ALL","/nowhere/","tmpfs",,
"ALL","/cfg/","tmpfs",,
"ALL","/cfg/a.conf","con",,
"ALL","/var/cache/","link,persistent",,
"ALL","/var/ro/","ro",,
"ALL","/var/lro/","link,ro",,
`

func newWorld(t testing.TB) *world {
	t.Helper()
	tmp := t.TempDir()
	w := &world{tmp: tmp, R: tmp + "/img/rootimg", T1: tmp + "/t1", T2: tmp + "/t2", PR: tmp + "/state/n1"}
	w.D = w.R + "/.default"
	mkTree(t, w.T1, "etc/rwfile=t1 rwfile\n", "etc/pfile=t1 pfile\n", "etc/ro.conf=t1 ro\n", "etc/motd=t1 motd\n", "var/cache/c=t1 c\n",
		"opt/app.conf=t1 app\n", "cfg/other=t1 other\n", "srv/data/f=t1 data\n", "srv/a=t1 a\n", "home/u1/x=t1 x\n", "empty/")
	mkTree(t, w.T2, "etc/linkfile=t2 link\n", "etc/rwfile=t2 rwfile\n", "etc/motd=t2 motd\n",
		"opt/app.conf=t2 app\n", "cfg/a.conf=t2 a\n", "srv/b=t2 b\n", "home/u2/x=t2 x\n")
	mkTree(t, w.R, "etc/tr=r tr\n", "etc/nocon=r nocon\n", "usr/bin/ls=elf\n", "art->.statelite/tmpfs/art",
		"etc/adjtime=r adjtime\n", "opt/app.conf=r app\n")
	mkTree(t, w.D, "etc/adjtime=d adjtime\n", "etc/blank=", "etc/pnew=d pnew\n", "etc/lro.conf=d lro\n",
		"etc/lcon=d lcon\n", "scratch/x=d x\n", "var/log/messages=d msgs\n", "var/tmp/x=d x\n", "var/ro/f=d f\n", "var/lro/f=d f\n", "opt/app.conf=d app\n",
		"opt/other=d other\n", "empty/x=d x\n")
	mkTree(t, w.PR, "etc/pfile=pr pfile\n")
	w.snap = mkSnap(t, baseTabs().with(tabs{
		"linuximage": "#imagename,rootimgdir\n\"" + img + "\",\"" + tmp + "/img\"\n",
		"litetree":   ltHdr + `"9","ALL","mn1:` + w.T1 + `",,,` + "\n" + `"10",,"` + w.T2 + `",,,` + "\n",
		"statelite":  slHdr + `"n1",,"mn1:` + tmp + `/state",,,` + "\n",
		"litefile":   worldLitefile,
	}))
	mustValid(t, w.snap)
	w.r = resolver.New(w.snap, cfg(tmp))
	return w
}

func (w *world) plan(t testing.TB, node string) *resolver.Plan {
	t.Helper()
	p, err := w.r.Plan(node)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// short names a layer compactly: L<prio>:rel, D:rel, R:rel, P:rel or S (synthetic); it
// checks the layer's root against the world.
func (w *world) short(t testing.TB, l resolver.Layer) string {
	t.Helper()
	want := map[string]string{"default": w.D, "image": w.R, "persistent": w.PR}
	switch l.Kind {
	case "litetree":
		root := map[string]string{"9": w.T1, "10": w.T2}[l.Prio]
		if l.Root != root {
			t.Errorf("litetree layer %s: root %q, want %q", l.Prio, l.Root, root)
		}
		return "L" + l.Prio + ":" + l.Rel
	case "synthetic":
		return "S"
	case "symlink":
		return "symlink:" + l.Root
	}
	if l.Root != want[l.Kind] {
		t.Errorf("%s layer: root %q, want %q", l.Kind, l.Root, want[l.Kind])
	}
	return map[string]string{"default": "D", "image": "R", "persistent": "P"}[l.Kind] + ":" + l.Rel
}

// verdict shortens a verdict to its first words: "match", "missing", "empty directory",
// "child-skip", "not consulted", "skipped".
func verdict(v string) string {
	if i := strings.IndexAny(v, ":("); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

type resCase struct {
	node, path string
	entry      string // governing entry's File, "" for none
	class      tables.Class
	writable   bool
	persistent bool
	prExists   bool
	base       []string
	cands      []string
	note       string // a substring of one of the notes
	absent     bool   // the served path does not exist in its layer (on purpose)
}

func (w *world) cases() []resCase {
	L9, L10 := "L9:", "L10:"
	return []resCase{
		{node: "n1", path: "/etc/adjtime", entry: "/etc/adjtime", class: tables.Volatile, writable: true,
			base:  []string{"D:/etc/adjtime"},
			cands: []string{L9 + "/etc/adjtime missing", L10 + "/etc/adjtime missing", "D:/etc/adjtime match"}, note: "volatile"},
		{node: "n1", path: "/etc/rwfile", entry: "/etc/rwfile", class: tables.Volatile, writable: true,
			base:  []string{L9 + "/etc/rwfile"},
			cands: []string{L9 + "/etc/rwfile match", L10 + "/etc/rwfile not consulted"}},
		{node: "n1", path: "/etc/linkfile", entry: "/etc/linkfile", class: tables.Volatile, writable: true,
			base:  []string{L10 + "/etc/linkfile"},
			cands: []string{L9 + "/etc/linkfile missing", L10 + "/etc/linkfile match"}},
		{node: "n1", path: "/etc/tr", entry: "/etc/tr", class: tables.Volatile, writable: true,
			base:  []string{"R:/etc/tr"},
			cands: []string{L9 + "/etc/tr missing", L10 + "/etc/tr missing", "D:/etc/tr missing", "R:/etc/tr match"}},
		{node: "n1", path: "/etc/blank", entry: "/etc/blank", class: tables.Volatile, writable: true,
			base:  []string{"D:/etc/blank"},
			cands: []string{L9 + "/etc/blank missing", L10 + "/etc/blank missing", "D:/etc/blank match"}},
		{node: "n1", path: "/etc/bind", entry: "/etc/bind", class: tables.Volatile, writable: true,
			base:  []string{"S"},
			cands: []string{L9 + "/etc/bind missing", L10 + "/etc/bind missing", "D:/etc/bind missing", "R:/etc/bind missing"}},
		// persistent: the node's copy PR/key exists and wins over a litetree match.
		{node: "n1", path: "/etc/pfile", entry: "/etc/pfile", class: tables.Persistent, writable: true, persistent: true, prExists: true,
			base:  []string{"P:/etc/pfile"},
			cands: []string{L9 + "/etc/pfile match", L10 + "/etc/pfile not consulted"}, note: "exists and always wins"},
		// persistent without a copy yet: the source until the first write.
		{node: "n1", path: "/etc/pnew", entry: "/etc/pnew", class: tables.Persistent, writable: true, persistent: true,
			base:  []string{"D:/etc/pnew"},
			cands: []string{L9 + "/etc/pnew missing", L10 + "/etc/pnew missing", "D:/etc/pnew match"}, note: "first write copies the file"},
		// docs/behaviour.md#persistent-files: n2 has no statelite row.
		{node: "n2", path: "/etc/pnew", entry: "/etc/pnew", class: tables.Persistent, writable: true,
			base:  []string{"D:/etc/pnew"},
			cands: []string{L9 + "/etc/pnew missing", L10 + "/etc/pnew missing", "D:/etc/pnew match"}, note: "served as VOLATILE"},
		{node: "n2", path: "/etc/pfile", entry: "/etc/pfile", class: tables.Persistent, writable: true,
			base:  []string{L9 + "/etc/pfile"},
			cands: []string{L9 + "/etc/pfile match", L10 + "/etc/pfile not consulted"}, note: "no usable statelite row"},
		{node: "n1", path: "/etc/ro.conf", entry: "/etc/ro.conf", class: tables.ReadOnly,
			base:  []string{L9 + "/etc/ro.conf"},
			cands: []string{L9 + "/etc/ro.conf match", L10 + "/etc/ro.conf not consulted"}, note: "EROFS"},
		{node: "n1", path: "/etc/lro.conf", entry: "/etc/lro.conf", class: tables.ReadOnly,
			base:  []string{"D:/etc/lro.conf"},
			cands: []string{L9 + "/etc/lro.conf missing", L10 + "/etc/lro.conf missing", "D:/etc/lro.conf match"}},
		// con: every match, in priority order.
		{node: "n1", path: "/etc/motd", entry: "/etc/motd", class: tables.Con, writable: true,
			base:  []string{L9 + "/etc/motd", L10 + "/etc/motd"},
			cands: []string{L9 + "/etc/motd match", L10 + "/etc/motd match"}, note: "concatenation of 2"},
		// con, no match: the image file, read-only.
		// docs/behaviour.md#concatenated-files: con with no match is the image file,
		// copy-on-write (xCAT: read-only).
		{node: "n1", path: "/etc/nocon", entry: "/etc/nocon", class: tables.Con, writable: true,
			base:  []string{"R:/etc/nocon"},
			cands: []string{L9 + "/etc/nocon missing", L10 + "/etc/nocon missing", "D:/etc/nocon missing", "R:/etc/nocon match"}, note: "live until the node writes"},
		// link,con, no match: a writable copy of the default.
		{node: "n1", path: "/etc/lcon", entry: "/etc/lcon", class: tables.Con, writable: true,
			base:  []string{"D:/etc/lcon"},
			cands: []string{L9 + "/etc/lcon missing", L10 + "/etc/lcon missing", "D:/etc/lcon match"}, note: "live until the node writes"},
		{node: "n1", path: "/scratch/x", entry: "/scratch/", class: tables.LocalDisk,
			base:  []string{"D:/scratch/x"},
			cands: []string{L9 + "/scratch missing", L10 + "/scratch missing", "D:/scratch match"}, note: "local disk"},
		// A persistent child under a tmpfs parent governs its subtree.
		{node: "n1", path: "/var/log/messages", entry: "/var/log/", class: tables.Persistent, writable: true, persistent: true,
			base:  []string{"D:/var/log/messages"},
			cands: []string{L9 + "/var/log missing", L10 + "/var/log missing", "D:/var/log match"}, note: "copies the whole directory"},
		{node: "n2", path: "/var/log/messages", entry: "/var/log/", class: tables.Persistent, writable: true,
			base:  []string{"D:/var/log/messages"},
			cands: []string{L9 + "/var/log missing", L10 + "/var/log missing", "D:/var/log match"}, note: "VOLATILE"},
		// Children with their own option (docs/behaviour.md#nested-entries):
		// link,persistent under tmpfs stays persistent (xCAT makes it volatile); ro and
		// link,ro children are read-only (xCAT leaves a link,ro child writable).
		{node: "n1", path: "/var/cache/c", entry: "/var/cache/", class: tables.Persistent, writable: true, persistent: true,
			base:  []string{L9 + "/var/cache/c"},
			cands: []string{L9 + "/var/cache match", L10 + "/var/cache not consulted"}},
		{node: "n1", path: "/var/ro/f", entry: "/var/ro/", class: tables.ReadOnly,
			base:  []string{"D:/var/ro/f"},
			cands: []string{L9 + "/var/ro missing", L10 + "/var/ro missing", "D:/var/ro match"}},
		{node: "n1", path: "/var/lro/f", entry: "/var/lro/", class: tables.ReadOnly,
			base:  []string{"D:/var/lro/f"},
			cands: []string{L9 + "/var/lro missing", L10 + "/var/lro missing", "D:/var/lro match"}},
		{node: "n1", path: "/var/tmp/x", entry: "/var/", class: tables.Volatile, writable: true,
			base:  []string{"D:/var/tmp/x"},
			cands: []string{L9 + "/var child-skip", L10 + "/var missing", "D:/var match"}},
		// A con child: the parent's copy first (the parent's sources that hold the child
		// are child-skipped), then every match.
		{node: "n1", path: "/opt/app.conf", entry: "/opt/app.conf", class: tables.Con, writable: true,
			base: []string{"D:/opt/app.conf", L9 + "/opt/app.conf", L10 + "/opt/app.conf"},
			cands: []string{L9 + "/opt child-skip", L10 + "/opt child-skip", "D:/opt match",
				L9 + "/opt/app.conf match", L10 + "/opt/app.conf match"}, note: "parent's copy"},
		// A con child whose parent's source is a litetree tree without the file: that
		// tree has no copy of the file (it would have been child-skipped otherwise), so
		// the view is the concatenation of the matches alone.
		{node: "n1", path: "/cfg/a.conf", entry: "/cfg/a.conf", class: tables.Con, writable: true,
			base:  []string{L10 + "/cfg/a.conf"},
			cands: []string{L9 + "/cfg match", L10 + "/cfg not consulted", L9 + "/cfg/a.conf missing", L10 + "/cfg/a.conf match"}, note: "parent's copy"},
		{node: "n1", path: "/opt/other", entry: "/opt/", class: tables.Volatile, writable: true,
			base:  []string{"D:/opt/other"},
			cands: []string{L9 + "/opt child-skip", L10 + "/opt child-skip", "D:/opt match"}},
		// Child-skip: T1 holds srv/data (a direct child entry), so T1 is not /srv's source.
		{node: "n1", path: "/srv/b", entry: "/srv/", class: tables.Volatile, writable: true,
			base:  []string{L10 + "/srv/b"},
			cands: []string{L9 + "/srv child-skip", L10 + "/srv match"}},
		{node: "n1", path: "/srv/data/f", entry: "/srv/data/", class: tables.Volatile, writable: true,
			base:  []string{L9 + "/srv/data/f"},
			cands: []string{L9 + "/srv/data match", L10 + "/srv/data not consulted"}},
		// docs/behaviour.md#litetree-sources-and-priorities: first match for a directory;
		// the second source is not merged in, so T2's home/u2 is not part of the view.
		{node: "n1", path: "/home/u2/x", entry: "/home/", class: tables.Volatile, writable: true, absent: true,
			base:  []string{L9 + "/home/u2/x"},
			cands: []string{L9 + "/home match", L10 + "/home not consulted"}},
		// An empty directory counts as missing.
		{node: "n1", path: "/empty/x", entry: "/empty/", class: tables.Volatile, writable: true,
			base:  []string{"D:/empty/x"},
			cands: []string{L9 + "/empty empty directory", L10 + "/empty missing", "D:/empty match"}},
		// A liteimg artefact in R is not a source.
		{node: "n1", path: "/art", entry: "/art", class: tables.Volatile, writable: true,
			base:  []string{"S"},
			cands: []string{L9 + "/art missing", L10 + "/art missing", "D:/art missing", "R:/art skipped"}},
		{node: "n1", path: "/nowhere", entry: "/nowhere/", class: tables.Volatile, writable: true,
			base:  []string{"S"},
			cands: []string{L9 + "/nowhere missing", L10 + "/nowhere missing", "D:/nowhere missing", "R:/nowhere missing"}},
		// Not covered: the image, read-only.
		{node: "n1", path: "/usr/bin/ls", base: []string{"R:/usr/bin/ls"}, note: "not covered"},
		{node: "n1", path: "/etc/mtab", entry: "/etc/mtab", base: []string{"symlink:/proc/self/mounts"}, note: "/proc/self/mounts"},
	}
}

func TestResolve(t *testing.T) {
	w := newWorld(t)
	plans := map[string]*resolver.Plan{"n1": w.plan(t, "n1"), "n2": w.plan(t, "n2")}
	if plans["n1"].PR != w.PR {
		t.Fatalf("n1 PR %q, want %q", plans["n1"].PR, w.PR)
	}
	if len(plans["n1"].Errors)+len(plans["n2"].Errors) != 0 {
		t.Fatalf("errors: %q %q", plans["n1"].Errors, plans["n2"].Errors)
	}
	for _, c := range w.cases() {
		t.Run(c.node+c.path, func(t *testing.T) {
			p := plans[c.node]
			r := p.Resolve(resolver.OSProber{}, c.path)
			if r.Path != c.path {
				t.Errorf("Path %q", r.Path)
			}
			entry := ""
			if r.Entry != nil {
				entry = r.Entry.File
			}
			if entry != c.entry {
				t.Fatalf("entry %q, want %q", entry, c.entry)
			}
			if r.Class != c.class || r.Writable != c.writable || r.Persistent != c.persistent || r.PRExists != c.prExists {
				t.Errorf("class %v writable %v persistent %v prExists %v; want %v %v %v %v",
					r.Class, r.Writable, r.Persistent, r.PRExists, c.class, c.writable, c.persistent, c.prExists)
			}
			if c.persistent {
				if want := filepath.Join(w.PR, r.Entry.Path); r.PRPath != want {
					t.Errorf("PRPath %q, want %q", r.PRPath, want)
				}
			} else if r.PRPath != "" {
				t.Errorf("PRPath %q, want none", r.PRPath)
			}
			var base, cands []string
			for _, l := range r.Base {
				base = append(base, w.short(t, l))
			}
			for _, cd := range r.Candidates {
				cands = append(cands, w.short(t, cd.Layer)+" "+verdict(cd.Verdict))
			}
			if fmt.Sprint(base) != fmt.Sprint(c.base) {
				t.Errorf("base %q\nwant %q", base, c.base)
			}
			if fmt.Sprint(cands) != fmt.Sprint(c.cands) {
				t.Errorf("candidates %q\nwant       %q", cands, c.cands)
			}
			if c.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), c.note) {
				t.Errorf("notes %q do not mention %q", r.Notes, c.note)
			}
			// Every base layer except a synthetic one exists on disk (the fixture is
			// built so): what is served is real.
			for _, l := range r.Base {
				if l.Kind == "synthetic" || l.Kind == "symlink" || c.absent {
					continue
				}
				if _, err := os.Lstat(l.Full()); err != nil {
					t.Errorf("base layer %s does not exist: %v", l, err)
				}
			}
		})
	}
}

// The child-skip rule names the child entry that caused it; first-match says why the
// later sources were not consulted.
func TestVerdictTexts(t *testing.T) {
	w := newWorld(t)
	p := w.plan(t, "n1")
	r := p.Resolve(resolver.OSProber{}, "/srv/b")
	containsAll(t, "child-skip verdict", r.Candidates[0].Verdict, "/srv/data/")
	r = p.Resolve(resolver.OSProber{}, "/home/u1/x")
	containsAll(t, "not-consulted verdict", r.Candidates[1].Verdict, "earlier source matched")
	r = p.Resolve(resolver.OSProber{}, "/art")
	containsAll(t, "artefact verdict", r.Candidates[3].Verdict, ".statelite/tmpfs")
	r = p.Resolve(resolver.OSProber{}, "/empty")
	containsAll(t, "empty verdict", r.Candidates[0].Verdict, "empty directory", "missing")
}

// Resolve cleans the path it is given.
func TestResolveCleansPath(t *testing.T) {
	w := newWorld(t)
	p := w.plan(t, "n1")
	for _, in := range []string{"etc/rwfile", "/etc//rwfile", "/etc/./rwfile", "/etc/x/../rwfile"} {
		r := p.Resolve(resolver.OSProber{}, in)
		if r.Path != "/etc/rwfile" || r.Entry == nil || r.Entry.File != "/etc/rwfile" {
			t.Errorf("Resolve(%q): path %q entry %v", in, r.Path, r.Entry)
		}
	}
}

// The source is probed live: a file added to a higher-priority source takes over at
// once, a persistent copy appearing wins at once (docs/behaviour.md#volatile-files,
// #persistent-files).
func TestResolveIsLive(t *testing.T) {
	w := newWorld(t)
	p := w.plan(t, "n1")
	r := p.Resolve(resolver.OSProber{}, "/etc/linkfile")
	if r.Base[0].Root != w.T2 {
		t.Fatalf("before: %v", r.Base)
	}
	mkTree(t, w.T1, "etc/linkfile=t1 link\n")
	r = p.Resolve(resolver.OSProber{}, "/etc/linkfile")
	if r.Base[0].Root != w.T1 {
		t.Errorf("after adding to T1: %v", r.Base)
	}
	mkTree(t, w.PR, "etc/pnew=pr\n")
	r = p.Resolve(resolver.OSProber{}, "/etc/pnew")
	if !r.PRExists || r.Base[0].Kind != "persistent" {
		t.Errorf("after the persistent copy appeared: %+v", r)
	}
	// An emptied source directory stops matching.
	if err := os.RemoveAll(w.T1 + "/home/u1"); err != nil {
		t.Fatal(err)
	}
	r = p.Resolve(resolver.OSProber{}, "/home/u2/x")
	if r.Base[0].Root != w.T2 {
		t.Errorf("after emptying T1/home: %v", r.Base)
	}
}
