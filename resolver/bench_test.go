package resolver_test

import (
	"fmt"
	"strings"
	"testing"

	"statelite/resolver"
	"statelite/tables"
)

var benchOptions = []string{"tmpfs", "rw", "link", "tmpfs,rw", "persistent", "ro", "con", "link,con", "localdisk", "", "link,persistent", "link,ro"}

// benchLitefile returns 200 litefile rows: 160 ALL rows (every tenth a directory), 20 image
// rows overriding ALL paths with another option, 20 image rows of their own paths, plus
// extra the /var/, /var/lib/, /var/lib/app/ hierarchy when deep is set (replacing rows).
func benchLitefile(deep bool) string {
	var b strings.Builder
	b.WriteString("#image,file,options,comments,disable\n")
	pathOf := func(i int) string {
		if i%10 == 0 {
			return fmt.Sprintf("/opt/d%03d/", i)
		}
		return fmt.Sprintf("/etc/f%03d", i)
	}
	optOf := func(i int) string {
		o := benchOptions[i%len(benchOptions)]
		if strings.HasSuffix(pathOf(i), "/") && strings.Contains(o, "con") {
			o = "tmpfs"
		}
		return o
	}
	n := 0
	row := func(image, file, opt string) {
		fmt.Fprintf(&b, "%q,%q,%q,,\n", image, file, opt)
		n++
	}
	if deep {
		row("ALL", "/var/", "tmpfs")
		row("ALL", "/var/lib/", "tmpfs")
		row("ALL", "/var/lib/app/", "persistent")
		row("ALL", "/var/lib/app/data/", "persistent")
	}
	for i := 0; n < 160; i++ {
		row("ALL", pathOf(i), optOf(i))
	}
	for i := 0; i < 20; i++ {
		row(img, pathOf(i), optOf(i+5))
	}
	for i := 160; n < 200; i++ {
		row(img, pathOf(i), optOf(i))
	}
	return b.String()
}

func benchSnapshot(tb testing.TB, nodes int, deep bool) *tables.Snapshot {
	var nl, np strings.Builder
	nl.WriteString("#node,groups\n")
	np.WriteString("#node,rack\n")
	for i := 1; i <= nodes; i++ {
		fmt.Fprintf(&nl, "\"n%05d\",\"compute,all\"\n", i)
		fmt.Fprintf(&np, "\"n%05d\",\"r%03d\"\n", i, i/40)
	}
	return mkSnap(tb, tabs{
		"nodelist": nl.String(),
		"nodepos":  np.String(),
		"nodetype": "#node,os,arch,profile\n\"compute\",\"rhels8.6\",\"x86_64\",\"compute\"\n",
		"noderes":  "#node,xcatmaster\n\"compute\",\"mn1\"\n",
		"osimage":  "#imagename,groups\n\"" + img + "\",\"g1\"\n",
		"litefile": benchLitefile(deep),
		"litetree": ltHdr +
			`"1","ALL","mn1:/srv/tree/$node",,,` + "\n" +
			`"2","ALL","$noderes.xcatmaster:/srv/$nodepos.rack",,,` + "\n" +
			`"3","g1","other:/srv/img/$nodetype.os/$nodetype.arch",,,` + "\n" +
			`"4",,"/srv/common",,,` + "\n" +
			`"10","` + img + `","mn1:/srv/ten/${node}x","soft",,` + "\n",
		"statelite": slHdr + `"compute",,"mn1:/state",,,` + "\n",
	})
}

// The benchmark fixture is a valid table set and its plans are complete.
func TestBenchFixture(t *testing.T) {
	s := benchSnapshot(t, 20, true)
	mustValid(t, s)
	p := mkPlan(t, s, cfg("/tmp/x"), "n00007")
	if len(p.Sources) != 5 || len(p.Errors) != 0 || len(p.Warnings) != 0 || p.PR != "/state/n00007" {
		t.Errorf("sources %d errors %q warnings %q PR %q", len(p.Sources), p.Errors, p.Warnings, p.PR)
	}
	// 200 rows, 20 overriding others, plus /etc/mtab.
	if n := len(p.Entries()); n != 181 {
		t.Errorf("%d entries, want 181", n)
	}
	if got, want := p.Sources[1].Path, "/srv/r000"; got != want {
		t.Errorf("source 2 at %q, want %q", got, want)
	}
}

// BenchmarkPlans10k: a new resolver, then the plans of 10,000 nodes (target < 1 s).
func BenchmarkPlans10k(b *testing.B) {
	const nodes = 10000
	s := benchSnapshot(b, nodes, false)
	c := resolver.Config{Mnt: "/mnt/statelite", LocalNames: []string{"mn1"}}
	names := s.Nodes()
	if len(names) != nodes {
		b.Fatalf("%d nodes", len(names))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := resolver.New(s, c)
		for _, n := range names {
			p, err := r.Plan(n)
			if err != nil || len(p.Sources) != 5 {
				b.Fatalf("Plan(%s): %v, %d sources", n, err, len(p.Sources))
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nodes, "ns/node")
}

// BenchmarkLookup: one Lookup of a deep path in a 200-entry plan (target < 1 µs).
func BenchmarkLookup(b *testing.B) {
	s := benchSnapshot(b, 1, true)
	p := mkPlan(b, s, resolver.Config{Mnt: "/mnt/statelite", LocalNames: []string{"mn1"}}, "n00001")
	const deep = "/var/lib/app/data/x/y/z.conf"
	if e := p.Lookup(deep); e == nil || e.File != "/var/lib/app/data/" {
		b.Fatalf("Lookup(%s) = %v", deep, e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if p.Lookup(deep) == nil {
			b.Fatal("nil")
		}
	}
}
