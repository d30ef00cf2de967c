package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"statelite/bench/nfsclient"
	"statelite/cmd/cli"
	"statelite/internal/need"
	"statelite/nfsd/wire"
)

// testVersion is the version the test packages are built with.
const testVersion = "9.8.7+test.1"

// The packages of this machine's architecture, built once for every test (TestMain
// removes them).
var built struct {
	once          sync.Once
	dir, deb, rpm string
	log           bytes.Buffer
	err           error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

var debArch = map[string]string{"amd64": "amd64", "arm64": "arm64", "ppc64le": "ppc64el"}
var rpmArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le"}

// packages builds the .deb and .rpm of runtime.GOARCH (with `go build`, as make package
// does) and returns their paths.
func packages(t *testing.T) (deb, rpm string) {
	t.Helper()
	if _, ok := debArch[runtime.GOARCH]; !ok {
		t.Skipf("no package for %s (amd64, arm64 and ppc64le only)", runtime.GOARCH)
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "statelite-packaging-test-"); built.err != nil {
			return
		}
		var paths []string
		paths, built.err = build(context.Background(), options{out: built.dir, arches: []string{runtime.GOARCH},
			formats: []string{"deb", "rpm"}, version: testVersion, goCmd: "go"}, &built.log)
		for _, p := range paths {
			switch filepath.Ext(p) {
			case ".deb":
				built.deb = p
			case ".rpm":
				built.rpm = p
			}
		}
	})
	if built.err != nil {
		t.Fatalf("building the packages: %v\n%s", built.err, built.log.Bytes())
	}
	if built.deb == "" || built.rpm == "" {
		t.Fatalf("build wrote %q and %q, want a .deb and an .rpm", built.deb, built.rpm)
	}
	return built.deb, built.rpm
}

// run runs a command and returns its standard output; a failure fails the test with
// its standard error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	return runIn(t, "", nil, name, args...)
}

func runIn(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	c := exec.Command(name, args...)
	c.Dir = dir
	if env != nil {
		c.Env = env
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

// entry is one file of a package: its type ('-', 'd', 'l'), mode bits and link target.
type entry struct {
	typ    byte
	mode   string // rwxr-xr-x
	target string
}

// wantEntries are the files every package holds, the unit at unitDir.
func wantEntries(t *testing.T, unitDir string) map[string]entry {
	t.Helper()
	want := map[string]entry{
		binPath:                    {'-', "rwxr-xr-x", ""},
		unitDir + "/" + unitName:   {'-', "rw-r--r--", ""},
		confPath:                   {'-', "rw-r--r--", ""},
		completion:                 {'-', "rw-r--r--", ""},
		tablesDir:                  {'d', "rwxr-xr-x", ""},
		stateDir:                   {'d', "rwxr-xr-x", ""},
		linkDir:                    {'d', "rwxr-xr-x", ""},
		docDir + "/README.md":      {'-', "rw-r--r--", ""},
		docDir + "/packaging.md":   {'-', "rw-r--r--", ""},
		docDir + "/operations.md":  {'-', "rw-r--r--", ""},
		manDir + "/statelite.1.gz": {'-', "rw-r--r--", ""},
	}
	for _, l := range cli.LinkCommands {
		want[linkDir+"/"+l] = entry{'l', "", binPath}
	}
	for _, m := range manNames(commandTree()) {
		want[manDir+"/"+m] = entry{'-', "rw-r--r--", ""}
	}
	return want
}

// manNames are the man pages of the command tree: statelite.1.gz, statelite-serve.1.gz…
func manNames(root *cobra.Command) []string {
	var out []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		out = append(out, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1.gz")
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() && !s.IsAdditionalHelpTopicCommand() {
				walk(s)
			}
		}
	}
	walk(root)
	sort.Strings(out)
	return out
}

func checkEntries(t *testing.T, kind string, got, want map[string]entry) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s: no %s", kind, p)
		case g.typ != w.typ || (w.mode != "" && g.mode != w.mode) || g.target != w.target:
			t.Errorf("%s: %s is %c%s -> %q, want %c%s -> %q", kind, p, g.typ, g.mode, g.target, w.typ, w.mode, w.target)
		}
	}
	var mans int
	for p := range got {
		if strings.HasPrefix(p, manDir+"/") {
			mans++
		}
	}
	if n := len(manNames(commandTree())); mans != n {
		t.Errorf("%s: %d man pages, want one per command: %d", kind, mans, n)
	}
}

