package resolver

import (
	"fmt"
	"path"
	"strings"

	"statelite/tables"
)

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

// MACs parses a mac table value (xCAT's mac table): a plain MAC or "mac!host|mac2!host2…".
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

// ImageDir returns <rootimgdir> of image: linuximage.rootimgdir, else
// <site.installdir>/netboot/<osvers>/<osarch>/<profile> from the osimage row; for an image
// without an osimage row (the legacy <os>-<arch>-statelite-<profile> name of a node whose
// nodetype.provmethod is statelite), node's nodetype values. node may be "" when unknown.
func ImageDir(s *tables.Snapshot, image, node string) (string, error) {
	li := s.Table("linuximage")
	for _, i := range s.RowsByKey("linuximage", image) {
		if d := li.Get(i, "rootimgdir"); d != "" {
			return path.Clean(d), nil
		}
	}
	var os_, arch, profile string
	if node != "" {
		os_, _, _ = s.NodeAttr(node, "nodetype", "os")
		arch, _, _ = s.NodeAttr(node, "nodetype", "arch")
		profile, _, _ = s.NodeAttr(node, "nodetype", "profile")
	}
	oi := s.Table("osimage")
	rows := s.RowsByKey("osimage", image)
	for _, i := range rows {
		if v := oi.Get(i, "osvers"); v != "" {
			os_ = v
		}
		if v := oi.Get(i, "osarch"); v != "" {
			arch = v
		}
		if v := oi.Get(i, "profile"); v != "" {
			profile = v
		}
	}
	if len(rows) == 0 && node == "" {
		return "", fmt.Errorf("osimage %s: not in the osimage table", image)
	}
	if os_ == "" || arch == "" || profile == "" {
		return "", fmt.Errorf("osimage %s: no linuximage.rootimgdir, and osvers, osarch or profile is not set", image)
	}
	if err := checkImageParts(os_, arch, profile); err != nil {
		return "", fmt.Errorf("osimage %s: %w", image, err)
	}
	return DefaultImageDir(s.SiteOr("installdir", "/install"), os_, arch, profile), nil
}

// DefaultImageDir is xCAT's directory of an image without linuximage.rootimgdir:
// <installdir>/netboot/<os>/<arch>/<profile> (genimage makes it, nodes boot from it).
func DefaultImageDir(installdir, os_, arch, profile string) string {
	return path.Join(installdir, "netboot", os_, arch, profile)
}
