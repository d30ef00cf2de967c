package main

// The Go client's benchmarks (bench/nfsclient: one call at a time, 1 MiB READs and
// WRITEs as libnfs does) and the JSON the boot-storm report reads.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"syscall"
	"time"

	"statelite/bench/nfsclient"
	"statelite/bench/storm"
	"statelite/nfsd/wire"
)

const goChunk = 1 << 20

// goConn mounts s's export and returns an NFS connection and the export's root handle.
func goConn(s *server) (*nfsclient.Conn, []byte, error) {
	mc, err := nfsclient.Dial(s.mountAddr, "", "nfsbench", 0, 0)
	if err != nil {
		return nil, nil, err
	}
	root, err := mc.Mount(s.export)
	mc.Close()
	if err != nil {
		return nil, nil, err
	}
	c, err := nfsclient.Dial(s.nfsAddr, "", "nfsbench", 0, 0)
	if err != nil {
		return nil, nil, err
	}
	return c, root, nil
}

// goWarm lists the tree and reads the file once with the Go client.
func (b *bench) goWarm(s *server) error {
	c, root, err := goConn(s)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := goList(c, root, s.treePath, false); err != nil {
		return err
	}
	_, err = goRead(c, root, s.bigPath)
	return err
}

func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return tv(ru.Utime) + tv(ru.Stime)
}

// goPhase runs one Go-client benchmark against s.
func (b *bench) goPhase(ctx context.Context, s *server, ph string, i int) (sample, error) {
	c, root, err := goConn(s)
	if err != nil {
		return sample{}, err
	}
	defer c.Close()
	c.Timeout = b.o.cmdTimeout
	cpu0, err := procCPU(s.pid)
	if err != nil {
		return sample{}, err
	}
	cc0 := selfCPU()
	t0 := time.Now()
	var n int
	var sum [32]byte
	wname := fmt.Sprintf("wr-go-%d.bin", i)
	switch ph {
	case "go-read":
		sum, err = goRead(c, root, s.bigPath)
	case "go-write":
		err = b.goWrite(c, root, path.Join(s.wdir, wname))
	case "go-list":
		n, err = goList(c, root, s.treePath, false)
	case "go-walk":
		n, err = goList(c, root, s.treePath, true)
	}
	wall := time.Since(t0)
	cc1 := selfCPU()
	cpu1, cerr := procCPU(s.pid)
	if err != nil {
		return sample{}, err
	}
	if cerr != nil {
		return sample{}, cerr
	}
	smp := sample{wall: wall.Seconds(), cpu: cpuDelta(cpu0, cpu1), clientCPU: cc1 - cc0}
	switch ph {
	case "go-read":
		if sum != b.srcSum {
			return smp, fmt.Errorf("the Go client read other bytes than the source file's")
		}
	case "go-write":
		f := s.written(-i)
		if err := b.sameAsSource(f); err != nil {
			return smp, err
		}
		exec.CommandContext(ctx, "sync").Run()
		os.Remove(f)
	case "go-list", "go-walk":
		if n < b.o.entries {
			return smp, fmt.Errorf("%s saw %d entries, want at least %d", ph, n, b.o.entries)
		}
	}
	return smp, nil
}

