package topics

import (
	"context"
	"fmt"
)

// Produce appends values as one batch stamped with the store's epoch and the
// wall clock, fsyncs it, and returns its base offset: a nil error means the
// records are durable on this node. Appends to one topic are serialised by
// its log; the fsync is not, so concurrent producers share fsyncs (group
// commit). Consumers see the records once they are durable.
func (s *Store) Produce(ctx context.Context, name string, values [][]byte) (int64, error) {
	t, err := s.topic(name)
	if err != nil {
		return 0, err
	}
	if len(values) == 0 {
		return 0, fmt.Errorf("topic %q: %w", name, ErrNoRecords)
	}
	// Once appended the batch cannot be withdrawn, so ctx is only
	// honoured before.
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	t.wmu.Lock()
	g := t.gate
	if g.Role == RoleMirror {
		t.wmu.Unlock()
		return 0, &ReadOnlyError{Topic: name}
	}
	if g.Refuse != nil {
		t.wmu.Unlock()
		return 0, g.Refuse
	}
	if g.Check != nil {
		if err := g.Check(); err != nil {
			t.wmu.Unlock()
			return 0, err
		}
	}
	base, err := t.log.Append(values, g.Epoch, s.opt.Now().UnixMilli())
	t.wmu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("produce to topic %q: %w", name, err)
	}
	if err := t.log.Sync(); err != nil {
		return 0, fmt.Errorf("produce to topic %q: %w", name, err)
	}
	t.wake()
	if g.Check != nil {
		if err := g.Check(); err != nil {
			return int64(base), fmt.Errorf("produce to topic %q: records %d..%d are durable on this node but %w: %w",
				name, base, base+uint64(len(values))-1, ErrNotAcknowledged, err)
		}
	}
	if g.Ack != nil {
		if err := g.Ack(ctx, base+uint64(len(values))); err != nil {
			return int64(base), fmt.Errorf("produce to topic %q: records %d..%d are durable on this node but %w: %w",
				name, base, base+uint64(len(values))-1, ErrNotAcknowledged, err)
		}
	}
	return int64(base), nil
}
