package image

import (
	"fmt"
	"io"
	"strings"
)

// cpioWriter writes a cpio archive in the "newc" format the kernel unpacks as an
// initramfs. Entries belong to root; inode numbers count up from 1.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	n   int64
	err error
}

func newCpio(w io.Writer) *cpioWriter { return &cpioWriter{w: w} }

const (
	cpioDir  = 0o040000
	cpioFile = 0o100000
	cpioLink = 0o120000
	cpioChr  = 0o020000
)

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) header(name string, mode uint32, size int, rdevMajor, rdevMinor uint32, nlink uint32) {
	c.ino++
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = "."
	}
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(h))
	c.write(append([]byte(name), 0))
	c.pad()
}

// Dir adds a directory.
func (c *cpioWriter) Dir(name string, perm uint32) {
	c.header(name, cpioDir|perm, 0, 0, 0, 2)
}

// File adds a regular file.
func (c *cpioWriter) File(name string, perm uint32, data []byte) {
	c.header(name, cpioFile|perm, len(data), 0, 0, 1)
	c.write(data)
	c.pad()
}

// Symlink adds a symbolic link.
func (c *cpioWriter) Symlink(name, target string) {
	c.header(name, cpioLink|0o777, len(target), 0, 0, 1)
	c.write([]byte(target))
	c.pad()
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) {
	c.header(name, cpioChr|perm, 0, major, minor, 1)
}

// Close writes the trailer.
func (c *cpioWriter) Close() error {
	c.ino = 0
	c.header("TRAILER!!!", 0, 0, 0, 0, 1)
	return c.err
}
