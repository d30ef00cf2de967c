package resolver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// Image generations (docs/images.md#generations): an image directory D (<rootimgdir>)
// whose working copy is D/rootimg may hold immutable generations D/generations/<N>/,
// each with its own rootimg/ and boot files; D/generations/current holds the number of
// the current one. A node is served the generation of its boot (fs.Server.Boot): its plan
// is the tables' plan with the image root moved to that generation (Plan.AtGeneration).
// The layout is written here once; image/ makes and removes generations, fs/ and boot/
// serve them.

// GenerationsDirName is the directory of an image directory that holds its generations.
const GenerationsDirName = "generations"

// GenerationsDir is dir/generations.
func GenerationsDir(dir string) string { return path.Join(dir, GenerationsDirName) }

// GenerationDir is the directory of generation n of image directory dir.
func GenerationDir(dir string, n int) string {
	return path.Join(dir, GenerationsDirName, strconv.Itoa(n))
}

// GenerationRoot is the root directory (rootimg) of generation n of image directory dir:
// what a node pinned to generation n is served.
func GenerationRoot(dir string, n int) string { return path.Join(GenerationDir(dir, n), "rootimg") }

// CurrentGenerationFile is the file naming the current generation of dir.
func CurrentGenerationFile(dir string) string { return path.Join(dir, GenerationsDirName, "current") }

// CurrentGeneration returns the number of the current generation of image directory
// dir, 0 when it has none (the working copy is served live).
func CurrentGeneration(dir string) (int, error) {
	b, err := os.ReadFile(CurrentGenerationFile(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s: not a generation number: %q", CurrentGenerationFile(dir), strings.TrimSpace(string(b)))
	}
	return n, nil
}

// ImageDir returns the image directory D of the plan's working copy D/rootimg ("" when
// the image root is not named rootimg, which no image of ours is): where its generations
// live.
func (p *Plan) ImageDir() string {
	r := p.Root
	if p.Working != "" {
		r = p.Working
	}
	if path.Base(r) != "rootimg" {
		return ""
	}
	return path.Dir(r)
}

// AtGeneration returns the plan with its image served from generation n of its image
// directory: the image root and its .default tree move there, everything else is
// shared. File ids of the image layers stay those of the working copy's name (Layer.ID),
// so a file a generation shares with the one before (a hard link) keeps its id across a
// node's reboot into the new generation. n = 0 returns p.
func (p *Plan) AtGeneration(n int) *Plan {
	d := p.ImageDir()
	if n == 0 || d == "" {
		return p
	}
	q := *p
	if q.Working == "" {
		q.Working = p.Root
	}
	q.Generation = n
	q.Root = GenerationRoot(d, n)
	q.Default = path.Join(q.Root, ".default")
	return &q
}

// ImageLayer is the layer of image path rel (absolute in the view).
func (p *Plan) ImageLayer(rel string) Layer {
	return Layer{Kind: "image", Root: p.Root, Rel: rel, ID: p.Working}
}

// defaultTreeLayer is the layer of key k in the image's .default tree.
func (p *Plan) defaultTreeLayer(k string) Layer {
	l := Layer{Kind: "default", Root: p.Default, Rel: k}
	if p.Working != "" {
		l.ID = path.Join(p.Working, ".default")
	}
	return l
}