// goRead reads the file at p below root, 1 MiB at a time, and returns its SHA-256.
func goRead(c *nfsclient.Conn, root []byte, p string) ([32]byte, error) {
	fh, err := c.Walk(root, p)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	var off uint64
	for {
		data, eof, err := c.Read(fh, off, goChunk)
		if err != nil {
			return [32]byte{}, err
		}
		h.Write(data)
		off += uint64(len(data))
		if eof || len(data) == 0 {
			break
		}
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s, nil
}

// goWrite writes the client's source file to a new file p below root, 1 MiB UNSTABLE
// WRITEs then a COMMIT.
func (b *bench) goWrite(c *nfsclient.Conn, root []byte, p string) error {
	dir, err := c.Walk(root, path.Dir(p))
	if err != nil {
		return err
	}
	data, err := os.ReadFile(b.shm + "/src.bin")
	if err != nil {
		return err
	}
	fh, err := c.Create(dir, path.Base(p), 0o644)
	if err != nil {
		return err
	}
	for off := 0; off < len(data); off += goChunk {
		end := min(off+goChunk, len(data))
		if _, err := c.Write(fh, uint64(off), data[off:end], 0); err != nil {
			return err
		}
	}
	return c.Commit(fh)
}

// goList lists the tree at p below root recursively with READDIRPLUS and returns the
// number of entries; with stat, it also looks every entry up and gets its attributes.
func goList(c *nfsclient.Conn, root []byte, p string, stat bool) (int, error) {
	top, err := c.Walk(root, p)
	if err != nil {
		return 0, err
	}
	n := 0
	var walk func(dir []byte) error
	walk = func(dir []byte) error {
		ents, err := c.Readdirplus(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			n++
			fh := e.FH
			isDir := e.HasAtt && e.Attr.Type == 2
			if stat {
				var a wire.Attr
				if fh, a, err = c.Lookup(dir, e.Name); err != nil {
					return err
				}
				if a, err = c.Getattr(fh); err != nil {
					return err
				}
				isDir = a.Type == 2
			}
			if isDir {
				if len(fh) == 0 {
					if fh, _, err = c.Lookup(dir, e.Name); err != nil {
						return err
					}
				}
				if err := walk(fh); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err = walk(top)
	return n, err
}

// throughput is the JSON `go run ./bench report` reads (its Throughput type).
type throughput struct {
	Date    string
	Load    string
	Runs    int
	Servers []string
	Labels  map[string]string
	Rows    []throughputRow
	Notes   []string
}

type throughputRow struct {
	Bench  string
	Client string
	Unit   string
	Amount float64
	Wall   map[string]float64
	CPU    map[string]float64
}

func (b *bench) writeJSON(res map[string]map[string][]sample) error {
	t := throughput{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Load: b.loadStart + " → " + storm.LoadAvg(), Runs: b.o.runs,
		Labels: map[string]string{
			"statelite":       "(a) node n1's view with the Cookbook's litefile rules",
			"statelite-plain": "(b) the same server and image with a single `/tmp/` tmpfs litefile row (the overlay's overhead is (a) against (b))",
			"ganesha":         "nfs-ganesha " + pkgVersion("nfs-ganesha") + " FSAL VFS on the same files",
		},
		Notes: []string{
			"libnfs-utils " + pkgVersion("libnfs-utils") + " (nfs-cp, nfs-ls) and the Go client (bench/nfsclient, one call at a time, 1 MiB READ/WRITE, like libnfs) on the same host, all servers in one private network namespace; time = the client's wall time, CPU = the server process's",
			"libnfs-utils has no stat tool: the metadata walk (LOOKUP + GETATTR of every entry) is measured with the Go client only",
		}}
	for _, name := range []string{"statelite", "statelite-plain", "ganesha"} {
		if _, ok := res[name]; ok {
			t.Servers = append(t.Servers, name)
		}
	}
	for _, ph := range b.o.phases {
		row := throughputRow{Bench: b.title(ph), Client: "libnfs", Unit: "MiB/s", Amount: float64(b.o.sizeMiB),
			Wall: map[string]float64{}, CPU: map[string]float64{}}
		if len(ph) > 3 && ph[:3] == "go-" {
			row.Client = "go"
		}
		switch ph {
		case "list", "go-list", "go-walk":
			row.Unit, row.Amount = "entries/s", float64(b.o.entries)
		}
		for _, name := range t.Servers {
			if xs := res[name][ph]; len(xs) > 0 {
				row.Wall[name] = median(walls(xs))
				row.CPU[name] = median(cpus(xs))
			}
		}
		t.Rows = append(t.Rows, row)
	}
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(b.o.jsonOut, data, 0o644)
}
