// Command gonfs serves one node's view of a statelite cluster through go-nfs v0.0.4 on
// the view's go-billy face (bench/gonfs): the "plain Go" baseline of `make bench-nfs`.
//
//	gonfs --tables DIR --mnt DIR --state DIR --node n1 --addr 127.0.0.1:12051
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"statelite/bench/gonfs"
	"statelite/fs"
	"statelite/resolver"
	"statelite/tables"
)

func main() {
	tabdir := flag.String("tables", "", "table directory")
	mnt := flag.String("mnt", "", "resolver Mnt (where remote litetree sources are read)")
	state := flag.String("state", "", "state directory (the node's volatile layer goes to STATE/fs)")
	node := flag.String("node", "n1", "the node whose view is served")
	addr := flag.String("addr", "127.0.0.1:12051", "address for NFS and MOUNT (TCP)")
	flag.Parse()
	if err := run(*tabdir, *mnt, *state, *node, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "gonfs:", err)
		os.Exit(1)
	}
}

func run(tabdir, mnt, state, node, addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := tables.OpenDir(tabdir)
	if err != nil {
		return err
	}
	snap, err := st.Load(ctx)
	if err != nil {
		return err
	}
	srv, err := fs.New(fs.Config{State: filepath.Join(state, "fs")}, resolver.New(snap, resolver.Config{Mnt: mnt}))
	if err != nil {
		return err
	}
	defer srv.Close()
	v, err := srv.View(node)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("serving", node, "on", l.Addr())
	return gonfs.Serve(ctx, l, v)
}
