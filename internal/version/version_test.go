package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.4", Main: debug.Module{Path: "statelite", Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	i := fromBuildInfo(bi, true)
	if i.Version != "dev" || i.Commit != "abc123" || i.Date != "2026-01-02T03:04:05Z" || !i.Modified || i.GoVersion != "go1.26.4" {
		t.Errorf("got %+v", i)
	}
	if s := i.String(); !strings.HasPrefix(s, "statelite dev\ncommit: abc123 (modified)\ndate:   2026-01-02T03:04:05Z\ngo:     go1.26.4 ") {
		t.Errorf("String:\n%s", s)
	}

	// go install statelite/cmd/statelite@v1.2.3: the module version.
	bi.Main.Version = "v1.2.3"
	if i := fromBuildInfo(bi, true); i.Version != "v1.2.3" {
		t.Errorf("installed module: version %q", i.Version)
	}
	// -X statelite/internal/version.Version=1.2.3 wins over the module version.
	defer func(v string) { Version = v }(Version)
	Version = "1.2.3"
	if i := fromBuildInfo(bi, true); i.Version != "1.2.3" {
		t.Errorf("ldflags: version %q", i.Version)
	}
	// No build information at all.
	Version = "dev"
	i = fromBuildInfo(nil, false)
	if i.Version != "dev" || i.Commit != "" || !strings.Contains(i.String(), "commit: unknown\n") {
		t.Errorf("no build info: %+v\n%s", i, i)
	}
}
