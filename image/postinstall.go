package image

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Info names an image for the scripts genimage runs.
type Info struct {
	Name, OS, Arch, Profile string
	Root                    string // the image root (rootimg)
}

// FindPostinstall returns the postinstall script of an image: the first of the
// Cookbook's names in the lookup's directories (§2.8: <profile>.<os>.<arch>,
// <profile>.<arch>, <profile>.<os>, <profile>, each with .postinstall), or none.
func FindPostinstall(l *Lookup) (File, error) { return l.Find("postinstall") }

// PostinstallError is a postinstall script that failed; Output is what it printed (the
// last 64 KiB).
type PostinstallError struct {
	Script string
	Err    error
	Output string
}

func (e *PostinstallError) Error() string {
	out := strings.TrimRight(e.Output, "\n")
	if out == "" {
		out = "(no output)"
	}
	return fmt.Sprintf("postinstall %s failed (%v); its output:\n%s", e.Script, e.Err, out)
}

func (e *PostinstallError) Unwrap() error { return e.Err }

// RunPostinstall runs scripts one after the other, as xCAT's genimage does: each with
// the image root as its first argument, then the OS, arch and profile
// (`script ROOT OS ARCH PROFILE`), and IMAGE_ROOT, IMAGE_NAME, IMAGE_OS, IMAGE_ARCH,
// IMAGE_PROFILE in its environment. A script starting with "#!" runs with its
// interpreter, others with /bin/sh. Output goes to log as it comes; the first script
// that fails stops the run with a *PostinstallError holding its output.
func RunPostinstall(ctx context.Context, scripts []File, info Info, log io.Writer) error {
	for _, s := range scripts {
		if err := runScript(ctx, s, info, log); err != nil {
			return err
		}
	}
	return nil
}

func runScript(ctx context.Context, s File, info Info, log io.Writer) error {
	body, err := s.Read()
	if err != nil {
		return &PostinstallError{Script: s.Name(), Err: err}
	}
	// A private executable copy: the script need not be executable, and a shipped
	// default has no path.
	tmp, err := os.CreateTemp("", "statelite-postinstall-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(body)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	if err := os.Chmod(tmp.Name(), 0o700); err != nil {
		return err
	}
	args := []string{tmp.Name(), info.Root, info.OS, info.Arch, info.Profile}
	if !bytes.HasPrefix(body, []byte("#!")) {
		args = append([]string{"/bin/sh"}, args...)
	}
	fmt.Fprintf(log, "genimage: postinstall %s %s\n", s.Name(), info.Root)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(),
		"IMAGE_ROOT="+info.Root, "IMAGE_NAME="+info.Name, "IMAGE_OS="+info.OS,
		"IMAGE_ARCH="+info.Arch, "IMAGE_PROFILE="+info.Profile)
	tail := &tailBuffer{max: 64 << 10}
	w := io.MultiWriter(tail, prefixWriter(log, "  | "))
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		return &PostinstallError{Script: s.Name(), Err: err, Output: tail.String()}
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return "[…]" + string(t.b)
	}
	return string(t.b)
}

// prefixWriter writes each line to w with a prefix (for a child's output in progress).
func prefixWriter(w io.Writer, prefix string) io.Writer {
	return &linePrefixer{w: w, prefix: prefix, bol: true}
}

type linePrefixer struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	bol    bool
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	for _, c := range p {
		if l.bol {
			b.WriteString(l.prefix)
			l.bol = false
		}
		b.WriteByte(c)
		if c == '\n' {
			l.bol = true
		}
	}
	if _, err := l.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}
