// Package storm is the boot-storm benchmark: a demo cluster of N nodes, a recorded boot
// (the NFS calls of a real Linux kernel booting its root from us under qemu), replayed
// from N simulated nodes at once (each its own TCP connection, source address and node
// name) against a separate `statelite serve` process, with per-operation latencies,
// errors, the server's CPU and memory, a live litetree change under load with a check
// that no node saw a mixed view, and SVG plots.
package storm

import (
	"context"
	_ "embed"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"statelite/internal/demo"
	"statelite/tables"
)

// BootScript is the init the recorded boot runs (boot.sh), installed in the image as
// /sbin/statelite-boot.
//
//go:embed boot.sh
var BootScript []byte

// Cluster is a demo cluster with N nodes n0001…, each with its own loopback address.
type Cluster struct {
	*demo.Cluster
	Mnt   string              // resolver Mnt (the demo's "127.0.0.1:/dir" sources are read there)
	Names []string            // node names
	Addrs map[string]string   // node -> its address (hosts.ip)
	Gen   map[string][]string // generation -> the litetree source directories it uses
}

// ProbeDir is the view directory every boot of the trace reads: a litetree-provided `ro`
// directory whose two files (ProbeFiles) and listing say which generation of the
// litetree table served them (GenA: the "common" source; GenB: "common2").
const ProbeDir = "/etc/gen"

// ProbeFiles are the files of ProbeDir.
var ProbeFiles = []string{"a.conf", "b.conf"}

// Generation names and the contents of their probe files (different sizes, so a
// listing's attributes say which generation each entry came from).
const (
	GenA = "A"
	GenB = "B"
)

// ProbeContent is the content of probe file f in generation g.
func ProbeContent(g, f string) string {
	if g == GenA {
		return "gen=A " + f + "\n"
	}
	return "gen=B " + f + " (the second litetree generation)\n"
}

// NodeName is the name of node i (1-based).
func NodeName(i int) string { return fmt.Sprintf("n%04d", i) }

// NodeAddr is the loopback address of node i (1-based): 127.10.x.y.
func NodeAddr(i int) string {
	return netip.AddrFrom4([4]byte{127, 10, byte(i / 200), byte(i%200 + 1)}).String()
}

// Build makes a demo cluster with n nodes in dir (replacing what is there): the demo's
// image, Cookbook litefile and litetree sources, plus the probe directory (a litefile
// row `ALL,/etc/gen/,ro`, served from the litetree's common source, or from common2
// after Flip).
func Build(ctx context.Context, dir string, n int) (*Cluster, error) {
	os.RemoveAll(dir)
	dc, err := demo.Build(ctx, filepath.Join(dir, "demo"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{Cluster: dc, Mnt: filepath.Join(dir, "mnt"), Addrs: map[string]string{}}
	// The demo's remote sources are "127.0.0.1:/dir", read at MNT/127.0.0.1/dir: make
	// them present, as mounted on a real server.
	if err := os.MkdirAll(c.Mnt, 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink("/", filepath.Join(c.Mnt, "127.0.0.1")); err != nil {
		return nil, err
	}
	// common2: a copy of common with the other generation of the probe files.
	if err := copyTree(filepath.Join(dc.Tree, "common"), filepath.Join(dc.Tree, "common2")); err != nil {
		return nil, err
	}
	for g, src := range map[string]string{GenA: "common", GenB: "common2"} {
		d := filepath.Join(dc.Tree, src, strings.TrimPrefix(ProbeDir, "/"))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		for _, f := range ProbeFiles {
			if err := os.WriteFile(filepath.Join(d, f), []byte(ProbeContent(g, f)), 0o644); err != nil {
				return nil, err
			}
		}
	}
	var nl, hosts strings.Builder
	nl.WriteString("#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n")
	hosts.WriteString("#node,ip,comments,disable\n")
	for i := 1; i <= n; i++ {
		name := NodeName(i)
		c.Names = append(c.Names, name)
		c.Addrs[name] = NodeAddr(i)
		fmt.Fprintf(&nl, "%q,\"compute,all\",,,,,,,,,,,\n", name)
		fmt.Fprintf(&hosts, "%q,%q,,\n", name, c.Addrs[name])
	}
	c.Nodes = c.Names
	if err := os.WriteFile(filepath.Join(dc.Root, "sbin", "statelite-boot"), BootScript, 0o755); err != nil {
		return nil, err
	}
	err = c.edit(ctx, func(snap *tables.Snapshot) (map[string]string, error) {
		lf, err := tableText(snap, "litefile")
		if err != nil {
			return nil, err
		}
		lf += `"ALL","` + ProbeDir + `/","ro",,` + "\n"
		return map[string]string{"nodelist": nl.String(), "hosts": hosts.String(), "litefile": lf,
			"litetree": c.litetree("common")}, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) litetree(common string) string {
	return "#priority,image,directory,mntopts,comments,disable\n" +
		`"1","ALL","` + filepath.Join(c.Tree, "$node") + `",,,` + "\n" +
		`"2","ALL","$noderes.xcatmaster:` + filepath.Join(c.Tree, common) + `",,,` + "\n"
}

// Flip switches the litetree's second row to generation g's source (common for GenA,
// common2 for GenB), through the table store; a running server picks it up live.
func (c *Cluster) Flip(ctx context.Context, g string) error {
	src := "common"
	if g == GenB {
		src = "common2"
	}
	return c.edit(ctx, func(*tables.Snapshot) (map[string]string, error) {
		return map[string]string{"litetree": c.litetree(src)}, nil
	})
}

// NoLitefile replaces the litefile table with a single `/tmp/` tmpfs row (the least a
// node needs to write anywhere): the cluster then measures the server without the
// Cookbook's rules.
func (c *Cluster) NoLitefile(ctx context.Context) error {
	return c.edit(ctx, func(*tables.Snapshot) (map[string]string, error) {
		return map[string]string{"litefile": "#image,file,options,comments,disable\n\"ALL\",\"/tmp/\",\"tmpfs\",,\n"}, nil
	})
}

func (c *Cluster) edit(ctx context.Context, f func(*tables.Snapshot) (map[string]string, error)) error {
	st, err := tables.OpenDir(c.Tables)
	if err != nil {
		return err
	}
	_, err = st.Edit(ctx, func(snap *tables.Snapshot) (map[string]*tables.Table, error) {
		texts, err := f(snap)
		if err != nil {
			return nil, err
		}
		out := map[string]*tables.Table{}
		for name, body := range texts {
			t, err := tables.Parse(name, strings.NewReader(body))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out[name] = t
		}
		return out, nil
	})
	return err
}

// tableText returns a table of snap as xCAT CSV text.
func tableText(snap *tables.Snapshot, name string) (string, error) {
	t := snap.Table(name)
	if t == nil {
		return "", fmt.Errorf("no %s table", name)
	}
	var b strings.Builder
	if err := tables.Dump(&b, t); err != nil {
		return "", err
	}
	return b.String(), nil
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(t, fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(t, b, fi.Mode().Perm())
	})
}

// FreshPersistent removes the files of node's persistent directory (PR(node) =
// statemnt/<node>), so that every replayed boot is a first boot, as the recorded one was
// (otherwise files a previous boot left, /root/.history, answer LOOKUPs the recording
// saw fail). Directories stay: the server copied them up already.
func (c *Cluster) FreshPersistent(node string) error {
	root := filepath.Join(c.State, node)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		return os.Remove(p)
	})
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
