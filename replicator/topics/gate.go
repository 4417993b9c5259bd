package topics

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/tether-ha/tether/replicator/logstore"
)

// RoleMirror is a read-only copy fed by the replicator.
const RoleMirror Role = "mirror"

// ReadOnlyError is a produce to a mirror topic; its text is Cluster
// Linking's, which operators search for.
type ReadOnlyError struct{ Topic string }

func (e *ReadOnlyError) Error() string {
	return fmt.Sprintf("cannot append records to read-only mirror topic '%s'", e.Topic)
}

func (e *ReadOnlyError) Unwrap() error { return ErrNotWritable }

// Gate is what a resource's driver decides for one of its topics: what the
// node's copy is, the epoch stamped on what it produces, whether produce is
// refused for now, and what a produce waits for after its fsync.
type Gate struct {
	Role  Role
	Epoch uint32
	// Refuse, when set on a primary, fails every produce with it (frozen
	// for a promote, stopped after one, diverged): nothing is appended. It
	// should wrap ErrNotWritable.
	Refuse error
	// Check, when set, is asked before the append and again once the
	// batch is durable, before Ack: the failover supervisor's lease. A
	// refusal before appends nothing; after, the records stay but the
	// produce fails as not acknowledged, so no write is acknowledged by a
	// primary whose lease ended while it was writing (a pause mid-fsync).
	Check func() error
	// Ack, when set, is called after the batch is durable here with the
	// offset after it; a produce returns its error. The replicator wakes
	// the mirrors' long-polls in it, and for acks: mirror waits there for
	// the mirror. The batch stays in the log either way.
	Ack func(ctx context.Context, end uint64) error
}

// SetGate sets the gate of topic name. When it returns, no produce that
// passed the old gate is still appending: a produce in flight has appended
// (and may still be syncing) or will see the new gate.
func (s *Store) SetGate(name string, g Gate) error {
	if g.Role != RolePrimary && g.Role != RoleMirror {
		return fmt.Errorf("topic %q: bad role %q", name, g.Role)
	}
	t, err := s.topic(name)
	if err != nil {
		return err
	}
	t.wmu.Lock()
	t.gate = g
	t.wmu.Unlock()
	return nil
}

// Ensure creates topic name when it does not exist yet (a resource's
// topics are created on both of its nodes at start).
func (s *Store) Ensure(name string) error {
	if _, err := s.topic(name); err == nil {
		return nil
	}
	return s.Create(name)
}

// Log returns the log of topic name, for the replicator: the primary
// serves fetches from it and the mirror appends the primary's batches to
// it. Whoever appends calls Appended after its Sync.
func (s *Store) Log(name string) (*logstore.Log, error) {
	t, err := s.topic(name)
	if err != nil {
		return nil, err
	}
	return t.log, nil
}

// Appended wakes the consumers of topic name after the replicator
// appended to its log and synced.
func (s *Store) Appended(name string) {
	if t, err := s.topic(name); err == nil {
		t.wake()
	}
}

// SyncGroups applies the primary's consumer-group offsets for topic name
// on its mirror, each capped at the mirror's log end (a consumer that
// fails over never skips records the mirror does not have). Only changed
// offsets are written.
func (s *Store) SyncGroups(name string, offsets map[string]int64) error {
	t, err := s.topic(name)
	if err != nil {
		return err
	}
	end := int64(t.log.DurableOffset())
	have := s.groups.forTopic(name)
	for _, g := range slices.Sorted(maps.Keys(offsets)) {
		o := min(offsets[g], end)
		if cur, ok := have[g]; (ok && cur == o) || o < 0 || !ValidName(g) {
			continue
		}
		if err := s.groups.commit(g, name, o); err != nil {
			return err
		}
	}
	return nil
}

// GroupOffsets returns every group's committed offset for topic name.
func (s *Store) GroupOffsets(name string) map[string]int64 {
	return maps.Clone(s.groups.forTopic(name))
}
