// Package fusefs mounts one node's view (a *fs.View of the overlay engine) on the serving
// host with go-fuse v2, so an admin can look at and change exactly what the node sees
// with ordinary tools.
//
// Each FUSE inode stands for a view path; its inode number is the engine's stable file
// id and its path is recomputed from the kernel's tree on every operation (as go-fuse's
// loopback does), so renames move whole subtrees correctly. The kernel enforces Unix
// permissions (default_permissions); new objects belong to the calling user. Entries and
// attributes are cached for one second; Mounted.Invalidate drops what the kernel holds
// when the tables change.
package fusefs
