package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"statelite/internal/version"
)

// versionCmd is `statelite version`; `statelite --version` prints the same (setVersion).
func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print statelite's version, commit, commit date and Go version",
		Long: `Print statelite's version (set at build time with
-ldflags "-X statelite/internal/version.Version=1.2.3", else the module version of
go install, else "dev"), the commit it was built from and its date (from the Go
toolchain's VCS stamp; "(modified)" when the tree had uncommitted changes) and the Go
version and platform.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprint(e.stdout, version.Get().String())
			return nil
		},
	}
}

// setVersion makes `statelite --version` print what `statelite version` does.
func setVersion(root *cobra.Command) {
	v := version.Get()
	root.Version = v.Version
	root.Annotations = map[string]string{"versionText": v.String()}
	root.SetVersionTemplate(`{{index .Annotations "versionText"}}`)
}
