// Command statelite serves diskless nodes their root views and manages xCAT-style tables.
// Invoked through a link named after one of its commands (tabdump, chtab, litefile…)
// it acts as that command.
package main

import (
	"os"

	"statelite/cmd/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
