package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"statelite/tables"
)

// defaultConfigFile is read when neither --config nor $STATELITE_CONFIG names a file; it
// may be missing.
var defaultConfigFile = "/etc/statelite/statelite.conf"

// configEnv names the config file, as --config does.
const configEnv = "STATELITE_CONFIG"

// notSettings are flags that say what one run does (an action, the object it acts on):
// they come from the command line only, never from the environment or the config file.
var notSettings = map[string]bool{
	"help": true, "version": true, "config": true, "for": true,
	// actions and what they act on
	"new": true, "add": true, "delete": true, "query": true, // makedhcp -n/-a/-d/-q, chtab -d
	"addrows": true, "yes": true, "where": true, "description": true, // tabrestore -a, tabedit -y, tabdump
	"mac": true, "node": true, "uuid": true, "remove": true, "type": true, // nodediscover*
	"from": true, "to": true, "image": true, // plan --from, tabmigrate, lslite -i
	"osver": true, "os": true, "arch": true, "profile": true, "kernel": true, "ref": true, // one image's identity
	"mode": true, "interface": true, "rootimgdir": true, "overwrite": true,
	"message": true, "keep": true, // image commit/update -m, image gc --keep
}

// scopedSettings are settings of one command whose name other commands use for what
// one run does: serve's --name is the server's, image import's the image's; makedhcp's
// --file its DHCP configuration, tabdump's where one dump goes.
var scopedSettings = map[string]string{"name": "serve", "file": "makedhcp"}

// isSetting says whether flag name of cmd is read from the environment and the file.
func isSetting(cmd *cobra.Command, name string) bool {
	if notSettings[name] {
		return false
	}
	if only, ok := scopedSettings[name]; ok {
		return subPath(cmd) == only
	}
	return true
}

// subPath is cmd's path below the root ("serve", "image import").
func subPath(cmd *cobra.Command) string {
	p := cmd.CommandPath()
	if cmd.HasParent() {
		p = strings.TrimPrefix(p, cmd.Root().Name()+" ")
	}
	return p
}

// envName is the environment variable of a flag: STATELITE_ and the flag's name in
// upper case with - as _.
func envName(flag string) string {
	return "STATELITE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// config is the config file of one run and where each setting of the command came from.
type config struct {
	path    string         // the file read (or looked for)
	source  string         // how it was named: "flag", "env STATELITE_CONFIG", "default"
	present bool           // the file exists (a missing default one is fine)
	values  map[string]any // its keys
	sources map[string]string
}

// skipsConfig says whether cmd runs without the config: version and help must work
// whatever the file holds.
func skipsConfig(cmd *cobra.Command) bool {
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		switch n := c.Name(); {
		case n == "version", n == "help", n == "completion", strings.HasPrefix(n, "__complete"):
			return true
		}
	}
	return false
}

// applyConfig gives every flag of cmd not set on its command line its value from the
// environment (STATELITE_<FLAG>), else the config file, else leaves its default:
// flags > environment > file > defaults, for every command alike.
func (e *env) applyConfig(cmd *cobra.Command) error {
	if skipsConfig(cmd) {
		return nil
	}
	c, err := readConfig(cmd)
	if err != nil {
		return err
	}
	e.cfg = c
	src, err := c.apply(cmd, cmd.Flags())
	if err != nil {
		return err
	}
	c.sources = src
	return nil
}

// readConfig finds and reads the config file of this run and checks its keys against
// the flags of every command.
func readConfig(cmd *cobra.Command) (*config, error) {
	c := &config{path: defaultConfigFile, source: "default"}
	if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
		c.path, c.source = f.Value.String(), "flag"
	} else if v := os.Getenv(configEnv); v != "" {
		c.path, c.source = v, "env "+configEnv
	}
	b, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && c.source == "default":
		return c, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config file %s (named by %s) does not exist", c.path, c.describe())
	case err != nil:
		return nil, fmt.Errorf("config file: %w", err)
	}
	c.present = true
	c.values = map[string]any{}
	if _, err := toml.Decode(string(b), &c.values); err != nil {
		return nil, fmt.Errorf("config file %s: %w", c.path, err)
	}
	known := settingNames(cmd.Root())
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case notSettings[k]:
			return nil, fmt.Errorf("config file %s: %s is not a setting (it says what one command does): give it on the command line", c.path, k)
		case !known[k]:
			return nil, fmt.Errorf("config file %s: unknown key %q; the keys are the long flag names: %s", c.path, k, strings.Join(sortedKeys(known), ", "))
		}
		if _, ok := c.values[k].(map[string]any); ok {
			return nil, fmt.Errorf("config file %s: %s is a table ([%s]); settings are plain keys (%s = …)", c.path, k, k, k)
		}
	}
	return c, nil
}

