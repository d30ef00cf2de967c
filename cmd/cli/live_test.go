package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"statelite/cmd/cli"
	"statelite/internal/demo"
	"statelite/internal/need"
)

// liveServer is `statelite serve` running in-process over a demo cluster.
type liveServer struct {
	tables, state, mnt string
	stderr             *syncBuffer
	stop               func()
}

func startServe(t *testing.T) *liveServer {
	t.Helper()
	if os.Geteuid() != 0 {
		need.Skip(t, "the views chown new files to their callers: run as root")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cl, err := demo.Build(ctx, filepath.Join(t.TempDir(), "demo"))
	if err != nil {
		t.Fatal(err)
	}
	ls := &liveServer{tables: cl.Tables, state: filepath.Join(cl.Dir, "server-state"), mnt: filepath.Join(cl.Dir, "mnt"), stderr: &syncBuffer{}}
	done := make(chan error, 1)
	go func() {
		root := cli.NewRoot(strings.NewReader(""), &syncBuffer{}, ls.stderr)
		root.SetArgs([]string{"--tables", ls.tables, "--mnt", ls.mnt, "serve", "--state", ls.state, "--nfs", "127.0.0.1:0"})
		done <- root.ExecuteContext(ctx)
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(ls.stderr.String(), "msg=serving"); {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the server did not start:\n%s", ls.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	ls.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("serve did not stop")
			}
		})
	}
	t.Cleanup(func() {
		ls.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", ls.stderr.String())
		}
	})
	return ls
}

// run runs the CLI against the server's tables and state.
func (ls *liveServer) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	for _, a := range args {
		if a == "--state" {
			return cliRunMnt(t, ls.tables, ls.mnt, stdin, args...)
		}
	}
	switch args[0] {
	case "status", "history", "rollback", "plan", "reset":
		args = append(args, "--state", ls.state)
	}
	return cliRunMnt(t, ls.tables, ls.mnt, stdin, args...)
}

func cliRunMnt(t *testing.T, tabs, mnt, stdin string, args ...string) result {
	t.Helper()
	var o, e syncBuffer
	code := cli.Main(append([]string{"statelite", "--tables", tabs, "--mnt", mnt}, args...), strings.NewReader(stdin), &o, &e)
	return result{o.String(), e.String(), code}
}

