// Package boot serves what a diskless node needs to boot into its statelite view: boot
// loader configurations (pxelinux, grub2, iPXE) rendered on request from the tables as
// they are now, the image's kernel and initrd, and the files of the TFTP root, over TFTP
// (github.com/pin/tftp/v3) and HTTP. A node fetching its boot configuration is a boot
// (docs/behaviour.md#what-counts-as-a-boot): its volatile layer is reset once per boot.
//
// The render functions are pure: tables (through a resolver) + node + Settings → text.
package boot

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	sfs "statelite/fs"
	"statelite/resolver"
	"statelite/tables"
)

// Loader is a boot loader whose configuration we render.
type Loader int

// The boot loaders.
const (
	PXELinux Loader = iota // pxelinux.cfg/… (xCAT's pxe.pm, docs/behaviour.md#boot-files)
	Grub2                  // boot/grub2/grub.cfg-… (xCAT's grub2.pm, docs/behaviour.md#boot-files)
	IPXE                   // xcat/xnba/nodes/<node> (xCAT's xnba.pm, as #!ipxe; docs/behaviour.md#boot-files)
)

func (l Loader) String() string {
	switch l {
	case PXELinux:
		return "pxelinux"
	case Grub2:
		return "grub2"
	case IPXE:
		return "ipxe"
	}
	return "loader?"
}

// Settings are the serving side's facts a rendered configuration depends on.
type Settings struct {
	// ServerIP is this server's address as the node sees it (the address its request
	// arrived on; xCAT's "my IP facing the node"). It is used when noderes names no
	// nfsserver/servicenode/tftpserver/xcatmaster. Empty when unknown.
	ServerIP string
	// NFSPort is the port of our nfsd (NFS and MOUNT on one port).
	NFSPort int
	// HTTPPort is the port of our HTTP server, 0 when there is none (iPXE then loads the
	// kernel and initrd over TFTP).
	HTTPPort int
	// TFTPPort is the port of our TFTP server (0 means 69).
	TFTPPort int
	// Token is the boot token rendered into the root path (/nodes/<node>/@<token>);
	// empty for none.
	Token string
	// LookupIP resolves a host name to an IPv4/IPv6 address; nil uses the system resolver.
	LookupIP func(host string) (string, error)
}

// Errors of NodeParams that mean "this node gets no configuration from us".
var (
	// ErrNotManaged: the node has no chain.currstate (no row for it or its groups):
	// nodes opt in with nodeset.
	ErrNotManaged = errors.New("no chain.currstate (run nodeset to boot it from this server)")
	// ErrOffline: chain.currstate is "offline".
	ErrOffline = errors.New("chain.currstate is offline")
)

// Params is what a node boots, as all loaders render it.
type Params struct {
	Node      string
	CurrState string // chain.currstate as stored (the config's comment line)
	State     string // "statelite" or "boot"
	Image     string // osimage (State statelite)
	ImageDir  string // <rootimgdir> on this server, where kernel and initrd are read
	Kernel    string // path relative to the TFTP root: xcat/osimage/<image>[@<N>]/kernel, N the boot token's image generation
	Initrd    string // xcat/osimage/<image>[@<N>]/initrd-statelite.gz
	Kcmdline  string // the kernel command line, xCAT's anaconda.pm order adapted (package doc of kcmdline)
	ServerIP  string // the server address used for TFTP/HTTP in grub2 configs
	GrubProto string // "tftp" or "http" (noderes.netboot grub2-http)

	// src are the table values rendered into the configuration's directives, with the
	// column each came from, for Render's checks of the loader's syntax.
	src []source
}

// source is a table value in a rendered configuration and the column it came from.
type source struct{ col, v string }

