package fs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestViewRefusesBadNodeNames: the filesystem's last guard. Tables that bypassed
// validation (the store and the server's reload refuse these names) still never give a
// node a volatile directory outside the state directory: View refuses a node whose name is
// not a host name, and nothing is made for it.
func TestViewRefusesBadNodeNames(t *testing.T) {
	e := newEnv(t, "/var/lib/x/ persistent")
	bad := []string{"../../esc", "a/b", "..", "-rf", "x y", ".hidden", strings.Repeat("a", 254)}
	nl := hdrNodelist + `"n1","compute,all",,,,,,,,,,,` + "\n"
	for _, b := range bad {
		nl += `"` + b + `","compute,all",,,,,,,,,,,` + "\n"
	}
	e.setTable("nodelist", nl)
	for _, b := range bad {
		if _, err := e.Srv.View(b); err == nil || !strings.Contains(err.Error(), "node name") {
			t.Errorf("View(%q): %v, want an error naming the node name rule", b, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(e.Dir, "esc")); err == nil {
		t.Errorf("a directory was made outside the state directory")
	}
	vol, _ := os.ReadDir(filepath.Join(e.State, "volatile"))
	for _, d := range vol {
		t.Errorf("volatile directory %q made for a refused node", d.Name())
	}
	mustWrite(t, e.view("n1"), "/var/lib/x/f", "ok")
}
