package builtin

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// acks tracks, per topic of a primary, the offset up to which the mirror
// has the log durably: the offset its latest fetch asked from (the mirror
// syncs before it fetches again). acks: mirror produces wait on it.
type acks struct {
	mu     sync.Mutex
	have   map[string]uint64
	change chan struct{} // closed and replaced when have moves
}

func newAcks() *acks { return &acks{have: map[string]uint64{}, change: make(chan struct{})} }

// advance notes that the mirror holds topic below offset.
func (a *acks) advance(topic string, offset uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if offset <= a.have[topic] {
		return
	}
	a.have[topic] = offset
	close(a.change)
	a.change = make(chan struct{})
}

func (a *acks) get(topic string) (uint64, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.have[topic], a.change
}

// reset forgets what a mirror confirmed (a new epoch: a new mirror).
func (a *acks) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.have = map[string]uint64{}
}

// wait returns once the mirror holds topic below end, or an error after
// timeout or when ctx ends.
func (a *acks) wait(ctx context.Context, mirror, topic string, end uint64, timeout time.Duration) error {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		have, change := a.get(topic)
		if have >= end {
			return nil
		}
		select {
		case <-change:
		case <-tm.C:
			return fmt.Errorf("the mirror %s did not confirm offset %d of topic %q within %v (it has confirmed up to %d)",
				mirror, end, topic, timeout, have)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the mirror %s: %w", mirror, ctx.Err())
		}
	}
}
