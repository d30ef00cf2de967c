// Package billyfs is a go-billy v5 Filesystem (with Change) over one node's view.
package billyfs

import (
	_ "github.com/go-git/go-billy/v5"
)
