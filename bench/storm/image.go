package storm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"statelite/tables"
)

// UseImage makes the cluster's nodes boot image dir (an image directory as
// `statelite genimage` makes it: dir/rootimg, dir/kernel, dir/initrd-statelite.gz)
// instead of the demo's busybox image, with the litefile rows of litefileCSV (the
// shipped ones of the image's distribution family) plus the probe directory's.
func (c *Cluster) UseImage(ctx context.Context, dir, litefileCSV string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for _, f := range []string{"rootimg/sbin/init", "kernel", "initrd-statelite.gz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("image %s: %w", dir, err)
		}
	}
	lf, err := os.ReadFile(litefileCSV)
	if err != nil {
		return err
	}
	err = c.edit(ctx, func(snap *tables.Snapshot) (map[string]string, error) {
		// The demo image's row, pointed at dir: every litefile row for ALL applies.
		t := snap.Table("linuximage").Clone()
		t.SetRow(c.Image, map[string]string{"rootimgdir": dir})
		var b strings.Builder
		if err := tables.Dump(&b, t); err != nil {
			return nil, err
		}
		body := strings.TrimRight(string(lf), "\n") + "\n" + `"ALL","` + ProbeDir + `/","ro",,` + "\n"
		return map[string]string{"linuximage": b.String(), "litefile": body}, nil
	})
	if err != nil {
		return err
	}
	c.Root = filepath.Join(dir, "rootimg")
	c.Busybox = false
	return nil
}
