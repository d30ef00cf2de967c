package fs

import (
	"sync"
	"syscall"
	"time"
)

// listCache keeps recent listings of image directories, shared by every node: a listing
// is reused for up to listTTL while its directory keeps the same inode, mtime and ctime
// (names added, removed or renamed change those at once; a child edited in place shows
// its new attributes in listings within listTTL, and at once in lookups).
type listCache struct {
	mu sync.Mutex
	m  map[listKey]listEntry
}

const (
	listTTL      = time.Second
	listCacheMax = 4096
)

type listKey struct {
	root, rel    string
	ino          uint64
	mtime, ctime syscall.Timespec
}

type listEntry struct {
	ents  []DirEntry
	built time.Time
}

func listKeyOf(o *object) listKey {
	k := listKey{root: o.root, rel: o.rel}
	if st, ok := o.fi.Sys().(*syscall.Stat_t); ok {
		k.ino, k.mtime, k.ctime = st.Ino, st.Mtim, st.Ctim
	}
	return k
}

func (c *listCache) get(k listKey) ([]DirEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Since(e.built) > listTTL {
		return nil, false
	}
	return e.ents, true
}

func (c *listCache) put(k listKey, ents []DirEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= listCacheMax {
		c.m = make(map[listKey]listEntry)
	}
	c.m[k] = listEntry{ents: ents, built: time.Now()}
}
