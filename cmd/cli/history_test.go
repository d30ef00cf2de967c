package cli_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// Three chtab runs 30 ms apart while a server follows the store: the server may switch
// its views once, but `statelite history` lists three generations, each with its own
// command and change.
func TestHistoryEachEdit(t *testing.T) {
	ls := startServe(t)
	start := gen(ls.status(t))
	files := []string{"/etc/h1.conf", "/etc/h2.conf", "/etc/h3.conf"}
	for i, f := range files {
		if i > 0 {
			time.Sleep(30 * time.Millisecond)
		}
		if r := ls.run(t, "", "chtab", "image=ALL,file="+f, "litefile.options=persistent"); r.code != 0 {
			t.Fatalf("chtab %s: %+v", f, r)
		}
	}
	ls.waitStatus(t, "three chtab runs", func(m map[string]any) bool {
		who, _ := m["who"].(string)
		return gen(m) > start && strings.Contains(who, files[2])
	})
	hist := ls.run(t, "", "history").stdout
	lines := strings.Split(strings.TrimSpace(hist), "\n")
	if len(lines) != 5 {
		t.Fatalf("history: %d lines, want a header and 4 generations:\n%s", len(lines), hist)
	}
	for i, f := range files {
		l := lines[2+i]
		if !strings.Contains(l, "statelite chtab image=ALL,file="+f+" litefile.options=persistent") || !strings.Contains(l, "litefile +1 -0 ~0") {
			t.Errorf("generation line %d lacks its own command and change:\n%s", i+1, hist)
		}
		g := regexp.MustCompile(`^(\d+)\s`).FindStringSubmatch(l)
		if g == nil {
			t.Fatalf("no generation number in %q", l)
		}
		detail := ls.run(t, "", "history", g[1]).stdout
		if !strings.Contains(detail, `+ "ALL","`+f+`","persistent",,`) || strings.Count(detail, "\n  + ") != 1 {
			t.Errorf("history %s:\n%s", g[1], detail)
		}
	}
	if !strings.Contains(ls.stderr.String(), "edits=3") {
		t.Logf("the server saw the edits apart (a slow machine): the journal was not needed\n%s", ls.stderr.String())
	}
}
