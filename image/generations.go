package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"statelite/resolver"
	"statelite/tables"
)

// Generations (issue 19): immutable snapshots of an image directory D's working copy
// (D/rootimg, D/kernel, D/initrd-statelite.gz), each in D/generations/<N>/ with its own
// rootimg/, copies of the boot files and info.json; D/generations/current holds the
// number of the current one. A file unchanged from the parent generation is a hard link
// to the parent's; a changed or new one is a new inode (a reflink when the filesystem can,
// else a copy). The working copy never shares an inode with a generation, and nothing
// opens a generation's file for writing, so editing the working copy in place cannot
// reach a committed generation.

// GenerationsDirName is the directory of an image directory that holds its generations.
const GenerationsDirName = resolver.GenerationsDirName

// How a generation was made (GenInfo.How).
const (
	HowCommit   = "commit"
	HowUpdate   = "update"
	HowImport   = "import"
	HowGenimage = "genimage"
)

// GenInfo is a generation's info.json.
type GenInfo struct {
	Number       int       `json:"number"`
	Parent       int       `json:"parent"` // 0: none
	Created      time.Time `json:"created"`
	Who          string    `json:"who"`
	Message      string    `json:"message"`
	How          string    `json:"how"`           // commit, update, import, genimage
	Files        int       `json:"files"`         // regular files of rootimg (paths)
	FilesNew     int       `json:"files_new"`     // not in the parent at that path
	FilesChanged int       `json:"files_changed"` // in the parent, with another content or metadata
	FilesLinked  int       `json:"files_linked"`  // hard links to the parent's file
	Bytes        int64     `json:"bytes"`         // apparent size of the regular files of rootimg
	BytesNew     int64     `json:"bytes_new"`     // bytes copied (or reflinked) into this generation, boot files included
	Kernel       bool      `json:"kernel"`        // holds a copy of kernel
	Initrd       bool      `json:"initrd"`        // holds a copy of initrd-statelite.gz
	Unshared     int       `json:"unshared,omitempty"`
}

// CommitOptions say why and how a generation is made.
type CommitOptions struct {
	Message string
	How     string // HowCommit when empty
	Who     string // the user when empty
}

// GenerationsDir is dir/generations.
func GenerationsDir(dir string) string { return resolver.GenerationsDir(dir) }

// GenerationDir is the directory of generation n of image directory dir.
func GenerationDir(dir string, n int) string { return resolver.GenerationDir(dir, n) }

// GenerationRoot is the root directory (rootimg) of generation n of image directory dir:
// what a node pinned to generation n is served.
func GenerationRoot(dir string, n int) string { return resolver.GenerationRoot(dir, n) }

// lockedCurrent takes the store's lock of dir and reads its current generation; the
// caller calls unlock.
func lockedCurrent(dir string) (cur int, unlock func(), err error) {
	if unlock, err = lockGenerations(dir); err != nil {
		return 0, nil, err
	}
	if cur, err = Current(dir); err != nil {
		unlock()
		return 0, nil, err
	}
	return cur, unlock, nil
}

// newWork makes an empty work directory dir/generations/.work-<random> (the caller
// removes it).
func newWork(dir string) (string, error) {
	if err := os.MkdirAll(GenerationsDir(dir), 0o755); err != nil {
		return "", err
	}
	work := filepath.Join(GenerationsDir(dir), ".work-"+randomSuffix())
	return work, os.Mkdir(work, 0o700)
}

func currentFile(dir string) string { return resolver.CurrentGenerationFile(dir) }

// Current returns the number of the current generation of image directory dir, 0 when
// it has none.
func Current(dir string) (int, error) { return resolver.CurrentGeneration(dir) }

// ReadGeneration returns the info.json of generation n.
func ReadGeneration(dir string, n int) (*GenInfo, error) {
	b, err := os.ReadFile(filepath.Join(GenerationDir(dir, n), "info.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("generation %d of %s does not exist", n, dir)
		}
		return nil, err
	}
	var g GenInfo
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("generation %d of %s: info.json: %w", n, dir, err)
	}
	return &g, nil
}

