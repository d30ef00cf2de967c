// Command packaging builds statelite's .deb and .rpm packages with nfpm (as a library):
//
//	go run ./packaging -out dist -arch amd64,arm64,ppc64le [-version V] [-formats deb,rpm]
//
// For each architecture it cross-compiles cmd/statelite (CGO_ENABLED=0, -trimpath, the
// version in statelite/internal/version), then packages it with what it generates from
// the command tree (cli.NewRoot): the default configuration file with every key of
// `statelite serve` commented out at its default, bash completion and man pages; plus
// the systemd unit (statelite.service, beside this file), the xCAT command links and
// the maintainer scripts. `make package` runs it; docs/packaging.md says what the
// packages hold.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"statelite/cmd/cli"
)

// Where the packages put things.
const (
	binPath      = "/usr/bin/statelite"
	linkDir      = "/usr/libexec/statelite/xcat" // the xCAT command links (docs/packaging.md: why not /usr/bin)
	confPath     = "/etc/statelite/statelite.conf"
	tablesDir    = "/etc/statelite/tables"
	stateDir     = "/var/lib/statelite"
	unitName     = "statelite.service"
	debUnitDir   = "/lib/systemd/system"
	rpmUnitDir   = "/usr/lib/systemd/system"
	completion   = "/usr/share/bash-completion/completions/statelite"
	manDir       = "/usr/share/man/man1"
	docDir       = "/usr/share/doc/statelite"
	packageName  = "statelite"
	defaultMaint = "statelite maintainers <maintainers@users.noreply.r-seed-1fee61f2.example>"
	description  = `diskless-boot server reimplementing xCAT statelite
statelite serves diskless cluster nodes one shared operating-system image, each
node with its own writable, volatile and persistent files, computed on the fly
from the xCAT tables (litefile, litetree, statelite, ...): NFSv3 and MOUNT,
TFTP and HTTP boot files, DHCP and proxyDHCP, and xCAT's table commands
(tabdump, chtab, nodels, lslite, ...).`
)

//go:embed statelite.service
var unitFile []byte

//go:embed scripts/postinstall.sh
var postinstall []byte

//go:embed scripts/preremove.sh
var preremove []byte

//go:embed scripts/postremove.sh
var postremove []byte

// options are the command's flags.
type options struct {
	out        string
	arches     []string
	formats    []string
	version    string
	maintainer string
	goCmd      string
}

func main() {
	var o options
	var arches, formats string
	flag.StringVar(&o.out, "out", "dist", "directory the packages are written to")
	flag.StringVar(&arches, "arch", "amd64,arm64,ppc64le", "list of GOARCH values to build for (linux), separated by commas or blanks")
	flag.StringVar(&formats, "formats", "deb,rpm", "comma list of package formats")
	flag.StringVar(&o.version, "version", "", "package version (default: from git describe --tags --always, else 0.0.0)")
	flag.StringVar(&o.maintainer, "maintainer", defaultMaint, "package maintainer")
	flag.StringVar(&o.goCmd, "go", "go", "the go command")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "packaging: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	o.arches = splitList(arches)
	o.formats = splitList(formats)
	paths, err := build(context.Background(), o, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "packaging: %v\n", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}

// splitList splits a list at commas and blanks ("amd64,arm64" or "amd64 arm64").
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// buildInfo is what the packages say about the source they were built from.
type buildInfo struct {
	version string    // package version, e.g. 1.2.0, 1.2.0+3.gabc1234, 0.0.0+abc1234
	commit  string    // full commit hash, "" when unknown
	date    time.Time // the commit's time (file times, man page dates); SOURCE_DATE_EPOCH wins
}

// build writes a package of every format for every architecture into o.out and returns
// their paths; progress goes to log.
func build(ctx context.Context, o options, log io.Writer) ([]string, error) {
	if len(o.arches) == 0 || len(o.formats) == 0 {
		return nil, errors.New("no architecture or no format")
	}
	if o.goCmd == "" {
		o.goCmd = "go"
	}
	if o.maintainer == "" {
		o.maintainer = defaultMaint
	}
	root, err := moduleRoot(ctx, o.goCmd)
	if err != nil {
		return nil, err
	}
	bi := sourceInfo(ctx, root, o.version)
	stage, err := os.MkdirTemp("", "statelite-packaging-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	a, err := writeAssets(stage, bi)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, arch := range o.arches {
		bin := filepath.Join(stage, "bin-"+arch, "statelite")
		fmt.Fprintf(log, "packaging: go build linux/%s (version %s)\n", arch, bi.version)
		if err := goBuild(ctx, o.goCmd, root, arch, bi, bin); err != nil {
			return nil, err
		}
		for _, format := range o.formats {
			p, err := writePackage(format, arch, bin, a, root, bi, o)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", format, arch, err)
			}
			fmt.Fprintf(log, "packaging: wrote %s\n", p)
			out = append(out, p)
		}
	}
	return out, nil
}