// TestDeb checks the .deb with dpkg-deb: its control fields, conffile, scripts and files;
// the unit it holds is the one beside this test, the binary static for its architecture
// and of the version given.
func TestDeb(t *testing.T) {
	need.Tool(t, "dpkg-deb", "dpkg")
	deb, _ := packages(t)
	if got, want := filepath.Base(deb), "statelite_"+testVersion+"_"+debArch[runtime.GOARCH]+".deb"; got != want {
		t.Errorf("file name %s, want %s", got, want)
	}
	for field, want := range map[string]string{
		"Package": "statelite", "Version": testVersion, "Architecture": debArch[runtime.GOARCH],
		"Maintainer": defaultMaint, "Section": "net", "Priority": "optional",
		"Suggests": "pxelinux, syslinux-common, debootstrap, busybox-static",
	} {
		if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, field)); got != want {
			t.Errorf("control %s: %q, want %q", field, got, want)
		}
	}
	if got := run(t, "dpkg-deb", "-f", deb, "Depends"); strings.TrimSpace(got) != "" {
		t.Errorf("Depends: %q, want none (a static binary)", got)
	}
	if got := run(t, "dpkg-deb", "-f", deb, "Description"); !strings.Contains(got, "xCAT statelite") {
		t.Errorf("Description %q", got)
	}
	if got := run(t, "dpkg-deb", "-I", deb, "conffiles"); strings.TrimSpace(got) != confPath {
		t.Errorf("conffiles %q, want %s", got, confPath)
	}
	for script, want := range map[string][]byte{"postinst": postinstall, "prerm": preremove, "postrm": postremove} {
		if got := run(t, "dpkg-deb", "-I", deb, script); got != string(want) {
			t.Errorf("%s:\n%s\nwant scripts/%s", script, got, script)
		}
	}
	if !strings.Contains(string(postinstall), "systemctl daemon-reload") {
		t.Error("postinstall does not reload systemd")
	}

	// dpkg-deb -c: drwxr-xr-x root/root 0 2026-12-07 15:30 ./etc/ [-> target]
	got := map[string]entry{}
	for _, l := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", l)
		}
		if f[1] != "root/root" {
			t.Errorf("%s owned by %s, want root/root", f[5], f[1])
		}
		p := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
		e := entry{typ: f[0][0], mode: f[0][1:]}
		if e.typ == 'l' {
			e.mode = ""
			if len(f) == 8 && f[6] == "->" {
				e.target = f[7]
			}
		}
		if p == "" {
			continue
		}
		got[p] = e
	}
	checkEntries(t, "deb", got, wantEntries(t, debUnitDir))

	x := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, x)
	checkUnpacked(t, x, debUnitDir)
}

// checkUnpacked checks the files of a package unpacked in root: the unit is
// statelite.service of this directory, the binary a static executable of this
// architecture that says testVersion, the default config the generated one.
func checkUnpacked(t *testing.T, root, unitDir string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(root, unitDir, unitName)); err != nil || !bytes.Equal(b, unitFile) {
		t.Errorf("%s/%s differs from statelite.service (%v)", unitDir, unitName, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, confPath)); err != nil || !bytes.Equal(b, DefaultConfig(commandTree())) {
		t.Errorf("%s is not the generated default config (%v)", confPath, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, completion)); err != nil || !bytes.HasPrefix(b, []byte("# bash completion V2 for statelite")) {
		t.Errorf("%s: not cobra's bash completion (%v): %.80q", completion, err, b)
	}
	bin := filepath.Join(root, binPath)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "ppc64le": elf.EM_PPC64}[runtime.GOARCH]
	if f.Machine != wantMachine || f.Type != elf.ET_EXEC {
		t.Errorf("%s: %v %v, want an executable for %v", binPath, f.Type, f.Machine, wantMachine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (%v)", binPath, p.Type)
		}
	}
	out := run(t, bin, "version")
	if !strings.HasPrefix(out, "statelite "+testVersion+"\n") {
		t.Errorf("statelite version:\n%s\nwant statelite %s", out, testVersion)
	}
}

