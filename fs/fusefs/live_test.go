package fusefs

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"statelite/resolver"
	"statelite/tables"
)

// editLitefile rewrites the litefile table through the store, keeping the rows keep
// accepts and appending add (image, file, options).
func editLitefile(t *testing.T, st *tables.DirStore, keep func(file string) bool, add ...[3]string) *tables.Snapshot {
	t.Helper()
	snap, err := st.Edit(context.Background(), func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		old := cur.Table("litefile")
		lf := old.Clone()
		lf.Rows = nil
		for i, r := range old.Rows {
			if keep(old.Get(i, "file")) {
				lf.Rows = append(lf.Rows, r)
			}
		}
		for _, a := range add {
			r := lf.NewRow()
			for j, col := range []string{"image", "file", "options"} {
				r.Cells[lf.Schema.Col(col)] = tables.Val(a[j])
			}
			lf.Rows = append(lf.Rows, r)
		}
		return map[string]*tables.Table{"litefile": lf}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestLiveTableChange(t *testing.T) {
	d := mountDemo(t)
	if got := must(t, "cat", d.p("/etc/motd")); got != conMotd {
		t.Fatalf("motd before = %q", got)
	}
	// A shell that lives in /etc across the change.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sh := exec.CommandContext(ctx, "sh", "-c", `cd "$1" && cat motd && read x && pwd -P && read y && cat motd && ls ssh`, "sh", d.p("/etc"))
	stdin, _ := sh.StdinPipe()
	pipe, _ := sh.StdoutPipe()
	sh.Stderr = testWriter{t}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(pipe)
	var first string
	for range strings.Count(conMotd, "\n") {
		l, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		first += l
	}
	if first != conMotd {
		t.Errorf("shell's first cat = %q", first)
	}
	before := strings.TrimSpace(must(t, "stat", "-c", "%i %s", d.p("/etc/motd")))

	// Drop the con row: /etc/motd becomes the image's file.
	snap := editLitefile(t, d.store, func(f string) bool { return f != "/etc/motd" })
	d.srv.SetResolver(resolver.New(snap, d.rcfg))
	d.m.Invalidate()

	// The shell's working directory survives (its name did not change identity); it
	// asks first, before anything else looks /etc up again.
	io.WriteString(stdin, "\n")
	if l, err := out.ReadString('\n'); err != nil || l != d.p("/etc")+"\n" {
		t.Errorf("pwd -P in /etc after the change: %q, %v", l, err)
	}
	a, err := d.view.Getattr("/etc/motd")
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatUint(a.FileID, 10) + " " + strconv.Itoa(len(imageMotd))
	// Within the 1 s attribute timeout: only the invalidation makes the kernel ask again.
	if got := strings.TrimSpace(must(t, "stat", "-c", "%i %s", d.p("/etc/motd"))); got != want {
		t.Errorf("stat /etc/motd after the change = %q, want %q (before: %q)", got, want, before)
	}
	if got := must(t, "cat", d.p("/etc/motd")); got != imageMotd {
		t.Errorf("motd after the change = %q, want %q", got, imageMotd)
	}
	io.WriteString(stdin, "\n")
	stdin.Close()
	rest, _ := io.ReadAll(out)
	if err := sh.Wait(); err != nil {
		t.Errorf("shell in /etc across the change: %v", err)
	}
	if want := imageMotd + "sshd_config\n"; string(rest) != want {
		t.Errorf("shell in /etc after the change printed %q, want %q", rest, want)
	}

	// Back again, and a directory that changes class: /opt/app/ from ro to tmpfs.
	snap = editLitefile(t, d.store, func(f string) bool { return f != "/opt/app/" },
		[3]string{"ALL", "/etc/motd", "con"}, [3]string{"ALL", "/opt/app/", "tmpfs"})
	mustFail(t, "Read-only file system", "touch", d.p("/opt/app/new"))
	d.srv.SetResolver(resolver.New(snap, d.rcfg))
	d.m.Invalidate()
	if got := must(t, "cat", d.p("/etc/motd")); got != conMotd {
		t.Errorf("motd after restoring the con row = %q", got)
	}
	must(t, "touch", d.p("/opt/app/new"))
	if got := must(t, "ls", d.p("/opt/app")); got != "app.cfg\nnew\n" {
		t.Errorf("/opt/app after it became tmpfs: %q", got)
	}
}

func TestInvalidateUnchangedAndForget(t *testing.T) {
	d := mountDemo(t)
	must(t, "find", d.mnt)
	must(t, "sh", "-c", "echo x > "+d.p("/tmp/f"))
	known := d.m.known()
	if known < 40 {
		t.Errorf("after find the mount tracks %d inodes", known)
	}
	// Nothing changed: everything still answers, nothing is lost.
	d.m.Invalidate()
	d.m.Invalidate()
	if got := must(t, "cat", d.p("/tmp/f")); got != "x\n" {
		t.Errorf("/tmp/f after Invalidate = %q", got)
	}
	if r := run(t, "find", d.mnt); r.err != nil || r.stderr != "" {
		t.Errorf("find after Invalidate: %v\n%s", r.err, r)
	}
	// When the kernel forgets inodes (here: removed files), the file id map forgets
	// them too.
	must(t, "sh", "-c", `mkdir "$1" && cd "$1" && for i in $(seq 100); do echo $i > f$i; done && cat f* > /dev/null`, "sh", d.p("/tmp/many"))
	known = d.m.known()
	must(t, "rm", "-r", d.p("/tmp/many"))
	if !eventually(5*time.Second, func() bool { return d.m.known() <= known-100 }) {
		t.Errorf("after rm of 101 objects the mount still tracks %d of %d inodes", d.m.known(), known)
	}
	d.m.Invalidate()
	if got := must(t, "cat", d.p("/tmp/f")); got != "x\n" {
		t.Errorf("/tmp/f after the kernel forgot it = %q", got)
	}
}

// TestInvalidateUnderLoad flips the tables and invalidates while tools work in the mount:
// nothing may hang, and the tools' own work in /tmp must not fail.
func TestInvalidateUnderLoad(t *testing.T) {
	d := mountDemo(t)
	withCon, err := d.store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	without := editLitefile(t, d.store, func(f string) bool { return f != "/etc/motd" })
	rWith, rWithout := resolver.New(withCon, d.rcfg), resolver.New(without, d.rcfg)

	stop := make(chan struct{})
	flips := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				flips <- n
				return
			default:
			}
			if n%2 == 0 {
				d.srv.SetResolver(rWithout)
			} else {
				d.srv.SetResolver(rWith)
			}
			d.m.Invalidate()
			n++
			time.Sleep(5 * time.Millisecond)
		}
	}()
	script := `set -e
for i in 1 2 3 4 5 6 7 8; do
  mkdir -p "$1/tmp/w$2/d$i"
  echo "$i" > "$1/tmp/w$2/d$i/f"
  cp -a "$1/etc/ssh" "$1/tmp/w$2/d$i/ssh"
  test "$(cat "$1/tmp/w$2/d$i/f")" = "$i"
  cat "$1/etc/motd" > /dev/null
  ls -lR "$1/etc" > /dev/null
  mv "$1/tmp/w$2/d$i" "$1/tmp/w$2/e$i"
done
rm -r "$1/tmp/w$2"`
	errs := make(chan string, 4)
	for w := range 4 {
		go func() {
			r := run(t, "sh", "-c", script, "sh", d.mnt, strconv.Itoa(w))
			if r.err != nil {
				errs <- r.err.Error() + "\n" + r.String()
			} else {
				errs <- ""
			}
		}()
	}
	for range 4 {
		if e := <-errs; e != "" {
			t.Errorf("worker: %s", e)
		}
	}
	close(stop)
	t.Logf("%d table switches with invalidation during the run", <-flips)
	if r := run(t, "find", d.mnt); r.err != nil || r.stderr != "" {
		t.Errorf("find after the run: %v\n%s", r.err, r)
	}
}
