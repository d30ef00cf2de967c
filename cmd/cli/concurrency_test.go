package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

// proc is one started statelite process.
type proc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// startAll starts one process of bin per argument list, all before waiting for any,
// then waits for all of them.
func startAll(t *testing.T, ctx context.Context, bin string, argss [][]string) []*proc {
	t.Helper()
	ps := make([]*proc, len(argss))
	for i, args := range argss {
		p := &proc{args: args}
		p.cmd = exec.CommandContext(ctx, bin, args...)
		p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start %v: %v", args, err)
		}
		ps[i] = p
	}
	for _, p := range ps {
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("statelite %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(p.args, " "), err, p.stdout.String(), p.stderr.String())
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("processes did not finish in time: %v", ctx.Err())
	}
	return ps
}

// TestParallelChtabProcesses: 20 chtab processes insert 20 rows at once, with tabdump
// readers running beside them; every row must be there and every process exit 0.
func TestParallelChtabProcesses(t *testing.T) {
	bin := needBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	const n = 20
	var argss [][]string
	for i := 1; i <= n; i++ {
		argss = append(argss, []string{"--tables", dir, "chtab", fmt.Sprintf("node=n%02d", i), "nodelist.groups=all"})
		if i%4 == 0 {
			argss = append(argss, []string{"--tables", dir, "tabdump", "nodelist"})
		}
	}
	for _, p := range startAll(t, ctx, bin, argss) {
		if p.args[2] == "tabdump" && !strings.HasPrefix(p.stdout.String(), nodelistHeader) {
			t.Errorf("concurrent tabdump printed:\n%s", p.stdout.String())
		}
	}
	dump := mustRun(t, dir, "tabdump", "nodelist")
	lines := strings.Split(strings.TrimSuffix(dump, "\n"), "\n")
	if len(lines) != n+1 {
		t.Errorf("tabdump nodelist has %d rows, want %d:\n%s", len(lines)-1, n, dump)
	}
	for i := 1; i <= n; i++ {
		if l := fmt.Sprintf(`"n%02d","all",,,,,,,,,,,`, i); !hasLine(dump, l) {
			t.Errorf("row %q lost:\n%s", l, dump)
		}
	}
	if got := mustRun(t, dir, "nodels", "all"); strings.Count(got, "\n") != n {
		t.Errorf("nodels all:\n%s", got)
	}
}

// TestParallelAppendProcesses: 20 processes each append their own group to one row with
// +=; no update may be lost.
func TestParallelAppendProcesses(t *testing.T) {
	bin := needBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	const n = 20
	var argss [][]string
	var want []string
	for i := 1; i <= n; i++ {
		g := fmt.Sprintf("g%02d", i)
		want = append(want, g)
		argss = append(argss, []string{"--tables", dir, "chtab", "node=shared", "nodelist.groups+=" + g})
	}
	startAll(t, ctx, bin, argss)
	out := mustRun(t, dir, "nodels", "shared", "nodelist.groups")
	v, ok := strings.CutPrefix(strings.TrimSuffix(out, "\n"), "shared: ")
	if !ok {
		t.Fatalf("nodels shared nodelist.groups:\n%s", out)
	}
	got := strings.Split(v, ",")
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("groups of shared = %s, want all of %s", v, strings.Join(want, ","))
	}
	if dump := mustRun(t, dir, "tabdump", "nodelist"); strings.Count(dump, "\n") != 2 {
		t.Errorf("want one row:\n%s", dump)
	}
}
