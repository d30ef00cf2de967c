package boot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"statelite/resolver"
	"statelite/tables"
)

// NodesetResult is what Nodeset decided for the nodes: the tables to write (nil: none),
// a line per node set, and the problems (nodes left as they were) and warnings.
type NodesetResult struct {
	Tables             map[string]*tables.Table
	Lines              []string
	Problems, Warnings []string
}

// Nodeset is xCAT's nodeset for statelite over the tables cur: action is osimage=IMAGE
// (nodetype os/arch/profile/provmethod set from the image), statelite (the image each
// node's nodetype names), boot (local disk) or offline (no configuration). It renders
// each node's boot parameters as the server would (ServerIP left as xCAT's !myipfn!,
// which the server fills in at each request), checks that the node's image root, kernel
// and initrd exist, and returns the chain, bootparams (and nodetype) tables to write.
// A node that cannot be set is a problem and keeps its rows; an error (an unknown
// image, a bad action) sets no node.
func Nodeset(cur *tables.Snapshot, rcfg resolver.Config, nodes []string, action string, nfsPort int) (NodesetResult, error) {
	var res NodesetResult
	if err := CheckNodesetAction(action); err != nil {
		return res, err
	}
	img, isImage := strings.CutPrefix(action, "osimage=")
	nt, chain, bp := cur.Table("nodetype").Clone(), cur.Table("chain").Clone(), cur.Table("bootparams").Clone()
	work := cur
	if isImage {
		oi := cur.Table("osimage")
		rows := cur.RowsByKey("osimage", img)
		if len(rows) == 0 {
			return res, fmt.Errorf("osimage %s: not in the osimage table", img)
		}
		o := rows[0]
		if pm := oi.Get(o, "provmethod"); pm != "statelite" && pm != "" {
			return res, fmt.Errorf("osimage %s: provmethod is %s; statelite boots statelite images only", img, pm)
		}
		osv, arch, prof := oi.Get(o, "osvers"), oi.Get(o, "osarch"), oi.Get(o, "profile")
		if osv == "" || arch == "" || prof == "" {
			return res, fmt.Errorf("osimage %s: osvers, osarch and profile must be set (they are copied to nodetype)", img)
		}
		for _, n := range nodes {
			nt.SetRow(n, map[string]string{"os": osv, "arch": arch, "profile": prof, "provmethod": img})
		}
		work = cur.With(cur.Gen, map[string]*tables.Table{"nodetype": nt})
	}
	r := resolver.New(work, rcfg)
	// The record in bootparams keeps xCAT's !myipfn! where the server puts the address
	// the node reached it on.
	set := Settings{ServerIP: "!myipfn!", NFSPort: nfsPort}
	ok := 0
	for _, n := range nodes {
		switch action {
		case "boot", "offline":
			chain.SetRow(n, map[string]string{"currstate": action})
			bp.SetRow(n, map[string]string{"kernel": "", "initrd": "", "kcmdline": ""})
			res.Lines = append(res.Lines, n+": "+action)
			ok++
			continue
		}
		_, osv, arch, prof, err := resolver.ImageOf(work, n)
		if err != nil {
			res.Problems = append(res.Problems, err.Error())
			continue
		}
		state := "statelite " + osv + "-" + arch + "-" + prof
		// Render through a snapshot where the node is already set to statelite.
		tc := chain.Clone()
		tc.SetRow(n, map[string]string{"currstate": state})
		p, err := NodeParams(resolver.New(work.With(work.Gen, map[string]*tables.Table{"chain": tc}), rcfg), n, set)
		if err != nil {
			res.Problems = append(res.Problems, err.Error())
			continue
		}
		plan, err := r.Plan(n)
		if err != nil {
			res.Problems = append(res.Problems, err.Error())
			continue
		}
		if err := CheckBootFiles(p, plan.Root); err != nil {
			res.Problems = append(res.Problems, n+": "+err.Error())
			continue
		}
		if m, _, _ := work.NodeAttr(n, "mac", "mac"); m == "" {
			if ip, _, _ := work.NodeAttr(n, "hosts", "ip"); ip == "" {
				res.Warnings = append(res.Warnings, n+": no mac table entry and no hosts.ip: pxelinux and grub2 cannot find its configuration (iPXE can, by name: xcat/xnba/nodes/"+n+")")
			}
		}
		chain.SetRow(n, map[string]string{"currstate": state})
		bp.SetRow(n, map[string]string{"kernel": p.Kernel, "initrd": p.Initrd, "kcmdline": p.Kcmdline})
		res.Lines = append(res.Lines, n+": "+state)
		ok++
	}
	if ok > 0 {
		res.Tables = map[string]*tables.Table{"chain": chain, "bootparams": bp}
		if isImage {
			res.Tables["nodetype"] = nt
		}
	}
	return res, nil
}

// CheckNodesetAction says whether action is one Nodeset takes.
func CheckNodesetAction(action string) error {
	if action != "statelite" && action != "boot" && action != "offline" && !strings.HasPrefix(action, "osimage=") {
		return fmt.Errorf("nodeset: %q is not osimage=IMAGE, statelite, boot, offline or stat (xCAT's install and netboot are not served by statelite)", action)
	}
	return nil
}

// CheckBootFiles checks that a node's image root (root), kernel and initrd exist.
func CheckBootFiles(p *Params, root string) error {
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return fmt.Errorf("image root %s of osimage %s does not exist (or is not a directory)", root, p.Image)
	}
	r, err := os.OpenRoot(p.ImageDir)
	if err != nil {
		return fmt.Errorf("image directory %s of osimage %s: %v", p.ImageDir, p.Image, err)
	}
	defer r.Close()
	for _, f := range []string{KernelName, InitrdName} {
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
