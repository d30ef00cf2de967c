package boot

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"statelite/resolver"
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

// nodeByMAC returns the node with MAC mac (normalized), "" when none.
func nodeByMAC(ix *resolver.Index, mac string) (string, error) {
	return one(ix.NodesByMAC(mac), "MAC "+mac)
}

// nodeByHexIP returns the node a pxelinux/grub2 HEXIP name (8 hex digits, or a shorter
// prefix of them) stands for. A full HEXIP is the node whose hosts.ip it is. A prefix
// (asked for after the full name failed) is the node of the requesting address remote,
// when remote's HEXIP starts with it: a prefix never hands one node's configuration to
// another client.
func nodeByHexIP(ix *resolver.Index, hex string, remote netip.Addr) (string, error) {
	hex = strings.ToUpper(hex)
	if len(hex) == 8 {
		a, ok := hexAddr(hex)
		if !ok {
			return "", nil
		}
		return one(ix.HostsIP(a), "address "+hex)
	}
	if !remote.IsValid() {
		return "", nil
	}
	rh := HexIP(remote.String())
	if rh == "" || !strings.HasPrefix(rh, hex) {
		return "", nil
	}
	return one(ix.HostsIP(remote), "address "+rh)
}

// hexAddr parses a HEXIP (8 hex digits) into an IPv4 address.
func hexAddr(hex string) (netip.Addr, bool) {
	var b [4]byte
	for i := 0; i < 4; i++ {
		v, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		if err != nil {
			return netip.Addr{}, false
		}
		b[i] = byte(v)
	}
	return netip.AddrFrom4(b), true
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
			if m := resolver.NormalizeMAC(b[3:]); m != "" {
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
