package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// LinkCommands are the commands the binary answers to when invoked through a link of
// that name: every command that has an xCAT name (xCAT's tabdump … liteimg, nodeset,
// genimage, makedhcp and node discovery). TestLinkCommandsExist checks each is a
// command of the CLI.
var LinkCommands = []string{
	"tabdump", "tabrestore", "tabedit", "chtab", "nodels",
	"litefile", "ilitefile", "litetree", "lslite", "liteimg",
	"nodeset", "genimage", "makedhcp",
	"nodediscoverls", "nodediscoverdef", "nodediscoverstart", "nodediscoverstop", "nodediscoverstatus",
}

func installLinksCmd(e *env) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "install-links [--force] DIR",
		Short: "Make links named tabdump, chtab, nodeset, genimage… in DIR that run this binary as that command",
		Long: `install-links makes DIR/<command> a symbolic link to this binary for every command
that has an xCAT name (` + strings.Join(LinkCommands, ", ") + `):
invoked through such a link the binary acts as that command.

A link that is there already is fine, and a link to another statelite binary (an
older install) is updated. Any other file of that name (xCAT's own tabdump, a
script) is left alone and reported, the other links are made all the same, and the
command exits 1 naming them; --force replaces such files (never a directory).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if self, err = filepath.Abs(self); err != nil {
				return err
			}
			return installLinks(e, args[0], self, force)
		},
	}
	c.Flags().BoolVar(&force, "force", false, "replace files of those names that are not links to statelite (never a directory)")
	return c
}

// installLinks makes dir/<command> -> self for every LinkCommands entry; see
// installLinksCmd.
func installLinks(e *env, dir, self string, force bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	selfInfo, err := os.Stat(self)
	if err != nil {
		return err
	}
	var clashes []string
	for _, c := range LinkCommands {
		l := filepath.Join(dir, c)
		why, err := linkOne(l, self, selfInfo, force)
		if err != nil {
			e.errorf("%s: %v", l, err)
			clashes = append(clashes, c)
			continue
		}
		if why != "" {
			fmt.Fprintf(e.stdout, "%s -> %s (%s)\n", l, self, why)
		} else {
			fmt.Fprintf(e.stdout, "%s -> %s\n", l, self)
		}
	}
	if len(clashes) > 0 {
		return fmt.Errorf("%d of %d links not made, a file of that name being in the way in %s: %s (--force replaces all but directories)",
			len(clashes), len(LinkCommands), dir, strings.Join(clashes, ", "))
	}
	return nil
}

// errClash is a file in the way of a link.
var errClash = errors.New("in the way")

// linkOne makes l a link to self. It returns what it did to a file that was there
// ("" for a new link or one already right), or an error saying why l stays as it is.
func linkOne(l, self string, selfInfo os.FileInfo, force bool) (string, error) {
	fi, err := os.Lstat(l)
	if errors.Is(err, os.ErrNotExist) {
		return "", replaceWithLink(l, self)
	}
	if err != nil {
		return "", err
	}
	why := ""
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, _ := os.Readlink(l)
		if ti, err := os.Stat(l); err == nil && os.SameFile(ti, selfInfo) {
			return "", nil // already right (through whatever path)
		}
		base := filepath.Base(target)
		if base == "statelite" || base == filepath.Base(self) {
			why = "replaced a link to " + target
			break
		}
		if !force {
			return "", fmt.Errorf("%w: a link to %s, not statelite's (--force replaces it)", errClash, target)
		}
		why = "replaced a link to " + target + ", --force"
	case fi.IsDir():
		return "", fmt.Errorf("%w: a directory (never replaced)", errClash)
	default:
		if ti, err := os.Stat(l); err == nil && os.SameFile(ti, selfInfo) {
			return "", fmt.Errorf("%w: the statelite binary itself", errClash)
		}
		if !force {
			return "", fmt.Errorf("%w: a %s, not a link (--force replaces it)", errClash, kindOf(fi))
		}
		why = "replaced a " + kindOf(fi) + ", --force"
	}
	return why, replaceWithLink(l, self)
}

func kindOf(fi os.FileInfo) string {
	if fi.Mode().IsRegular() {
		return "regular file"
	}
	return "file of mode " + fi.Mode().Type().String()
}

// replaceWithLink makes l a symbolic link to target, atomically replacing what is there.
func replaceWithLink(l, target string) error {
	tmp := filepath.Join(filepath.Dir(l), "."+filepath.Base(l)+".statelite-link")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, l); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
