// Package driver is what the failover supervisor asks of a resource's back
// end on this node (redis, postgresql, exec hooks; builtin is driven
// directly). Each node drives only its local back end: the mirror promotes
// its own copy, a primary fences its own, a returning old primary makes its
// own copy follow the new primary. Which node is primary, and at which
// epoch, is the supervisor's business (replicator/resource), not the
// back end's.
package driver

import (
	"context"
	"time"
)

// Role is what the local back end says it is.
type Role string

const (
	RolePrimary Role = "primary" // takes writes
	RoleFenced  Role = "fenced"  // a primary that refuses writes (Fence)
	RoleReplica Role = "replica" // follows another node, read-only
	RoleDown    Role = "down"    // not running or not answering
)

// Status is one reading of the local back end.
type Status struct {
	Role Role
	// Following: on a replica, the node (by name) or address it follows,
	// and whether its replication link to it is up now.
	Following string
	LinkUp    bool
	// Lag: on a replica, how far behind the primary it is, in the
	// driver's unit (LagUnit), as of LagAt: the last time the replica
	// heard the primary (zero: never, or unknown). A lag read while the
	// link is down is what a failover would give up, not a live figure.
	Lag   uint64
	LagAt time.Time
	// Offset is the back end's replication position (Redis offset,
	// PostgreSQL LSN) for the history; 0 when it has none.
	Offset uint64
	Detail string // for people: what the back end said
}

// Driver controls one resource's back end on this node. Every method is
// idempotent (the supervisor retries after errors and restarts) and
// bounded by ctx and the driver's own timeouts; none may block past them.
type Driver interface {
	// LagUnit names Status.Lag's unit ("bytes", "records", ...), for
	// the history and the max_lag documentation.
	LagUnit() string
	// Status reads the local back end.
	Status(ctx context.Context) (Status, error)
	// Promote makes the local back end a writable primary now, whatever
	// its lag (the supervisor has decided; the old primary is fenced or
	// dead). It also lifts a fence of this driver's.
	Promote(ctx context.Context) error
	// Fence makes the local back end refuse writes, keeping its data and
	// its role, until Unfence, Promote or Follow.
	Fence(ctx context.Context, reason string) error
	// Unfence lifts Fence (quorum is back and nobody promoted).
	Unfence(ctx context.Context) error
	// Follow makes the local back end a read-only replica of node
	// primary (a name of the resource's configuration). An old primary
	// whose history diverged may need more than a restart: a driver that
	// cannot make it follow safely returns a *DivergedError saying what
	// an operator must run, and leaves it fenced.
	Follow(ctx context.Context, primary string) error
	// Close releases the driver's connections.
	Close() error
}

// Switchover is a driver that can hand the primary role over gracefully
// itself (Redis FAILOVER): called on the primary's node, it returns once
// node to is the primary with nothing lost, or fails with this node still
// the primary (unfenced).
type Switchover interface {
	Switchover(ctx context.Context, to string, timeout time.Duration) error
}

// DivergedError: this copy cannot follow the new primary without an
// operator (pg_rewind failed or is off, for instance).
type DivergedError struct {
	Why     string
	Command string // what to run, when the driver knows it
}

func (e *DivergedError) Error() string {
	if e.Command == "" {
		return "diverged: " + e.Why
	}
	return "diverged: " + e.Why + "; run: " + e.Command
}