// moduleRoot is the directory of statelite's go.mod.
func moduleRoot(ctx context.Context, goCmd string) (string, error) {
	b, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the statelite module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// sourceInfo finds the version, commit and date from git in dir (version, when set,
// wins). Without git: version 0.0.0, no commit, the current time.
func sourceInfo(ctx context.Context, dir, version string) buildInfo {
	git := func(args ...string) string {
		c := exec.CommandContext(ctx, "git", args...)
		c.Dir = dir
		b, err := c.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	bi := buildInfo{version: version, commit: git("rev-parse", "HEAD")}
	if bi.version == "" {
		bi.version = describeVersion(git("describe", "--tags", "--always", "--dirty"))
	}
	if s := git("log", "-1", "--format=%ct"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			bi.date = time.Unix(n, 0).UTC()
		}
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			bi.date = time.Unix(n, 0).UTC()
		}
	}
	if bi.date.IsZero() {
		bi.date = time.Now().UTC().Truncate(time.Second)
	}
	return bi
}

var describeRE = regexp.MustCompile(`^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)(?:-(\d+)-g([0-9a-f]+))?$`)

// describeVersion turns `git describe --tags --always --dirty` into a version both dpkg
// and rpm order right: v1.2.0 → 1.2.0; v1.2.0-3-gabc1234 (3 commits after the tag) →
// 1.2.0+3.gabc1234 (after 1.2.0, where a semver pre-release "-3-g…" would sort before
// it); a bare commit abc1234 (no tag) → 0.0.0+abc1234; a dirty tree adds ".dirty".
func describeVersion(d string) string {
	if d == "" {
		return "0.0.0"
	}
	d, dirty := strings.CutSuffix(d, "-dirty")
	var v string
	var meta []string
	if m := describeRE.FindStringSubmatch(d); m != nil {
		v = m[1]
		if m[2] != "" {
			meta = append(meta, m[2], "g"+m[3])
		}
	} else {
		v = "0.0.0"
		meta = append(meta, strings.Trim(regexp.MustCompile(`[^0-9A-Za-z]+`).ReplaceAllString(d, "."), "."))
	}
	if dirty {
		meta = append(meta, "dirty")
	}
	if len(meta) == 0 {
		return v
	}
	return v + "+" + strings.Join(meta, ".")
}

// goBuild cross-compiles cmd/statelite for linux/arch into out: static (CGO_ENABLED=0),
// -trimpath, the version, commit and date in statelite/internal/version.
func goBuild(ctx context.Context, goCmd, dir, arch string, bi buildInfo, out string) error {
	ld := []string{"-s", "-w", "-X", "statelite/internal/version.Version=" + bi.version,
		"-X", "statelite/internal/version.Date=" + bi.date.Format(time.RFC3339)}
	if bi.commit != "" {
		ld = append(ld, "-X", "statelite/internal/version.Commit="+bi.commit)
	}
	c := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags", strings.Join(ld, " "), "-o", out, "statelite/cmd/statelite")
	c.Dir = dir
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	c.Stdout = &stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("go build linux/%s: %v\n%s", arch, err, stderr.Bytes())
	}
	return nil
}

// assets are the architecture-independent files, written into the staging directory.
type assets struct {
	unit, config, completion string
	man                      []string // gzipped man pages
	postinst, prerm, postrm  string
}

