package nfsd

import (
	"sync"
	"time"
)

// Warnings a client can cause (a forged handle, a refused mount) are rate-limited: one
// line per kind and client address per minute; the next line after a quiet minute says
// how many were left out. Any address can send such requests, and a log flood must not
// cost the server its disk or its admin the lines that matter.
const (
	logEvery    = time.Minute
	logKeysMax  = 4096 // addresses remembered; past it, entries older than logEvery go
	logKeysHard = 2 * logKeysMax
)

type logLimiter struct {
	mu   sync.Mutex
	keys map[string]*logSlot
	now  func() time.Time
}

type logSlot struct {
	last       time.Time
	suppressed int
}

// allow reports whether a line of key may be logged now, and how many lines of key were
// left out since the last one.
func (l *logLimiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	if l.keys == nil {
		l.keys = map[string]*logSlot{}
	}
	sl := l.keys[key]
	if sl != nil && now.Sub(sl.last) < logEvery {
		sl.suppressed++
		return false, 0
	}
	if sl == nil {
		if len(l.keys) >= logKeysMax {
			for k, v := range l.keys {
				if now.Sub(v.last) >= logEvery {
					delete(l.keys, k)
				}
			}
			if len(l.keys) >= logKeysHard {
				clear(l.keys) // an address flood: forget, at worst log more
			}
		}
		sl = &logSlot{}
		l.keys[key] = sl
	}
	n := sl.suppressed
	sl.last, sl.suppressed = now, 0
	return true, n
}

// logLimited logs a warning at most once a minute per key (kind and client address).
func (s *Server) logLimited(key, msg string, args ...any) {
	ok, n := s.limit.allow(key)
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	s.log.Warn(msg, args...)
}
