package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	sfs "statelite/fs"
	"statelite/image"
	"statelite/resolver"
	"statelite/server"
	"statelite/tables"
)

// genimageCmd is xCAT's genimage for statelite images (Cookbook §2.6–§2.10).
func genimageCmd(e *env) *cobra.Command {
	var o image.Options
	var mode, nic string
	var commit bool
	c := &cobra.Command{
		Use:   "genimage -o OS [-a ARCH] -p PROFILE [-k KERNELVER] [--postinstall FILE,…]",
		Short: "Build a statelite image root with the distribution's packages, its kernel and an NFS-root initrd",
		Long: `genimage builds the image root <rootimgdir>/rootimg, where <rootimgdir> is
linuximage.rootimgdir of <os>-<arch>-statelite-<profile>, else
<site.installdir>/netboot/<os>/<arch>/<profile>, and records the image's osimage and
linuximage rows.

  debian*, ubuntu* (or a codename)   debootstrap --variant=minbase from the distribution's
                                     mirror (the host's apt source for its own distribution)
  rhels*, rocky*, alma*, centos*, fedora*   dnf --installroot
  sles*                              zypper --root

Package lists, otherpkgs lists and postinstall scripts are found as the Cookbook says: in
<installdir>/custom/netboot/<os>/, then <installdir>/custom/netboot/<family>/ (debian, rh,
sles), then the shipped defaults (statelite image defaults DIR writes them out), each
directory trying <profile>.<os>.<arch>.EXT, <profile>.<arch>.EXT, <profile>.<os>.EXT and
<profile>.EXT, for EXT pkglist, otherpkgs.pkglist, repolist and postinstall. Postinstall
scripts run as "SCRIPT ROOT OS ARCH PROFILE"; one that fails stops genimage with its
output. An existing root is updated (the lists are installed into it).

Then the image's kernel is copied to <rootimgdir>/kernel and <rootimgdir>/initrd-statelite.gz
is built: statelite's busybox initrd with the kernel's NFS and network modules (it mounts
root=nfs:SERVER:PATH:OPTIONS as the boot configurations render it), or the image's
dracut with its nfs module (--initrd dracut; auto picks it when the image has it).

When the image has generations (docs/images.md#generations), the result is committed as a
new one (how: genimage) and made current; --commit makes the first. Running nodes keep the
generation of their boot.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if mode != "" && mode != "statelite" {
				return fmt.Errorf("genimage -m %s: statelite builds statelite images only", mode)
			}
			if nic != "" {
				fmt.Fprintf(e.stderr, "genimage: -i %s: ignored (the initrd uses the interface with BOOTIF's MAC, else the first one)\n", nic)
			}
			return e.genimage(cmd.Context(), o, commit)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.OS, "osver", "o", "", "OS name and version (debian12, ubuntu24.04, rhels9.4, rocky9, sles15.5…)")
	f.StringVarP(&o.Arch, "arch", "a", image.HostArch(), "architecture")
	f.StringVarP(&o.Profile, "profile", "p", "", "profile (compute, service…)")
	f.StringVarP(&o.KernelVer, "kernel", "k", "", "kernel version (or package) to install and boot; default the distribution's current kernel")
	f.StringSliceVar(&o.Pkglist, "pkglist", nil, "package list file(s) instead of the lookup")
	f.StringSliceVar(&o.OtherPkglist, "otherpkglist", nil, "otherpkgs list file(s) instead of the lookup")
	f.StringSliceVar(&o.Postinstall, "postinstall", nil, "postinstall script(s) instead of the lookup, run in order (none: no script)")
	f.StringVar(&o.Mirror, "mirror", "", "Debian/Ubuntu mirror URL (default: the host's apt source for the same distribution, else deb.debian.org / archive.ubuntu.com)")
	f.StringSliceVarP(&o.NetDrivers, "netdrivers", "n", nil, "more kernel modules for the initrd (network drivers)")
	f.StringVar(&o.Initrd, "initrd", "auto", "initrd: busybox (statelite's), dracut (the image's, with its nfs module), or auto")
	f.StringVar(&o.RootImgDir, "rootimgdir", "", "image directory (default linuximage.rootimgdir, else <installdir>/netboot/<os>/<arch>/<profile>)")
	f.BoolVar(&o.NoBoot, "no-boot", false, "do not make the kernel and initrd")
	f.BoolVar(&commit, "commit", false, "commit the result as a generation even when the image has none yet (it does so anyway when it has)")
	f.StringVarP(&mode, "mode", "m", "", "xCAT's provisioning mode: statelite is the only one")
	f.StringVarP(&nic, "interface", "i", "", "xCAT's boot interface (ignored: see the initrd)")
	c.MarkFlagRequired("osver")
	c.MarkFlagRequired("profile")
	return c
}

func (e *env) genimage(ctx context.Context, o image.Options, commit bool) error {
	// They become <installdir>/netboot/<os>/<arch>/<profile> and the image name.
	for _, p := range [][2]string{{"os", o.OS}, {"arch", o.Arch}, {"profile", o.Profile}} {
		if err := tables.CheckName(p[0], p[1]); err != nil {
			return fmt.Errorf("genimage: %v", err)
		}
	}
	snap, err := e.load(ctx)
	if err != nil {
		return err
	}
	o.InstallDir = snap.SiteOr("installdir", "/install")
	name := image.ImageName(o.OS, o.Arch, o.Profile)
	recordDir := o.RootImgDir
	if o.RootImgDir == "" {
		if d, err := resolver.ImageDir(snap, name, ""); err == nil {
			o.RootImgDir = d
		}
	}
	o.Log = e.stdout
	start := time.Now()
	res, err := image.Genimage(ctx, o)
	if err != nil {
		return err
	}
	rec := image.Record{
		Name: res.Name, OS: o.OS, Arch: o.Arch, Profile: o.Profile, RootImgDir: recordDir,
		Pkglist: res.Pkglist, OtherPkglist: res.OtherPkglist, Postinstall: res.Postinstall,
		KernelVer: o.KernelVer, NetDrivers: o.NetDrivers,
	}
	if res.Boot != nil {
		rec.KernelVer = res.Boot.Kernel.Version
	}
	st, err := e.store()
	if err != nil {
		return err
	}
	if _, err := image.Save(ctx, st, rec); err != nil {
		return e.report(nil, err)
	}
	fmt.Fprintf(e.stdout, "genimage: osimage %s recorded; image root %s (%.0f s: packages %.0f s, postinstall %.1f s",
		res.Name, res.Root, time.Since(start).Seconds(), res.InstallTime.Seconds(), res.PostinstallTime.Seconds())
	if res.Boot != nil {
		fmt.Fprintf(e.stdout, ", initrd %.1f s", res.Boot.InitrdTime.Seconds())
	}
	fmt.Fprintf(e.stdout, ")\n")
	if cur, err := image.Current(res.RootImgDir); err != nil {
		return err
	} else if cur > 0 || commit {
		g, err := image.Commit(res.RootImgDir, image.CommitOptions{Message: "genimage " + res.Name, How: image.HowGenimage, Who: e.author()})
		if err != nil {
			return fmt.Errorf("genimage: the image is built, but not committed as a generation: %w", err)
		}
		e.printGen(res.Name, g)
		fmt.Fprintf(e.stdout, "note: %s\n", pinnedPerBoot)
	}
	fmt.Fprintf(e.stdout, "genimage: next: statelite tabrestore <litefile.csv> (statelite image defaults DIR writes the shipped samples), then statelite nodeset NODES osimage=%s\n", res.Name)
	return nil
}

// imageCmd groups the image commands: import, ls, rm, mkboot, defaults.
func imageCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "image",
		Short: "Statelite images: import container images, list, remove, make boot files, write the shipped defaults; generations",
	}
	c.AddCommand(imageImportCmd(e), imageLsCmd(e), imageRmCmd(e), imageMkbootCmd(e), imageDefaultsCmd(e),
		imageCommitCmd(e), imageCheckoutCmd(e), imageUpdateCmd(e), imagePinCmd(e), imageDiffCmd(e), imageGCCmd(e))
	return c
}

var imageNameRE = regexp.MustCompile(`^([^-/]+)-([^-/]+)-statelite-([^/]+)$`)

func imageImportCmd(e *env) *cobra.Command {
	var name, ref, osName, arch, profile, initrd string
	var noBoot bool
	c := &cobra.Command{
		Use:   "import FILE|DIR --name IMAGE",
		Short: "Make a container image (docker-save tarball or OCI layout) a statelite image",
		Long: `import applies the layers of a container image in order, honouring whiteouts, to
<site.installdir>/netboot/<IMAGE>/rootimg (linuximage.rootimgdir <installdir>/netboot/<IMAGE>),
and records the osimage and linuximage rows, so nodes use it through
"statelite nodeset NODES osimage=IMAGE" (nodetype.provmethod). FILE is a docker-save
tarball (docker save, gzipped or not) or a tar of an OCI image layout; DIR is an OCI image
layout. The osimage's osvers, osarch and profile come from IMAGE when it is named
<os>-<arch>-statelite-<profile>, else from the image (/etc/os-release: ID and
VERSION_ID; the config's architecture) and "compute"; --os, --arch and --profile override.
When the image holds a kernel (/boot/vmlinuz-*), its kernel and initrd are made as by
genimage; otherwise install one in the image and run "statelite image mkboot IMAGE".

Over an existing IMAGE, import makes a new generation of it (docs/images.md#generations):
the container image is applied to an empty root, committed (how: import) and made
current, and becomes the working copy; the image's rows stay as they are. When the image
had no generation yet, its old working copy is committed first, to roll back to. Running
nodes keep the generation of their boot.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return errors.New("image import: --name IMAGE is required")
			}
			if err := tables.CheckName("image name", name); err != nil {
				return fmt.Errorf("image import: %v", err) // it becomes <installdir>/netboot/<name>
			}
			ctx := cmd.Context()
			snap, err := e.load(ctx)
			if err != nil {
				return err
			}
			if len(snap.RowsByKey("osimage", name)) > 0 {
				return e.importGeneration(ctx, snap, args[0], name, ref, arch, initrd, noBoot)
			}
			dir := filepath.Join(snap.SiteOr("installdir", "/install"), "netboot", name)
			root := filepath.Join(dir, "rootimg")
			res, err := image.Import(ctx, args[0], root, image.ImportOptions{Ref: ref, Arch: arch, Log: e.stdout})
			if err != nil {
				return err
			}
			if m := imageNameRE.FindStringSubmatch(name); m != nil {
				osName, arch, profile = or(osName, m[1]), or(arch, m[2]), or(profile, m[3])
			}
			if osName == "" {
				id, ver := image.OSRelease(root)
				osName = strings.ReplaceAll(id+ver, " ", "")
				if osName == "" {
					osName = "linux"
				}
			}
			arch = or(arch, or(res.Arch, image.HostArch()))
			profile = or(profile, "compute")
			st, err := e.store()
			if err != nil {
				return err
			}
			rec := image.Record{Name: name, OS: osName, Arch: arch, Profile: profile, RootImgDir: dir,
				Description: "imported from " + filepath.Base(args[0]) + refNote(res.Ref)}
			if !noBoot {
				if _, kerr := image.FindKernel(root, ""); kerr == nil {
					b, err := image.MakeBootFiles(ctx, root, dir, image.BootOptions{Initrd: initrd, Log: e.stdout})
					if err != nil {
						return err
					}
					rec.KernelVer = b.Kernel.Version
				} else {
					fmt.Fprintf(e.stdout, "image import: no kernel in the image (%v): install one in it and run statelite image mkboot %s\n", kerr, name)
				}
			}
			if _, err := image.Save(ctx, st, rec); err != nil {
				return e.report(nil, err)
			}
			fmt.Fprintf(e.stdout, "image import: osimage %s (osvers %s, osarch %s, profile %s) recorded; root %s\n", name, osName, arch, profile, root)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "the osimage name")
	c.Flags().StringVar(&ref, "ref", "", "which image of the archive: a tag (RepoTags, org.opencontainers.image.ref.name)")
	c.Flags().StringVar(&osName, "os", "", "osimage.osvers (default: from IMAGE or /etc/os-release)")
	c.Flags().StringVar(&arch, "arch", "", "osimage.osarch, and the platform picked from a multi-platform index (default: the image's, else this host's)")
	c.Flags().StringVar(&profile, "profile", "", "osimage.profile (default: from IMAGE, else compute)")
	c.Flags().StringVar(&initrd, "initrd", "auto", "initrd kind when the image has a kernel: busybox, dracut or auto")
	c.Flags().BoolVar(&noBoot, "no-boot", false, "do not make the kernel and initrd")
	return c
}

// importGeneration imports a container image over the existing image name as a new
// generation (image.Replace).
func (e *env) importGeneration(ctx context.Context, snap *tables.Snapshot, file, name, ref, arch, initrd string, noBoot bool) error {
	dir, err := resolver.ImageDir(snap, name, "")
	if err != nil {
		return fmt.Errorf("image import: %v", err)
	}
	g, err := image.Replace(dir, func(work string) error {
		root := filepath.Join(work, "rootimg")
		if _, err := image.Import(ctx, file, root, image.ImportOptions{Ref: ref, Arch: arch, Log: e.stdout}); err != nil {
			return err
		}
		if noBoot {
			return nil
		}
		if _, kerr := image.FindKernel(root, ""); kerr != nil {
			fmt.Fprintf(e.stdout, "image import: no kernel in the image (%v): the generation keeps the kernel and initrd of the one before\n", kerr)
			for _, f := range []string{image.KernelName, image.InitrdName} {
				if err := image.CopyFileIf(filepath.Join(dir, f), filepath.Join(work, f)); err != nil {
					return err
				}
			}
			return nil
		}
		_, err := image.MakeBootFiles(ctx, root, work, image.BootOptions{Initrd: initrd, Log: e.stdout})
		return err
	}, image.CommitOptions{Message: "imported from " + filepath.Base(file), How: image.HowImport, Who: e.author()})
	if err != nil {
		return fmt.Errorf("image import: %s: %w", name, err)
	}
	e.printGen(name, g)
	fmt.Fprintf(e.stdout, "note: %s\n", pinnedPerBoot)
	return nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func refNote(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

func imageLsCmd(e *env) *cobra.Command {
	var noSize bool
	c := &cobra.Command{
		Use:   "ls [IMAGE]",
		Short: "List the osimage rows: image directory, size of the root, boot files, nodes using each; with IMAGE, its generations",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return e.imageGenerations(cmd, args[0])
			}
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tOS\tARCH\tPROFILE\tROOT\tSIZE\tBOOT\tNODES")
			for _, im := range image.List(snap) {
				size := "-"
				if !im.RootExists {
					size = "missing"
				} else if !noSize {
					if n, err := image.DiskUsage(im.Root); err == nil {
						size = humanBytes(n)
					}
				}
				boot := "-"
				switch {
				case im.Kernel && im.Initrd:
					boot = "kernel,initrd"
				case im.Kernel:
					boot = "kernel"
				case im.Initrd:
					boot = "initrd"
				}
				nodes := "-"
				if len(im.Nodes) > 0 {
					nodes = tables.FoldNodes(im.Nodes)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", im.Name, dash(im.OS), dash(im.Arch), dash(im.Profile), dash(im.Root), size, boot, nodes)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&noSize, "no-size", false, "do not add up the size of each root")
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func imageRmCmd(e *env) *cobra.Command {
	var keep bool
	c := &cobra.Command{
		Use:   "rm IMAGE…",
		Short: "Remove images (rows and files); refused while nodes use them",
		Long: `rm removes the osimage and linuximage rows of each IMAGE and, unless --keep-files,
its rootimg, kernel, initrd-statelite.gz and generations/ (and the image directory when
that empties it). It refuses, naming them, while nodes use the image: their nodetype.provmethod, or
their os/arch/profile when provmethod is statelite/netboot/install/empty (the image the
server resolves for them). Files shared with another osimage are kept.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := e.store()
			if err != nil {
				return err
			}
			failed := false
			for _, name := range args {
				dir := ""
				if snap, lerr := e.load(cmd.Context()); lerr == nil {
					dir, _ = resolver.ImageDir(snap, name, "")
				}
				err := image.Remove(cmd.Context(), st, name, keep, e.stdout)
				if err == nil && !keep && dir != "" {
					err = e.removeGenerations(cmd.Context(), name, dir)
				}
				var iu *image.InUseError
				switch {
				case errors.As(err, &iu):
					e.errorf("%v", err)
					failed = true
				case err != nil:
					if rerr := e.report(nil, err); rerr != nil {
						if _, ok := rerr.(exitError); !ok {
							e.errorf("%v", rerr)
						}
					}
					failed = true
				}
			}
			if failed {
				return exitError{1}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&keep, "keep-files", false, "remove the table rows only")
	return c
}

func imageMkbootCmd(e *env) *cobra.Command {
	var o image.BootOptions
	c := &cobra.Command{
		Use:   "mkboot IMAGE",
		Short: "(Re)make <rootimgdir>/kernel and initrd-statelite.gz from the image root's kernel",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			dir, err := resolver.ImageDir(snap, args[0], "")
			if err != nil {
				return err
			}
			o.Log = e.stdout
			_, err = image.MakeBootFiles(cmd.Context(), filepath.Join(dir, "rootimg"), dir, o)
			return err
		},
	}
	c.Flags().StringVarP(&o.KernelVersion, "kernel", "k", "", "kernel version in the image (default the newest)")
	c.Flags().StringVar(&o.Initrd, "initrd", "auto", "busybox, dracut or auto")
	c.Flags().StringSliceVarP(&o.Modules, "netdrivers", "n", nil, "more kernel modules for the busybox initrd")
	c.Flags().StringVar(&o.Busybox, "busybox", "", "a statically linked busybox for the initrd (default the image's, else the host's)")
	return c
}

func imageDefaultsCmd(e *env) *cobra.Command {
	var overwrite bool
	c := &cobra.Command{
		Use:   "defaults DIR",
		Short: "Write the shipped pkglists, postinstall scripts and litefile samples to DIR/<family>/",
		Long: `defaults writes statelite's shipped defaults (what genimage falls back to) to
DIR/debian, DIR/rh and DIR/sles: compute.pkglist, compute.postinstall and litefile.csv,
the Cookbook's RedHat and SLES litefile samples and a Debian one, ready for
"statelite tabrestore DIR/<family>/litefile.csv". Copy a pkglist or postinstall to
<installdir>/custom/netboot/<family>/ to change it for genimage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return image.WriteDefaults(args[0], overwrite, e.stdout)
		},
	}
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace files that exist")
	return c
}

// imageDirOf returns the image directory (<rootimgdir>) of the osimage name, as the
// resolver finds it.
func (e *env) imageDirOf(ctx context.Context, name string) (string, error) {
	snap, err := e.load(ctx)
	if err != nil {
		return "", err
	}
	return resolver.ImageDir(snap, name, "")
}

// removeGenerations removes dir/generations of image name once image.Remove has removed
// its rows and working copy, unless another osimage still names dir.
func (e *env) removeGenerations(ctx context.Context, name, dir string) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) == "/" {
		return nil // image.Remove has said so
	}
	snap, err := e.load(ctx)
	if err != nil {
		return err
	}
	for _, im := range image.List(snap) {
		if im.Dir != "" && filepath.Clean(im.Dir) == filepath.Clean(dir) {
			return nil // shared: image.Remove kept the files and said so
		}
	}
	gd := image.GenerationsDir(dir)
	if _, err := os.Lstat(gd); err != nil {
		return nil
	}
	if err := image.RemoveGenerations(dir); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	fmt.Fprintf(e.stdout, "image %s: removed %s\n", name, gd)
	if err := os.Remove(dir); err == nil {
		fmt.Fprintf(e.stdout, "image %s: removed %s\n", name, dir)
	}
	return nil
}

const pinnedPerBoot = "running nodes keep the generation of their boot; nodes booting from now on get the current one (statelite drift NODERANGE says what a reboot would change)"

func (e *env) imageGenerations(cmd *cobra.Command, name string) error {
	dir, err := e.imageDirOf(cmd.Context(), name)
	if err != nil {
		return err
	}
	gens, err := image.Generations(dir)
	if err != nil {
		return err
	}
	cur, err := image.Current(dir)
	if err != nil {
		return err
	}
	wc := filepath.Join(dir, "rootimg")
	if _, err := os.Stat(wc); err != nil {
		wc += " (missing: statelite image checkout " + name + ")"
	}
	fmt.Fprintf(e.stdout, "image %s: directory %s; working copy %s\n", name, dir, wc)
	if len(gens) == 0 {
		fmt.Fprintf(e.stdout, "no generations (statelite image commit %s makes the first from the working copy)\n", name)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GEN\tCURRENT\tCREATED\tHOW\tPARENT\tFILES\tCHANGED\tNEW BYTES\tWHO\tMESSAGE")
	for _, g := range gens {
		mark := ""
		if g.Number == cur {
			mark = "*"
		}
		who, _, _ := strings.Cut(g.Who, ": ")
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", g.Number, mark, g.Created.Local().Format(timeFmt), g.How,
			dash(parentStr(g.Parent)), g.Files, g.FilesNew+g.FilesChanged, humanBytes(g.BytesNew), dash(who), dash(g.Message))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "note: %s\n", pinnedPerBoot)
	return nil
}

func parentStr(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func (e *env) printGen(name string, g *image.GenInfo) {
	parent := "no parent"
	if g.Parent > 0 {
		parent = fmt.Sprintf("parent %d", g.Parent)
	}
	fmt.Fprintf(e.stdout, "image %s: generation %d (%s, %s) is current: %d files, %d changed and %d new (%s), %d unchanged (hard links to the parent's)\n",
		name, g.Number, g.How, parent, g.Files, g.FilesChanged, g.FilesNew, humanBytes(g.BytesNew), g.FilesLinked)
	if g.Unshared > 0 {
		fmt.Fprintf(e.stdout, "image %s: %d file(s) of the working copy were hard links of a generation's and are now copies of their own\n", name, g.Unshared)
	}
}

func imageCommitCmd(e *env) *cobra.Command {
	var msg string
	c := &cobra.Command{
		Use:   "commit IMAGE [-m MESSAGE]",
		Short: "Make the working copy <rootimgdir>/rootimg (and the boot files) a new generation, which becomes current",
		Long: `commit turns the working copy of IMAGE (<rootimgdir>/rootimg, kernel and
initrd-statelite.gz) into a new immutable generation <rootimgdir>/generations/<N>, and makes
it current. A file equal (content, mode, owner, mtime, xattrs) to the current generation's
is a hard link to it; any other is a copy (a reflink where the filesystem can). The
working copy never shares a file with a generation: edit it freely, then commit again.
` + pinnedPerBoot + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := e.imageDirOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			g, err := image.Commit(dir, image.CommitOptions{Message: msg, How: image.HowCommit, Who: e.author()})
			if err != nil {
				return err
			}
			e.printGen(args[0], g)
			return nil
		},
	}
	c.Flags().StringVarP(&msg, "message", "m", "", "why (shown by image ls IMAGE)")
	return c
}

func imageCheckoutCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "checkout IMAGE",
		Short: "Make a missing working copy <rootimgdir>/rootimg from the current generation (a full copy)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := e.imageDirOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := image.Checkout(dir); err != nil {
				return err
			}
			cur, _ := image.Current(dir)
			fmt.Fprintf(e.stdout, "image %s: working copy %s made from generation %d\n", args[0], filepath.Join(dir, "rootimg"), cur)
			return nil
		},
	}
}

