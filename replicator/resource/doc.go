// Package resource keeps what a node knows of each resource across
// restarts: its epoch, which node is its primary at that epoch, and this
// node's own condition (stopped after a promote, diverged after a failover,
// paused topics). Every promotion bumps the epoch; a lower epoch never wins.
//
// One file per resource, <dir>/resources/<name>.json, replaced atomically
// (tmp, fsync, rename, fsync of the directory) before anything acts on the
// new state.
package resource
