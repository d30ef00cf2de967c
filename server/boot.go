package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"statelite/boot"
)

// listenBoot opens the TFTP and HTTP boot servers' sockets (Config.TFTP, Config.HTTP)
// and builds the boot server over the views' live tables; a node fetching its boot
// configuration resets its volatile layer (once per boot).
func (s *Server) listenBoot() error {
	o, log := s.cfg, s.log
	if o.TFTP == "" && o.HTTP == "" {
		return nil
	}
	var err error
	if o.TFTP != "" {
		if s.tftpC, err = net.ListenPacket("udp", o.TFTP); err != nil {
			return fmt.Errorf("--tftp %s: %w", o.TFTP, err)
		}
		s.onClose(func() { s.tftpC.Close() })
	}
	if o.HTTP != "" {
		if s.httpL, err = listen("tcp", o.HTTP, "--http", s); err != nil {
			return err
		}
	}
	cfg := boot.Config{
		Resolver: s.fs.Resolver, TFTPRoot: o.TFTPRoot, NFSPort: portOf(s.nfsL.Addr()), Log: log,
		OnBoot: func(node, token string) {
			if _, err := s.fs.Boot(node, token, ""); err != nil {
				log.Error("boot: volatile layer reset failed", "node", node, "err", err)
			}
		},
	}
	if s.tftpC != nil {
		cfg.TFTPPort = portOf(s.tftpC.LocalAddr())
	}
	if s.httpL != nil {
		cfg.HTTPPort = portOf(s.httpL.Addr())
	}
	s.boot, err = boot.New(cfg)
	return err
}

// serveBoot serves TFTP and HTTP boot requests until ctx is done; a loop that ends
// before makes /readyz say so.
func (s *Server) serveBoot(ctx context.Context) {
	h := &s.health
	if s.tftpC != nil {
		h.serving("tftp", s.tftpC.LocalAddr().String())
		go func() { h.ended("tftp", s.boot.ServeTFTP(ctx, s.tftpC, nil)) }()
		s.log.Info("tftp", "addr", s.tftpC.LocalAddr().String(), "root", s.boot.TFTPRoot())
	}
	if s.httpL != nil {
		hs := &http.Server{Handler: s.boot, ReadHeaderTimeout: 10 * time.Second}
		h.serving("http", s.httpL.Addr().String())
		go func() { h.ended("http", hs.Serve(s.httpL)) }()
		go func() { <-ctx.Done(); hs.Close() }()
		s.log.Info("http boot", "addr", s.httpL.Addr().String(), "root", s.boot.TFTPRoot())
	}
}

// portOf is the port of a listener's address.
func portOf(a net.Addr) int {
	_, p, _ := net.SplitHostPort(a.String())
	n, _ := strconv.Atoi(p)
	return n
}
