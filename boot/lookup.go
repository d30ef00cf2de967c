package boot

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"statelite/resolver"
	"statelite/tables"
)

// ErrTraversal is returned for a requested name that tries to leave the TFTP root.
var ErrTraversal = errors.New("access violation: the name leaves the TFTP root")

// CleanName turns a requested file name into a path relative to the TFTP root. Leading
// slashes mean the TFTP root (as tftpd-hpa --secure does; grub2 asks for
// /boot/grub2/grub.cfg-…), so a host path such as /etc/passwd is only ever looked for
// inside the root. A ".." component, a NUL byte or an empty name is refused.
func CleanName(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: %q", ErrTraversal, name)
	}
	var out []string
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q", ErrTraversal, name)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return "", fmt.Errorf("%w: %q names no file", errNotFound, name)
	}
	return strings.Join(out, "/"), nil
}

// NormalizeMAC returns a MAC address as 12 lower-case hex digits (any of : - . separators,
// or none), or "" when v is not a MAC.
func NormalizeMAC(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ':' || c == '-' || c == '.':
			continue
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			b.WriteByte(c)
		case c >= 'A' && c <= 'F':
			b.WriteByte(c + 'a' - 'A')
		default:
			return ""
		}
	}
	if b.Len() != 12 {
		return ""
	}
	return b.String()
}

// MACs parses a mac table value (reference §2.7): a plain MAC or "mac!host|mac2!host2…".
// primary is the node's MAC (the entry whose !host is node, else the last entry without
// "!"); all lists every MAC of the value (all of them are the node's interfaces).
// MACs are normalized (NormalizeMAC); unparsable items are skipped.
func MACs(v, node string) (primary string, all []string) {
	var plain string
	for _, item := range strings.Split(v, "|") {
		item = strings.TrimSpace(item)
		m, host, hasHost := strings.Cut(item, "!")
		n := NormalizeMAC(strings.TrimSpace(m))
		if n == "" {
			continue
		}
		all = append(all, n)
		switch {
		case hasHost && strings.TrimSpace(host) == node && primary == "":
			primary = n
		case !hasHost:
			plain = n
		}
	}
	if primary == "" {
		primary = plain
	}
	return primary, all
}

// PXEMAC formats a normalized MAC the pxelinux/grub2 way: 01-aa-bb-cc-dd-ee-ff.
func PXEMAC(mac string) string {
	var b strings.Builder
	b.WriteString("01")
	for i := 0; i+1 < len(mac); i += 2 {
		b.WriteByte('-')
		b.WriteString(mac[i : i+2])
	}
	return b.String()
}

// HexIP returns an IPv4 address as 8 upper-case hex digits (pxelinux's HEXIP), or "".
func HexIP(ip string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ""
	}
	a = a.Unmap()
	if !a.Is4() {
		return ""
	}
	b := a.As4()
	return fmt.Sprintf("%02X%02X%02X%02X", b[0], b[1], b[2], b[3])
}

// index maps MACs, addresses and images of one snapshot to nodes and directories.
type index struct {
	snap   *tables.Snapshot
	mac    map[string][]string // normalized MAC -> nodes
	ip     map[string][]string // HEXIP -> nodes (hosts.ip)
	images map[string]string   // image -> <rootimgdir>
}

func buildIndex(r *resolver.Resolver) *index {
	s := r.Snap
	ix := &index{snap: s, mac: map[string][]string{}, ip: map[string][]string{}, images: map[string]string{}}
	for _, n := range s.Nodes() {
		if v, _, ok := s.NodeAttr(n, "mac", "mac"); ok {
			_, all := MACs(v, n)
			seen := map[string]bool{}
			for _, m := range all {
				if !seen[m] {
					seen[m] = true
					ix.mac[m] = append(ix.mac[m], n)
				}
			}
		}
		if v, _, ok := s.NodeAttr(n, "hosts", "ip"); ok {
			if h := HexIP(v); h != "" {
				ix.ip[h] = append(ix.ip[h], n)
			}
		}
		if img, _, _, _, err := resolver.ImageOf(s, n); err == nil {
			if _, done := ix.images[img]; !done {
				if d, err := ImageDir(s, img, n); err == nil {
					ix.images[img] = d
				}
			}
		}
	}
	oi := s.Table("osimage")
	for i := range oi.Rows {
		img := oi.Get(i, "imagename")
		if _, done := ix.images[img]; done || !oi.Enabled(i) || img == "" {
			continue
		}
		if d, err := ImageDir(s, img, ""); err == nil {
			ix.images[img] = d
		}
	}
	return ix
}

