package boot

import (
	"strings"
	"testing"

	"statelite/resolver"
	"statelite/tables"
)

// FuzzRender renders n1's configuration for every loader from tables whose values that
// flow into it are fuzzed (chain.currstate, statelite.statemnt and mntopts,
// bootparams.addkcmdline and the nodepos.rack its placeholder names, noderes.nfsserver,
// site.xcatdport, the boot token). It checks that rendering never panics and that no
// value adds a line or another command: the configuration has the lines, and each line
// the directive and the loader's special characters, of the same configuration rendered
// from plain values.
func FuzzRender(f *testing.F) {
	f.Add("statelite rhels8.6-x86_64-compute", "nolock,tcp", "10.0.0.1:/statelite", "rd.shell R::rhgb #NODEATTRIB:nodepos:rack#", "r07", "10.0.0.2", "3001", "20261125T210305Z")
	f.Add("boot", "", "", "", "", "", "", "")
	fx := newFixture(f, 100, nil)
	base := clusterTables()
	for k, v := range base {
		v = strings.ReplaceAll(v, "@INSTALL@", fx.install)
		base[k] = strings.ReplaceAll(v, "@IMGDIR@", fx.imgdir)
	}
	lookup := func(host string) (string, error) { return host, nil } // any name "resolves" to itself
	render := func(t *testing.T, edit map[string]map[string]map[string]string, token string) ([][]byte, []error) {
		tabs := map[string]*tables.Table{}
		for name, text := range base {
			tab, err := tables.Parse(name, strings.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			for key, vals := range edit[name] {
				tab.SetRow(key, vals)
			}
			tabs[name] = tab
		}
		r := resolver.New(tables.NewSnapshot(1, tabs), resolver.Config{Mnt: "/mnt/sl"})
		set := goldenSettings
		set.Token, set.LookupIP = token, lookup
		var outs [][]byte
		var errs []error
		for _, l := range []Loader{PXELinux, Grub2, IPXE} {
			b, err := Render(r, "n1", l, set)
			outs, errs = append(outs, b), append(errs, err)
		}
		return outs, errs
	}
	f.Fuzz(func(t *testing.T, cs, mntopts, statemnt, addk, rack, nfsserver, port, token string) {
		edit := func(cs, mntopts, statemnt, addk, rack, nfsserver, port string) map[string]map[string]map[string]string {
			return map[string]map[string]map[string]string{
				"chain":      {"n1": {"currstate": cs}},
				"statelite":  {"compute": {"statemnt": statemnt, "mntopts": mntopts}},
				"bootparams": {"n1": {"addkcmdline": addk}},
				"nodepos":    {"n1": {"rack": rack}},
				"noderes":    {"compute": {"nfsserver": nfsserver}},
				"site":       {"xcatdport": {"value": port}},
			}
		}
		outs, errs := render(t, edit(cs, mntopts, statemnt, addk, rack, nfsserver, port), token)
		state, _, _ := strings.Cut(strings.TrimSpace(cs), " ")
		plain, perrs := render(t, edit(state, "m", "s", "a", "r", "10.0.0.2", "1"), "t")
		for i, l := range []Loader{PXELinux, Grub2, IPXE} {
			if errs[i] != nil || perrs[i] != nil {
				if errs[i] != nil && strings.Contains(errs[i].Error(), "\n") {
					t.Fatalf("%s: the error holds a line break: %q", l, errs[i])
				}
				continue
			}
			got, want := strings.Split(string(outs[i]), "\n"), strings.Split(string(plain[i]), "\n")
			if len(got) != len(want) {
				t.Fatalf("%s: %d lines, %d from plain values:\n%s", l, len(got), len(want), outs[i])
			}
			for j := range got {
				g, w := got[j], want[j]
				if strings.HasPrefix(w, "#") {
					if !strings.HasPrefix(g, "#") {
						t.Fatalf("%s line %d: %q is no comment:\n%s", l, j+1, g, outs[i])
					}
					continue
				}
				if gd, wd := firstWord(g), firstWord(w); gd != wd {
					t.Fatalf("%s line %d: directive %q, want %q:\n%s", l, j+1, gd, wd, outs[i])
				}
				for _, c := range special[l] {
					if strings.Count(g, string(c)) != strings.Count(w, string(c)) {
						t.Fatalf("%s line %d: a value adds %q: %q\n%s", l, j+1, c, g, outs[i])
					}
				}
			}
		}
	})
}

func firstWord(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
