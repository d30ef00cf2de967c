package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"statelite/cmd/cli"
)

// settingEnvs are the variables of the settings these tests use, cleared so that the
// environment of whoever runs the tests does not leak in.
var settingEnvs = []string{"STATELITE_CONFIG", "STATELITE_TABLES", "STATELITE_MNT", "STATELITE_STATE",
	"STATELITE_NFS", "STATELITE_DHCP", "STATELITE_ADMIN_ALLOW", "STATELITE_LOG_LEVEL", "STATELITE_LOG_FORMAT", "STATELITE_NAME"}

// clearEnv empties the settings' variables (an empty variable is no setting) and points
// the default config file at a missing file.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range settingEnvs {
		t.Setenv(v, "")
	}
	t.Cleanup(cli.SetDefaultConfigFile(filepath.Join(t.TempDir(), "absent.conf")))
}

// run runs "statelite ARGS…" with no --tables or --mnt added.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return cliRunAs(t, "statelite", "", "", args...)
}

// tablesWithNode makes a table directory whose nodelist holds node.
func tablesWithNode(t *testing.T, node string) string {
	t.Helper()
	return writeTables(t, map[string]string{"nodelist": "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n\"" + node + "\",\"compute\",,,,,,,,,,,\n"})
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "statelite.conf")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// configLine finds SETTING's line in statelite config's output: its value and source.
func configLine(t *testing.T, out, setting string) (value, source string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(setting) + ` +(\S+) +(.+?)\s*$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("statelite config prints no %s line:\n%s", setting, out)
	}
	return m[1], m[2]
}

// TestConfigPrecedence: for --tables (common to every command) and --state (a flag of
// status and serve), the command line beats the environment, which beats the config
// file, which beats the default.
func TestConfigPrecedence(t *testing.T) {
	clearEnv(t)
	base := t.TempDir()
	tFile, tEnv, tFlag := tablesWithNode(t, "filenode"), tablesWithNode(t, "envnode"), tablesWithNode(t, "flagnode")
	sFile, sEnv, sFlag := filepath.Join(base, "state-file"), filepath.Join(base, "state-env"), filepath.Join(base, "state-flag")
	conf := writeConfig(t, "tables = \""+tFile+"\"\nstate = \""+sFile+"\"\n")

	// nodels shows which table store was used; status names the state directory it read.
	check := func(step, node, state string, tablesFlags, stateFlags []string) {
		t.Helper()
		r := run(t, append([]string{"nodels"}, tablesFlags...)...)
		if r.code != 0 || strings.TrimSpace(r.stdout) != node {
			t.Errorf("%s: nodels: exit %d, printed %q (want %s)\n%s", step, r.code, r.stdout, node, r.stderr)
		}
		r = run(t, append([]string{"status"}, stateFlags...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "no server status in "+filepath.Join(state, "status.json")) {
			t.Errorf("%s: status: exit %d; want the status of %s missing:\n%s", step, r.code, state, r.stderr)
		}
	}

	// Default: /etc/statelite/tables, /var/lib/statelite/state.
	out := run(t, "config", "--for", "status").stdout
	if v, s := configLine(t, out, "tables"); v != "/etc/statelite/tables" || s != "default" {
		t.Errorf("default tables: %s from %s\n%s", v, s, out)
	}
	if v, s := configLine(t, out, "state"); v != "/var/lib/statelite/state" || s != "default" {
		t.Errorf("default state: %s from %s\n%s", v, s, out)
	}

	t.Setenv("STATELITE_CONFIG", conf)
	check("file", "filenode", sFile, nil, nil)
	t.Setenv("STATELITE_TABLES", tEnv)
	t.Setenv("STATELITE_STATE", sEnv)
	check("env over file", "envnode", sEnv, nil, nil)
	check("flag over env", "flagnode", sFlag, []string{"--tables", tFlag}, []string{"--state", sFlag})

	// The same through --config instead of $STATELITE_CONFIG, and statelite config says
	// where each came from.
	t.Setenv("STATELITE_CONFIG", "")
	t.Setenv("STATELITE_TABLES", "")
	out = run(t, "--config", conf, "config", "--for", "status").stdout
	if v, s := configLine(t, out, "tables"); v != tFile || s != "file "+conf {
		t.Errorf("tables from the file: %s from %s\n%s", v, s, out)
	}
	if v, s := configLine(t, out, "state"); v != sEnv || s != "env STATELITE_STATE" {
		t.Errorf("state from the environment: %s from %s\n%s", v, s, out)
	}
	if v, s := configLine(t, out, "config"); v != conf || s != "flag" {
		t.Errorf("config: %s from %s\n%s", v, s, out)
	}
	out = run(t, "--config", conf, "--tables", tFlag, "config", "--for", "status").stdout
	if v, s := configLine(t, out, "tables"); v != tFlag || s != "flag" {
		t.Errorf("tables from the command line: %s from %s\n%s", v, s, out)
	}
}

// TestConfigCommand: statelite config shows serve's settings and the common ones, from
// every source, lists from TOML arrays, and keys of other commands are ignored.
func TestConfigCommand(t *testing.T) {
	clearEnv(t)
	tabs := tablesWithNode(t, "n1")
	conf := writeConfig(t, `# a shared file
tables = "`+tabs+`"
state = "/srv/state"
dhcp = ["eth0", "eth1"]
dhcp-proxy = "eth2,eth3"
root-squash = true
lease-ttl = "30s"
log-format = "json"
name = "sn1"
format = "dnsmasq"   # makedhcp's
nfs-port = 20490     # nodeset's
`)
	t.Setenv("STATELITE_CONFIG", conf)
	t.Setenv("STATELITE_ADMIN_ALLOW", "10.0.0.0/8")
	r := run(t, "--log-level", "debug", "config")
	if r.code != 0 {
		t.Fatalf("statelite config: exit %d\n%s", r.code, r.stderr)
	}
	out := r.stdout
	for _, w := range [][3]string{
		{"config", conf, "env STATELITE_CONFIG"},
		{"tables", tabs, "file " + conf},
		{"mnt", "/var/lib/statelite/mnt", "default"},
		{"log-level", "debug", "flag"},
		{"log-format", "json", "file " + conf},
		{"state", "/srv/state", "file " + conf},
		{"dhcp", "eth0,eth1", "file " + conf},
		{"dhcp-proxy", "eth2,eth3", "file " + conf},
		{"root-squash", "true", "file " + conf},
		{"lease-ttl", "30s", "file " + conf},
		{"admin-allow", "10.0.0.0/8", "env STATELITE_ADMIN_ALLOW"},
		{"name", "sn1", "file " + conf},
		{"nfs", ":2049", "default"},
	} {
		if v, s := configLine(t, out, w[0]); v != w[1] || s != w[2] {
			t.Errorf("%s = %s from %q; want %s from %q", w[0], v, s, w[1], w[2])
		}
	}
	if !strings.HasPrefix(out, "SETTING ") {
		t.Errorf("no header line:\n%s", out)
	}
	// Other commands run with the same file: serve's keys are not theirs, ignored.
	if r := run(t, "nodels"); r.code != 0 || strings.TrimSpace(r.stdout) != "n1" {
		t.Errorf("nodels with serve's keys in the file: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}
	// serve's name is not image import's.
	out = run(t, "config", "--for", "image import").stdout
	if v, s := configLine(t, out, "name"); v != `""` || !strings.HasPrefix(s, "default (not a setting") {
		t.Errorf("image import --name = %s from %s\n%s", v, s, out)
	}
	if r := run(t, "config", "--for", "nosuch"); r.code == 0 || !strings.Contains(r.stderr, `"nosuch": no such command`) {
		t.Errorf("config --for nosuch: exit %d\n%s", r.code, r.stderr)
	}
}

// TestConfigErrors: unknown keys, a missing explicit file, bad values and keys that are
// not settings are errors naming the file (or variable) and the key; a missing default
// file is no error.
func TestConfigErrors(t *testing.T) {
	clearEnv(t)
	tabs := tablesWithNode(t, "n1")

	// The default file may be missing.
	if r := run(t, "--tables", tabs, "nodels"); r.code != 0 {
		t.Errorf("no config file at all: exit %d\n%s", r.code, r.stderr)
	}

	missing := filepath.Join(t.TempDir(), "nope.conf")
	if r := run(t, "--config", missing, "--tables", tabs, "nodels"); r.code == 0 || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("--config of a missing file: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv("STATELITE_CONFIG", missing)
	if r := run(t, "--tables", tabs, "nodels"); r.code == 0 || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "STATELITE_CONFIG") {
		t.Errorf("$STATELITE_CONFIG of a missing file: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv("STATELITE_CONFIG", "")

	for _, c := range []struct{ body, want string }{
		{"tabels = \"/x\"\n", `unknown key "tabels"`},
		{"delete = true\n", "delete is not a setting"},
		{"log-level = \"loud\"\n", `log-level: "loud" is not a level: want debug, info, warn or error`},
		{"[serve]\nnfs = \":1\"\n", "serve is a table"},
		{"tables = \n", ""}, // TOML syntax error
		{"lease-ttl = \"soon\"\n", "lease-ttl"},
	} {
		conf := writeConfig(t, c.body)
		args := []string{"--config", conf, "--tables", tabs, "nodels"}
		if strings.HasPrefix(c.body, "lease") {
			args = []string{"--config", conf, "config"}
		}
		r := run(t, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "config file "+conf) || !strings.Contains(r.stderr, c.want) {
			t.Errorf("config file %q: exit %d, want an error naming the file and %q:\n%s", c.body, r.code, c.want, r.stderr)
		}
		if strings.Contains(c.want, "unknown key") && !strings.Contains(r.stderr, "tables, ") {
			t.Errorf("unknown key: the error does not list the keys:\n%s", r.stderr)
		}
	}

	t.Setenv("STATELITE_LOG_FORMAT", "xml")
	if r := run(t, "--tables", tabs, "nodels"); r.code == 0 || !strings.Contains(r.stderr, "$STATELITE_LOG_FORMAT") || !strings.Contains(r.stderr, "want text or json") {
		t.Errorf("$STATELITE_LOG_FORMAT=xml: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv("STATELITE_LOG_FORMAT", "")
	if r := run(t, "--log-level", "loud", "--tables", tabs, "nodels"); r.code == 0 || !strings.Contains(r.stderr, "loud") {
		t.Errorf("--log-level loud: exit %d\n%s", r.code, r.stderr)
	}
}

// TestMissingTablesDir: a --tables directory that does not exist is an error naming it
// and statelite init, for readers and writers alike; nothing is created. statelite
// init makes the store, and refuses a directory with tables.
func TestMissingTablesDir(t *testing.T) {
	clearEnv(t)
	dir := filepath.Join(t.TempDir(), "tabels")
	for _, args := range [][]string{{"tabdump", "nodelist"}, {"nodels"}, {"chtab", "node=n1", "nodelist.groups=all"}, {"lslite", "n1"}} {
		r := run(t, append([]string{"--tables", dir}, args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "table directory "+dir+" does not exist") || !strings.Contains(r.stderr, "statelite init "+dir) {
			t.Errorf("%s on a missing directory: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Fatalf("%s created %s", args, dir)
		}
	}
	t.Setenv("STATELITE_TABLES", dir)
	if r := run(t, "nodels"); r.code == 0 || !strings.Contains(r.stderr, "$STATELITE_TABLES") {
		t.Errorf("the error does not say the directory came from $STATELITE_TABLES:\n%s", r.stderr)
	}

	r := run(t, "init") // the --tables in force: $STATELITE_TABLES
	if r.code != 0 || !strings.Contains(r.stdout, "New empty table store in "+dir) {
		t.Fatalf("init: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, ".lock")); err != nil {
		t.Errorf("init made no lock file: %v", err)
	}
	if r := run(t, "nodels"); r.code != 0 || r.stdout != "" {
		t.Errorf("nodels on the new store: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}
	mustRun(t, dir, "chtab", "node=n1", "nodelist.groups=all")
	if r := run(t, "init", dir); r.code == 0 || !strings.Contains(r.stderr, "already holds tables (nodelist.csv)") {
		t.Errorf("init of a store with tables: exit %d\n%s", r.code, r.stderr)
	}
	if got := strings.TrimSpace(mustRun(t, dir, "nodels")); got != "n1" {
		t.Errorf("after the refused init: nodels %q", got)
	}
	other := filepath.Join(t.TempDir(), "a", "b")
	if r := run(t, "init", other); r.code != 0 {
		t.Errorf("init %s: exit %d\n%s", other, r.code, r.stderr)
	}
}

// TestVersion: statelite version and statelite --version print the version, commit,
// date and Go version, the same way.
func TestVersion(t *testing.T) {
	clearEnv(t)
	// A broken config file does not stop them.
	t.Setenv("STATELITE_CONFIG", filepath.Join(t.TempDir(), "nope.conf"))
	shape := regexp.MustCompile(`^statelite \S+\ncommit: \S+( \(modified\))?\ndate:   \S+\ngo:     go\S* \w+/\w+\n$`)
	a := run(t, "version")
	b := run(t, "--version")
	if a.code != 0 || b.code != 0 || !shape.MatchString(a.stdout) || a.stdout != b.stdout {
		t.Errorf("version: exit %d\n%s%s\n--version: exit %d\n%s%s", a.code, a.stdout, a.stderr, b.code, b.stdout, b.stderr)
	}
	// The built binary carries its commit (when built from a git checkout).
	bin := needBinary(t)
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !shape.Match(out) {
		t.Errorf("%s --version: %v\n%s", bin, err, out)
	}
}