// one returns the single node of list, or an error naming the ambiguity.
func one(list []string, what string) (string, error) {
	switch len(list) {
	case 0:
		return "", nil
	case 1:
		return list[0], nil
	}
	l := append([]string(nil), list...)
	sort.Strings(l)
	return "", fmt.Errorf("%s belongs to several nodes (%s): no configuration is served for it", what, strings.Join(l, ","))
}

// byMAC returns the node with MAC mac (normalized), "" when none.
func (ix *index) byMAC(mac string) (string, error) {
	return one(ix.mac[mac], "MAC "+mac)
}

// byHexIP returns the node a pxelinux/grub2 HEXIP name (8 hex digits, or a shorter prefix
// of them) stands for. A full HEXIP is the node whose hosts.ip it is. A prefix (asked for
// after the full name failed) is the node of the requesting address remote, when remote's
// HEXIP starts with it: a prefix never hands one node's configuration to another client.
func (ix *index) byHexIP(hex string, remote netip.Addr) (string, error) {
	hex = strings.ToUpper(hex)
	if len(hex) == 8 {
		return one(ix.ip[hex], "address "+hex)
	}
	if !remote.IsValid() {
		return "", nil
	}
	rh := HexIP(remote.String())
	if rh == "" || !strings.HasPrefix(rh, hex) {
		return "", nil
	}
	return one(ix.ip[rh], "address "+rh)
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// request is a classified file name.
type request struct {
	kind   int    // reqStatic, reqConfig, reqImage
	loader Loader // reqConfig
	by     string // "mac", "ip", "name"
	key    string // normalized MAC, HEXIP (prefix) or node name
	image  string // reqImage
	file   string // reqImage: KernelName or InitrdName
}

const (
	reqStatic = iota
	reqConfig
	reqImage
)

// classify says what a clean name asks for: a rendered configuration (by MAC, HEXIP or
// node name), an image's kernel/initrd, or a file of the TFTP root.
func classify(name string, isNode func(string) bool) request {
	dir, base := path2(name)
	macName := func(b string) (string, bool) {
		if len(b) == 20 && strings.HasPrefix(b, "01-") {
			if m := NormalizeMAC(b[3:]); m != "" {
				return m, true
			}
		}
		return "", false
	}
	switch dir {
	case "pxelinux.cfg":
		if isNode(base) {
			return request{kind: reqConfig, loader: PXELinux, by: "name", key: base}
		}
		if m, ok := macName(base); ok {
			return request{kind: reqConfig, loader: PXELinux, by: "mac", key: m}
		}
		if len(base) <= 8 && isHex(base) {
			return request{kind: reqConfig, loader: PXELinux, by: "ip", key: strings.ToUpper(base)}
		}
	case "boot/grub2":
		if rest, ok := strings.CutPrefix(base, "grub.cfg-"); ok {
			if m, ok := macName(strings.ToLower(rest)); ok {
				return request{kind: reqConfig, loader: Grub2, by: "mac", key: m}
			}
			if len(rest) <= 8 && isHex(rest) {
				return request{kind: reqConfig, loader: Grub2, by: "ip", key: strings.ToUpper(rest)}
			}
		} else if isNode(base) {
			return request{kind: reqConfig, loader: Grub2, by: "name", key: base}
		}
	case "xcat/xnba/nodes":
		if isNode(base) {
			return request{kind: reqConfig, loader: IPXE, by: "name", key: base}
		}
	}
	if img, file, ok := strings.Cut(strings.TrimPrefix(name, "xcat/osimage/"), "/"); ok && strings.HasPrefix(name, "xcat/osimage/") &&
		img != "" && (file == KernelName || file == InitrdName) {
		return request{kind: reqImage, image: img, file: file}
	}
	return request{kind: reqStatic}
}

// path2 splits a clean relative name into its directory and base name.
func path2(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}