// Generations returns the generations of image directory dir, oldest first (none: an
// empty list and no error).
func Generations(dir string) ([]GenInfo, error) {
	ents, err := os.ReadDir(GenerationsDir(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []GenInfo
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 1 || !e.IsDir() || strconv.Itoa(n) != e.Name() {
			continue // current, .lock, .tmp-*, .work-*
		}
		g, err := ReadGeneration(dir, n)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// lockGenerations takes the exclusive lock of dir's generation store (commit, update,
// gc), waiting for another holder, and removes what a crashed holder left behind.
func lockGenerations(dir string) (unlock func(), err error) {
	gd := GenerationsDir(dir)
	if err := os.MkdirAll(gd, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(gd, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", gd, err)
	}
	// Under the lock, a .tmp-* or .work-* is a leftover of a holder that died.
	if ents, err := os.ReadDir(gd); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".tmp-") || strings.HasPrefix(e.Name(), ".work-") {
				os.RemoveAll(filepath.Join(gd, e.Name()))
			}
		}
	}
	return func() { f.Close() }, nil
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// nextNumber is one more than the highest generation there is (after a rollback the
// current one may be older).
func nextNumber(dir string) (int, error) {
	gens, err := Generations(dir)
	if err != nil {
		return 0, err
	}
	if len(gens) == 0 {
		return 1, nil
	}
	return gens[len(gens)-1].Number + 1, nil
}

// Commit turns the working copy of image directory dir (dir/rootimg and, when present,
// dir/kernel and dir/initrd-statelite.gz) into a new generation, which becomes the
// current one. The generation is built in dir/generations/.tmp-<N>-<random>, synced,
// renamed to dir/generations/<N>, and then made current.
func Commit(dir string, o CommitOptions) (*GenInfo, error) {
	if o.How == "" {
		o.How = HowCommit
	}
	if fi, err := os.Stat(filepath.Join(dir, "rootimg")); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("commit: no working copy %s (statelite image checkout makes one from the current generation)", filepath.Join(dir, "rootimg"))
	}
	parent, unlock, err := lockedCurrent(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return commitFrom(dir, dir, parent, o)
}

// commitFrom makes a new generation of dir from src (src/rootimg, src/kernel,
// src/initrd-statelite.gz) with parent (0: none); the caller holds the lock.
func commitFrom(dir, src string, parent int, o CommitOptions) (*GenInfo, error) {
	if o.Who == "" {
		o.Who = whoAmI()
	}
	n, err := nextNumber(dir)
	if err != nil {
		return nil, err
	}
	gd := GenerationsDir(dir)
	tmp := filepath.Join(gd, fmt.Sprintf(".tmp-%d-%s", n, randomSuffix()))
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	info := &GenInfo{Number: n, Parent: parent, Created: time.Now().UTC(), Who: o.Who, Message: o.Message, How: o.How}
	parentDir := ""
	if parent > 0 {
		parentDir = GenerationDir(dir, parent)
		if _, err := os.Stat(parentDir); err != nil {
			return nil, fmt.Errorf("commit: parent generation %d: %w", parent, err)
		}
	}
	r := newReplicator(info, parentDir != "", true)
	if err := r.tree(filepath.Join(src, "rootimg"), filepath.Join(tmp, "rootimg"), joinIf(parentDir, "rootimg")); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	for _, f := range []string{KernelName, InitrdName} {
		sp := filepath.Join(src, f)
		fi, err := os.Lstat(sp)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		br := newReplicator(&GenInfo{}, parentDir != "", true)
		if err := br.entry(sp, filepath.Join(tmp, f), joinIf(parentDir, f)); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		info.BytesNew += br.info.BytesNew
		info.Unshared += br.info.Unshared
		if f == KernelName {
			info.Kernel = true
		} else {
			info.Initrd = true
		}
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "info.json"), append(b, '\n'), 0o444); err != nil {
		return nil, err
	}
	if err := syncFS(tmp); err != nil {
		return nil, fmt.Errorf("commit: sync: %w", err)
	}
	final := GenerationDir(dir, n)
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	ok = true
	if err := syncDir(gd); err != nil {
		return nil, err
	}
	if err := setCurrent(dir, n); err != nil {
		return nil, err
	}
	return info, nil
}

func joinIf(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name)
}

