package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"statelite/tables"
)

// TestQemuLive is the acceptance test of issue 6's live changes against a real Linux
// client: n1 boots under qemu (TCG) with its root mounted from an in-process `statelite
// serve` with short attribute caching (statelite.mntopts=actimeo=1) and runs
// testdata/qemu/live.sh as its init. The script prints what it sees at a few paths and
// WAITING; the test, streaming the serial console, then changes things on the host
// while the node runs, in two stages, and the script polls every 0.5 s until it sees
// each change ("CHECK <watch> OK"):
//
//   - files, no table change: a litetree source replaced by rename (/opt/app/app.cfg, ro
//     from litetree common), a litetree source rewritten in place (n1's part of the con
//     file /etc/motd), new image files (/etc/live-marker looked up, /srv/live/new-file
//     listed), an image file rewritten in place (/etc/live-image.txt);
//   - once the node saw all that, one table change through the store: new litefile rows
//     (/etc/live-tree.cfg and /srv/live/tree.cfg ro, whose sources were written into
//     litetree common in the first stage: the node must not see them before) and
//     litetree priorities swapped (/etc/motd concatenates common first); the server
//     switches the node's view without a reboot.
//
// The new names in /etc are looked up, never listed there, so the node finds them only
// once it revalidates /etc's attributes: within a second or so with actimeo=1, after
// 30 s or more with the default attribute caching.
//
// It logs how long after each host-side change the node saw it. Skipped like
// TestQemuNFSRoot when tools are missing (failed under CI=true), and in -short mode.
func TestQemuLive(t *testing.T) {
	if testing.Short() && !qemuInCI() {
		t.Skip("a qemu boot with live changes takes about 30 s; skipped in -short mode")
	}
	qemuTools(t)
	boot := qemuBuild(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, cl := qemuCluster(ctx, t)
	script, err := os.ReadFile(filepath.Join("testdata", "qemu", "live.sh"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite := func(p, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(filepath.Join(cl.Root, "sbin", "statelite-live"), string(script))
	if err := os.Chmod(filepath.Join(cl.Root, "sbin", "statelite-live"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(filepath.Join(cl.Root, "etc", "live-image.txt"), "image v1\n")
	mustWrite(filepath.Join(cl.Root, "srv", "live", "old-file"), "listed from the start\n")

	srv := qemuServe(ctx, t, cl, filepath.Join(dir, "srvstate"))
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.log())
		}
	}()

	// The stages: what the host changes, and the watches of live.sh that must then see it.
	fileWatches := []string{"live_litetree", "live_con", "live_image_new", "live_image_edit", "live_ls_image"}
	tableWatches := []string{"live_table", "live_ls_table", "live_table_con"}
	changeFiles := func() {
		// ro from litetree common, replaced by rename as editors do (a new inode).
		app := filepath.Join(cl.Tree, "common", "opt", "app", "app.cfg")
		mustWrite(app+".new", "threads=8\n")
		if err := os.Rename(app+".new", app); err != nil {
			t.Fatal(err)
		}
		// n1's part of the con file /etc/motd, rewritten in place.
		mustWrite(filepath.Join(cl.Tree, "n1", "etc", "motd"), "n1's new notice.\n")
		// The image: a new file and an existing one rewritten in place.
		mustWrite(filepath.Join(cl.Root, "etc", "live-marker"), "a new image file\n")
		mustWrite(filepath.Join(cl.Root, "etc", "live-image.txt"), "image v2\n")
		mustWrite(filepath.Join(cl.Root, "srv", "live", "new-file"), "a new image file\n")
		// The sources of the litefile rows of the next stage: no entry serves them yet.
		mustWrite(filepath.Join(cl.Tree, "common", "etc", "live-tree.cfg"), "from litetree common by a new litefile row\n")
		mustWrite(filepath.Join(cl.Tree, "common", "srv", "live", "tree.cfg"), "listed once a litefile row says so\n")
	}
	changeTables := func() {
		st, err := tables.OpenDir(cl.Tables)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
			lf := cur.Table("litefile").Clone()
			add, err := tables.Parse("litefile", strings.NewReader("#image,file,options,comments,disable\n"+
				`"ALL","/etc/live-tree.cfg","ro",,`+"\n"+`"ALL","/srv/live/tree.cfg","ro",,`+"\n"))
			if err != nil {
				return nil, err
			}
			lf.Rows = append(lf.Rows, add.Rows...)
			lt := cur.Table("litetree").Clone()
			for i := range lt.Rows {
				if lt.Get(i, "priority") == "1" {
					lt.Rows[i].Cells[lt.Schema.Col("priority")] = tables.Val("3")
				}
			}
			return map[string]*tables.Table{"litefile": lf, "litetree": lt}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Boot, and follow the console line by line.
	bootStart := time.Now()
	g := qemuStream(ctx, t, boot, srv.port, "n1", "live",
		"statelite.init=/sbin/statelite-live", "statelite.mntopts=actimeo=1", "statelite.livetimeout=40")
	type line = qemuLine

	var (
		console              strings.Builder
		waiting              time.Time // WAITING on the console
		filesAt, tablesAt    time.Time // the host's changes done
		seen                 = map[string]time.Time{}
		seenUptime           = map[string]string{}
		early                []string // table watches that changed before the table change
		fallback             <-chan time.Time
		filesDone, tableDone bool
	)
	stageDone := func(ws []string) bool {
		for _, w := range ws {
			if _, ok := seen[w]; !ok {
				return false
			}
		}
		return true
	}
	doTables := func() {
		changeTables()
		tablesAt = time.Now()
		t.Logf("+%.1f s: tables changed (two litefile rows, litetree priorities)", tablesAt.Sub(bootStart).Seconds())
		tableDone = true
	}
	okRE := regexp.MustCompile(`CHECK (live_\w+) OK \(uptime ([0-9.]+)s`)
	liveNowRE := regexp.MustCompile(`LIVE (live_\w+) now `)
	handle := func(l line) {
		console.WriteString(l.text)
		text := qemuClean([]byte(l.text))
		if strings.HasPrefix(text, "WAITING") && waiting.IsZero() {
			waiting = l.at
			t.Logf("+%.1f s: the node waits (%s)", waiting.Sub(bootStart).Seconds(), strings.TrimSpace(text))
			changeFiles()
			filesAt = time.Now()
			filesDone = true
			t.Logf("+%.1f s: files changed (litetree sources, image files)", filesAt.Sub(bootStart).Seconds())
			fallback = time.After(20 * time.Second)
		}
		if m := liveNowRE.FindStringSubmatch(text); m != nil && !tableDone && (m[1] == "live_table" || m[1] == "live_ls_table") {
			early = append(early, strings.TrimSpace(text))
		}
		if m := okRE.FindStringSubmatch(text); m != nil {
			seen[m[1]], seenUptime[m[1]] = l.at, m[2]
		}
		if filesDone && !tableDone && stageDone(fileWatches) {
			doTables()
		}
	}
follow:
	for {
		select {
		case l, ok := <-g.lines:
			if !ok {
				break follow
			}
			handle(l)
		case <-fallback:
			fallback = nil
			if !tableDone {
				t.Errorf("the node did not see every file change within 20 s; changing the tables all the same")
				doTables()
			}
		}
	}
	runErr := g.wait()
	out := []byte(console.String())
	os.WriteFile(filepath.Join(dir, "live.console.log"), out, 0o644)
	res := qemuParse(out)

	failed := false
	errorf := func(format string, a ...any) {
		t.Errorf(format, a...)
		failed = true
	}
	if waiting.IsZero() {
		errorf("the node never printed WAITING")
	}
	for _, f := range res.fail {
		errorf("CHECK %s", f)
	}
	for _, w := range append(append([]string{}, fileWatches...), tableWatches...) {
		if !res.ok[w+"_before"] && !res.failed[w+"_before"] {
			errorf("check %s_before did not run", w)
		}
		if !res.ok[w] && !res.failed[w] {
			errorf("check %s did not run", w)
		}
	}
	if len(early) > 0 {
		errorf("the node saw the new litefile row's source before the table change: %q", early)
	}
	if !res.alldone {
		errorf("no ALLDONE on the console (qemu: %v)", runErr)
	}
	// The root is mounted with the short attribute caching asked for.
	if m := regexp.MustCompile(`BOOT root (.*)`).FindStringSubmatch(qemuClean(out)); m == nil {
		errorf("no BOOT root line on the console")
	} else {
		t.Logf("the node's root: %s", strings.TrimSpace(m[1]))
		for _, o := range []string{"acregmin=1", "acregmax=1", "acdirmin=1", "acdirmax=1"} {
			if !strings.Contains(m[1], o) {
				errorf("the node's root is mounted without %s: %s", o, m[1])
			}
		}
	}
	t.Logf("boot: %.1f s wall, root mounted at guest uptime %ss, done at %ss", time.Since(bootStart).Seconds(), res.mounted, res.done)
	for _, st := range []struct {
		name string
		at   time.Time
		ws   []string
	}{{"file change", filesAt, fileWatches}, {"table change", tablesAt, tableWatches}} {
		for _, w := range st.ws {
			if at, ok := seen[w]; ok && !st.at.IsZero() {
				t.Logf("%-16s seen %.2f s after the %s (guest uptime %ss)", w, at.Sub(st.at).Seconds(), st.name, seenUptime[w])
			}
		}
	}
	if m := regexp.MustCompile(`msg="tables switched".*`).FindString(srv.log()); m != "" {
		t.Logf("server: %s", m)
	}
	if failed {
		t.Logf("console:\n%s", qemuClean(out))
	}
}
