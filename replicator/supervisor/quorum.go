package supervisor

import (
	"context"

	"github.com/tether-ha/tether/replicator/failover"
)

// External is an external voter (quorum.etcd; replicator/quorum/etcd).
// Want and Word are called every tick and must not block: the voter
// does its I/O on a goroutine of its own, and its word carries when it
// was read, which the rules judge. Acquire and Release block; they run
// on a failover's goroutine.
type External interface {
	Name() string
	// Want: this node is the resource's primary at epoch and wants the
	// key (primary false: it only reads it).
	Want(resource string, primary bool, epoch uint32)
	Word(resource string) failover.External
	// Acquire takes the free key for this node at epoch; it returns the
	// revision (the new epoch's fencing token), or why not.
	Acquire(ctx context.Context, resource string, epoch uint32) (int64, error)
	// Release gives the key up if this node holds it at epoch (a
	// promotion that failed).
	Release(ctx context.Context, resource string, epoch uint32) error
}
