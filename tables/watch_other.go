//go:build !linux

package tables

import (
	"errors"
	"io"
)

func startInotify(dir string, out chan<- watchEvent, done <-chan struct{}) (io.Closer, error) {
	return nil, errors.New("inotify is Linux only")
}