// TestRPM checks the .rpm with rpm: its header, files, config flags and scripts, and
// installs it into an empty root (rpm --root) and removes it again.
func TestRPM(t *testing.T) {
	need.Tool(t, "rpm", "rpm")
	_, rpm := packages(t)
	if got, want := filepath.Base(rpm), "statelite-"+testVersion+"-1."+rpmArch[runtime.GOARCH]+".rpm"; got != want {
		t.Errorf("file name %s, want %s", got, want)
	}
	hdr := run(t, "rpm", "-qp", "--qf", "%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{PACKAGER}|%{SUMMARY}|%{OS}", rpm)
	if want := strings.Join([]string{"statelite", testVersion, "1", rpmArch[runtime.GOARCH], defaultMaint, strings.SplitN(description, "\n", 2)[0], "linux"}, "|"); hdr != want {
		t.Errorf("rpm header:\n%s\nwant\n%s", hdr, want)
	}
	if req := run(t, "rpm", "-qpR", rpm); strings.Contains(req, "libc") || strings.Contains(req, ".so") {
		t.Errorf("requires shared libraries:\n%s", req)
	}
	// [%{FILEMODES:perms} %{FILEFLAGS:fflags} %{FILENAMES} %{FILELINKTOS}]
	got := map[string]entry{}
	for _, l := range strings.Split(strings.TrimSpace(run(t, "rpm", "-qp", "--qf", `[%{FILEMODES:perms}|%{FILEFLAGS:fflags}|%{FILENAMES}|%{FILELINKTOS}|%{FILEUSERNAME}:%{FILEGROUPNAME}\n]`, rpm)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 5 {
			t.Fatalf("rpm line %q", l)
		}
		if f[4] != "root:root" {
			t.Errorf("%s owned by %s, want root:root", f[2], f[4])
		}
		e := entry{typ: f[0][0], mode: f[0][1:], target: f[3]}
		if e.typ == 'l' {
			e.mode = ""
		}
		got[f[2]] = e
		switch {
		case f[2] == confPath && f[1] != "cn":
			t.Errorf("%s: flags %q, want cn (config, noreplace)", confPath, f[1])
		case f[2] != confPath && strings.Contains(f[1], "c"):
			t.Errorf("%s is a config file (%q)", f[2], f[1])
		}
	}
	checkEntries(t, "rpm", got, wantEntries(t, rpmUnitDir))
	scripts := run(t, "rpm", "-qp", "--scripts", rpm)
	for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "systemctl daemon-reload"} {
		if !strings.Contains(scripts, s) {
			t.Errorf("rpm --scripts has no %q:\n%s", s, scripts)
		}
	}
	run(t, "rpm", "-K", rpm)

	// rpm installs and removes it (no scripts: the root has no shell).
	root := t.TempDir()
	run(t, "rpm", "--root", root, "--initdb")
	run(t, "rpm", "--root", root, "-i", "--nodeps", "--noscripts", rpm)
	checkUnpacked(t, root, rpmUnitDir)
	run(t, "rpm", "--root", root, "-e", "--noscripts", "statelite")
	for _, p := range []string{binPath, rpmUnitDir + "/" + unitName, confPath, linkDir, filepath.Dir(linkDir), tablesDir, stateDir, docDir} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("rpm -e left %s", p)
		}
	}
}

// TestCrossBuild builds the binary for every architecture make package builds for.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross-compiling takes a while")
	}
	root, err := moduleRoot(context.Background(), "go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for arch, m := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "ppc64le": elf.EM_PPC64} {
		out := filepath.Join(dir, arch)
		if err := goBuild(context.Background(), "go", root, arch, buildInfo{version: testVersion, date: time.Unix(0, 0)}, out); err != nil {
			t.Fatal(err)
		}
		f, err := elf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != m || (arch == "ppc64le" && f.ByteOrder.String() != "LittleEndian") {
			t.Errorf("%s: %v %v", arch, f.Machine, f.ByteOrder)
		}
		f.Close()
	}
}

func TestDescribeVersion(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "0.0.0",
		"v1.2.0":                    "1.2.0",
		"1.2.0":                     "1.2.0",
		"v1.2.0-dirty":              "1.2.0+dirty",
		"v1.2.0-3-gabc1234":         "1.2.0+3.gabc1234",
		"v1.2.0-3-gabc1234-dirty":   "1.2.0+3.gabc1234.dirty",
		"v2.0.0-rc1":                "2.0.0-rc1",
		"v2.0.0-rc1-5-g0123abc":     "2.0.0-rc1+5.g0123abc",
		"abc1234":                   "0.0.0+abc1234",
		"abc1234-dirty":             "0.0.0+abc1234.dirty",
		"release-x_y-2-gabc1234abc": "0.0.0+release.x.y.2.gabc1234abc",
	} {
		if got := describeVersion(in); got != want {
			t.Errorf("describeVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// cleanEnv unsets the STATELITE_* variables for the test (they would win over a config
// file).
func cleanEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "STATELITE_") {
			os.Unsetenv(k)
			t.Cleanup(func() { os.Setenv(k, v) })
		}
	}
}

