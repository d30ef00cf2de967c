package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"statelite/boot"
	fsrv "statelite/fs"
	"statelite/resolver"
	"statelite/tables"
)

// nodesetCmd is xCAT's nodeset for statelite: it writes nodetype (for osimage=), chain and
// bootparams rows through the table store, so a running server serves the new boot
// configuration at the next request. No file is staged: the server renders configs and
// reads the kernel and initrd from <rootimgdir>.
func nodesetCmd(e *env) *cobra.Command {
	var nfsPort int
	c := &cobra.Command{
		Use:   "nodeset NODERANGE osimage=IMAGE|statelite|boot|offline|stat",
		Short: "Choose what nodes boot from this server (statelite image, local disk, nothing)",
		Long: `nodeset NODERANGE osimage=IMAGE   boot the nodes into the statelite image IMAGE
                                   (nodetype os/arch/profile/provmethod are set from it)
nodeset NODERANGE statelite        boot the statelite image each node's nodetype names
nodeset NODERANGE boot             boot from local disk (LOCALBOOT 0)
nodeset NODERANGE offline          serve no boot configuration at all
nodeset NODERANGE stat             show chain.currstate

The image root, <rootimgdir>/kernel and <rootimgdir>/initrd-statelite.gz must exist.
A node without a chain.currstate is not served a configuration by statelite serve.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.nodeset(cmd.Context(), args[0], args[1], nfsPort)
		},
	}
	c.Flags().IntVar(&nfsPort, "nfs-port", 2049, "NFS port recorded in bootparams.kcmdline (the server renders its own at each boot)")
	return c
}

// checkBootFiles checks that the node's image root, kernel and initrd exist.
func checkBootFiles(p *boot.Params, root string) error {
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return fmt.Errorf("image root %s of osimage %s does not exist (or is not a directory)", root, p.Image)
	}
	r, err := os.OpenRoot(p.ImageDir)
	if err != nil {
		return fmt.Errorf("image directory %s of osimage %s: %v", p.ImageDir, p.Image, err)
	}
	defer r.Close()
	for _, f := range []string{boot.KernelName, boot.InitrdName} {
		fi, err := r.Stat(f)
		if err == nil && !fi.Mode().IsRegular() {
			err = errors.New("not a regular file")
		}
		if errors.Is(err, fs.ErrNotExist) {
			err = errors.New("no such file")
		}
		if err != nil {
			return fmt.Errorf("%s %s of osimage %s: %v", strings.TrimSuffix(f, ".gz"), path.Join(p.ImageDir, f), p.Image, err)
		}
	}
	return nil
}

func (e *env) nodeset(ctx context.Context, nr, action string, nfsPort int) error {
	st, err := e.store()
	if err != nil {
		return err
	}
	var lines, problems, warnings []string
	if action == "stat" {
		snap, err := e.load(ctx)
		if err != nil {
			return err
		}
		nodes, err := e.noderange(snap, nr)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			cs, _, ok := snap.NodeAttr(n, "chain", "currstate")
			if !ok {
				cs = "none"
			}
			fmt.Fprintf(e.stdout, "%s: %s\n", n, cs)
		}
		return nil
	}
	img, isImage := strings.CutPrefix(action, "osimage=")
	if !isImage && action != "statelite" && action != "boot" && action != "offline" {
		return fmt.Errorf("nodeset: %q is not osimage=IMAGE, statelite, boot, offline or stat (xCAT's install and netboot are not served by statelite)", action)
	}
	snap, err := st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		lines, problems, warnings = nil, nil, nil
		nodes, err := e.noderange(cur, nr)
		if err != nil {
			return nil, err
		}
		nt, chain, bp := cur.Table("nodetype").Clone(), cur.Table("chain").Clone(), cur.Table("bootparams").Clone()
		work := cur
		if isImage {
			oi := cur.Table("osimage")
			rows := cur.RowsByKey("osimage", img)
			if len(rows) == 0 {
				return nil, fmt.Errorf("osimage %s: not in the osimage table", img)
			}
			o := rows[0]
			if pm := oi.Get(o, "provmethod"); pm != "statelite" && pm != "" {
				return nil, fmt.Errorf("osimage %s: provmethod is %s; statelite boots statelite images only", img, pm)
			}
			osv, arch, prof := oi.Get(o, "osvers"), oi.Get(o, "osarch"), oi.Get(o, "profile")
			if osv == "" || arch == "" || prof == "" {
				return nil, fmt.Errorf("osimage %s: osvers, osarch and profile must be set (they are copied to nodetype)", img)
			}
			for _, n := range nodes {
				nt.SetRow(n, map[string]string{"os": osv, "arch": arch, "profile": prof, "provmethod": img})
			}
			work = cur.With(cur.Gen, map[string]*tables.Table{"nodetype": nt})
		}
		r := resolver.New(work, e.resolverConfig())
		// The record in bootparams keeps xCAT's !myipfn! where the server puts the
		// address the node reached it on.
		set := boot.Settings{ServerIP: "!myipfn!", NFSPort: nfsPort}
		ok := 0
		for _, n := range nodes {
			switch action {
			case "boot", "offline":
				chain.SetRow(n, map[string]string{"currstate": action})
				bp.SetRow(n, map[string]string{"kernel": "", "initrd": "", "kcmdline": ""})
				lines = append(lines, n+": "+action)
				ok++
				continue
			}
			_, osv, arch, prof, err := resolver.ImageOf(work, n)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			state := "statelite " + osv + "-" + arch + "-" + prof
			// Render through a snapshot where the node is already set to statelite.
			tc := chain.Clone()
			tc.SetRow(n, map[string]string{"currstate": state})
			rr := resolver.New(work.With(work.Gen, map[string]*tables.Table{"chain": tc}), e.resolverConfig())
			p, err := boot.NodeParams(rr, n, set)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			plan, err := r.Plan(n)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if err := checkBootFiles(p, plan.Root); err != nil {
				problems = append(problems, n+": "+err.Error())
				continue
			}
			if m, _, _ := work.NodeAttr(n, "mac", "mac"); m == "" {
				if ip, _, _ := work.NodeAttr(n, "hosts", "ip"); ip == "" {
					warnings = append(warnings, n+": no mac table entry and no hosts.ip: pxelinux and grub2 cannot find its configuration (iPXE can, by name: xcat/xnba/nodes/"+n+")")
				}
			}
			chain.SetRow(n, map[string]string{"currstate": state})
			bp.SetRow(n, map[string]string{"kernel": p.Kernel, "initrd": p.Initrd, "kcmdline": p.Kcmdline})
			lines = append(lines, n+": "+state)
			ok++
		}
		if ok == 0 {
			return nil, nil // nothing to write
		}
		repl := map[string]*tables.Table{"chain": chain, "bootparams": bp}
		if isImage {
			repl["nodetype"] = nt
		}
		return repl, nil
	})
	if err != nil {
		if len(problems) == 0 {
			return e.report(snap, err)
		}
		e.report(snap, err)
	}
	for _, l := range lines {
		fmt.Fprintln(e.stdout, l)
	}
	for _, w := range warnings {
		fmt.Fprintln(e.stderr, "Warning: "+w)
	}
	for _, p := range problems {
		e.errorf("%s", p)
	}
	if len(problems) > 0 || err != nil {
		return exitError{1}
	}
	return nil
}

// startBoot starts the TFTP and HTTP boot servers of statelite serve (--tftp, --http)
// over the fs server's live tables; a node fetching its boot configuration resets its
// volatile layer (once per boot). They stop when ctx is done.
func (e *env) startBoot(ctx context.Context, o serveOpts, fsv *fsrv.Server, nfsAddr net.Addr, log *slog.Logger) error {
	if o.tftpAddr == "" && o.httpAddr == "" {
		return nil
	}
	port := func(a net.Addr) int {
		_, p, _ := net.SplitHostPort(a.String())
		n, _ := strconv.Atoi(p)
		return n
	}
	var uc net.PacketConn
	var hl net.Listener
	var err error
	if o.tftpAddr != "" {
		if uc, err = net.ListenPacket("udp", o.tftpAddr); err != nil {
			return fmt.Errorf("--tftp %s: %w", o.tftpAddr, err)
		}
	}
	if o.httpAddr != "" {
		if hl, err = net.Listen("tcp", o.httpAddr); err != nil {
			if uc != nil {
				uc.Close()
			}
			return fmt.Errorf("--http %s: %w", o.httpAddr, err)
		}
	}
	cfg := boot.Config{
		Resolver: fsv.Resolver, TFTPRoot: o.tftpRoot, NFSPort: port(nfsAddr), Log: log,
		OnBoot: func(node, token string) {
			if err := fsv.Reset(node); err != nil {
				log.Error("boot: volatile layer reset failed", "node", node, "err", err)
			}
		},
	}
	if uc != nil {
		cfg.TFTPPort = port(uc.LocalAddr())
	}
	if hl != nil {
		cfg.HTTPPort = port(hl.Addr())
	}
	bs, err := boot.New(cfg)
	if err != nil {
		return err
	}
	if uc != nil {
		go bs.ServeTFTP(ctx, uc, nil)
		log.Info("tftp", "addr", uc.LocalAddr().String(), "root", bs.TFTPRoot())
	}
	if hl != nil {
		hs := &http.Server{Handler: bs, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(hl)
		go func() { <-ctx.Done(); hs.Close() }()
		log.Info("http boot", "addr", hl.Addr().String(), "root", bs.TFTPRoot())
	}
	return nil
}