// writeAssets generates the unit, the default configuration, the completion, the man
// pages and the scripts into dir.
func writeAssets(dir string, bi buildInfo) (*assets, error) {
	a := &assets{}
	manDir, scriptDir := filepath.Join(dir, "man"), filepath.Join(dir, "scripts")
	for _, d := range []string{manDir, scriptDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	a.unit = filepath.Join(dir, unitName)
	a.config = filepath.Join(dir, "statelite.conf")
	a.completion = filepath.Join(dir, "statelite.bash")
	a.postinst = filepath.Join(scriptDir, "postinstall.sh")
	a.prerm = filepath.Join(scriptDir, "preremove.sh")
	a.postrm = filepath.Join(scriptDir, "postremove.sh")
	root := commandTree()
	var comp bytes.Buffer
	if err := root.GenBashCompletionV2(&comp, true); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{a.unit, unitFile, 0o644},
		{a.config, DefaultConfig(root), 0o644},
		{a.completion, comp.Bytes(), 0o644},
		{a.postinst, postinstall, 0o755},
		{a.prerm, preremove, 0o755},
		{a.postrm, postremove, 0o755},
	} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	man, err := manPages(root, bi, manDir)
	if err != nil {
		return nil, err
	}
	a.man = man
	return a, nil
}

// commandTree is cli.NewRoot built without the STATELITE_* environment of this process,
// so that the defaults shown are the binary's own.
func commandTree() *cobra.Command {
	saved := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "STATELITE_") {
			saved[k] = v
			os.Unsetenv(k)
		}
	}
	defer func() {
		for k, v := range saved {
			os.Setenv(k, v)
		}
	}()
	root := cli.NewRoot(strings.NewReader(""), io.Discard, io.Discard)
	var noTag func(*cobra.Command)
	noTag = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, s := range c.Commands() {
			noTag(s)
		}
	}
	noTag(root)
	return root
}

// manPages writes a gzipped man page per command into dir and returns their paths.
func manPages(root *cobra.Command, bi buildInfo, dir string) ([]string, error) {
	raw := filepath.Join(dir, "raw")
	if err := os.MkdirAll(raw, 0o755); err != nil {
		return nil, err
	}
	date := bi.date
	hdr := &doc.GenManHeader{Section: "1", Date: &date, Source: "statelite " + bi.version, Manual: "statelite manual"}
	if err := doc.GenManTree(root, hdr, raw); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(raw)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(raw, e.Name()))
		if err != nil {
			return nil, err
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression) // no name, no time: reproducible
		zw.Write(b)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, e.Name()+".gz")
		if err := os.WriteFile(p, z.Bytes(), 0o644); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// configSkip are flags that are not settings of the configuration file.
var configSkip = map[string]bool{"help": true, "config": true, "version": true}

// DefaultConfig is /etc/statelite/statelite.conf: TOML, one key per long flag of
// `statelite serve` and of every command (root's persistent flags), each commented out
// and showing its default, under its help text.
func DefaultConfig(root *cobra.Command) []byte {
	var b bytes.Buffer
	b.WriteString(`# /etc/statelite/statelite.conf: the settings of statelite, in TOML. Every statelite
# command reads it, and statelite.service runs "statelite serve" with it. The keys are
# the long names of the command-line flags; a flag given on the command line wins, then
# the environment (STATELITE_<FLAG>: upper case, - as _), then this file, then the
# default. Every key below is commented out and shows its default: uncomment and change
# what you need; "statelite config" prints what is in force and why. --config FILE (or
# $STATELITE_CONFIG) reads another file. A directory the server writes that is not under
# /var/lib/statelite or /etc/statelite/tables needs a drop-in for statelite.service
# (systemctl edit statelite): /usr/share/doc/statelite/packaging.md.
`)
	section := func(title string, fs *pflag.FlagSet) {
		var flags []*pflag.Flag
		fs.VisitAll(func(f *pflag.Flag) {
			if !configSkip[f.Name] && !f.Hidden && f.Deprecated == "" {
				flags = append(flags, f)
			}
		})
		if len(flags) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n# ---- %s ----\n", title)
		for _, f := range flags {
			b.WriteString("\n")
			for _, l := range wrap(f.Usage, 86) {
				fmt.Fprintf(&b, "# %s\n", l)
			}
			fmt.Fprintf(&b, "# %s = %s\n", f.Name, tomlValue(f))
		}
	}
	section("every command", root.PersistentFlags())
	if serve, _, err := root.Find([]string{"serve"}); err == nil && serve != root {
		section("statelite serve", serve.LocalNonPersistentFlags())
	}
	return b.Bytes()
}

