// Package need is how a test says it needs something of the machine (a tool, root,
// FUSE, PostgreSQL, a real NFS client): without it the test is skipped when run by hand
// (go test ./...), and fails under `make test` and CI, where scripts/test-deps.sh has
// installed everything (STATELITE_TEST_STRICT=1, CI=true). A test that needs a real part
// therefore never skips silently where it is supposed to run.
package need

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Strict reports whether a missing need fails the test: under make test
// (STATELITE_TEST_STRICT set and not 0/false) or CI (CI set and not 0/false).
func Strict() bool {
	for _, k := range []string{"STATELITE_TEST_STRICT", "CI"} {
		if v := strings.ToLower(os.Getenv(k)); v != "" && v != "false" && v != "0" {
			return true
		}
	}
	return false
}

// Skip skips the test with the message, or fails it when Strict.
func Skip(t testing.TB, format string, a ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("missing under make test / CI (scripts/test-deps.sh installs what the tests need): "+format, a...)
	}
	t.Skipf(format, a...)
}

// Root skips (or fails, when Strict) a test that needs root, saying why.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root: %s", why)
	}
}

// Tool skips (or fails, when Strict) a test when a program is not in PATH, naming the
// package that has it.
func Tool(t testing.TB, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		Skip(t, "%s not found (install %s: scripts/test-deps.sh)", tool, pkg)
	}
}
