package nfsd

import (
	"context"
	"log/slog"
	"net"
	"strconv"
)

// ServePortmap answers portmapper (rpcbind v2) NULL and GETPORT on l: NFS v3 and MOUNT
// v3 over TCP are at port; everything else is "not registered" (0). It lets a plain
// `mount server:/nodes/n1` work without options.
func ServePortmap(ctx context.Context, l net.Listener, port string, log *slog.Logger) error {
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	rs := &rpcServer{log: log, progs: map[uint32]*program{progPortmap: {low: 2, high: 2, procs: map[uint32][]procFunc{2: {
		func(context.Context, *call, *reader, *writer) error { return nil },
		nil, nil, // SET, UNSET: not served
		func(ctx context.Context, c *call, r *reader, w *writer) error { // GETPORT
			prog, vers, prot := r.u32(), r.u32(), r.u32()
			r.u32()
			if r.err != nil {
				return r.err
			}
			if (prog == progNFS || prog == progMount) && vers == 3 && prot == 6 {
				w.u32(uint32(p))
			} else {
				w.u32(0)
			}
			return nil
		},
	}}}}}
	return rs.serve(ctx, l)
}