// tomlValue is f's default written as a TOML value of the flag's kind.
func tomlValue(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return f.DefValue
	case "stringSlice", "stringArray":
		list := strings.TrimSuffix(strings.TrimPrefix(f.DefValue, "["), "]")
		var q []string
		for _, s := range splitList(list) {
			q = append(q, tomlString(s))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return tomlString(f.DefValue) // strings, durations ("10s") and the rest as text
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// wrap breaks s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	var cur string
	for _, w := range strings.Fields(s) {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// packageInfo describes the package of format for arch, with the binary bin and the
// staged assets a.
func packageInfo(format, arch, bin string, a *assets, root string, bi buildInfo, maint string) (*nfpm.Info, error) {
	mtime := bi.date
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, MTime: mtime, Owner: "root", Group: "root"}}
	}
	unitDir := debUnitDir
	if format == "rpm" {
		unitDir = rpmUnitDir
	}
	c := files.Contents{
		file(bin, binPath, 0o755),
		file(a.unit, unitDir+"/"+unitName, 0o644),
		file(a.completion, completion, 0o644),
		{Source: a.config, Destination: confPath, Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o644, MTime: mtime, Owner: "root", Group: "root"}},
	}
	// The package's own directories, explicitly: rpm owns (and removes) only those listed.
	for _, d := range []string{filepath.Dir(confPath), tablesDir, stateDir, filepath.Dir(linkDir), linkDir, docDir} {
		c = append(c, &files.Content{Destination: d, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: mtime, Owner: "root", Group: "root"}})
	}
	for _, l := range cli.LinkCommands {
		c = append(c, &files.Content{Source: binPath, Destination: linkDir + "/" + l, Type: files.TypeSymlink, FileInfo: &files.ContentFileInfo{MTime: mtime, Owner: "root", Group: "root"}})
	}
	for _, m := range a.man {
		c = append(c, file(m, manDir+"/"+filepath.Base(m), 0o644))
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	docs = append([]string{filepath.Join(root, "README.md")}, docs...)
	for _, d := range docs {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		f := file(d, docDir+"/"+filepath.Base(d), 0o644)
		if format == "rpm" {
			f.Type = files.TypeRPMDoc
		}
		c = append(c, f)
	}
	info := &nfpm.Info{
		Name:        packageName,
		Arch:        arch,
		Platform:    "linux",
		Version:     bi.version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  maint,
		Description: description,
		MTime:       mtime,
		Overridables: nfpm.Overridables{
			Contents: c,
			Scripts:  nfpm.Scripts{PostInstall: a.postinst, PreRemove: a.prerm, PostRemove: a.postrm},
		},
	}
	if format == "deb" {
		// Not needed by the service; what PXE-booting BIOS nodes from the TFTP root, and
		// statelite genimage of Debian images, use (docs/packaging.md).
		info.Suggests = []string{"pxelinux", "syslinux-common", "debootstrap", "busybox-static"}
	}
	if format == "rpm" {
		info.RPM.Summary = strings.SplitN(description, "\n", 2)[0]
		info.RPM.Group = "System Environment/Daemons"
	}
	return nfpm.WithDefaults(info), nil
}

// writePackage writes the package of format for arch into o.out and returns its path.
func writePackage(format, arch, bin string, a *assets, root string, bi buildInfo, o options) (string, error) {
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	info, err := packageInfo(format, arch, bin, a, root, bi, o.maintainer)
	if err != nil {
		return "", err
	}
	name := pkgr.ConventionalFileName(info)
	// ConventionalFileName maps the architecture in place: start again from a fresh Info.
	if info, err = packageInfo(format, arch, bin, a, root, bi, o.maintainer); err != nil {
		return "", err
	}
	path := filepath.Join(o.out, name)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, os.Rename(tmp, path)
}