// status returns the server's status file.
func (ls *liveServer) status(t *testing.T) map[string]any {
	t.Helper()
	r := ls.run(t, "", "status", "--json")
	if r.code != 0 {
		t.Fatalf("status --json: exit %d %s", r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitStatus waits up to two seconds until cond holds for the status.
func (ls *liveServer) waitStatus(t *testing.T, what string, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m := ls.status(t)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(m, "", "  ")
			t.Fatalf("%s: status never got there:\n%s", what, b)
		}
	}
}

func gen(m map[string]any) int { f, _ := m["generation"].(float64); return int(f) }

// TestServeStatusHistoryRollback: a running server records each accepted generation
// with its author and diff, reports rejected edits and boots in `statelite status`, and
// `statelite rollback` writes an old generation back through the store.
func TestServeStatusHistoryRollback(t *testing.T) {
	ls := startServe(t)
	m := ls.status(t)
	if gen(m) != 1 || m["who"] != "found at server start" || !m["running"].(bool) {
		t.Fatalf("status at start: %v", m)
	}
	orig := ls.run(t, "", "tabdump", "litefile").stdout

	// An edit through the CLI: recorded with its author and command.
	if r := ls.run(t, "", "chtab", "image=ALL,file=/etc/ntp.conf", "litefile.options=persistent"); r.code != 0 {
		t.Fatalf("chtab: %+v", r)
	}
	m = ls.waitStatus(t, "chtab", func(m map[string]any) bool { return gen(m) == 2 })
	if who, _ := m["who"].(string); !strings.Contains(who, "statelite chtab image=ALL,file=/etc/ntp.conf litefile.options=persistent") {
		t.Errorf("who = %q", who)
	}

	// A broken hand edit: rejected, shown as pending with table, line and reason; the
	// generation in force stays.
	lf := filepath.Join(ls.tables, "litefile.csv")
	b, _ := os.ReadFile(lf)
	broken := strings.Replace(string(b), `"ALL","/etc/adjtime",,,`, `"ALL","/etc/adjtime","tmpfs,ro",,`, 1)
	if broken == string(b) {
		t.Fatalf("litefile lacks /etc/adjtime:\n%s", b)
	}
	os.WriteFile(lf, []byte(broken), 0o644)
	ls.waitStatus(t, "broken edit", func(m map[string]any) bool { return m["pending"] != nil })
	st := ls.run(t, "", "status").stdout
	for _, want := range []string{"generation:  2 in force", "PENDING:", `litefile.csv line 2: option "tmpfs,ro"`, "rejected edits (oldest first):"} {
		if !strings.Contains(st, want) {
			t.Errorf("status lacks %q:\n%s", want, st)
		}
	}
	if r := ls.run(t, "", "plan"); r.code != 1 || !strings.Contains(r.stderr, `option "tmpfs,ro"`) {
		t.Errorf("plan of the broken store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Rolling back to generation 2 undoes the broken edit: no new generation.
	r := ls.run(t, "", "rollback", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "Tables of generation 2 written back") || !strings.Contains(r.stdout, "No table changes.") {
		t.Fatalf("rollback 2: %+v", r)
	}
	m = ls.waitStatus(t, "rollback 2", func(m map[string]any) bool { return m["pending"] == nil })
	if gen(m) != 2 {
		t.Errorf("generation %d after undoing a rejected edit, want 2", gen(m))
	}

	// Rolling back to generation 1: a new generation with generation 1's tables.
	r = ls.run(t, "", "rollback", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "n1,n2: /etc/ntp.conf persistent → tmpfs,rw") {
		t.Fatalf("rollback 1: %+v", r)
	}
	m = ls.waitStatus(t, "rollback 1", func(m map[string]any) bool { return gen(m) > 2 })
	if got := ls.run(t, "", "tabdump", "litefile").stdout; got != orig {
		t.Errorf("litefile after rollback 1:\n%s\nwant\n%s", got, orig)
	}
	if who, _ := m["who"].(string); !strings.Contains(who, "statelite rollback") {
		t.Errorf("who = %q", who)
	}
	hist := ls.run(t, "", "history").stdout
	lines := strings.Split(strings.TrimSpace(hist), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "found at server start") || !strings.Contains(lines[2], "litefile +0 -0 ~1") || !strings.Contains(lines[3], "statelite rollback") {
		t.Errorf("history:\n%s", hist)
	}
	g := regexp.MustCompile(`^(\d+)\s`).FindStringSubmatch(lines[3])
	detail := ls.run(t, "", "history", g[1]).stdout
	if !strings.Contains(detail, `~ "ALL","/etc/ntp.conf","persistent",,`) || !strings.Contains(detail, `→ "ALL","/etc/ntp.conf",,,`) {
		t.Errorf("history %s:\n%s", g[1], detail)
	}
	if r := ls.run(t, "", "rollback", "1"); r.code != 0 || !strings.Contains(r.stdout, "already hold generation 1's content") {
		t.Errorf("rollback to the content in force: %+v", r)
	}

	// A boot (reset) is recorded per node.
	if r := ls.run(t, "", "reset", "n1"); r.code != 0 {
		t.Fatalf("reset: %+v", r)
	}
	ls.waitStatus(t, "reset", func(m map[string]any) bool { b, _ := m["boots"].(map[string]any); return b["n1"] != nil })
	st = ls.run(t, "", "status").stdout
	if !regexp.MustCompile(`(?m)^  n1 +\d{4}-\d\d-\d\d [0-9:]+ \(volatile epoch 2, image /\S+ working copy\)$`).MatchString(st) || !regexp.MustCompile(`(?m)^  n2 +none recorded$`).MatchString(st) {
		t.Errorf("status boots:\n%s", st)
	}

	ls.stop()
	if m := ls.status(t); m["running"].(bool) {
		t.Errorf("status after stop: running")
	}
	if !strings.Contains(ls.stderr.String(), `msg="table change rejected: the last good tables stay in force" table=litefile line=2 reason="option \"tmpfs,ro\"`) {
		t.Errorf("the log lacks the rejection with table, line and reason:\n%s", ls.stderr.String())
	}
}
