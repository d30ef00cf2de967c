// Package layers holds checks of the repository as a whole: the rooms of statelite import
// only rooms below them (docs/architecture.md, "The layering"), and the pages link only
// inside the repository. Tests only.
package layers

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// rank orders the rooms: a room imports only rooms of a lower rank.
var rank = map[string]int{
	"statelite/tables":           0,
	"statelite/nfsd/wire":        0, // the protocol: imports nothing of ours
	"statelite/internal/version": 0, // build information: imports nothing of ours
	"statelite/resolver":         1,
	"statelite/fs":               2,
	"statelite/fs/billyfs":       3, // faces of fs
	"statelite/fs/fusefs":        3,
	"statelite/nfsd":             4,
	"statelite/boot":             4,
	"statelite/image":            4,
	"statelite/server":           5,
	"statelite/cmd/cli":          6,
	"statelite/cmd/statelite":    7,
}

// cmdImporters may import cmd/cli: the binary, and the package builder, which writes the
// man pages, the completion and the default config from the commands.
var cmdImporters = map[string]bool{"statelite/cmd/statelite": true, "statelite/packaging": true}

// leaves are imported by any room: system calls, and the demo cluster (cmd's demo).
var leaves = map[string]bool{"statelite/internal/sys": true, "statelite/internal/demo": true}

// TestLayering: cmd → server → nfsd, boot, image → fs → resolver → tables; internal/ and
// bench/ are leaves (bench, testenv, qemutest and pgtest are never imported by a room's
// code, and nothing but the binary imports cmd/). Test files are not looked at: a room's
// tests may use the helpers.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "statelite/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	listed := map[string]bool{}
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		listed[p.ImportPath] = true
		r, room := rank[p.ImportPath]
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, "statelite/") {
				continue
			}
			if strings.HasPrefix(imp, "statelite/cmd/") && !cmdImporters[p.ImportPath] {
				t.Errorf("%s imports %s: only the binary (and packaging, for the commands' man pages and completion) imports cmd/", p.ImportPath, imp)
			}
			if !room || leaves[imp] {
				continue
			}
			ri, isRoom := rank[imp]
			switch {
			case !isRoom:
				t.Errorf("%s imports %s, a helper of tests and tools", p.ImportPath, imp)
			case ri >= r:
				t.Errorf("%s imports %s, a room at its level or above", p.ImportPath, imp)
			}
		}
	}
	for p := range rank {
		if !listed[p] {
			t.Errorf("go list did not list %s", p)
		}
	}
}
