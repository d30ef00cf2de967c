package cli

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"statelite/internal/demo"
	"statelite/resolver"
)

func demoCmd(e *env) *cobra.Command {
	var dir, serveAddr string
	var fresh bool
	c := &cobra.Command{
		Use:   "demo [--dir DIR] [--fresh] [--serve ADDR]",
		Short: "Build a demo cluster (tables, image, litetree, state) and show its nodes' views",
		Long: `demo builds a small cluster in DIR (tables, an image tree with its .default, two
litetree sources, a persistent state directory, nodes n1 and n2), shows each node's
plan and explain output for a few paths, and with --serve serves the views over NFS.

A DIR that holds the demo's tables already (from an earlier run, perhaps edited since
with chtab or tabedit) is reused as it is: your edits stay, and what is missing of the
image or the litetree files is made again. --fresh removes the old demo and builds it
anew (only a demo directory: one whose site.installdir is DIR/install).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := e.stdout
			var cl *demo.Cluster
			var err error
			switch {
			case demo.HasTables(dir) && !fresh:
				var gen uint64
				if cl, gen, err = demo.Reuse(cmd.Context(), dir); err != nil {
					return err
				}
				edited := "as built"
				if gen > 1 {
					edited = fmt.Sprintf("edited since it was built: store generation %d", gen)
				}
				fmt.Fprintf(w, "Reusing the demo cluster in %s with its tables as they are (%s; nodes %s).\n", cl.Dir, edited, strings.Join(cl.Nodes, ","))
				fmt.Fprintf(w, "To start over: statelite demo --dir %s --fresh (make run FRESH=1).\n\n", dir)
			default:
				again := demo.HasTables(dir)
				if again {
					if err := demo.Remove(cmd.Context(), dir); err != nil {
						return err
					}
				}
				if cl, err = demo.Build(cmd.Context(), dir); err != nil {
					return err
				}
				how := "built in"
				if again {
					how = "built afresh in"
				}
				fmt.Fprintf(w, "Demo cluster %s %s (image %s, nodes %s).\n\n", how, cl.Dir, cl.Image, strings.Join(cl.Nodes, ","))
			}
			e.tablesDir = cl.Tables
			if len(cl.Nodes) == 0 {
				return fmt.Errorf("the demo's tables in %s hold no node: statelite demo --dir %s --fresh builds it anew", cl.Tables, dir)
			}
			if err := e.forNodes(cmd, strings.Join(cl.Nodes, ","), func(p *resolver.Plan) {
				fmt.Fprintf(w, "== %s: image root %s, persistent root %s, %d litefile entries\n", p.Node, p.Root, p.PR, len(p.Entries()))
				for _, s := range p.Sources {
					fmt.Fprintf(w, "   litetree %s: %s\n", s.Priority, s.Path)
				}
			}); err != nil {
				return err
			}
			fmt.Fprintln(w)
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			r := resolver.New(snap, e.resolverConfig())
			for _, q := range [][2]string{{"n1", "/etc/motd"}, {"n2", "/etc/ntp.conf"}, {"n1", "/opt/app/app.cfg"}, {"n1", "/root/.profile"}, {"n2", "/usr/bin/passwd"}} {
				if !snap.IsNode(q[0]) {
					continue // a reused demo whose node was removed
				}
				p, err := r.Plan(q[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "$ statelite explain %s %s\n", q[0], q[1])
				p.Explain(w, resolver.OSProber{}, q[1])
				fmt.Fprintln(w)
			}
			self := "statelite"
			if exe, err := os.Executable(); err == nil && !strings.Contains(exe, "go-build") {
				self = exe
			}
			fmt.Fprintf(w, "Try:\n  export STATELITE_TABLES=%s\n  %s lslite n1\n  %s litetree n1,n2\n  %s explain n2 /etc/ssh/sshd_config\n  %s tabdump litefile\n", cl.Tables, self, self, self, self)
			if serveAddr == "" {
				return nil
			}
			o := serveOpts{state: filepath.Join(cl.Dir, "server-state"), nfsAddr: serveAddr, adminAllow: "127.0.0.0/8,::1/128"}
			return e.serve(cmd.Context(), o, func(a net.Addr) {
				_, port, _ := net.SplitHostPort(a.String())
				u := "?version=3&nfsport=" + port + "&mountport=" + port
				fmt.Fprintf(w, "\nServing every node's view over NFSv3 on %s (Ctrl-C stops). Paste:\n", a)
				fmt.Fprintf(w, "  nfs-ls  \"nfs://127.0.0.1/nodes/n1/etc%s\"\n", u)
				fmt.Fprintf(w, "  nfs-cat \"nfs://127.0.0.1/nodes/n1/etc/motd%s\"     # con: both litetree parts\n", u)
				fmt.Fprintf(w, "  echo hi > /tmp/hi && nfs-cp /tmp/hi \"nfs://127.0.0.1/nodes/n1/tmp/hi%s\"\n", u)
				fmt.Fprintf(w, "  nfs-cat \"nfs://127.0.0.1/nodes/n2/tmp/hi%s\"      # n2 does not see n1's file\n", u)
				fmt.Fprintf(w, "  %s --tables %s reset n1 --state %s           # a boot: n1's volatile files are gone\n", self, cl.Tables, o.state)
				fmt.Fprintf(w, "  sudo %s --tables %s mount n1 /mnt/n1 --state %s   # the same view over FUSE\n", self, cl.Tables, o.state)
				fmt.Fprintf(w, "  sudo mount -t nfs -o vers=3,proto=tcp,port=%s,mountport=%s,mountproto=tcp,nolock,noacl 127.0.0.1:/nodes/n1 /mnt/n1   # with a kernel NFS client\n", port, port)
			})
		},
	}
	c.Flags().StringVar(&dir, "dir", "demo", "folder to build the demo cluster in (one holding a demo already is reused, edits kept)")
	c.Flags().BoolVar(&fresh, "fresh", false, "remove the demo already in --dir and build it anew")
	c.Flags().StringVar(&serveAddr, "serve", "", "after building, serve the nodes' views over NFS on this address (e.g. 127.0.0.1:20490)")
	return c
}
