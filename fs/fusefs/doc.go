// Package fusefs mounts one node's view with go-fuse v2.
package fusefs

import (
	_ "github.com/hanwen/go-fuse/v2/fs"
)
