package resolver_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"statelite/resolver"
)

// update rewrites the golden files under testdata/explain instead of comparing:
//
//	go test ./resolver -run TestExplainGolden -update
//
// Read every rewritten file (git diff) before accepting it.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/explain")

// Explain names the entry and its option, every candidate with its verdict, the layers
// that serve the path and whether writes are refused, volatile or persistent.
func TestExplainText(t *testing.T) {
	w := newWorld(t)
	plans := map[string]*resolver.Plan{"n1": w.plan(t, "n1"), "n2": w.plan(t, "n2")}
	for _, c := range w.cases() {
		t.Run(c.node+c.path, func(t *testing.T) {
			var buf bytes.Buffer
			r := plans[c.node].Explain(&buf, resolver.OSProber{}, c.path)
			text := buf.String()
			want := []string{"node:    " + c.node, "path:    " + c.path, "image:   " + img}
			if r.Entry != nil {
				want = append(want, "entry:   "+r.Entry.Option+" "+r.Entry.File, "class:   "+r.Class.String())
				if r.Entry.Row >= 0 {
					want = append(want, "litefile.csv line ")
				}
				if r.Entry.Parent != nil {
					want = append(want, "child of "+r.Entry.Parent.File)
				}
			} else {
				want = append(want, "entry:   none")
			}
			for _, cd := range r.Candidates {
				want = append(want, cd.Layer.String()+" ", cd.Verdict)
			}
			for _, l := range r.Base {
				want = append(want, l.String())
			}
			switch {
			case r.Persistent:
				want = append(want, "writes:  writable, persistent ("+r.PRPath+")")
			case r.Writable:
				want = append(want, "writes:  writable, volatile")
			default:
				want = append(want, "writes:  read-only (EROFS")
			}
			for _, n := range r.Notes {
				want = append(want, "note:    "+n)
			}
			containsAll(t, "explain", text, want...)
			// Candidates are numbered and listed in order.
			last := -1
			for _, cd := range r.Candidates {
				i := strings.Index(text[last+1:], cd.Layer.String()+" ")
				if i < 0 {
					t.Errorf("candidate %s out of order", cd.Layer)
					break
				}
				last += 1 + i
			}
			if c.node == "n2" && !strings.Contains(text, "warning: node n2 has persistent litefile entries but no statelite row") {
				t.Errorf("n2: no-statelite-row warning missing:\n%s", text)
			}
		})
	}
}

func TestExplainGolden(t *testing.T) {
	w := newWorld(t)
	cases := []struct{ node, path, file string }{
		{"n1", "/etc/motd", "con-two-matches"},
		{"n1", "/etc/nocon", "con-no-match"},
		{"n1", "/opt/app.conf", "con-child"},
		{"n1", "/cfg/a.conf", "con-child-parent-lacks-file"},
		{"n1", "/srv/b", "child-skip"},
		{"n1", "/home/u1/x", "first-match-dir"},
		{"n1", "/etc/pfile", "persistent-copy-exists"},
		{"n1", "/var/log/messages", "persistent-child"},
		{"n2", "/var/log/messages", "persistent-no-statelite-row"},
		{"n1", "/empty/x", "empty-dir-then-default"},
		{"n1", "/art", "artefact-synthetic"},
		{"n1", "/usr/bin/ls", "uncovered"},
		{"n1", "/etc/mtab", "etc-mtab"},
		{"n1", "/usr/bin/nosuch", "exists-nowhere"},
		{"n1", "/home/u1/nosuch", "exists-nowhere-under-entry"},
		{"n1", "/nowhere/x", "exists-nowhere-below-made-up-entry"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			var buf bytes.Buffer
			w.plan(t, c.node).Explain(&buf, resolver.OSProber{}, c.path)
			got := normalize(buf.String(), w.tmp)
			golden := filepath.Join("testdata", "explain", c.file+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Explain(%s, %s) differs from %s:\n--- got\n%s--- want\n%s", c.node, c.path, golden, got, want)
			}
		})
	}
}

// A source on another server is named in the table's words (srvB:/lt9/n1, its variables
// substituted) beside where this host reads it; a directory on the way to entries that
// no layer has is made up; a path no layer has is ENOENT.
func TestExplainGoldenRemote(t *testing.T) {
	tmp := t.TempDir()
	mkTree(t, tmp+"/mnt/srvB/lt9/n1", "etc/motd=srvB motd\n")
	mkTree(t, tmp+"/img/rootimg", "etc/hosts=r hosts\n")
	s := mkSnap(t, baseTabs().with(tabs{
		"linuximage": "#imagename,rootimgdir\n\"" + img + "\",\"" + tmp + "/img\"\n",
		"litetree":   ltHdr + `"5","ALL","srvB:/lt9/$node",,,` + "\n",
		"litefile":   "#image,file,options,comments,disable\n\"ALL\",\"/etc/motd\",\"ro\",,\n\"ALL\",\"/opt/x/y.conf\",\"tmpfs\",,\n",
	}))
	p := mkPlan(t, s, cfg(tmp), "n1")
	for _, c := range []struct{ path, file string }{
		{"/etc/motd", "remote-source"},
		{"/opt/x", "made-up-directory"},
		{"/etc/nosuch", "exists-nowhere-uncovered"},
	} {
		t.Run(c.file, func(t *testing.T) {
			var buf bytes.Buffer
			p.Explain(&buf, resolver.OSProber{}, c.path)
			checkExplainGolden(t, c.file, normalize(buf.String(), tmp))
		})
	}
}

// checkExplainGolden compares got with testdata/explain/name.txt, or rewrites it.
func checkExplainGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", "explain", name+".txt")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
	}
}

// Explain reports the plan's per-node errors (a left-out litetree source).
func TestExplainShowsErrors(t *testing.T) {
	s := mkSnap(t, baseTabs().with(tabs{
		"litetree": ltHdr + `"1","ALL","mn1:/srv/$nodepos.rack",,,` + "\n",
		"litefile": "#image,file,options,comments,disable\n\"ALL\",\"/etc/hosts\",\"tmpfs\",,\n",
	}))
	p := mkPlan(t, s, cfg(t.TempDir()), "n1")
	var buf bytes.Buffer
	p.Explain(&buf, resolver.OSProber{}, "/etc/hosts")
	containsAll(t, "explain", buf.String(), "error:   litetree.csv line 2", "nodepos", "rack", "n1")
}

// candidatePad is the padding Explain puts between a candidate's layer and its verdict;
// its width depends on the length of the temporary directory's name.
var candidatePad = regexp.MustCompile(`(?m)^( +\d+\. \S+(?: \S+)*?) {2,}`)

// normalize makes Explain output independent of the temporary directory: tmp becomes
// $TMP and the padding before each verdict becomes one blank.
func normalize(text, tmp string) string {
	return candidatePad.ReplaceAllString(strings.ReplaceAll(text, tmp, "$TMP"), "$1 ")
}