func setCurrent(dir string, n int) error {
	return tables.WriteFileAtomic(currentFile(dir), []byte(strconv.Itoa(n)+"\n"), 0o644)
}

func syncFS(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

func syncDir(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func whoAmI() string {
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if su := os.Getenv("SUDO_USER"); su != "" && su != name {
		name += " (sudo by " + su + ")"
	}
	return name
}

// Pin makes generation n the current one (a rollback when it is older). It refuses a
// generation that does not exist.
func Pin(dir string, n int) error {
	if _, err := ReadGeneration(dir, n); err != nil {
		return err
	}
	if fi, err := os.Stat(GenerationRoot(dir, n)); err != nil || !fi.IsDir() {
		return fmt.Errorf("generation %d of %s has no rootimg", n, dir)
	}
	return setCurrent(dir, n)
}

// Checkout makes the working copy dir/rootimg (and dir/kernel, dir/initrd-statelite.gz
// when missing) from the current generation: a full copy (reflinks where the filesystem
// can), never hard links. It refuses when dir/rootimg exists or there is no generation.
func Checkout(dir string) error {
	root := filepath.Join(dir, "rootimg")
	if _, err := os.Lstat(root); err == nil {
		return fmt.Errorf("checkout: the working copy %s exists", root)
	}
	cur, err := Current(dir)
	if err != nil {
		return err
	}
	if cur == 0 {
		return fmt.Errorf("checkout: %s has no generation", dir)
	}
	partial := filepath.Join(dir, ".rootimg.checkout-"+randomSuffix())
	defer os.RemoveAll(partial)
	if err := CopyTree(GenerationRoot(dir, cur), partial); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	if err := os.Rename(partial, root); err != nil {
		return err
	}
	for _, f := range []string{KernelName, InitrdName} {
		sp, dp := filepath.Join(GenerationDir(dir, cur), f), filepath.Join(dir, f)
		if _, err := os.Lstat(sp); err != nil {
			continue
		}
		if _, err := os.Lstat(dp); err == nil {
			continue
		}
		if err := newReplicator(&GenInfo{}, false, false).entry(sp, dp, ""); err != nil {
			return fmt.Errorf("checkout: %w", err)
		}
	}
	return nil
}

// CopyTree copies the tree src to dst (which must not exist) with its modes, owners,
// times, xattrs, symlinks, device nodes and hard links (inside the tree); every regular
// file is a new inode (a reflink where the filesystem can, else a copy).
func CopyTree(src, dst string) error {
	return newReplicator(&GenInfo{}, false, false).tree(src, dst, "")
}

// UpdateOptions are those of Update.
type UpdateOptions struct {
	Message string // default: the command
	Who     string
	Stdout  io.Writer
	Stderr  io.Writer
	Env     []string // more environment for the command
}

// UpdateError is the error of an update whose command failed: no generation was made.
type UpdateError struct {
	Command  []string
	ExitCode int // -1: did not run or was killed by a signal
	Err      error
}

func (e *UpdateError) Error() string {
	if e.ExitCode >= 0 {
		return fmt.Sprintf("update: %s exited with status %d; no generation made", strings.Join(e.Command, " "), e.ExitCode)
	}
	return fmt.Sprintf("update: %s: %v; no generation made", strings.Join(e.Command, " "), e.Err)
}

func (e *UpdateError) Unwrap() error { return e.Err }

// Update makes a new generation of image directory dir by running argv on a temporary
// full copy of the current generation (dir/generations/.work-<random>/rootimg): every
// argument "{}" is replaced by that root's path (IMAGE_ROOT in the environment holds it
// too). When the command succeeds the copy is committed (How update, parent the
// generation copied) and becomes current; when it fails no generation is made
// (*UpdateError). The temporary copy is removed in every case; dir/rootimg is left alone.
// The store stays locked while the command runs (another commit, update or gc waits).
func Update(ctx context.Context, dir string, argv []string, o UpdateOptions) (*GenInfo, error) {
	if len(argv) == 0 {
		return nil, errors.New("update: no command")
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	cur, unlock, err := lockedCurrent(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if cur == 0 {
		return nil, fmt.Errorf("update: %s has no generation yet (statelite image commit makes the first from the working copy)", dir)
	}
	work, err := newWork(dir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "rootimg")
	if err := CopyTree(GenerationRoot(dir, cur), root); err != nil {
		return nil, fmt.Errorf("update: copying generation %d: %w", cur, err)
	}
	for _, f := range []string{KernelName, InitrdName} {
		sp := filepath.Join(GenerationDir(dir, cur), f)
		if _, err := os.Lstat(sp); err != nil {
			continue
		}
		if err := newReplicator(&GenInfo{}, false, false).entry(sp, filepath.Join(work, f), ""); err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
	}
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = strings.ReplaceAll(a, "{}", root)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	cmd.Env = append(append(os.Environ(), "IMAGE_ROOT="+root), o.Env...)
	if err := cmd.Run(); err != nil {
		ue := &UpdateError{Command: argv, ExitCode: -1, Err: err}
		var xe *exec.ExitError
		if errors.As(err, &xe) && xe.ExitCode() >= 0 {
			ue.ExitCode = xe.ExitCode()
		}
		return nil, ue
	}
	if o.Message == "" {
		o.Message = strings.Join(argv, " ")
	}
	return commitFrom(dir, work, cur, CommitOptions{Message: o.Message, How: HowUpdate, Who: o.Who})
}

// Replace makes a new generation of image directory dir from a tree that build makes in
// an empty directory work (work/rootimg, and work/kernel and work/initrd-statelite.gz
// when it makes boot files): an image import over an existing image. When dir has no
// generation yet, its working copy is first committed as one (How o.How, "before …"), so
// that the image before the replacement stays one to roll back to. The new generation
// becomes current, and the built tree becomes the working copy (the old one is removed):
// nodes booted on a generation never see the swap. The store stays locked meanwhile.
func Replace(dir string, build func(work string) error, o CommitOptions) (*GenInfo, error) {
	cur, unlock, err := lockedCurrent(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if cur == 0 {
		if _, err := os.Stat(filepath.Join(dir, "rootimg")); err == nil {
			g, err := commitFrom(dir, dir, 0, CommitOptions{Message: "before " + o.How + ": " + o.Message, How: o.How, Who: o.Who})
			if err != nil {
				return nil, err
			}
			cur = g.Number
		}
	}
	work, err := newWork(dir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := build(work); err != nil {
		return nil, err
	}
	g, err := commitFrom(dir, work, cur, o)
	if err != nil {
		return nil, err
	}
	// The new tree becomes the working copy: the old one moves into work (removed with it).
	for _, f := range []string{"rootimg", KernelName, InitrdName} {
		np := filepath.Join(work, f)
		if _, err := os.Lstat(np); err != nil {
			continue
		}
		op := filepath.Join(dir, f)
		if _, err := os.Lstat(op); err == nil {
			if err := os.Rename(op, filepath.Join(work, "old-"+f)); err != nil {
				return g, fmt.Errorf("generation %d made, but the working copy not replaced: %w", g.Number, err)
			}
		}
		if err := os.Rename(np, op); err != nil {
			return g, fmt.Errorf("generation %d made, but the working copy not replaced: %w", g.Number, err)
		}
	}
	return g, nil
}

// GCResult says what GC did.
type GCResult struct {
	Removed []int
	Kept    map[int]string // why: current, newest, in use
}

// GC removes the generations of dir that are not the current one, not among the newest
// keep, and not in use: inUse (nil: none) returns the generations that running nodes
// are pinned to; when it fails, nothing is removed.
func GC(dir string, keep int, inUse func() (map[int]bool, error)) (*GCResult, error) {
	if keep < 0 {
		return nil, fmt.Errorf("gc: keep %d: must be 0 or more", keep)
	}
	cur, unlock, err := lockedCurrent(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	gens, err := Generations(dir)
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	if inUse != nil {
		if used, err = inUse(); err != nil {
			return nil, fmt.Errorf("gc: which generations are in use: %w (nothing removed)", err)
		}
	}
	res := &GCResult{Kept: map[int]string{}}
	for i := len(gens) - 1; i >= 0; i-- {
		n := gens[i].Number
		var why []string
		if n == cur {
			why = append(why, "current")
		}
		if len(gens)-i <= keep {
			why = append(why, "newest")
		}
		if used[n] {
			why = append(why, "in use")
		}
		if len(why) > 0 {
			res.Kept[n] = strings.Join(why, ", ")
			continue
		}
		// Out of sight first (a crash leaves a .tmp-* the next holder removes).
		gone := filepath.Join(GenerationsDir(dir), fmt.Sprintf(".tmp-gc-%d-%s", n, randomSuffix()))
		if err := os.Rename(GenerationDir(dir, n), gone); err != nil {
			return res, err
		}
		if err := os.RemoveAll(gone); err != nil {
			return res, err
		}
		res.Removed = append(res.Removed, n)
	}
	sort.Ints(res.Removed)
	return res, syncDir(GenerationsDir(dir))
}

// RemoveGenerations deletes dir/generations (image rm).
func RemoveGenerations(dir string) error {
	return os.RemoveAll(GenerationsDir(dir))
}

// GenSpec resolves a generation argument of image directory dir: a number, "current",
// or "working" (the working copy dir/rootimg; n is 0). It returns the root directory.
func GenSpec(dir, spec string) (root string, n int, err error) {
	switch spec {
	case "working":
		root = filepath.Join(dir, "rootimg")
		if _, err := os.Stat(root); err != nil {
			return "", 0, fmt.Errorf("working copy: %w", err)
		}
		return root, 0, nil
	case "current":
		if n, err = Current(dir); err != nil {
			return "", 0, err
		}
		if n == 0 {
			return "", 0, fmt.Errorf("%s has no generation", dir)
		}
	default:
		if n, err = strconv.Atoi(spec); err != nil || n < 1 {
			return "", 0, fmt.Errorf("%q: not a generation (a number, current or working)", spec)
		}
	}
	if _, err := ReadGeneration(dir, n); err != nil {
		return "", 0, err
	}
	return GenerationRoot(dir, n), n, nil
}

// ---- replication ----

type devIno struct{ dev, ino uint64 }

// replicator reproduces a tree. With link set, a regular file equal (content, mode,
// owner, mtime, xattrs) to the file at the same path of the parent tree is a hard link
// to the parent's file; every other regular file is a new inode. With unshare set, a
// source file that is the parent's very inode is first replaced in the source by a copy
// (the working copy must never share an inode with a generation).
type replicator struct {
	info     *GenInfo
	link     bool
	unshare  bool
	root     bool
	seen     map[devIno]string // source inode → first destination path (hard links in the tree)
	unshared map[devIno]string // source inode → the source path of its replacement
	buf1     []byte
	buf2     []byte
}

func newReplicator(info *GenInfo, link, unshare bool) *replicator {
	return &replicator{info: info, link: link, unshare: unshare, root: os.Geteuid() == 0,
		seen: map[devIno]string{}, unshared: map[devIno]string{}}
}

// tree reproduces src as dst (which must not exist) against parent ("" none).
func (r *replicator) tree(src, dst, parent string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", src)
	}
	if !r.link {
		parent = ""
	}
	return r.entry(src, dst, parent)
}

func (r *replicator) entry(sp, dp, pp string) error {
	fi, err := os.Lstat(sp)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	switch fi.Mode().Type() {
	case fs.ModeDir:
		if err := os.Mkdir(dp, 0o700); err != nil {
			return err
		}
		ents, err := os.ReadDir(sp)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := r.entry(filepath.Join(sp, e.Name()), filepath.Join(dp, e.Name()), joinIf(pp, e.Name())); err != nil {
				return err
			}
		}
		return r.meta(sp, dp, st, false)
	case fs.ModeSymlink:
		t, err := os.Readlink(sp)
		if err != nil {
			return err
		}
		if err := os.Symlink(t, dp); err != nil {
			return err
		}
		return r.meta(sp, dp, st, true)
	case 0:
		return r.file(sp, dp, pp, st)
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice, fs.ModeNamedPipe:
		if err := unix.Mknod(dp, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", dp, err)
		}
		return r.meta(sp, dp, st, false)
	default: // sockets: a server's, meaningless in an image
		return nil
	}
}

func (r *replicator) file(sp, dp, pp string, st *syscall.Stat_t) error {
	r.info.Files++
	r.info.Bytes += st.Size
	key := devIno{st.Dev, st.Ino}
	if st.Nlink > 1 {
		if first, ok := r.seen[key]; ok {
			if repl, ok := r.unshared[key]; ok {
				if err := replaceWithLink(repl, sp); err != nil {
					return err
				}
			}
			return os.Link(first, dp) // a hard link inside the tree stays one
		}
		r.seen[key] = dp
	}
	existed := false
	if pp != "" {
		if pfi, err := os.Lstat(pp); err == nil {
			existed = true
			pst := pfi.Sys().(*syscall.Stat_t)
			if pfi.Mode().IsRegular() && sameMeta(st, pst) {
				same := pst.Dev == st.Dev && pst.Ino == st.Ino
				if !same {
					eq, err := r.sameContent(sp, pp)
					if err != nil {
						return err
					}
					same = eq && sameXattrs(sp, pp)
				}
				if same {
					if pst.Dev == st.Dev && pst.Ino == st.Ino && r.unshare {
						repl, err := r.unshareFile(sp, st)
						if err != nil {
							return err
						}
						r.unshared[key] = repl
					}
					err := os.Link(pp, dp)
					if err == nil {
						r.info.FilesLinked++
						return nil
					}
					if !errors.Is(err, syscall.EMLINK) {
						return err
					}
					// too many links: a copy of its own
				}
			}
		}
	}
	if existed {
		r.info.FilesChanged++
	} else {
		r.info.FilesNew++
	}
	r.info.BytesNew += st.Size
	return r.copyFile(sp, dp, st)
}

// unshareFile replaces the source file sp (which is a generation's inode) by a copy of
// its own, with the same metadata; it returns sp.
func (r *replicator) unshareFile(sp string, st *syscall.Stat_t) (string, error) {
	tmp := filepath.Join(filepath.Dir(sp), ".statelite-unshare-"+randomSuffix())
	if err := r.copyFile(sp, tmp, st); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, sp); err != nil {
		os.Remove(tmp)
		return "", err
	}
	r.info.Unshared++
	return sp, nil
}

// replaceWithLink makes p a hard link of target (atomically, by rename).
func replaceWithLink(target, p string) error {
	tmp := filepath.Join(filepath.Dir(p), ".statelite-unshare-"+randomSuffix())
	if err := os.Link(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func sameMeta(a, b *syscall.Stat_t) bool {
	return a.Mode == b.Mode && a.Uid == b.Uid && a.Gid == b.Gid && a.Size == b.Size &&
		a.Mtim.Sec == b.Mtim.Sec && a.Mtim.Nsec == b.Mtim.Nsec
}

func (r *replicator) sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	return sameReaders(fa, fb, &r.buf1, &r.buf2)
}

func sameReaders(a, b io.Reader, b1, b2 *[]byte) (bool, error) {
	if *b1 == nil {
		*b1, *b2 = make([]byte, 256<<10), make([]byte, 256<<10)
	}
	for {
		na, ea := io.ReadFull(a, *b1)
		nb, eb := io.ReadFull(b, (*b2)[:len(*b1)])
		if na != nb || string((*b1)[:na]) != string((*b2)[:nb]) {
			return false, nil
		}
		aEnd := ea == io.EOF || ea == io.ErrUnexpectedEOF
		bEnd := eb == io.EOF || eb == io.ErrUnexpectedEOF
		if ea != nil && !aEnd {
			return false, ea
		}
		if eb != nil && !bEnd {
			return false, eb
		}
		if aEnd || bEnd {
			return aEnd && bEnd, nil
		}
	}
}

// copyFile writes sp's content to the new file dp (FICLONE when the filesystem can,
// else a copy), then its owner, mode, xattrs and times.
func (r *replicator) copyFile(sp, dp string, st *syscall.Stat_t) error {
	in, err := os.Open(sp)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if cerr := unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); cerr != nil {
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return fmt.Errorf("copy %s: %w", sp, err)
		}
	}
	if err := out.Close(); err != nil {
		return err
	}
	return r.meta(sp, dp, st, false)
}

// meta gives dp sp's owner, mode, xattrs and times (in that order: a chown clears
// setuid bits and security.capability).
func (r *replicator) meta(sp, dp string, st *syscall.Stat_t, symlink bool) error {
	if err := os.Lchown(dp, int(st.Uid), int(st.Gid)); err != nil && (r.root || !errors.Is(err, syscall.EPERM)) {
		return err
	}
	if !symlink {
		if err := syscall.Chmod(dp, st.Mode&0o7777); err != nil {
			return fmt.Errorf("chmod %s: %w", dp, err)
		}
	}
	if err := copyXattrs(sp, dp, symlink, r.root); err != nil {
		return err
	}
	ts := []unix.Timespec{unix.NsecToTimespec(syscall.TimespecToNsec(st.Atim)), unix.NsecToTimespec(syscall.TimespecToNsec(st.Mtim))}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dp, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("times of %s: %w", dp, err)
	}
	return nil
}

// xattrs returns the extended attributes of p (not following a symlink).
func xattrs(p string) (map[string][]byte, error) {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		return nil, err
	}
	if sz == 0 {
		return nil, nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		vs, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			if errors.Is(err, unix.ENODATA) {
				continue
			}
			return nil, err
		}
		v := make([]byte, vs)
		vs, err = unix.Lgetxattr(p, name, v)
		if err != nil {
			return nil, err
		}
		out[name] = v[:vs]
	}
	return out, nil
}

