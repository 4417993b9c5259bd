package supervisor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/history"
)

// fakeEtcd is one key per resource with leases that expire at a fake
// time, as etcd's do: ttl after the last keepalive.
type fakeEtcd struct {
	mu      sync.Mutex
	now     time.Time
	ttl     time.Duration
	holder  string
	epoch   uint32
	rev     int64
	expires map[string]time.Time // node -> its lease's expiry
	refuse  bool                 // Acquire fails (etcd unreachable)
}

func (f *fakeEtcd) expire() {
	if f.holder != "" && !f.now.Before(f.expires[f.holder]) {
		f.holder = ""
		f.rev++
	}
}

// voter is one node's client of the fake.
type voter struct {
	f       *fakeEtcd
	node    string
	renewed time.Time
}

func (v *voter) Name() string { return "etcd" }

func (v *voter) Want(_ string, primary bool, epoch uint32) {
	f := v.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire()
	if !primary {
		return
	}
	f.expires[v.node], v.renewed = f.now.Add(f.ttl), f.now
	if f.holder == "" {
		f.holder, f.epoch = v.node, epoch
		f.rev++
	}
}

func (v *voter) Word(string) failover.External {
	f := v.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire()
	x := failover.External{ReadAt: f.now, Revision: f.rev}
	if f.holder != "" {
		x.Held, x.Holder, x.Epoch = true, ids[f.holder], f.epoch
		x.Mine = f.holder == v.node
		if x.Mine {
			x.Renewed = v.renewed
		}
	}
	return x
}

func (v *voter) Acquire(_ context.Context, _ string, epoch uint32) (int64, error) {
	f := v.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire()
	switch {
	case f.refuse:
		return 0, errors.New("etcd unreachable")
	case f.holder != "":
		return 0, errors.New("the key is held by " + f.holder)
	}
	f.holder, f.epoch = v.node, epoch
	f.expires[v.node], v.renewed = f.now.Add(f.ttl), f.now
	f.rev++
	return f.rev, nil
}

func (v *voter) Release(context.Context, string, uint32) error {
	f := v.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holder == v.node {
		f.holder = ""
		f.rev++
	}
	return nil
}

// etcdPair is a and b (no witness) with the fake etcd as third vote.
type etcdPair struct {
	t      *testing.T
	f      *fakeEtcd
	a, b   *testNode
	now    time.Time
	dead   string    // the node that died ("" none)
	cut    bool      // the interconnect is cut: a and b hear nothing of each other
	downAt time.Time // when each sees the other DOWN
}

