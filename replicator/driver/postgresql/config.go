// Package postgresql is the PostgreSQL back end of the failover supervisor
// (driver.Driver). It acts on the local server only: it reads its role,
// fences it (read-only or stopped), promotes it, and makes it follow
// another node, with pg_rewind when its history diverged.
//
// The data directory must be self-contained (postgresql.conf inside it):
// the driver starts and stops the server with pg_ctl -D DataDir.
package postgresql

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Fence modes.
const (
	FenceReadOnly = "read-only" // default_transaction_read_only = on, sessions terminated
	FenceStop     = "stop"      // pg_ctl stop -m fast
)

// Defaults.
const (
	DefaultBinDir  = "/usr/lib/postgresql/15/bin"
	DefaultTimeout = 10 * time.Second
	// queryTimeout bounds one query (or one connection attempt); an
	// operation made of several is bounded by Config.Timeout.
	queryTimeout = 2 * time.Second
)

// Config is one resource's PostgreSQL back end as seen from node Self.
type Config struct {
	// Self is this node's name, a key of Conninfo.
	Self string
	// Conninfo: node name -> libpq conninfo the driver connects with,
	// e.g. "host=127.0.0.1 port=5432 user=postgres dbname=postgres". The
	// user must be a superuser (ALTER SYSTEM, pg_terminate_backend,
	// CHECKPOINT, pg_promote).
	Conninfo map[string]string
	// ReplicationConninfo: node -> conninfo a replica streams from
	// (primary_conninfo) and pg_rewind reads from. Default: Conninfo's.
	ReplicationConninfo map[string]string
	// DataDir is the local data directory.
	DataDir string
	// BinDir holds pg_ctl and pg_rewind. Default DefaultBinDir.
	BinDir string
	// OSUser owns DataDir; when the agent runs as root, pg_ctl and
	// pg_rewind run as this user. Default: DataDir's owner.
	OSUser string
	// Fence is FenceReadOnly (default) or FenceStop.
	Fence string
	// Rewind: Follow runs pg_rewind when the local history diverged.
	// Without it such a copy is left stopped with the command to run.
	Rewind bool
	// Timeout bounds each operation (Follow: each of its steps: stop,
	// pg_rewind, start, catching up). Default DefaultTimeout.
	Timeout time.Duration
}

// Validate checks the configuration without touching the system.
func (c Config) Validate() error {
	if c.Self == "" {
		return errors.New("postgresql: Self (this node's name) is empty")
	}
	if len(c.Conninfo) == 0 {
		return errors.New("postgresql: Conninfo is empty")
	}
	if _, ok := c.Conninfo[c.Self]; !ok {
		return fmt.Errorf("postgresql: Conninfo has no entry for Self %q (have %v)", c.Self, sortedKeys(c.Conninfo))
	}
	for _, node := range sortedKeys(c.Conninfo) {
		if node == "" {
			return errors.New("postgresql: Conninfo has an empty node name")
		}
		if _, err := pgx.ParseConfig(c.Conninfo[node]); err != nil {
			return fmt.Errorf("postgresql: Conninfo[%s]: %v", node, err)
		}
	}
	for _, node := range sortedKeys(c.ReplicationConninfo) {
		if _, ok := c.Conninfo[node]; !ok {
			return fmt.Errorf("postgresql: ReplicationConninfo has node %q that Conninfo lacks", node)
		}
		if _, err := pgx.ParseConfig(c.ReplicationConninfo[node]); err != nil {
			return fmt.Errorf("postgresql: ReplicationConninfo[%s]: %v", node, err)
		}
	}
	if c.DataDir == "" {
		return errors.New("postgresql: DataDir is empty")
	}
	if !filepath.IsAbs(c.DataDir) {
		return fmt.Errorf("postgresql: DataDir %q is not an absolute path", c.DataDir)
	}
	if c.BinDir != "" && !filepath.IsAbs(c.BinDir) {
		return fmt.Errorf("postgresql: BinDir %q is not an absolute path", c.BinDir)
	}
	switch c.Fence {
	case "", FenceReadOnly, FenceStop:
	default:
		return fmt.Errorf("postgresql: Fence %q: want %q or %q", c.Fence, FenceReadOnly, FenceStop)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("postgresql: Timeout %v is negative", c.Timeout)
	}
	return nil
}

// withDefaults returns a copy with the defaults filled in (after Validate).
func (c Config) withDefaults() Config {
	if c.BinDir == "" {
		c.BinDir = DefaultBinDir
	}
	if c.Fence == "" {
		c.Fence = FenceReadOnly
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	c.DataDir = filepath.Clean(c.DataDir)
	repl := make(map[string]string, len(c.Conninfo))
	for node, ci := range c.Conninfo {
		repl[node] = ci
	}
	for node, ci := range c.ReplicationConninfo {
		repl[node] = ci
	}
	c.ReplicationConninfo = repl
	return c
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