// TestDefaultConfig: the default config has one commented-out key per setting of serve
// and of every command, at its default; uncommented it is TOML that statelite reads,
// every key from the file.
func TestDefaultConfig(t *testing.T) {
	cleanEnv(t)
	root := commandTree()
	cfg := string(DefaultConfig(root))
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	check := func(f *pflag.Flag) {
		if configSkip[f.Name] {
			return
		}
		want = append(want, f.Name)
		if !strings.Contains(cfg, "\n# "+f.Name+" = ") {
			t.Errorf("no key %s", f.Name)
		}
	}
	root.PersistentFlags().VisitAll(check)
	serve.LocalNonPersistentFlags().VisitAll(check)
	for _, l := range []string{`# tables = "/etc/statelite/tables"`, `# state = "/var/lib/statelite/state"`, `# nfs = ":2049"`,
		`# mnt = "/var/lib/statelite/mnt"`, `# root-squash = false`, `# dhcp = []`, `# lease-ttl = "10s"`, `# admin-allow = "127.0.0.0/8,::1/128"`} {
		if !strings.Contains(cfg, "\n"+l+"\n") {
			t.Errorf("no line %s", l)
		}
	}
	var plain map[string]any
	if _, err := toml.Decode(cfg, &plain); err != nil || len(plain) != 0 {
		t.Errorf("as shipped: %v, keys %v (want valid TOML with none set)", err, plain)
	}

	// Every key uncommented, as it is.
	key := regexp.MustCompile(`(?m)^# ([a-z][a-z0-9-]*) = `)
	on := key.ReplaceAllString(cfg, "$1 = ")
	var vals map[string]any
	if _, err := toml.Decode(on, &vals); err != nil {
		t.Fatalf("uncommented: %v\n%s", err, on)
	}
	var keys []string
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sort.Strings(want)
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	file := filepath.Join(t.TempDir(), "statelite.conf")
	if err := os.WriteFile(file, []byte(on), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := cli.Main([]string{"statelite", "--config", file, "config"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("statelite --config %s config: exit %d\n%s", file, code, stderr.Bytes())
	}
	for _, k := range want {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(k) + `\s.*file ` + regexp.QuoteMeta(file) + `$`)
		if !re.MatchString(stdout.String()) {
			t.Errorf("statelite config does not take %s from the file:\n%s", k, stdout.Bytes())
		}
	}
}

// unit is a parsed systemd unit: the [Service] section's values per key, in order.
type unit map[string][]string

func parseUnit(t *testing.T, b []byte) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	var cont string
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if cont != "" {
			l = cont + " " + l
			cont = ""
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cont = s
			continue
		}
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[':
			section = strings.Trim(l, "[]")
		case section == "Service":
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("unit line %q", l)
			}
			u[strings.TrimSpace(k)] = append(u[strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// words is every value of key split at blanks.
func (u unit) words(key string) []string {
	var out []string
	for _, v := range u[key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// without is a copy of u without word in the values of key.
func (u unit) without(key, word string) unit {
	out := unit{}
	for k, vs := range u {
		for _, v := range vs {
			if k == key {
				v = strings.Join(slices.DeleteFunc(strings.Fields(v), func(w string) bool { return w == word }), " ")
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}

func (u unit) last(key string) string {
	if v := u[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// TestUnitVerify: systemd-analyze verify accepts the unit as the package installs it
// (PID 1 here need not be systemd: --root= on the unpacked .deb, with the host's units
// beside it for the targets it names, and the package's man pages for Documentation=);
// a broken copy is refused, so the check can fail.
func TestUnitVerify(t *testing.T) {
	need.Tool(t, "systemd-analyze", "systemd")
	need.Tool(t, "dpkg-deb", "dpkg")
	deb, _ := packages(t)
	root := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, root)
	units := filepath.Join(root, "usr/lib/systemd/system")
	if err := os.MkdirAll(units, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", "-a", "/lib/systemd/system/.", units)
	verify := func() (string, error) {
		c := exec.Command("systemd-analyze", "verify", "--root="+root, unitName)
		c.Env = append(os.Environ(), "MANPATH="+filepath.Join(root, "usr/share/man"), "SYSTEMD_LOG_COLOR=0")
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	u := parseUnit(t, unitFile)
	for k, want := range map[string]string{"Type": "notify", "ExecStart": binPath + " serve", "Restart": "on-failure",
		"LimitNOFILE": "1048576", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "User": "root",
		"ProtectHome": "yes", "PrivateTmp": "yes"} {
		if got := u.last(k); got != want {
			t.Errorf("%s=%s, want %s", k, got, want)
		}
	}
	if rw := u.words("ReadWritePaths"); !slices.Contains(rw, stateDir) || !slices.Contains(rw, tablesDir) {
		t.Errorf("ReadWritePaths=%v, want %s and %s", rw, stateDir, tablesDir)
	}

	// The check can fail: a misspelt key and a missing binary are reported.
	broken := bytes.Replace(unitFile, []byte("\nReadWritePaths="), []byte("\nReadWritePath="), 1)
	broken = bytes.Replace(broken, []byte("\nExecStart="+binPath), []byte("\nExecStart=/usr/bin/no-such-statelite"), 1)
	if err := os.WriteFile(filepath.Join(root, debUnitDir, unitName), broken, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(); err == nil || !strings.Contains(out, "Unknown key 'ReadWritePath'") || !strings.Contains(out, "no-such-statelite") {
		t.Errorf("systemd-analyze verify of a broken unit: %v\n%s", err, out)
	}
}

// debianRoot returns a fresh clean Debian root (bookworm, debootstrap's minbase) in a
// temporary directory: debootstrapped once from Debian's mirror into a tarball in the
// user cache directory, extracted anew for each test.
func debianRoot(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: a Debian root takes a while")
	}
	need.Root(t, "chroot, debootstrap and dpkg -i into a Debian root")
	need.Tool(t, "tar", "tar")
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	cache := filepath.Join(cacheDir, "statelite-debroot", "bookworm-minbase.tar")
	if _, err := os.Stat(cache); err != nil {
		need.Tool(t, "debootstrap", "debootstrap")
		if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(filepath.Dir(cache), "debootstrap-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		t.Logf("debootstrap --variant=minbase bookworm (once; cached as %s)", cache)
		start := time.Now()
		run(t, "debootstrap", "--variant=minbase", "bookworm", filepath.Join(tmp, "root"), "http://deb.debian.org/debian")
		run(t, "tar", "-C", filepath.Join(tmp, "root"), "-cf", filepath.Join(tmp, "root.tar"), ".")
		if err := os.Rename(filepath.Join(tmp, "root.tar"), cache); err != nil {
			t.Fatal(err)
		}
		t.Logf("debootstrap took %v", time.Since(start).Round(time.Second))
	}
	dir := t.TempDir()
	run(t, "tar", "-C", dir, "--numeric-owner", "-xpf", cache)
	return dir
}

// chrootEnv is the environment of commands in the Debian root.
var chrootEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}

// installedRoot is a clean Debian root with the .deb installed by dpkg -i.
func installedRoot(t *testing.T) string {
	t.Helper()
	need.Tool(t, "chroot", "coreutils")
	deb, _ := packages(t)
	root := debianRoot(t)
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp/statelite.deb"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := runIn(t, "", chrootEnv, "chroot", root, "dpkg", "-i", "/tmp/statelite.deb")
	t.Logf("dpkg -i:\n%s", out)
	return root
}

// TestDebianInstall (acceptance): the .deb installs into a clean Debian root, where
// statelite version and statelite demo work, and so do the xCAT links; it removes and
// purges cleanly.
func TestDebianInstall(t *testing.T) {
	root := installedRoot(t)
	ch := func(args ...string) string {
		t.Helper()
		return runIn(t, "", chrootEnv, "chroot", append([]string{root}, args...)...)
	}
	if out := ch("statelite", "version"); !strings.HasPrefix(out, "statelite "+testVersion+"\n") {
		t.Errorf("statelite version:\n%s", out)
	}
	out := ch("statelite", "demo", "--dir", "/tmp/demo")
	if !strings.Contains(out, "Demo cluster built in /tmp/demo (image demo-x86_64-statelite-compute, nodes n1,n2).") ||
		!strings.Contains(out, "== n1: image root /tmp/demo/install/") {
		t.Errorf("statelite demo:\n%s", out)
	}
	if out := ch(linkDir+"/nodels", "--tables", "/tmp/demo/tables"); out != "n1\nn2\n" {
		t.Errorf("%s/nodels: %q", linkDir, out)
	}
	if out := ch("env", "PATH="+linkDir+":/usr/bin:/bin", "STATELITE_TABLES=/tmp/demo/tables", "lslite", "n1"); !strings.Contains(out, "/etc/motd") {
		t.Errorf("lslite n1 through PATH:\n%s", out)
	}
	// The shipped config (every key commented out) is read by every command.
	if out := ch("statelite", "config"); !strings.Contains(out, confPath) || !strings.Contains(out, "/etc/statelite/tables") {
		t.Errorf("statelite config:\n%s", out)
	}
	if out := ch("dpkg-query", "-W", "-f", "${Status} ${Version}", "statelite"); out != "install ok installed "+testVersion {
		t.Errorf("dpkg-query: %q", out)
	}

	// Removal keeps the conffile, purge drops it; the package's files are gone.
	if err := os.WriteFile(filepath.Join(root, tablesDir, "site.csv"), []byte("#key,value,comments,disable\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ch("dpkg", "-r", "statelite")
	for _, p := range []string{binPath, debUnitDir + "/" + unitName, linkDir, completion} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("dpkg -r left %s", p)
		}
	}
	if _, err := os.Stat(filepath.Join(root, confPath)); err != nil {
		t.Errorf("dpkg -r removed the conffile: %v", err)
	}
	ch("dpkg", "--purge", "statelite")
	if _, err := os.Stat(filepath.Join(root, confPath)); err == nil {
		t.Error("dpkg --purge left the conffile")
	}
	if _, err := os.Stat(filepath.Join(root, tablesDir, "site.csv")); err != nil {
		t.Errorf("dpkg --purge removed the tables: %v", err)
	}
}

// syncBuf is a bytes.Buffer safe for a process's output and the test's reads.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// capNames turns CAP_NET_RAW … into setpriv's list: -all,+net_raw,…
func capNames(caps []string) string {
	out := []string{"-all"}
	for _, c := range caps {
		out = append(out, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return strings.Join(out, ",")
}

// confined is statelite serve started as statelite.service would start it, in the Debian
// root where the package is installed: ExecStart under the unit's confinement, emulated
// because PID 1 here need not be systemd. A private mount namespace with the root
// read-only but for ReadWritePaths (ProtectSystem=strict), fresh /tmp and /var/tmp
// (PrivateTmp), empty read-only /root and /home (ProtectHome), /proc/sys and /sys
// read-only (ProtectKernelTunables), and setpriv with the unit's bounding, inheritable
// and ambient capabilities and no_new_privs. A private network namespace gives it
// ports 2049, 111, 69 and 67 (DHCP on a veth, sl0, 10.99.0.1/24), and the test dials in.
type confined struct {
	cmd    *exec.Cmd
	out    *syncBuf
	exited chan struct{} // closed when the process has exited, err its Wait's
	err    error
	notify *net.UnixConn
}

func startConfined(t *testing.T, root string, u unit) (*confined, error) {
	t.Helper()
	caps, ambient := u.words("CapabilityBoundingSet"), u.words("AmbientCapabilities")
	var s strings.Builder
	fmt.Fprintf(&s, "set -eu\nR=%s\n", shq(root))
	s.WriteString("ip link set lo up\nip link add sl0 type veth peer name sl1\nip addr add 10.99.0.1/24 dev sl0\nip link set sl0 up\nip link set sl1 up\n")
	s.WriteString("mount --bind \"$R\" \"$R\"\n")
	for _, p := range u.words("ReadWritePaths") {
		optional := strings.HasPrefix(p, "-")
		p = strings.TrimPrefix(p, "-")
		if optional {
			fmt.Fprintf(&s, "[ ! -d \"$R\"%s ] || ", shq(p))
		}
		fmt.Fprintf(&s, "mount --bind \"$R\"%s \"$R\"%s\n", shq(p), shq(p))
	}
	if u.last("PrivateTmp") == "yes" {
		s.WriteString("mount -t tmpfs -o mode=1777 tmpfs \"$R/tmp\"\nmount -t tmpfs -o mode=1777 tmpfs \"$R/var/tmp\"\n")
	}
	if u.last("ProtectHome") == "yes" {
		s.WriteString("mount -t tmpfs -o ro,mode=755 tmpfs \"$R/root\"\nmount -t tmpfs -o ro,mode=755 tmpfs \"$R/home\"\n")
	}
	s.WriteString("mount -t proc proc \"$R/proc\"\nmount -t sysfs -o ro sysfs \"$R/sys\"\n")
	if u.last("ProtectKernelTunables") == "yes" {
		s.WriteString("mount --bind \"$R/proc/sys\" \"$R/proc/sys\"\nmount -o remount,bind,ro \"$R/proc/sys\"\n")
	}
	if u.last("ProtectSystem") == "strict" {
		s.WriteString("mount -o remount,bind,ro \"$R\"\n")
	}
	setpriv := []string{"/usr/bin/setpriv", "--bounding-set=" + capNames(caps), "--inh-caps=" + capNames(ambient), "--ambient-caps=" + capNames(ambient)}
	if u.last("NoNewPrivileges") == "yes" {
		setpriv = append(setpriv, "--no-new-privs")
	}
	setpriv = append(setpriv, "--")
	setpriv = append(setpriv, strings.Fields(u.last("ExecStart"))...)
	s.WriteString("exec chroot \"$R\"")
	for _, a := range setpriv {
		s.WriteString(" " + shq(a))
	}
	s.WriteString("\n")

	sock := filepath.Join(root, "run", "statelite-test-notify")
	os.Remove(sock)
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c := &confined{out: &syncBuf{}, exited: make(chan struct{}), notify: nc}
	c.cmd = exec.Command("unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", s.String())
	c.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "NOTIFY_SOCKET=/run/statelite-test-notify"}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		nc.Close()
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() { c.stop() })
	// Type=notify: started once READY=1 comes.
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 4096)
		for {
			nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := nc.Read(b)
			if err != nil {
				ready <- fmt.Errorf("no READY=1 within 30 s: %v", err)
				return
			}
			if strings.Contains("\n"+string(b[:n])+"\n", "\nREADY=1\n") {
				ready <- nil
				return
			}
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			return c, err
		}
		return c, nil
	case <-c.exited:
		return c, fmt.Errorf("the server exited before READY=1: %v", c.err)
	}
}

// stop ends the server with SIGTERM, as systemctl stop does.
func (c *confined) stop() error {
	select {
	case <-c.exited:
	default:
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			c.cmd.Process.Kill()
			<-c.exited
			return errors.New("still running 15 s after SIGTERM: killed")
		}
	}
	c.notify.Close()
	return c.err
}

// dial connects to the server's NFS port from inside its network namespace (the socket
// stays there).
func (c *confined) dial(uid, gid uint32) (*nfsclient.Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", c.cmd.Process.Pid))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	conn, derr := nfsclient.Dial("127.0.0.1:2049", "", "n1", uid, gid)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it ends with this goroutine, in the wrong namespace.
		return nil, fmt.Errorf("back to the test's network namespace: %v", err)
	}
	runtime.UnlockOSThread()
	return conn, derr
}

// call is one NFS call of c, its result after the status.
func call(c *nfsclient.Conn, op string, proc uint32, args []byte) (*wire.R, error) {
	body, err := c.Call(wire.ProgNFS, 3, proc, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	r := &wire.R{B: body}
	if st := r.U32(); st != wire.NFS3OK {
		return nil, fmt.Errorf("%s: NFS status %d", op, st)
	}
	return r, r.Err
}

func u32(v uint32) *uint32 { return &v }

// serveNode serves node n1 as the nodes use it, through the confined server: root reads
// its /etc/motd and makes a directory in its persistent /root for alice (uid 1000,
// mode 0700: CAP_CHOWN) and a device node there (CAP_MKNOD); alice writes a file in it
// (the server crosses her 0700 directory: CAP_DAC_OVERRIDE; the file is hers:
// CAP_CHOWN) and makes it setgid (her file: CAP_FOWNER; the bit kept on a group the
// server is not in: CAP_FSETID). It returns what went wrong; the files on disk, under
// the node's statemnt directory in root, are checked too.
func serveNode(c *confined, root, dir string) []string {
	var problems []string
	fail := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	rc, err := c.dial(0, 0)
	if err != nil {
		return []string{"dial as root: " + err.Error()}
	}
	defer rc.Close()
	top, err := rc.Mount("/nodes/n1")
	if err != nil {
		return []string{"MNT /nodes/n1: " + err.Error()}
	}
	if fh, err := rc.Walk(top, "etc/motd"); err != nil {
		fail("lookup /etc/motd: %v", err)
	} else if data, _, err := rc.Read(fh, 0, 4096); err != nil || !strings.Contains(string(data), "Site notice from the common litetree.") {
		fail("read n1's /etc/motd: %q, %v", data, err)
	}
	rootDir, err := rc.Walk(top, "root")
	if err != nil {
		return append(problems, "lookup /root: "+err.Error())
	}
	r, err := call(rc, "MKDIR /root/"+dir, wire.ProcMkdir, new(wire.W).Opaque(rootDir).Str(dir).Sattr(wire.Sattr{Mode: u32(0o700)}).B)
	if err != nil {
		return append(problems, err.Error())
	}
	dfh := r.PostOpFH()
	if _, err := call(rc, "SETATTR uid 1000 /root/"+dir, wire.ProcSetattr, new(wire.W).Opaque(dfh).Sattr(wire.Sattr{UID: u32(1000), GID: u32(1000)}).Bool(false).B); err != nil {
		fail("%v", err)
	}
	// MKNOD: a character device 1,3 (what /dev/null is) in /root.
	mk := new(wire.W).Opaque(rootDir).Str(dir + "-null").U32(4).Sattr(wire.Sattr{Mode: u32(0o666)}).U32(1).U32(3)
	if _, err := call(rc, "MKNOD /root/"+dir+"-null", wire.ProcMknod, mk.B); err != nil {
		fail("%v", err)
	}

	ac, err := c.dial(1000, 1000)
	if err != nil {
		return append(problems, "dial as alice: "+err.Error())
	}
	defer ac.Close()
	atop, err := ac.Mount("/nodes/n1")
	if err != nil {
		return append(problems, "MNT /nodes/n1 as alice: "+err.Error())
	}
	adir, err := ac.Walk(atop, "root/"+dir)
	if err != nil {
		return append(problems, "lookup /root/"+dir+" as alice: "+err.Error())
	}
	fh, err := ac.Create(adir, "notes", 0o644)
	if err != nil {
		return append(problems, "CREATE notes as alice: "+err.Error())
	}
	if _, err := ac.Write(fh, 0, []byte("written by alice\n"), 2); err != nil {
		fail("WRITE notes as alice: %v", err)
	}
	if _, err := call(ac, "SETATTR mode 02755 notes", wire.ProcSetattr, new(wire.W).Opaque(fh).Sattr(wire.Sattr{Mode: u32(0o2755)}).Bool(false).B); err != nil {
		fail("as alice: %v", err)
	}
	if a, err := ac.Getattr(fh); err != nil || a.UID != 1000 || a.GID != 1000 || a.Mode&0o7777 != 0o2755 {
		fail("notes: uid %d gid %d mode %#o (%v), want 1000 1000 02755", a.UID, a.GID, a.Mode&0o7777, err)
	}

	// On disk, in n1's persistent directory.
	pr := filepath.Join(root, "var/lib/statelite/demo/state/n1/root")
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(pr, dir, "notes"), &st); err != nil || st.Uid != 1000 || st.Gid != 1000 || st.Mode&0o7777 != 0o2755 {
		fail("on disk %s/notes: uid %d gid %d mode %#o (%v)", dir, st.Uid, st.Gid, st.Mode&0o7777, err)
	} else if b, err := os.ReadFile(filepath.Join(pr, dir, "notes")); err != nil || string(b) != "written by alice\n" {
		fail("on disk %s/notes: %q, %v", dir, b, err)
	}
	st = unix.Stat_t{}
	if err := unix.Lstat(filepath.Join(pr, dir+"-null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		fail("on disk %s-null: mode %#o rdev %d:%d (%v), want a character device 1:3", dir, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), err)
	}
	return problems
}

// TestServeUnderUnit: the installed package's statelite.service, its ExecStart under its
// own confinement (ProtectSystem=strict with its ReadWritePaths, its capabilities,
// NoNewPrivileges…), serves the demo cluster from the unit's paths (tables in
// /etc/statelite/tables, state in /var/lib/statelite, settings in the config file) on
// the real ports, tells READY=1, and serves node n1 as its root and its user alice;
// without any one of the capabilities it keeps (but CAP_NET_RAW, which kernels since
// 5.7 no longer need for SO_BINDTODEVICE), the server fails to start or to serve.
func TestServeUnderUnit(t *testing.T) {
	need.Tool(t, "unshare", "util-linux")
	need.Tool(t, "ip", "iproute2")
	root := installedRoot(t)
	// The demo cluster under /var/lib/statelite, its tables in the unit's table directory.
	runIn(t, "", chrootEnv, "chroot", root, "statelite", "demo", "--dir", "/var/lib/statelite/demo")
	csvs, _ := filepath.Glob(filepath.Join(root, "var/lib/statelite/demo/tables/*.csv"))
	if len(csvs) == 0 {
		t.Fatal("the demo made no tables")
	}
	for _, f := range csvs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, tablesDir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Settings in the config file: the shipped one, and the privileged ports.
	conf := filepath.Join(root, confPath)
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "\n# TestServeUnderUnit\ntftp = \":69\"\nportmap = \":111\"\ndhcp = [\"sl0\"]\n"...)
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ub, err := os.ReadFile(filepath.Join(root, debUnitDir, unitName))
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, ub)

	c, err := startConfined(t, root, u)
	if err != nil {
		t.Fatalf("%v\nserver output:\n%s", err, c.out)
	}
	if p := serveNode(c, root, "alice"); len(p) > 0 {
		t.Errorf("serving n1 under the unit's confinement:\n  %s\nserver output:\n%s", strings.Join(p, "\n  "), c.out)
	}
	if err := c.stop(); err != nil {
		t.Errorf("after SIGTERM: %v\nserver output:\n%s", err, c.out)
	}
	t.Logf("server output:\n%s", c.out)
	if out := c.out.String(); !strings.Contains(out, "level=INFO") || strings.Contains(out, "level=ERROR") {
		t.Errorf("server output:\n%s", out)
	}

	// Each capability is needed, and so is the state directory's ReadWritePaths (the
	// emulated ProtectSystem=strict holds).
	type cut struct{ key, word string }
	var cuts []cut
	for _, cp := range u.words("CapabilityBoundingSet") {
		if cp != "CAP_NET_RAW" {
			cuts = append(cuts, cut{"", cp})
		}
	}
	cuts = append(cuts, cut{"ReadWritePaths", stateDir})
	for _, x := range cuts {
		uu := u.without("CapabilityBoundingSet", x.word).without("AmbientCapabilities", x.word)
		name := "without_" + x.word
		if x.key != "" {
			uu, name = u.without(x.key, x.word), "without_"+x.key+"="+x.word
		}
		t.Run(name, func(t *testing.T) {
			c, err := startConfined(t, root, uu)
			if err != nil {
				out := strings.TrimSpace(c.out.String())
				if i := strings.LastIndex(out, "\n"); i >= 0 {
					out = out[i+1:]
				}
				t.Logf("%s: %v: %s", name, err, out)
				return
			}
			p := serveNode(c, root, "run-"+strings.ToLower(x.word))
			if len(p) == 0 {
				t.Errorf("%s the server still serves n1 in full: is it needed?\nserver output:\n%s", name, c.out)
			}
			t.Logf("%s: %s", name, strings.Join(p, "; "))
		})
	}
}

// TestUnitCapabilities: the unit keeps exactly the capabilities the server uses, none of
// the settings that would break serving the nodes' files, and the docs explain each.
func TestUnitCapabilities(t *testing.T) {
	u := parseUnit(t, unitFile)
	want := []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_CHOWN", "CAP_FOWNER", "CAP_FSETID", "CAP_MKNOD", "CAP_DAC_OVERRIDE"}
	if got := u.words("CapabilityBoundingSet"); !slices.Equal(got, want) {
		t.Errorf("CapabilityBoundingSet=%v, want %v", got, want)
	}
	if got := u.words("AmbientCapabilities"); !slices.Equal(got, want) {
		t.Errorf("AmbientCapabilities=%v, want %v", got, want)
	}
	for _, k := range []string{"PrivateDevices", "RestrictSUIDSGID", "ProtectClock", "DeviceAllow", "PrivateUsers", "DynamicUser"} {
		if v, ok := u[k]; ok {
			t.Errorf("%s=%v: breaks serving the nodes' files", k, v)
		}
	}
	doc, err := os.ReadFile("../docs/packaging.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range want {
		if !bytes.Contains(doc, []byte(c)) {
			t.Errorf("docs/packaging.md does not explain %s", c)
		}
	}
}

// TestDocsLinks: docs/packaging.md names every xCAT command link the packages hold.
func TestDocsLinks(t *testing.T) {
	doc, err := os.ReadFile("../docs/packaging.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range cli.LinkCommands {
		if !bytes.Contains(doc, []byte("`"+l+"`")) {
			t.Errorf("docs/packaging.md does not name the link %s", l)
		}
	}
}
