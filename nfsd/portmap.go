package nfsd

import (
	"context"
	"log/slog"
	"net"
	"strconv"

	"statelite/nfsd/wire"
)

// ServePortmap answers portmapper (rpcbind v2) NULL and GETPORT on l: NFS v3 and MOUNT
// v3 over TCP are at port; everything else is "not registered" (0). It lets a plain
// `mount server:/nodes/n1` work without options.
func ServePortmap(ctx context.Context, l net.Listener, port string, log *slog.Logger) error {
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	rs := &rpcServer{log: log, progs: map[uint32]*program{wire.ProgPortmap: {low: 2, high: 2, procs: map[uint32][]procFunc{2: {
		func(context.Context, *call, *wire.R, *writer) error { return nil },
		nil, nil, // SET, UNSET: not served
		func(ctx context.Context, c *call, r *wire.R, w *writer) error { // GETPORT
			prog, vers, prot := r.U32(), r.U32(), r.U32()
			r.U32()
			if r.Err != nil {
				return r.Err
			}
			if (prog == wire.ProgNFS || prog == wire.ProgMount) && vers == 3 && prot == 6 {
				w.U32(uint32(p))
			} else {
				w.U32(0)
			}
			return nil
		},
	}}}}}
	return rs.serve(ctx, l)
}
