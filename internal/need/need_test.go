package need

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStrict(t *testing.T) {
	for _, tc := range []struct {
		strict, ci string
		want       bool
	}{{"", "", false}, {"1", "", true}, {"", "true", true}, {"0", "false", false}, {"false", "", false}} {
		t.Setenv("STATELITE_TEST_STRICT", tc.strict)
		t.Setenv("CI", tc.ci)
		if got := Strict(); got != tc.want {
			t.Errorf("STATELITE_TEST_STRICT=%q CI=%q: Strict() = %v", tc.strict, tc.ci, got)
		}
	}
}

// TestDepsScript: scripts/test-deps.sh (what make test runs first) with a PATH that hides
// the tools names the packages that are missing and exits non-zero, without installing
// anything (STATELITE_DEPS_NO_INSTALL); with every tool there (make test's own machine)
// it says nothing and exits 0.
func TestDepsScript(t *testing.T) {
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "test-deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		Skip(t, "bash not found")
	}
	// A PATH with bash and the few programs the script itself uses, nothing else.
	bin := t.TempDir()
	for _, tool := range []string{"bash", "id", "tr"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			Skip(t, "%s not found", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bash, script)
	cmd.Env = []string{"PATH=" + bin, "STATELITE_DEPS_NO_INSTALL=1"}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the script passed with a PATH that hides every tool:\n%s", out)
	}
	for _, want := range []string{"missing", "libnfs-utils", "qemu-system-x86", "dnsmasq-base", "apt-get install"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the script's message does not name %q:\n%s", want, out)
		}
	}
	// As make test runs it (STATELITE_TEST_STRICT is set there): nothing missing.
	if Strict() {
		cmd = exec.Command(bash, script)
		cmd.Env = append(os.Environ(), "STATELITE_DEPS_NO_INSTALL=1")
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("under make test the script finds something missing (%v):\n%s", err, out)
		}
	}
}