func imageUpdateCmd(e *env) *cobra.Command {
	var msg string
	c := &cobra.Command{
		Use:   "update IMAGE [-m MESSAGE] -- CMD [ARG…]",
		Short: "Run CMD on a copy of the current generation ({} is its root) and commit it as a new generation",
		Long: `update copies the current generation of IMAGE to a temporary root
(<rootimgdir>/generations/.work-*/rootimg; a full copy, never hard links), runs CMD with
every argument {} replaced by that root (also in $IMAGE_ROOT), showing its output, and
when CMD succeeds commits the copy as a new generation (how: update), which becomes
current. When CMD fails no generation is made and the exit status is reported. The
temporary copy is removed in every case; the working copy <rootimgdir>/rootimg is left
alone. Example:

  statelite image update compute -- dnf --installroot {} -y update
  statelite image update debian12-x86_64-statelite-compute -- chroot {} apt-get -y upgrade

` + pinnedPerBoot + `.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash != 1 || len(args) < 2 {
				return errors.New("image update: usage: statelite image update IMAGE [-m MESSAGE] -- CMD [ARG…]")
			}
			name, argv := args[0], args[1:]
			dir, err := e.imageDirOf(cmd.Context(), name)
			if err != nil {
				return err
			}
			g, err := image.Update(cmd.Context(), dir, argv, image.UpdateOptions{
				Message: msg, Who: e.author(), Stdout: e.stdout, Stderr: e.stderr, Env: []string{"IMAGE_NAME=" + name},
			})
			if err != nil {
				return fmt.Errorf("image %s: %w", name, err)
			}
			e.printGen(name, g)
			return nil
		},
	}
	c.Flags().StringVarP(&msg, "message", "m", "", "why (default: the command)")
	return c
}

func imagePinCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "pin IMAGE GEN",
		Short: "Make generation GEN of IMAGE the current one (a rollback when older)",
		Long: `pin makes generation GEN current (<rootimgdir>/generations/current, replaced
atomically); it refuses a generation that does not exist. The next commit or update
starts from it. ` + pinnedPerBoot + `.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := e.imageDirOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			_, n, err := image.GenSpec(dir, args[1])
			if err != nil || n == 0 {
				if err == nil {
					err = fmt.Errorf("%q: pin takes a generation number", args[1])
				}
				return fmt.Errorf("image %s: pin: %w", args[0], err)
			}
			old, _ := image.Current(dir)
			if err := image.Pin(dir, n); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "image %s: generation %d is current (was %d)\n", args[0], n, old)
			return nil
		},
	}
}

func imageDiffCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "diff IMAGE A B",
		Short: "Files and packages that differ between two generations (numbers, current, or working)",
		Long: `diff lists the files added (+), removed (-) and changed (M, with what: content,
mode, owner, link target, type, xattrs; times alone are not a change) from A to B, sorted by
path, then the packages added, removed and changed (~) when the image has a dpkg database
(read in Go) or an rpm database (read with this host's rpm). A and B are generation
numbers, current, or working (the working copy <rootimgdir>/rootimg).`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := e.imageDirOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			d, err := image.Diff(dir, args[1], args[2])
			if err != nil {
				return fmt.Errorf("image %s: diff: %w", args[0], err)
			}
			return d.Write(e.stdout)
		},
	}
}

func imageGCCmd(e *env) *cobra.Command {
	var keep int
	var state string
	c := &cobra.Command{
		Use:   "gc IMAGE [--keep K] [--state DIR]",
		Short: "Remove the generations of IMAGE that are not current, not among the newest K and not in use",
		Long: `gc removes the generations of IMAGE other than the current one, the newest K
(--keep, default 3) and those nodes use: the generation each node's last boot serves, as
its boot record says (in the volatile layers of the server on --state, or
site.volatiledir). A node powered off since its boot still counts; a node no longer in
nodelist does not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			dir, err := e.imageDirOf(cmd.Context(), name)
			if err != nil {
				return err
			}
			res, err := image.GC(dir, keep, func() (map[int]bool, error) { return e.generationsInUse(cmd.Context(), state, dir) })
			if res != nil {
				for _, n := range res.Removed {
					fmt.Fprintf(e.stdout, "image %s: removed generation %d\n", name, n)
				}
			}
			if err != nil {
				return fmt.Errorf("image %s: %w", name, err)
			}
			kept := make([]int, 0, len(res.Kept))
			for n := range res.Kept {
				kept = append(kept, n)
			}
			sort.Ints(kept)
			for _, n := range kept {
				fmt.Fprintf(e.stdout, "image %s: kept generation %d (%s)\n", name, n, res.Kept[n])
			}
			return nil
		},
	}
	c.Flags().IntVar(&keep, "keep", 3, "how many of the newest generations to keep")
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server (its volatile layers record which generations nodes boot)")
	return c
}

// generationsInUse returns the generations of image directory dir that nodes' last boots
// serve: the boot records in the volatile layers of the server on state (every server
// sharing site.volatiledir writes them there). A node out of nodelist serves nothing; a
// node powered off since its boot still counts (nothing says it will not come back
// before its next boot).
func (e *env) generationsInUse(ctx context.Context, state, dir string) (map[int]bool, error) {
	snap, err := e.load(ctx)
	if err != nil {
		return nil, err
	}
	vol, err := server.VolatileLayers(state, snap)
	if err != nil {
		return nil, err
	}
	boots, err := sfs.Boots(vol)
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for n, b := range boots {
		if b.ImageGen > 0 && snap.IsNode(n) && filepath.Clean(b.ImageDir) == filepath.Clean(dir) {
			used[b.ImageGen] = true
		}
	}
	return used, nil
}