// describe says how the file was named, for messages.
func (c *config) describe() string {
	switch c.source {
	case "flag":
		return "--config"
	case "default":
		return "the default"
	}
	return "$" + configEnv
}

// settingNames are the keys a config file may hold: the long names of every command's
// flags that are settings.
func settingNames(root *cobra.Command) map[string]bool {
	known := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasParent() && skipsConfig(c) {
			return
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if !notSettings[f.Name] {
				known[f.Name] = true
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return known
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// apply sets the flags of flags (cmd's) that the command line did not set from the
// environment or the file, and returns where each flag's value came from: "flag",
// "env STATELITE_…", "file PATH" or "default".
func (c *config) apply(cmd *cobra.Command, flags *pflag.FlagSet) (map[string]string, error) {
	src := map[string]string{}
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		switch {
		case f.Changed:
			src[f.Name] = "flag"
			return
		case f.Name == "config":
			src[f.Name] = c.source
			return
		case !isSetting(cmd, f.Name):
			src[f.Name] = "default"
			return
		}
		if v := os.Getenv(envName(f.Name)); v != "" {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("$%s=%q: %v", envName(f.Name), v, serr)
				return
			}
			src[f.Name] = "env " + envName(f.Name)
			return
		}
		if v, ok := c.values[f.Name]; ok {
			if serr := setFromFile(f, v); serr != nil {
				err = fmt.Errorf("config file %s: %s: %v", c.path, f.Name, serr)
				return
			}
			src[f.Name] = "file " + c.path
			return
		}
		src[f.Name] = "default"
	})
	return src, err
}

// setFromFile sets f to a TOML value: a string, number or boolean as written; an array
// replaces a list flag's values (and is a comma list for other flags).
func setFromFile(f *pflag.Flag, v any) error {
	arr, isArr := v.([]any)
	if !isArr {
		s, err := scalar(v)
		if err != nil {
			return err
		}
		return f.Value.Set(s)
	}
	strs := make([]string, len(arr))
	for i, x := range arr {
		s, err := scalar(x)
		if err != nil {
			return err
		}
		strs[i] = s
	}
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(strs)
	}
	return f.Value.Set(strings.Join(strs, ","))
}

func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("%v (%T): want a string, number, boolean or an array of them", v, v)
}

// source says where flag name's value came from in this run's words: "--state",
// "$STATELITE_STATE", "state in /etc/statelite/statelite.conf", "the default".
func (e *env) source(name string) string {
	s := ""
	if e.cfg != nil {
		s = e.cfg.sources[name]
	}
	switch {
	case s == "flag":
		return "--" + name
	case strings.HasPrefix(s, "env "):
		return "$" + strings.TrimPrefix(s, "env ")
	case strings.HasPrefix(s, "file "):
		return name + " in " + strings.TrimPrefix(s, "file ")
	}
	return "the default --" + name
}

// stateHint says where --state came from and how to name the server's.
func (e *env) stateHint() string {
	return "(named by " + e.source("state") + "; give the server's with --state, $STATELITE_STATE or state in the config file)"
}

// checkTableDir fails when the table directory dir (a store that is not a postgres://
// URL), named by flag, does not exist: a typo must not start an empty store.
func (e *env) checkTableDir(dir, flag string) error {
	if tables.IsPostgresURL(dir) {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("table directory %s does not exist (named by %s); statelite init %s creates a new, empty table store", dir, e.source(flag), dir)
	case err != nil:
		return fmt.Errorf("table store: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("table store %s (named by %s) is not a directory", dir, e.source(flag))
	}
	return nil
}

// Logging.

// choice is a string flag with a fixed set of values.
type choice struct {
	v       *string
	allowed []string
	typ     string
}

func (c *choice) String() string { return *c.v }
func (c *choice) Type() string   { return c.typ }
func (c *choice) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if !slices.Contains(c.allowed, s) {
		return fmt.Errorf("%q is not a %s: want %s or %s", s, c.typ, strings.Join(c.allowed[:len(c.allowed)-1], ", "), c.allowed[len(c.allowed)-1])
	}
	*c.v = s
	return nil
}