func sameXattrs(a, b string) bool {
	xa, err1 := xattrs(a)
	xb, err2 := xattrs(b)
	if err1 != nil || err2 != nil || len(xa) != len(xb) {
		return false
	}
	for k, v := range xa {
		if w, ok := xb[k]; !ok || string(v) != string(w) {
			return false
		}
	}
	return true
}

// copyXattrs copies every extended attribute of sp to dp: user.*, security.capability,
// ACLs (system.posix_acl_*), trusted.* (root). A filesystem without xattrs, SELinux
// labels the kernel refuses, and, for a symlink or when not root, what the kernel does
// not permit are skipped; any other failure is an error.
func copyXattrs(sp, dp string, symlink, root bool) error {
	xs, err := xattrs(sp)
	if err != nil {
		return fmt.Errorf("xattrs of %s: %w", sp, err)
	}
	names := make([]string, 0, len(xs))
	for k := range xs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		err := unix.Lsetxattr(dp, k, xs[k], 0)
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOTSUP), k == "security.selinux":
		case (symlink || !root) && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)):
		default:
			return fmt.Errorf("xattr %s of %s: %w", k, dp, err)
		}
	}
	return nil
}

// CopyFileIf copies file src to dst when src exists.
func CopyFileIf(src, dst string) error {
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return copyAtomic(src, dst)
}
