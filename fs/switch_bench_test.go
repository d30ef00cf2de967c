package fs_test

import (
	"fmt"
	"strings"
	"testing"

	"statelite/fs"
	"statelite/resolver"
	"statelite/tables"
)

// BenchmarkSwitch1000Views measures one table change applied to 1,000 nodes' views: the
// switch (a new resolver, one atomic store) and the first request of every view after
// it, which compiles that node's plan from the shared per-image work. Nothing is copied
// per node: the op's time and memory are those of 1,000 small plans.
func BenchmarkSwitch1000Views(b *testing.B) {
	const nodes = 1000
	dir := b.TempDir()
	srv, _ := benchCluster(b, dir, nodes)
	cur := srv.Resolver().Snap
	// The other snapshot: one more litefile entry for every node.
	lf := cur.Table("litefile").Clone()
	add, err := tables.Parse("litefile", strings.NewReader("#image,file,options\n\"ALL\",\"/opt/new.conf\",\"tmpfs\"\n"))
	if err != nil {
		b.Fatal(err)
	}
	lf.Rows = append(lf.Rows, add.Rows...)
	snaps := []*tables.Snapshot{cur, cur.With(cur.Gen+1, map[string]*tables.Table{"litefile": lf})}
	cfg := resolver.Config{Mnt: dir + "/mnt"}
	vs := make([]*fs.View, 0, nodes)
	for i := 1; i <= nodes; i++ {
		v, err := srv.View(fmt.Sprintf("n%d", i))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Getattr("/etc"); err != nil {
			b.Fatal(err)
		}
		vs = append(vs, v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		srv.SetResolver(resolver.New(snaps[(i+1)%2], cfg))
		for _, v := range vs {
			if _, err := v.Getattr("/etc"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/switch")
}
