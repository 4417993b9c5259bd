package redis

import (
	"context"
	"strconv"
)

// Fence makes the local redis refuse writes (NOREPLICAS) while it keeps
// its data and its role: min-replicas-to-write goes to a number of good
// replicas no deployment has. It applies to a replica too, where it only
// matters once it is made primary behind the driver's back.
//
// CONFIG SET is not persisted: a redis restarted while fenced comes back
// writable. The supervisor re-applies Fence on every evaluation, which
// closes that window; the driver does not CONFIG REWRITE because a fence
// that outlives the agent's decision would be worse.
func (d *Driver) Fence(ctx context.Context, reason string) error {
	// Redis only counts good replicas when min-replicas-max-lag is
	// non-zero: with 0, min-replicas-to-write is ignored and the fence
	// would not hold. Redis's default is put back; it is left there on
	// Unfence (a min-replicas-to-write with max-lag 0 does nothing, so
	// only a deployment without that feature sees the change, and it
	// has no effect there).
	lag, err := d.configGet(ctx, "min-replicas-max-lag")
	if err != nil {
		return err
	}
	if lag == "0" {
		if err := d.configSet(ctx, "min-replicas-max-lag", strconv.Itoa(defaultMaxLag)); err != nil {
			return err
		}
	}
	fenced, err := d.fenced(ctx)
	if err != nil {
		return err
	}
	if !fenced {
		if err := d.configSet(ctx, "min-replicas-to-write", strconv.Itoa(fenceValue)); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.reason = reason
	d.mu.Unlock()
	return nil
}

// Unfence lifts this driver's fence: min-replicas-to-write back to the
// configured value. Any other value is the operator's and is left alone.
func (d *Driver) Unfence(ctx context.Context) error {
	fenced, err := d.fenced(ctx)
	if err != nil {
		return err
	}
	if fenced {
		if err := d.configSet(ctx, "min-replicas-to-write", strconv.Itoa(d.cfg.MinReplicasToWrite)); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.reason = ""
	d.mu.Unlock()
	return nil
}

// fenced reads the fence from the server itself, so that it is seen by
// an agent that restarted after setting it.
func (d *Driver) fenced(ctx context.Context) (bool, error) {
	v, err := d.configGet(ctx, "min-replicas-to-write")
	if err != nil {
		return false, err
	}
	return v == strconv.Itoa(fenceValue), nil
}
