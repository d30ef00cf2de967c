package server

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	id     string
	point  string   // mount point
	opts   []string // per-mount options (nosuid, nodev, … live here)
	fstype string
	source string
}

// parseMountinfo reads the mounts of /proc/self/mountinfo (proc(5)), in their order.
func parseMountinfo(r io.Reader) []mountEntry {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := slices.Index(f, "-")
		if len(f) < 6 || sep < 6 || len(f) < sep+3 {
			continue
		}
		out = append(out, mountEntry{id: f[0], point: unescapeMount(f[4]), opts: strings.Split(f[5], ","), fstype: f[sep+1], source: unescapeMount(f[sep+2])})
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for a space…) of mountinfo fields.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			o := s[i+1 : i+4]
			if o[0] >= '0' && o[0] <= '3' && o[1] >= '0' && o[1] <= '7' && o[2] >= '0' && o[2] <= '7' {
				b.WriteByte((o[0]-'0')<<6 | (o[1]-'0')<<3 | (o[2] - '0'))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf returns the mount holding dir: the longest mount point that is dir or one of
// its parents (the last such line when several mounts share the point: the top one).
func mountOf(mounts []mountEntry, dir string) (mountEntry, bool) {
	best, found := mountEntry{}, false
	for _, m := range mounts {
		if m.point != "/" && dir != m.point && !strings.HasPrefix(dir, m.point+"/") {
			continue
		}
		if !found || len(m.point) >= len(best.point) {
			best, found = m, true
		}
	}
	return best, found
}

// realDir is dir made absolute with its symlinks resolved; a directory not made yet is
// taken as its nearest existing parent would hold it.
func realDir(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	rest := ""
	for cur := dir; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		} else if !errors.Is(err, os.ErrNotExist) {
			return dir
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return dir
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// mountWarning is a filesystem holding node files without nosuid,nodev.
type mountWarning struct {
	point, fstype, source string
	missing               []string
	dirs                  []string
}

// unsafeMounts groups dirs by the filesystem holding them and returns those mounted
// without nosuid or nodev, in the order of dirs.
func unsafeMounts(mounts []mountEntry, dirs []string) []mountWarning {
	var out []mountWarning
	at := map[string]int{} // mount id -> index in out
	for _, d := range dirs {
		m, ok := mountOf(mounts, realDir(d))
		if !ok {
			continue
		}
		var missing []string
		for _, o := range []string{"nosuid", "nodev"} {
			if !slices.Contains(m.opts, o) {
				missing = append(missing, o)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if i, ok := at[m.id]; ok {
			if !slices.Contains(out[i].dirs, d) {
				out[i].dirs = append(out[i].dirs, d)
			}
			continue
		}
		at[m.id] = len(out)
		out = append(out, mountWarning{point: m.point, fstype: m.fstype, source: m.source, missing: missing, dirs: []string{d}})
	}
	return out
}

// warnMounts logs one line per filesystem holding the state directory or a statemnt
// directory that is mounted without nosuid,nodev: the setuid files and device nodes
// nodes make land there (docs/serving.md, "Mounting the node files").
func warnMounts(log *slog.Logger, dirs []string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	mounts := parseMountinfo(f)
	f.Close()
	for _, w := range unsafeMounts(mounts, dirs) {
		logMountWarning(log, w)
	}
}

func logMountWarning(log *slog.Logger, w mountWarning) {
	log.Warn("node files are on a filesystem mounted without "+strings.Join(w.missing, ",")+": mount it nosuid,nodev (docs/serving.md)",
		"mount", w.point, "fstype", w.fstype, "source", w.source, "dirs", strings.Join(w.dirs, ","))
}
