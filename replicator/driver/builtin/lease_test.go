package builtin

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/topics"
)

// A supervised resource's primary writes only under the lease the
// supervisor sets, none at start; a new primary after a failover too.
func TestLeaseFencesThePrimary(t *testing.T) {
	n := newTestNet(t)
	rc := orders(false)
	rc.Leased = true
	p, m := n.start("node0", t.TempDir(), rc), n.start("node1", t.TempDir(), rc)
	eventually(t, "the start check", func() bool { s, _ := p.m.StatusOf("orders"); return !s.Starting })
	if _, err := produce(t, p, "orders", "a"); !errors.Is(err, topics.ErrNotWritable) || !strings.Contains(err.Error(), "no quorum confirmed yet") {
		t.Fatalf("produce without a lease: %v", err)
	}
	if err := p.m.SetLease("orders", time.Now().Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := produce(t, p, "orders", "a"); err != nil {
		t.Fatalf("produce under a lease: %v", err)
	}
	if err := p.m.SetLease("orders", time.Now().Add(-time.Millisecond), "2 of 3 votes lost"); err != nil {
		t.Fatal(err)
	}
	if _, err := produce(t, p, "orders", "b"); !errors.Is(err, topics.ErrNotWritable) || !strings.Contains(err.Error(), "2 of 3 votes lost") {
		t.Fatalf("produce after the lease: %v", err)
	}
	if end(p, "orders") != 1 {
		t.Fatalf("log end %d after a fenced produce, want 1", end(p, "orders"))
	}
	eventually(t, "the mirror to catch up", func() bool { return end(m, "orders") == 1 })
	if err := m.m.SetLease("nope", time.Now(), ""); err == nil {
		t.Error("a lease for an unknown resource was accepted")
	}
	// A failover leaves the new primary fenced until its lease comes.
	n.isolate("node0", true)
	if _, err := m.m.Failover(t.Context(), "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := produce(t, m, "orders", "c"); !errors.Is(err, topics.ErrNotWritable) {
		t.Fatalf("new primary without a lease: %v", err)
	}
	if err := m.m.SetLease("orders", time.Now().Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := produce(t, m, "orders", "c"); err != nil {
		t.Fatal(err)
	}
}

// Learn: an epoch relayed by a third node (the witness) makes the old
// primary DIVERGED without a word from its peer.
func TestLearnRelayedEpoch(t *testing.T) {
	n, p, _ := pair(t, false)
	n.isolate("node0", true)
	if err := p.m.Learn("orders", 2, "node0"); err == nil {
		t.Error("an epoch naming this node itself as the new primary was accepted")
	}
	if err := p.m.Learn("orders", 2, "node1"); err != nil {
		t.Fatal(err)
	}
	s, _ := p.m.StatusOf("orders")
	if s.Role != string(resource.Diverged) || s.Diverged == nil || s.Diverged.Epoch != 2 {
		t.Fatalf("after a relayed epoch 2: %+v", s)
	}
	if _, err := produce(t, p, "orders", "x"); !errors.Is(err, topics.ErrNotWritable) {
		t.Fatalf("produce on the diverged old primary: %v", err)
	}
	if err := p.m.Learn("orders", 1, "node1"); err != nil {
		t.Fatalf("a lower epoch: %v", err)
	}
	if s2, _ := p.m.StatusOf("orders"); s2.Diverged.Epoch != 2 {
		t.Errorf("a lower epoch changed the state: %+v", s2)
	}
}
