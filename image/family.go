// Package image builds and manages statelite images: genimage (debootstrap, dnf,
// zypper) with the Cookbook's package lists and postinstall scripts, the kernel and
// NFS-root initrd beside the image root, container image import (OCI layout and
// docker-save tarballs), and the listing and removal of images.
package image

import (
	"fmt"
	"regexp"
	"strings"
)

// Family is a distribution family: the name of its directory of shipped defaults and of
// its custom directory (xCAT's platform directory: rh, sles, debian).
type Family string

const (
	Debian Family = "debian" // debian*, ubuntu*: debootstrap
	RedHat Family = "rh"     // rhels*, rocky*, alma*, centos*, fedora*: dnf --installroot
	SLES   Family = "sles"   // sles*: zypper --root
)

// Families are the families with shipped defaults, in listing order.
var Families = []Family{Debian, RedHat, SLES}

// FamilyOf returns the family of an OS name (xCAT's osvers: rhels8.6, debian12, sles15).
func FamilyOf(osName string) (Family, error) {
	o := strings.ToLower(osName)
	for _, p := range []struct {
		prefix string
		f      Family
	}{
		{"debian", Debian}, {"ubuntu", Debian},
		{"rhel", RedHat}, {"rocky", RedHat}, {"alma", RedHat}, {"centos", RedHat}, {"fedora", RedHat}, {"ol", RedHat},
		{"sles", SLES}, {"sle", SLES}, {"opensuse", SLES},
	} {
		if strings.HasPrefix(o, p.prefix) {
			return p.f, nil
		}
	}
	if _, ok := debianCodenames[o]; ok {
		return Debian, nil
	}
	if _, ok := ubuntuCodenames[o]; ok {
		return Debian, nil
	}
	return "", fmt.Errorf("OS %q: unknown distribution (debian*/ubuntu* or a Debian/Ubuntu codename, rhels*/rocky*/alma*/centos*/fedora*, sles*)", osName)
}

var (
	debianCodenames = map[string]string{"buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14", "sid": "sid"}
	ubuntuCodenames = map[string]string{"focal": "20.04", "jammy": "22.04", "noble": "24.04", "oracular": "24.10", "plucky": "25.04"}
	debianVersionRE = regexp.MustCompile(`^debian-?(\d+|sid)$`)
	ubuntuVersionRE = regexp.MustCompile(`^ubuntu-?(\d+\.\d+)(?:\.\d+)?$`)
)

// Suite returns the debootstrap suite (codename) of a Debian or Ubuntu OS name:
// debian12 → bookworm, ubuntu22.04 → jammy; a codename is its own suite.
func Suite(osName string) (distro, suite string, err error) {
	o := strings.ToLower(osName)
	if _, ok := debianCodenames[o]; ok {
		return "debian", o, nil
	}
	if _, ok := ubuntuCodenames[o]; ok {
		return "ubuntu", o, nil
	}
	if m := debianVersionRE.FindStringSubmatch(o); m != nil {
		for c, v := range debianCodenames {
			if v == m[1] {
				return "debian", c, nil
			}
		}
	}
	if m := ubuntuVersionRE.FindStringSubmatch(o); m != nil {
		for c, v := range ubuntuCodenames {
			if v == m[1] {
				return "ubuntu", c, nil
			}
		}
	}
	if s, ok := strings.CutPrefix(o, "debian-"); ok && s != "" {
		return "debian", s, nil
	}
	if s, ok := strings.CutPrefix(o, "ubuntu-"); ok && s != "" {
		return "ubuntu", s, nil
	}
	return "", "", fmt.Errorf("OS %q: no known Debian/Ubuntu release (use debian12, ubuntu24.04, or a codename such as bookworm, debian-trixie)", osName)
}

// DebArch returns Debian's architecture name for an xCAT arch (x86_64 → amd64).
func DebArch(arch string) string {
	switch arch {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "ppc64le", "ppc64el":
		return "ppc64el"
	case "s390x":
		return "s390x"
	case "i386", "i686", "x86":
		return "i386"
	}
	return arch
}

// XCATArch returns xCAT's architecture name for a Debian/OCI one (amd64 → x86_64).
func XCATArch(arch string) string {
	switch arch {
	case "amd64", "x86_64":
		return "x86_64"
	case "arm64", "aarch64":
		return "aarch64"
	case "ppc64le", "ppc64el":
		return "ppc64le"
	case "386", "i386":
		return "x86"
	}
	return arch
}

// ImageName is the osimage name genimage records: <os>-<arch>-statelite-<profile>.
func ImageName(osName, arch, profile string) string {
	return osName + "-" + arch + "-statelite-" + profile
}
