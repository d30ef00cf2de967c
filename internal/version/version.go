// Package version says which statelite this is: the version set at build time, the
// commit and its date, and the Go that built it, from the binary's build information.
// It imports nothing of statelite, so every package may use it (the CLI's
// `statelite version`, the server's statelite_build_info metric).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
)

// Version is the release, set when building:
//
//	go build -ldflags "-X statelite/internal/version.Version=1.2.3" ./cmd/statelite
//
// Left at "dev", Get reports the module version when the binary was installed with
// `go install statelite/cmd/statelite@v1.2.3`.
var Version = "dev"

// Commit and Date override the VCS revision and its time that the Go toolchain records
// (for builds outside a git checkout, such as from a source tarball):
//
//	-ldflags "-X statelite/internal/version.Commit=abc123 -X statelite/internal/version.Date=2026-01-02T03:04:05Z"
var (
	Commit = ""
	Date   = ""
)

// Info describes the running binary. Empty fields are unknown.
type Info struct {
	Version   string // "1.2.3", or "dev"
	Commit    string // the VCS revision (vcs.revision), or Commit
	Date      string // the revision's commit time, RFC 3339 (vcs.time), or Date
	Modified  bool   // built from a tree with uncommitted changes (vcs.modified)
	GoVersion string // "go1.26.4"
	Platform  string // "linux/amd64"
}

// Get returns the running binary's Info.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	return fromBuildInfo(bi, ok)
}

func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	i := Info{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if ok && bi != nil {
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		if (i.Version == "" || i.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Commit = s.Value
			case "vcs.time":
				i.Date = s.Value
			case "vcs.modified":
				i.Modified, _ = strconv.ParseBool(s.Value)
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if Commit != "" {
		i.Commit = Commit
	}
	if Date != "" {
		i.Date = Date
	}
	return i
}

// String is the text of `statelite version`: the version on the first line, then one
// "key: value" line each for the commit, its date and the Go toolchain.
func (i Info) String() string {
	commit := orUnknown(i.Commit)
	if i.Modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("statelite %s\ncommit: %s\ndate:   %s\ngo:     %s %s\n", i.Version, commit, orUnknown(i.Date), i.GoVersion, i.Platform)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
