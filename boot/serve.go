package boot

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// TFTP returns a pin/tftp server answering read requests from s; write requests are
// refused. It runs in pin/tftp's default mode (one socket per transfer, blksize and tsize
// negotiated): single-port mode is much slower (measured with a real kernel under qemu). hook, when not nil,
// sees every transfer (tests read the negotiated options from it).
func (s *Server) TFTP(hook tftp.Hook) *tftp.Server {
	ts := tftp.NewServer(s.tftpRead, nil)
	ts.SetTimeout(3 * time.Second)
	ts.SetHook(logHook{s: s, next: hook})
	return ts
}

// logHook logs transfers: an image's kernel and initrd at Info (with the time they
// took), everything else at Debug; failures at Debug too (UEFI firmware aborts its first
// request after reading tsize, by design).
type logHook struct {
	s    *Server
	next tftp.Hook
}

func (h logHook) OnSuccess(st tftp.TransferStats) {
	lvl := slog.LevelDebug
	if strings.Contains(st.Filename, "xcat/osimage/") {
		lvl = slog.LevelInfo
	}
	h.s.log.Log(context.Background(), lvl, "tftp sent", "name", st.Filename, "remote", st.RemoteAddr.String(),
		"duration", st.Duration.Round(time.Millisecond).String(), "blksize", st.Opts["blksize"], "tsize", st.Opts["tsize"], "datagrams", st.DatagramsSent)
	if h.next != nil {
		h.next.OnSuccess(st)
	}
}

func (h logHook) OnFailure(st tftp.TransferStats, err error) {
	h.s.log.Debug("tftp transfer ended", "name", st.Filename, "remote", st.RemoteAddr.String(), "err", err)
	if h.next != nil {
		h.next.OnFailure(st, err)
	}
}

// ServeTFTP serves TFTP on conn until ctx is done.
func (s *Server) ServeTFTP(ctx context.Context, conn net.PacketConn, hook tftp.Hook) error {
	ts := s.TFTP(hook)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			ts.Shutdown()
		case <-done:
		}
	}()
	return ts.Serve(conn)
}

func addrOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

func (s *Server) tftpRead(filename string, rf io.ReaderFrom) error {
	var remote, local netip.Addr
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ra := ot.RemoteAddr()
		remote = addrOf(ra.IP)
	}
	if pi, ok := rf.(tftp.RequestPacketInfo); ok {
		local = addrOf(pi.LocalIP())
	}
	c, err := s.open(filename, remote, local)
	if err != nil {
		if !errors.Is(err, errNotFound) {
			s.log.Warn("tftp refused", "name", filename, "remote", remote.String(), "err", err)
		} else {
			s.log.Debug("tftp not found", "name", filename, "remote", remote.String())
		}
		return err
	}
	defer c.Close()
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(c.size)
	}
	if _, err := rf.ReadFrom(c); err != nil {
		s.log.Warn("tftp transfer failed", "name", filename, "remote", remote.String(), "err", err)
	}
	return nil
}

// ServeHTTP serves GET and HEAD for the same names as TFTP (kernels, initrds, iPXE scripts
// and the TFTP root's files), with Range requests (http.ServeContent). A leading
// /tftpboot/ is accepted and dropped, as xCAT's URLs carry it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	name := r.URL.Path
	if rest, ok := strings.CutPrefix(name, "/tftpboot/"); ok {
		name = rest
	}
	var remote, local netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		remote = ap.Addr().Unmap()
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil {
			local = ap.Addr().Unmap()
		}
	}
	c, err := s.open(name, remote, local)
	if err != nil {
		switch {
		case errors.Is(err, ErrTraversal):
			http.Error(w, err.Error(), http.StatusForbidden)
		case errors.Is(err, errNotFound):
			http.Error(w, "not found", http.StatusNotFound)
		default:
			s.log.Warn("http refused", "path", r.URL.Path, "remote", remote.String(), "err", err)
			http.Error(w, err.Error(), http.StatusForbidden)
		}
		return
	}
	defer c.Close()
	if c.node != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
	} else if !strings.HasSuffix(c.name, ".cfg") && !strings.Contains(c.name, ".") {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	http.ServeContent(w, r, c.name, c.modTime, c)
}
