// Command bench is statelite's boot-storm benchmark (`go run ./bench …`, as root):
//
//	go run ./bench record [-out bench/testdata/boot-trace.jsonl]
//	    boot Debian's kernel under qemu (TCG) from `statelite serve --record` and keep
//	    the node's NFS calls as the trace the storms replay
//	go run ./bench storm [-n 10,100,1000] [-flip-n 100] [-out bench/results]
//	    replay the trace from N simulated nodes at once against a separate
//	    `statelite serve` process, per N; measure the memory of idle nodes; flip a
//	    litetree row under load; write storm.json, report.md and SVG plots
//	go run ./bench report [-out bench/results]
//	    render report.md and the plots again from storm.json (and throughput.json, the
//	    figures of bench/cmd/nfsbench -json)
//
// `make bench-all` (bench/run.sh) runs everything, scenario 1 (bench/cmd/nfsbench
// against nfs-ganesha) included. Every process it starts is stopped by PID; every
// phase is bounded in time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"statelite/bench/storm"
)

func logf(format string, a ...any) {
	fmt.Printf("[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench record|storm|report [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "record":
		err = recordCmd(ctx, os.Args[2:])
	case "storm":
		err = stormCmd(ctx, os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (record, storm, report)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// repoRoot finds the repository root (the directory holding go.mod) from the working
// directory up.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		d = p
	}
}

// buildStatelite returns the repository root and the statelite binary: bin when -bin
// names one, else bin/statelite built afresh.
func buildStatelite(ctx context.Context, bin string) (repo, b string, err error) {
	if repo, err = repoRoot(); err != nil {
		return "", "", err
	}
	if bin != "" {
		b, err = filepath.Abs(bin)
		return repo, b, err
	}
	b = filepath.Join(repo, "bin", "statelite")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b, "./cmd/statelite")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/statelite: %v: %s", err, out)
	}
	return repo, b, nil
}

func recordCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("record", flag.ExitOnError)
	out := fs.String("out", "bench/testdata/boot-trace.jsonl", "the trace file to write")
	work := fs.String("work", "/tmp/statelite-bench/record", "work directory")
	bin := fs.String("bin", "", "the statelite binary (default: build bin/statelite)")
	image := fs.String("image", "", "boot this genimage image directory (rootimg, kernel, initrd-statelite.gz) with its own init instead of the demo's busybox boot")
	litefile := fs.String("litefile", "image/defaults/debian/litefile.csv", "with -image: the image's litefile rows (CSV)")
	fs.Parse(args)
	if os.Geteuid() != 0 {
		return fmt.Errorf("record: run as root (the server chowns files to their callers)")
	}
	repo, b, err := buildStatelite(ctx, *bin)
	if err != nil {
		return err
	}
	o, _ := filepath.Abs(*out)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	ro := storm.RecordOptions{Bin: b, Repo: repo, Work: *work, Out: o, Logf: logf}
	if *image != "" {
		ro.Image, _ = filepath.Abs(*image)
		ro.Litefile, _ = filepath.Abs(*litefile)
	}
	return storm.Record(ctx, ro)
}
