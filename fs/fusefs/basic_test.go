package fusefs

import (
	"strings"
	"testing"
)

func TestMountShowsView(t *testing.T) {
	d := mountDemo(t)
	if got := must(t, "cat", d.p("/etc/motd")); got != conMotd {
		t.Errorf("cat /etc/motd = %q, want the con concatenation %q", got, conMotd)
	}
	if got := must(t, "ls", "-l", d.p("/usr/bin/passwd")); !strings.HasPrefix(got, "-rwsr-xr-x") {
		t.Errorf("ls -l /usr/bin/passwd = %q, want -rwsr-xr-x", got)
	}
	mi := must(t, "grep", " "+d.mnt+" ", "/proc/self/mountinfo")
	for _, w := range []string{"fuse.statelite", "statelite:n1", "default_permissions", "allow_other"} {
		if !strings.Contains(mi, w) {
			t.Errorf("mountinfo %q lacks %q", mi, w)
		}
	}
	t.Log(must(t, "ls", "-la", d.mnt, d.p("/etc")))
}
