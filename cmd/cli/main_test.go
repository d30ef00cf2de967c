package cli_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"statelite/cmd/cli"
)

// update rewrites the golden files under testdata/golden instead of comparing with them:
//
//	go test ./cmd/cli -run TestOutputGolden -update
//
// Inspect every rewritten file (git diff) against xCAT's lslite and litefile outputs (docs/behaviour.md#the-cookbooks-commands) before accepting it.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// binPath is the statelite binary built once by TestMain for the tests that need real
// processes (parallel chtab, install-links); binErr says why it could not be built.
var (
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "statelite-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binPath, binErr = buildBinary(tmp)
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// buildBinary builds ./cmd/statelite of this module into dir.
func buildBinary(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module (%q)", gomod)
	}
	bin := filepath.Join(dir, "statelite")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/statelite")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/statelite: %v\n%s", err, out)
	}
	return bin, nil
}

// needBinary returns the built binary or fails the test.
func needBinary(t *testing.T) string {
	t.Helper()
	if binErr != nil {
		t.Fatalf("statelite binary not built: %v", binErr)
	}
	return binPath
}

// result is what one CLI run produced.
type result struct {
	stdout, stderr string
	code           int
}

// cliRun runs the CLI in-process as "statelite --tables dir --mnt /mnt/sl ARGS…" with
// stdin as standard input.
func cliRun(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	return cliRunAs(t, "statelite", dir, stdin, args...)
}

// cliRunAs runs the CLI in-process with program name prog (a link name such as "tabdump"
// selects that command).
func cliRunAs(t *testing.T, prog, dir, stdin string, args ...string) result {
	t.Helper()
	var o, e bytes.Buffer
	full := append([]string{prog}, args...)
	if dir != "" {
		full = append(full, "--tables", dir, "--mnt", "/mnt/sl")
	}
	code := cli.Main(full, strings.NewReader(stdin), &o, &e)
	return result{o.String(), e.String(), code}
}

// mustRun runs the CLI and fails the test unless it exits 0 with nothing on stderr.
func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := cliRun(t, dir, "", args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("statelite %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// writeTables writes each name → CSV text as DIR/name.csv into a new temporary directory.
func writeTables(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".csv"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readFile returns the content of a file or fails the test.
func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkGolden compares got with testdata/golden/name.golden, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it, then inspect it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s\n--- got ---\n%s--- want ---\n%s", p, got, want)
	}
}

// hasLine reports whether text holds line as one whole line.
func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