func newEtcdPair(t *testing.T) *etcdPair {
	p := &etcdPair{t: t, now: t0, f: &fakeEtcd{now: t0, ttl: 2 * time.Second, expires: map[string]time.Time{}}}
	two := map[string]uint16{"a": ids["a"], "b": ids["b"]}
	mk := func(name, role string) *testNode {
		n := &testNode{name: name, tgt: &fakeTarget{self: name, role: role, epoch: 1, primary: "a"}, dir: t.TempDir()}
		h, err := history.Open(n.dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		s, err := New(Config{Self: name, Nodes: two, History: h, External: &voter{f: p.f, node: name}, FirstSeq: uint64(ids[name]) << 40,
			Resources: []Resource{{Name: "r", Primary: "a", Mirror: "b", Failover: failover.Config{Auto: true}.WithDefaults(), Target: n.tgt}}})
		if err != nil {
			t.Fatal(err)
		}
		n.sup = s
		return n
	}
	p.a, p.b = mk("a", "primary"), mk("b", "mirror")
	return p
}

func (p *etcdPair) step() {
	p.now = p.now.Add(Every)
	p.f.mu.Lock()
	p.f.now = p.now
	p.f.mu.Unlock()
	apart := p.cut || p.dead != ""
	views := map[string][]byte{}
	for _, n := range []*testNode{p.a, p.b} {
		if n.name == p.dead {
			continue
		}
		other := ids["b"]
		if n.name == "b" {
			other = ids["a"]
		}
		st, since := failover.NodeOpen, t0
		if apart && !p.now.Before(p.downAt) {
			st, since = failover.NodeDown, p.downAt
		}
		if n.tgt.role == "primary" || p.dead == "" {
			n.tgt.mu.Lock()
			n.tgt.sampled = p.now
			n.tgt.mu.Unlock()
		}
		v, err := n.sup.Tick(context.Background(), Tick{Now: p.now, Peers: []Peer{{ID: other, State: st, Since: since}}})
		if err != nil {
			p.t.Fatal(err)
		}
		n.sup.Wait()
		views[n.name] = v
	}
	if !apart {
		_ = p.a.sup.Hear(ids["b"], views["b"], p.now)
		_ = p.b.sup.Hear(ids["a"], views["a"], p.now)
	}
}

func (p *etcdPair) run(d time.Duration) {
	for end := p.now.Add(d); p.now.Before(end); {
		p.step()
	}
}

func records(t *testing.T, n *testNode) []history.Record {
	recs, _, err := history.Read(n.dir + "/" + history.FileName)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestEtcdVoteFailsOverADeadPrimary(t *testing.T) {
	p := newEtcdPair(t)
	p.run(2 * time.Second)
	if !p.a.tgt.writable(p.now) || p.f.holder != "a" {
		t.Fatalf("a is not the leased primary holding the key: %+v, key held by %q", p.a.sup.Status(), p.f.holder)
	}
	p.dead, p.downAt = "a", p.now.Add(600*time.Millisecond)
	died := p.now
	for p.b.tgt.failovers == 0 && p.now.Sub(died) < 10*time.Second {
		p.step()
	}
	if p.b.tgt.failovers != 1 || p.f.holder != "b" || p.f.epoch != 2 {
		t.Fatalf("no failover to b holding the key at epoch 2 10s after a died: %+v, key %q epoch %d", p.b.sup.Status(), p.f.holder, p.f.epoch)
	}
	if took := p.now.Sub(died); took < 600*time.Millisecond+failover.DefaultGrace {
		t.Errorf("failed over %v after the death: before detection + grace", took)
	}
	p.run(2 * time.Second)
	if !p.b.tgt.writable(p.now) {
		t.Fatalf("the new primary is not leased on the etcd vote: %+v", p.b.sup.Status())
	}
	var promoted *history.Record
	for _, r := range records(t, p.b) {
		if r.Action == "promoted" {
			promoted = &r
		}
	}
	if promoted == nil || promoted.Revision == 0 || promoted.Votes != 2 || promoted.Voters != 3 || promoted.EpochAfter != 2 {
		t.Fatalf("promoted record %+v: want the key's revision, 2 of 3 votes, epoch 2", promoted)
	}
}

// The interconnect is cut and both reach etcd: a keeps writing on etcd's
// vote, b never fails over (the key is alive), and says why.
func TestEtcdVoteInterconnectCutKeepsOnePrimary(t *testing.T) {
	p := newEtcdPair(t)
	p.run(2 * time.Second)
	p.cut, p.downAt = true, p.now.Add(600*time.Millisecond)
	for range 100 {
		p.step()
		if !p.a.tgt.writable(p.now) {
			t.Fatalf("a lost its lease with etcd's vote at %v: %+v", p.now.Sub(t0), p.a.sup.Status())
		}
	}
	st := p.b.sup.Status()[0]
	if p.b.tgt.failovers != 0 || st.Reason != failover.ReasonNoQuorum || st.Voters != 3 || st.Votes != 1 {
		t.Fatalf("b: %d failovers, status %+v", p.b.tgt.failovers, st)
	}
	if st.Witness == "" || !strings.Contains(st.Witness, "lease is alive") {
		t.Errorf("b's status does not say etcd holds a: %q", st.Witness)
	}
}

// A promotion that cannot take the key does not happen.
func TestEtcdVoteNoKeyNoPromotion(t *testing.T) {
	p := newEtcdPair(t)
	p.run(2 * time.Second)
	p.f.mu.Lock()
	p.f.refuse = true
	p.f.mu.Unlock()
	p.dead, p.downAt = "a", p.now.Add(600*time.Millisecond)
	p.run(8 * time.Second)
	if p.b.tgt.failovers != 0 {
		t.Fatal("b failed over without the key")
	}
	failed := 0
	for _, r := range records(t, p.b) {
		if r.Action == "promote-failed" && strings.Contains(r.Detail, "cannot take the key") {
			failed++
		}
	}
	if failed == 0 {
		t.Fatalf("no promote-failed record: %+v", records(t, p.b))
	}
}