// ctlChar returns the first control character of v (a line break, tab, NUL…), or -1.
func ctlChar(v string) int {
	return strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// checkLine refuses a value that would break the lines of a rendered configuration: a
// line break in a value would start a directive of its own.
func checkLine(node, col, v string) error {
	if i := ctlChar(v); i >= 0 {
		return fmt.Errorf("node %s: %s %q holds the control character %q: it would break the lines of the boot configuration (remove it)", node, col, v, v[i])
	}
	return nil
}

// special are the characters of a table value that would change the meaning of a
// loader's directive around it: GRUB's metacharacters (a ; or a { starts another
// command), quotes and escapes; iPXE's || and && (another command) and ${…}
// (expansion). PXELinux reads a line as it is.
var special = map[Loader]string{
	Grub2: "{}|&$;<>\"'\\",
	IPXE:  "|&$",
}

// KernelName and InitrdName are the file names of an image's boot files in <rootimgdir>
// (docs/behaviour.md#boot-files).
const (
	KernelName = "kernel"
	InitrdName = "initrd-statelite.gz"
)

// ImageFile returns the TFTP/HTTP name of an image's boot file.
func ImageFile(image, file string) string { return "xcat/osimage/" + image + "/" + file }

// CheckNFSRootOpts validates osimage.nfsrootopts (xCAT's linuximage.nfsrootopts, docs/behaviour.md#boot-files): a comma list without
// blanks or empty items; rw and defaults are refused. xCAT forces ro first and accepts a
// redundant ro; our root mounts read-write (docs/behaviour.md#boot-files: the server
// decides path by path what is writable), so ro is dropped here as xCAT drops its
// duplicate. The NFS version, ports and mount protocol are ours to set, so vers, nfsvers,
// port, mountport and mountproto are refused too. It returns the options to append
// (without ro).
func CheckNFSRootOpts(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return nil, fmt.Errorf("nfsrootopts %q: blanks are not allowed (a comma list such as noac,actimeo=0)", v)
	}
	var out []string
	for _, o := range strings.Split(v, ",") {
		if o == "" {
			return nil, fmt.Errorf("nfsrootopts %q: empty item in the comma list", v)
		}
		key, _, _ := strings.Cut(o, "=")
		switch strings.ToLower(key) {
		case "rw":
			return nil, fmt.Errorf("nfsrootopts %q: rw is not allowed (the root is mounted read-write already; the server decides what is writable)", v)
		case "defaults":
			return nil, fmt.Errorf("nfsrootopts %q: defaults is not allowed", v)
		case "vers", "nfsvers", "port", "mountport", "mountproto":
			return nil, fmt.Errorf("nfsrootopts %q: %s is set by statelite (NFSv3 on the server's own port) and cannot be overridden", v, key)
		case "ro":
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

// AddKcmdline filters an addkcmdline value for a netboot: options prefixed R:: (meant for
// installed systems) are skipped (xCAT's linuximage.nfsrootopts, docs/behaviour.md#boot-files), and the #NODEATTRIB:table:column# and
// #TABLE:table:$NODE:column# placeholders are replaced by the node's value (as xCAT's anaconda.pm does).
func AddKcmdline(s *tables.Snapshot, node, v string) string {
	var out []string
	for _, f := range strings.Fields(v) {
		if strings.HasPrefix(f, "R::") {
			continue
		}
		out = append(out, expandPlaceholders(s, node, f))
	}
	return strings.Join(out, " ")
}

func expandPlaceholders(s *tables.Snapshot, node, f string) string {
	for _, tag := range []string{"#NODEATTRIB:", "#TABLE:"} {
		for guard := 0; guard < 16; guard++ {
			i := strings.Index(f, tag)
			if i < 0 {
				break
			}
			j := strings.IndexByte(f[i+len(tag):], '#')
			if j < 0 {
				break
			}
			parts := strings.Split(f[i+len(tag):i+len(tag)+j], ":")
			var val string
			switch {
			case tag == "#NODEATTRIB:" && len(parts) == 2:
				val, _, _ = s.NodeAttr(node, parts[0], parts[1])
			case tag == "#TABLE:" && len(parts) == 3 && (parts[1] == "$NODE" || parts[1] == "THISNODE"):
				val, _, _ = s.NodeAttr(node, parts[0], parts[2])
			}
			f = f[:i] + val + f[i+len(tag)+j+1:]
		}
	}
	return f
}

// resolve returns host as an IP address: itself when it is one, else through lookup.
func (set Settings) resolve(host string) (string, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.String(), nil
	}
	if set.LookupIP != nil {
		return set.LookupIP(host)
	}
	addrs, err := net.LookupHost(host)
	if err != nil || len(addrs) == 0 {
		return "", fmt.Errorf("cannot resolve %s: %v", host, err)
	}
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() {
			return a, nil
		}
	}
	return addrs[0], nil
}

// serverFor picks the first usable value of the noderes columns cols (skipping xCAT's
// "<xcatmaster>" placeholder), resolved to an IP; else set.ServerIP. what names the use
// in the error when nothing is known. For servicenode (a comma list) the first item is
// used: its hosts.ip when it has one (a node or a known host), else the name as written.
func (set Settings) serverFor(s *tables.Snapshot, node, what string, cols ...string) (string, error) {
	for _, c := range cols {
		var v string
		switch c {
		case "site.master":
			v, _ = s.Site("master")
		case "servicenode":
			v, _, _ = s.NodeAttr(node, "noderes", c)
			v, _, _ = strings.Cut(v, ",")
			v = strings.TrimSpace(v)
			if v == "" || v == "<xcatmaster>" || v == "!myipfn!" {
				continue
			}
			if ip, _, ok := s.NodeAttr(v, "hosts", "ip"); ok && ip != "" {
				return strings.TrimSpace(ip), nil
			}
			return v, nil
		default:
			v, _, _ = s.NodeAttr(node, "noderes", c)
		}
		if v == "" || v == "<xcatmaster>" || v == "!myipfn!" {
			continue
		}
		ip, err := set.resolve(v)
		if err != nil {
			return "", fmt.Errorf("node %s: %s %s: %v", node, c, v, err)
		}
		return ip, nil
	}
	if set.ServerIP == "" {
		return "", fmt.Errorf("node %s: cannot tell this server's address as the node sees it (for %s); set noderes.%s", node, what, cols[0])
	}
	return set.ServerIP, nil
}

// NodeParams computes what node boots from the tables of r: chain.currstate says whether
// (statelite, boot; offline and no state give ErrOffline and ErrNotManaged), nodetype
// names the image (docs/behaviour.md#the-cookbooks-commands), and the kernel command line
// is built in the order of xCAT's anaconda.pm with our root= form (docs/behaviour.md#boot-files).
func NodeParams(r *resolver.Resolver, node string, set Settings) (*Params, error) {
	s := r.Snap
	if !s.IsNode(node) {
		return nil, fmt.Errorf("node %s is not in nodelist", node)
	}
	cs, _, ok := s.NodeAttr(node, "chain", "currstate")
	cs = strings.TrimSpace(cs)
	if !ok || cs == "" {
		return nil, fmt.Errorf("node %s: %w", node, ErrNotManaged)
	}
	p := &Params{Node: node, CurrState: cs}
	if err := checkLine(node, "nodelist.node", node); err != nil {
		return nil, err
	}
	if err := checkLine(node, "chain.currstate", cs); err != nil {
		return nil, err
	}
	state, _, _ := strings.Cut(cs, " ")
	switch state {
	case "offline":
		return nil, fmt.Errorf("node %s: %w", node, ErrOffline)
	case "boot":
		p.State = "boot"
		return p, nil
	case "statelite":
		p.State = "statelite"
	default:
		return nil, fmt.Errorf("node %s: chain.currstate %q is not a state this server boots (statelite, boot or offline)", node, cs)
	}
	plan, err := r.Plan(node)
	if err != nil {
		return nil, err
	}
	p.Image = plan.Image
	p.src = append(p.src, source{"nodelist.node", node}, source{"nodetype.provmethod (the osimage name)", p.Image})
	if p.ImageDir, err = resolver.ImageDir(s, p.Image, node); err != nil {
		return nil, fmt.Errorf("node %s: %v", node, err)
	}
	p.Kernel, p.Initrd = ImageFile(p.Image, KernelName), ImageFile(p.Image, InitrdName)
	if g, ok := sfs.TokenGeneration(set.Token); ok {
		// The boot's image generation (docs/images.md#generations): its own kernel and
		// initrd, xcat/osimage/<image>@<N>/….
		at := p.Image + "@" + strconv.Itoa(g)
		p.Kernel, p.Initrd = ImageFile(at, KernelName), ImageFile(at, InitrdName)
	}
	var rootOpts string
	for _, i := range s.RowsByKey("osimage", p.Image) {
		if v := s.Table("osimage").Get(i, "nfsrootopts"); v != "" {
			rootOpts = v
			break
		}
	}
	extra, err := CheckNFSRootOpts(rootOpts)
	if err != nil {
		return nil, fmt.Errorf("osimage %s: %v", p.Image, err)
	}
	p.src = append(p.src, source{"osimage.nfsrootopts", rootOpts})
	nfsIP, err := set.serverFor(s, node, "the NFS root", "nfsserver", "servicenode", "tftpserver", "xcatmaster")
	if err != nil {
		return nil, err
	}
	master, err := set.serverFor(s, node, "XCAT=", "xcatmaster", "site.master")
	if err != nil {
		return nil, err
	}
	if p.ServerIP, err = set.serverFor(s, node, "the grub2 root", "tftpserver", "xcatmaster"); err != nil {
		return nil, err
	}
	p.GrubProto = "tftp"
	if nb, _, _ := s.NodeAttr(node, "noderes", "netboot"); nb == "grub2-http" && set.HTTPPort != 0 {
		p.GrubProto = "http"
	}
	export := "/nodes/" + node
	if set.Token != "" {
		export += "/@" + set.Token
	}
	opts := fmt.Sprintf("vers=3,port=%d,mountport=%d,mountproto=tcp,nolock,noacl,rsize=1048576,wsize=1048576", set.NFSPort, set.NFSPort)
	if len(extra) > 0 {
		opts += "," + strings.Join(extra, ",")
	}
	if strings.Contains(nfsIP, ":") {
		nfsIP = "[" + nfsIP + "]"
	}
	mntopts, _, _ := s.NodeAttr(node, "statelite", "mntopts")
	xcatdport := s.SiteOr("xcatdport", "3001")
	p.src = append(p.src, source{"noderes.nfsserver (or servicenode, tftpserver, xcatmaster)", nfsIP},
		source{"noderes.xcatmaster (or site.master)", master}, source{"noderes.tftpserver (or xcatmaster)", p.ServerIP},
		source{"statelite.statemnt", plan.Statemnt}, source{"statelite.mntopts", mntopts},
		source{"site.xcatdport", xcatdport}, source{"the boot token", set.Token})
	args := []string{
		"root=nfs:" + nfsIP + ":" + export + ":" + opts,
		"STATEMNT=" + plan.Statemnt,
		"XCAT=" + master + ":" + xcatdport,
		"NODE=" + node,
		"MNTOPTS=" + mntopts,
	}
	bp, _, _ := s.NodeAttr(node, "bootparams", "addkcmdline")
	var li string
	for _, i := range s.RowsByKey("linuximage", p.Image) {
		if v := s.Table("linuximage").Get(i, "addkcmdline"); v != "" {
			li = v
			break
		}
	}
	for i, v := range []string{bp, li} {
		if a := AddKcmdline(s, node, v); a != "" {
			args = append(args, a)
			col := []string{"bootparams.addkcmdline", "linuximage.addkcmdline"}[i]
			if a != strings.Join(strings.Fields(v), " ") {
				col += " (with its #NODEATTRIB#/#TABLE# placeholders replaced)"
			}
			p.src = append(p.src, source{col, a})
		}
	}
	for _, v := range p.src {
		if err := checkLine(node, v.col, v.v); err != nil {
			return nil, err
		}
	}
	p.Kcmdline = strings.Join(args, " ")
	return p, nil
}

// Render renders node's configuration for loader l from the tables of r.
func Render(r *resolver.Resolver, node string, l Loader, set Settings) ([]byte, error) {
	p, err := NodeParams(r, node, set)
	if err != nil {
		return nil, err
	}
	return p.Render(l, set)
}

// myipfn replaces xCAT's !myipfn! placeholder (in addkcmdline values) with ip.
func myipfn(s, ip string) string { return strings.ReplaceAll(s, "!myipfn!", ip) }

// Render renders the parameters for loader l.
func (p *Params) Render(l Loader, set Settings) ([]byte, error) {
	// No value may add a line, or another command, to the configuration.
	for _, f := range []source{{"CurrState", p.CurrState}, {"Kernel", p.Kernel}, {"Initrd", p.Initrd},
		{"Kcmdline", p.Kcmdline}, {"ServerIP", p.ServerIP}, {"GrubProto", p.GrubProto}, {"the server address", set.ServerIP}} {
		if err := checkLine(p.Node, f.col, f.v); err != nil {
			return nil, err
		}
	}
	if p.State != "boot" {
		for _, v := range p.src {
			if i := strings.IndexAny(v.v, special[l]); i >= 0 && special[l] != "" {
				return nil, fmt.Errorf("node %s: %s %q holds %q, which %s would read as syntax, not as part of the value (remove it, or boot the node with another loader)", p.Node, v.col, v.v, v.v[i], l)
			}
		}
	}
	var b strings.Builder
	switch l {
	case PXELinux:
		// xCAT's pxe.pm, exact shape (docs/behaviour.md#boot-files).
		fmt.Fprintf(&b, "#%s\nDEFAULT xCAT\nLABEL xCAT\n", p.CurrState)
		if p.State == "boot" {
			b.WriteString("LOCALBOOT 0\n")
			break
		}
		fmt.Fprintf(&b, " KERNEL %s\n APPEND initrd=%s %s\n  IPAPPEND 2\n", p.Kernel, p.Initrd, myipfn(p.Kcmdline, set.ServerIP))
	case Grub2:
		// As xCAT's grub2.pm: a boot state leaves only the header.
		fmt.Fprintf(&b, "#%s\nset timeout=5\n", p.CurrState)
		if p.State == "boot" {
			break
		}
		// A port other than the protocol's default is given in GRUB's network device
		// syntax (proto,server,port) (xCAT writes http,server:port).
		root := p.GrubProto + "," + p.ServerIP
		if p.GrubProto == "http" && set.HTTPPort != 80 {
			root += "," + strconv.Itoa(set.HTTPPort)
		} else if p.GrubProto == "tftp" && set.TFTPPort != 0 && set.TFTPPort != 69 {
			root += "," + strconv.Itoa(set.TFTPPort)
		}
		b.WriteString("set default=\"xCAT OS Deployment\"\n")
		b.WriteString("menuentry \"xCAT OS Deployment\" {\n")
		b.WriteString("    insmod http\n    insmod tftp\n")
		fmt.Fprintf(&b, "    set root=%s\n", root)
		b.WriteString("    echo Loading Install kernel ...\n")
		fmt.Fprintf(&b, "    linux /%s %s BOOTIF=$net_default_mac\n", p.Kernel, myipfn(p.Kcmdline, p.ServerIP))
		b.WriteString("    echo Loading initial ramdisk ...\n")
		fmt.Fprintf(&b, "    initrd /%s\n}\n", p.Initrd)
	case IPXE:
		// As xCAT's xnba.pm, with #!ipxe; kernel and initrd over our HTTP server when
		// there is one, else over TFTP.
		fmt.Fprintf(&b, "#!ipxe\n#%s\n", p.CurrState)
		if p.State == "boot" {
			b.WriteString("exit\n")
			break
		}
		base := "http://${next-server}"
		if set.HTTPPort == 0 {
			base = "tftp://${next-server}"
			if set.TFTPPort != 0 && set.TFTPPort != 69 {
				base += ":" + strconv.Itoa(set.TFTPPort)
			}
		} else if set.HTTPPort != 80 {
			base += ":" + strconv.Itoa(set.HTTPPort)
		}
		fmt.Fprintf(&b, "imgfetch -n kernel %s/%s\n", base, p.Kernel)
		b.WriteString("imgload kernel\n")
		fmt.Fprintf(&b, "imgargs kernel %s BOOTIF=01-${netX/mac:hexhyp}\n", myipfn(p.Kcmdline, "${next-server}"))
		fmt.Fprintf(&b, "imgfetch -n initrd %s/%s\n", base, p.Initrd)
		b.WriteString("imgexec kernel\n")
	default:
		return nil, fmt.Errorf("unknown boot loader %d", l)
	}
	return []byte(b.String()), nil
}
