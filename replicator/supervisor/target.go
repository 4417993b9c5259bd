package supervisor

import (
	"context"
	"time"
)

// Target is one resource's copy on this node, as the supervisor drives it.
// Status and SetLease must not block (they are called every tick);
// Failover may, and runs on a goroutine of its own.
type Target interface {
	Status() (Local, error)
	// SetLease: the copy, when primary, takes writes until until (zero:
	// none now); why says why not after that.
	SetLease(until time.Time, why string) error
	// Failover makes this copy the primary at the next epoch, whatever
	// its lag (the old primary's lease has ended).
	Failover(ctx context.Context) (Promotion, error)
	// Learn: node primary was promoted at epoch (heard from a third node).
	Learn(epoch uint32, primary string) error
}

// Local is the copy's state.
type Local struct {
	Role    string // primary, mirror, stopped, diverged (resource.Role)
	Epoch   uint32
	Primary string // the primary at Epoch
	// A mirror's data: usable (not diverged, failed or paused), its lag
	// at the last sample and when the primary last answered.
	Usable     bool
	LagRecords uint64
	SampledAt  time.Time
	// Backend: what a back end said at its last reading ("" for builtin).
	Backend string
	// Down: the back end has not answered since (zero: it answers; always
	// zero for builtin, which lives in tetherd).
	Down time.Time
}

// Promotion is what a failover did.
type Promotion struct {
	EpochBefore, EpochAfter uint32
	LagGivenUp              uint64
	Detail                  string
}
