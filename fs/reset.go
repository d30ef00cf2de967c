package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Reset requests let another process (statelite reset) ask a running server to drop a
// node's volatile layer: the request is a file State/reset/<node>, which the server
// removes once the reset is done.

// RequestReset asks the server running on state to reset node and waits until it has.
func RequestReset(ctx context.Context, state, node string) error {
	dir := filepath.Join(state, "reset")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f := filepath.Join(dir, node)
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		return err
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		select {
		case <-ctx.Done():
			os.Remove(f)
			return fmt.Errorf("reset of %s: no running server on state %s answered (%w)", node, state, ctx.Err())
		case <-t.C:
		}
	}
}

// WatchResets serves reset requests until ctx is done, checking every interval.
func (s *Server) WatchResets(ctx context.Context, interval time.Duration, log *slog.Logger) {
	dir := filepath.Join(s.cfg.State, "reset")
	os.MkdirAll(dir, 0o700)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			node := e.Name()
			if err := s.Reset(node); err != nil {
				log.Error("reset request failed", "node", node, "err", err)
			} else {
				log.Info("volatile layer reset on request", "node", node)
			}
			os.Remove(filepath.Join(dir, node))
		}
	}
}