// logFlags adds the persistent --log-level and --log-format.
func (e *env) logFlags(root *cobra.Command) {
	e.logLevel, e.logFormat = "info", "text"
	root.PersistentFlags().Var(&choice{&e.logLevel, []string{"debug", "info", "warn", "error"}, "level"}, "log-level", "log messages at this level and above: debug, info, warn or error")
	root.PersistentFlags().Var(&choice{&e.logFormat, []string{"text", "json"}, "format"}, "log-format", "log lines as text (key=value) or json")
}

// logger is the logger of a command: standard error, --log-level, --log-format.
func (e *env) logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch e.logLevel {
	case "debug":
		opts.Level = slog.LevelDebug
	case "warn":
		opts.Level = slog.LevelWarn
	case "error":
		opts.Level = slog.LevelError
	}
	if e.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// configCmd prints the effective settings of a command and where each came from.
func configCmd(e *env) *cobra.Command {
	var forCmd string
	c := &cobra.Command{
		Use:   "config [--for COMMAND]",
		Short: "Print the effective settings (of serve, or --for COMMAND) and where each comes from: flag, environment, config file or default",
		Long: `Print the effective settings of a command (serve, or --for COMMAND) and the flags common
to every command, with where each value comes from. Every flag not given on the command
line comes from the environment (STATELITE_<FLAG>: upper case, - as _), else the config
file (--config, else $STATELITE_CONFIG, else /etc/statelite/statelite.conf, whose keys
are the long flag names), else its default.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			target, rest, err := root.Find(strings.Fields(forCmd))
			if err != nil || len(rest) > 0 || target == root {
				return fmt.Errorf("--for %q: no such command", forCmd)
			}
			cfg := e.cfg
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "SETTING\tVALUE\tSOURCE\n")
			src := cfg.source
			if !cfg.present {
				src += " (no such file)"
			}
			fmt.Fprintf(tw, "config\t%s\t%s\n", cfg.path, src)
			row := func(f *pflag.Flag, s string) {
				if f.Name == "help" || f.Name == "config" {
					return
				}
				if !isSetting(target, f.Name) {
					s += " (not a setting: command line only)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, flagText(f), s)
			}
			// The common flags: set for this run already.
			root.PersistentFlags().VisitAll(func(f *pflag.Flag) { row(f, cfg.sources[f.Name]) })
			local := target.LocalNonPersistentFlags()
			srcs := cfg.sources
			if target != cmd {
				if srcs, err = cfg.apply(target, local); err != nil {
					return err
				}
			}
			local.VisitAll(func(f *pflag.Flag) { row(f, srcs[f.Name]) })
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&forCmd, "for", "serve", "the command whose settings to show (e.g. status, \"image import\")")
	return c
}

// flagText is a flag's value as the config file would hold it.
func flagText(f *pflag.Flag) string {
	s := f.Value.String()
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		s = strings.Join(sv.GetSlice(), ",")
	}
	if s == "" {
		return `""`
	}
	return s
}

// initCmd makes a new, empty table store.
func initCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Make a new, empty table store in DIR (default --tables); refuses a directory that holds tables",
		Long: `Make a new, empty table directory: DIR (default the --tables in force) and its lock file.
Every other command refuses a table directory that does not exist (a typo would
otherwise start an empty store). A directory that already holds tables (<table>.csv)
is refused. A postgres:// store needs no init: its schema is made when first opened.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := e.tablesDir
			if len(args) == 1 {
				dir = args[0]
			}
			if tables.IsPostgresURL(dir) {
				return fmt.Errorf("init %s: a postgres:// store needs no init (its schema is made when first opened; statelite tabmigrate --to URL fills it)", dir)
			}
			if fi, err := os.Stat(dir); err == nil {
				if !fi.IsDir() {
					return fmt.Errorf("init %s: not a directory", dir)
				}
				if csv, _ := filepath.Glob(filepath.Join(dir, "*.csv")); len(csv) > 0 {
					for i := range csv {
						csv[i] = filepath.Base(csv[i])
					}
					return fmt.Errorf("init %s: the directory already holds tables (%s): not making a new store there", dir, strings.Join(csv, ", "))
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			st, err := tables.OpenDir(dir)
			if err != nil {
				return err
			}
			defer st.Close()
			// A load takes the store's lock: the lock file is made.
			if _, err := st.Load(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "New empty table store in %s. Fill it with tabrestore, chtab or tabedit; commands find it with --tables %s, $STATELITE_TABLES or tables = %q in the config file.\n", dir, dir, dir)
			return nil
		},
	}
}
