package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

const sampleMountinfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 254:1 / /srv rw,nosuid,nodev,relatime - ext4 /dev/vdb rw
41 40 0:50 / /srv/statemnt rw,nosuid,relatime - nfs fs1:/export/statemnt rw,vers=3
42 40 0:51 / /srv/with\040space rw,nodev - xfs /dev/vdc rw
43 27 0:52 / /var/lib/statelite rw,nosuid,nodev - ext4 /dev/vdd rw
44 27 0:53 / /var/lib/statelite rw - tmpfs tmpfs rw
`

// TestUnsafeMounts: each directory's filesystem is the longest mount point above it
// (the last of mounts stacked on one point), and the filesystems missing nosuid or
// nodev are named once, with their directories.
func TestUnsafeMounts(t *testing.T) {
	mounts := parseMountinfo(strings.NewReader(sampleMountinfo))
	if len(mounts) != 7 || mounts[4].point != "/srv/with space" || mounts[3].fstype != "nfs" || mounts[3].source != "fs1:/export/statemnt" {
		t.Fatalf("parsed %+v", mounts)
	}
	for dir, want := range map[string]string{
		"/":                     "/",
		"/srv":                  "/srv",
		"/srv/statemnt/x":       "/srv/statemnt",
		"/srv/statemntx":        "/srv",
		"/srv/with space/a":     "/srv/with space",
		"/var/lib/statelite/st": "/var/lib/statelite",
	} {
		if m, ok := mountOf(mounts, dir); !ok || m.point != want {
			t.Errorf("mount of %s: %q, want %q", dir, m.point, want)
		}
	}
	if m, _ := mountOf(mounts, "/var/lib/statelite"); m.id != "44" {
		t.Errorf("stacked mounts: got id %s, want the top one 44", m.id)
	}
	// realDir would resolve these on the test host: use paths that do not exist, so
	// they stay as written.
	got := unsafeMounts(mounts, []string{"/var/lib/statelite/nope-st", "/srv/statemnt/nope-a", "/srv/nope-b", "/srv/statemnt/nope-c", "/srv/with space/nope"})
	var b strings.Builder
	for _, w := range got {
		b.WriteString(w.point + " " + strings.Join(w.missing, ",") + " " + strings.Join(w.dirs, ",") + "\n")
	}
	want := "/var/lib/statelite nosuid,nodev /var/lib/statelite/nope-st\n" +
		"/srv/statemnt nodev /srv/statemnt/nope-a,/srv/statemnt/nope-c\n" +
		"/srv/with space nosuid /srv/with space/nope\n"
	if b.String() != want {
		t.Errorf("unsafe mounts:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestWarnMountsLine: the line serve logs, one per filesystem.
func TestWarnMountsLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	for _, w := range unsafeMounts(parseMountinfo(strings.NewReader(sampleMountinfo)), []string{"/srv/statemnt/nope"}) {
		logMountWarning(log, w)
	}
	want := `level=WARN msg="node files are on a filesystem mounted without nodev: mount it nosuid,nodev (docs/serving.md)" mount=/srv/statemnt fstype=nfs source=fs1:/export/statemnt dirs=/srv/statemnt/nope` + "\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}
