package builtin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/topics"
)

// After a failover the new primary of an acks: mirror resource has no
// mirror: it acknowledges locally until the old primary mirrors it again,
// then waits for it again.
func TestAcksMirrorDegradedAfterFailover(t *testing.T) {
	n, p, m := pair(t, true)
	if _, err := produce(t, p, "orders", "a"); err != nil {
		t.Fatal(err)
	}
	n.isolate("node0", true)
	if _, err := produce(t, p, "orders", "b"); !errors.Is(err, topics.ErrNotAcknowledged) {
		t.Fatalf("acks: mirror at the first epoch without the mirror: %v", err)
	}
	if _, err := m.m.Failover(context.Background(), "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := produce(t, m, "orders", "c"); err != nil {
		t.Fatalf("new primary without a mirror: %v", err)
	}
	if s, _ := m.m.StatusOf("orders"); !s.AcksDegraded {
		t.Errorf("status does not say acks are degraded: %+v", s)
	}
	n.isolate("node0", false)
	eventually(t, "the old primary to diverge", func() bool { s, _ := p.m.StatusOf("orders"); return s.Diverged != nil })
	// The operator's request ends when the command returns: the mirror
	// it started must go on (it once ran on the request's context).
	rctx, cancel := context.WithCancel(context.Background())
	if _, err := p.m.TruncateAndRestore(rctx, "orders", t.TempDir(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	cancel()
	for range 3 {
		if _, err := produce(t, m, "orders", "after-restore"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the restored mirror to go on mirroring", func() bool { return end(p, "orders") == end(m, "orders") })
	eventually(t, "the new primary to see its mirror", func() bool { s, _ := m.m.StatusOf("orders"); return !s.AcksDegraded })
	if _, err := produce(t, m, "orders", "d"); err != nil {
		t.Fatalf("with the mirror back: %v", err)
	}
	n.isolate("node0", true)
	if _, err := produce(t, m, "orders", "e"); !errors.Is(err, topics.ErrNotAcknowledged) {
		t.Fatalf("acks: mirror once the mirror was back, then cut: %v", err)
	}
}
