package nfsd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"statelite/nfsd"
)

// BenchmarkListTree is what `nfs-ls -R` asks of the server for a tree of 5,000 entries
// (10 directories of 10 directories of 48 files, in the image): for every directory, a
// LOOKUP chain from the root and its READDIRPLUS pages (dircount 8 KiB, maxcount 32 KiB,
// as libnfs asks). One iteration is one whole listing; entries/op are reported.
func BenchmarkListTree(b *testing.B) {
	tc := newTestCluster(b)
	root := filepath.Join(tc.cl.Root, "srv", "tree")
	var dirs []string
	for i := 0; i < 10; i++ {
		for j := -1; j < 10; j++ {
			d := fmt.Sprintf("d%02d", i)
			if j >= 0 {
				d = filepath.Join(d, fmt.Sprintf("s%02d", j))
			}
			dirs = append(dirs, d)
			if j < 0 {
				continue
			}
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				b.Fatal(err)
			}
			for k := 0; k < 48; k++ {
				if err := os.WriteFile(filepath.Join(root, d, fmt.Sprintf("f%02d", k)), []byte("x"), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	rs := tc.serve(b, nfsd.Config{})
	c := newClient(b, rs.addr, "", authSys(0, 0))
	fh := c.mustMount("/nodes/" + tc.cl.Nodes[0])
	b.ResetTimer()
	n := 0
	for it := 0; it < b.N; it++ {
		n = 0
		for _, d := range dirs {
			dh := c.walk(fh, "srv/tree/"+d)
			ents, _ := c.readdirAll(dh, true, 8192, 32768)
			n += len(ents)
		}
	}
	b.ReportMetric(float64(n), "entries/op")
}
