// Package cli is the statelite command line: thin cobra commands over the library packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"statelite/tables"
)

// env holds what every command shares: flags and the standard streams.
type env struct {
	tablesDir string
	mnt       string
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	command   string // the command line being run, recorded with table edits
	st        tables.Store
	cfg       *config // the config file and where each setting came from (config.go)
	logLevel  string  // --log-level
	logFormat string  // --log-format
}

// exitError carries an exit code through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// store opens the table store named by --tables: a directory or a postgres:// URL. The
// store is opened once per command and closed when the command ends.
func (e *env) store() (tables.Store, error) {
	if e.st != nil {
		return e.st, nil
	}
	if tables.IsPostgresURL(e.tablesDir) {
		st, err := tables.OpenPostgres(context.Background(), e.tablesDir)
		if err != nil {
			return nil, err
		}
		st.Author = e.author()
		e.st = st
		return st, nil
	}
	if err := e.checkTableDir(e.tablesDir, "tables"); err != nil {
		return nil, err
	}
	st, err := tables.OpenDir(e.tablesDir)
	if err != nil {
		return nil, err
	}
	st.Author = e.author()
	e.st = st
	return st, nil
}

// closeStore closes the store a command opened.
func (e *env) closeStore() {
	if e.st != nil {
		e.st.Close()
		e.st = nil
	}
}

// load returns the store's tables for a command that uses them. Tables holding a node,
// group or image name that is not a host name (tables.CheckNames: such a name would be a
// path outside the state or image directories) are an error, one line per name.
func (e *env) load(ctx context.Context) (*tables.Snapshot, error) {
	snap, err := e.loadRaw(ctx)
	if err != nil {
		return nil, err
	}
	if probs := tables.CheckNames(snap); len(probs) > 0 {
		return nil, &tables.ValidationError{Problems: probs}
	}
	return snap, nil
}

// loadRaw returns the store's tables as they are, for the commands that show or edit
// them (tabdump, tabedit, plan): the way to see and fix what load refuses.
func (e *env) loadRaw(ctx context.Context) (*tables.Snapshot, error) {
	st, err := e.store()
	if err != nil {
		return nil, err
	}
	return st.Load(ctx)
}

// errorf prints an xCAT-style "Error: …" line on stderr.
func (e *env) errorf(format string, a ...any) {
	fmt.Fprintf(e.stderr, "Error: "+format+"\n", a...)
}

// NewRoot builds the statelite command tree.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "statelite",
		Short:         "Boot diskless nodes from one shared image with per-node writable, volatile and persistent files",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long: `Boot diskless nodes from one shared image with per-node writable, volatile and persistent files.

Every flag not given on the command line comes from the environment (STATELITE_<FLAG>:
upper case, - as _, e.g. STATELITE_STATE), else the config file (--config, else
$STATELITE_CONFIG, else /etc/statelite/statelite.conf; TOML, keys the long flag names),
else its default. statelite config shows what is in force and why.`,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// Every flag not given comes from $STATELITE_<FLAG>, else the config file (config.go).
	root.PersistentFlags().String("config", defaultConfigFile, "config file of settings, keys the long flag names (default $STATELITE_CONFIG, else /etc/statelite/statelite.conf)")
	root.PersistentFlags().StringVar(&e.tablesDir, "tables", "/etc/statelite/tables", "table store: a directory of <table>.csv files or a postgres:// URL")
	root.PersistentFlags().StringVar(&e.mnt, "mnt", "/var/lib/statelite/mnt", "where remote litetree/statemnt exports are mounted (server:/dir is read at MNT/server/dir)")
	e.logFlags(root)
	setVersion(root)
	root.AddCommand(
		tabdumpCmd(e), tabrestoreCmd(e), tabeditCmd(e), chtabCmd(e), nodelsCmd(e),
		litefileCmd(e), ilitefileCmd(e), litetreeCmd(e), lsliteCmd(e), liteimgCmd(e),
		explainCmd(e), installLinksCmd(e), demoCmd(e), mountCmd(e),
	)
	root.AddCommand(serveCmd(e), resetCmd(e), tabmigrateCmd(e))
	root.AddCommand(nodesetCmd(e), makedhcpCmd(e))
	root.AddCommand(bootcfgCmd(e))
	root.AddCommand(statusCmd(e), historyCmd(e), rollbackCmd(e), planCmd(e))
	root.AddCommand(genimageCmd(e), imageCmd(e), driftCmd(e))
	root.AddCommand(discoverCmds(e)...)
	root.AddCommand(configCmd(e), initCmd(e), versionCmd(e))
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		e.command = commandLine(cmd, args)
		return e.applyConfig(cmd)
	}
	root.PersistentPostRun = func(cmd *cobra.Command, args []string) { e.closeStore() }
	return root
}

// Main runs the CLI with args (args[0] is the program name) and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	rest := args[1:]
	base := filepath.Base(args[0])
	for _, c := range LinkCommands {
		if base == c {
			rest = append([]string{c}, rest...)
			break
		}
	}
	root := NewRoot(stdin, stdout, stderr)
	root.SetArgs(rest)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ve *tables.ValidationError
	if errors.As(err, &ve) {
		// One "Error:" line per problem, as an edit's are printed.
		for _, p := range ve.Problems {
			if !p.Warning {
				fmt.Fprintf(stderr, "Error: %s\n", p)
			}
		}
		return 1
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	return 1
}
