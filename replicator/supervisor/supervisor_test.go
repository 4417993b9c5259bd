package supervisor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/history"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// fakeTarget is a copy in memory.
type fakeTarget struct {
	mu        sync.Mutex
	self      string
	role      string
	epoch     uint32
	primary   string
	until     time.Time
	why       string
	failovers int
	sampled   time.Time // the primary last answered
	down      time.Time // the back end does not answer since
	unusable  bool
}

func (f *fakeTarget) Status() (Local, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Local{Role: f.role, Epoch: f.epoch, Primary: f.primary, Usable: !f.unusable, SampledAt: f.sampled, Down: f.down}, nil
}

func (f *fakeTarget) SetLease(until time.Time, why string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.until, f.why = until, why
	return nil
}

func (f *fakeTarget) Failover(context.Context) (Promotion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failovers++
	f.epoch++
	f.role, f.primary = "primary", f.self
	return Promotion{EpochBefore: f.epoch - 1, EpochAfter: f.epoch, LagGivenUp: 3}, nil
}

func (f *fakeTarget) Learn(epoch uint32, primary string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if epoch > f.epoch {
		f.epoch, f.primary, f.role = epoch, primary, "diverged"
	}
	return nil
}

func (f *fakeTarget) writable(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.role == "primary" && now.Before(f.until)
}

type testNode struct {
	name string
	sup  *Supervisor
	tgt  *fakeTarget
	dir  string
}

var ids = map[string]uint16{"a": 1, "b": 2, "w": 3}

func newNode(t *testing.T, name string, hist bool) *testNode {
	n := &testNode{name: name}
	r := Resource{Name: "orders", Primary: "a", Mirror: "b", Failover: failover.Config{Auto: true}.WithDefaults()}
	if name != "w" {
		role := "mirror"
		if name == "a" {
			role = "primary"
		}
		n.tgt = &fakeTarget{self: name, role: role, epoch: 1, primary: "a"}
		r.Target = n.tgt
	}
	cfg := Config{Self: name, Nodes: ids, Witnesses: map[string]bool{"w": true}, Resources: []Resource{r}, FirstSeq: uint64(ids[name]) << 40}
	if hist {
		n.dir = t.TempDir()
		h, err := history.Open(n.dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		cfg.History = h
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.sup = s
	return n
}

// cluster runs three supervisors at a fake time; alive says who runs and
// is heard; states are derived from who is alive (DOWN since death).
type cluster struct {
	t      *testing.T
	nodes  map[string]*testNode
	now    time.Time
	diedAt map[string]time.Time
}

func (c *cluster) step() {
	c.now = c.now.Add(Every)
	for _, name := range []string{"a", "b", "w"} {
		n := c.nodes[name]
		if _, dead := c.diedAt[name]; dead {
			continue
		}
		var peers []Peer
		for _, p := range []string{"a", "b", "w"} {
			if p == name {
				continue
			}
			st, since := failover.NodeOpen, t0
			if d, dead := c.diedAt[p]; dead {
				st, since = failover.NodeDown, d.Add(600*time.Millisecond)
				if c.now.Before(since) {
					st, since = failover.NodeOpen, t0
				}
			}
			peers = append(peers, Peer{ID: ids[p], State: st, Since: since})
		}
		if _, dead := c.diedAt["a"]; !dead && n.tgt != nil {
			n.tgt.mu.Lock()
			n.tgt.sampled = c.now
			n.tgt.mu.Unlock()
		}
		b, err := n.sup.Tick(context.Background(), Tick{Now: c.now, Peers: peers})
		if err != nil {
			c.t.Fatal(err)
		}
		for _, p := range []string{"a", "b", "w"} {
			if _, dead := c.diedAt[p]; p != name && !dead {
				if err := c.nodes[p].sup.Hear(ids[name], b, c.now); err != nil {
					c.t.Fatal(err)
				}
			}
		}
	}
}

func TestSupervisorFailsOverADeadPrimary(t *testing.T) {
	c := &cluster{t: t, now: t0, diedAt: map[string]time.Time{},
		nodes: map[string]*testNode{"a": newNode(t, "a", true), "b": newNode(t, "b", true), "w": newNode(t, "w", false)}}
	a, b := c.nodes["a"], c.nodes["b"]
	for range 20 {
		c.step()
	}
	if !a.tgt.writable(c.now) {
		t.Fatalf("the primary has no lease after 2s with everyone up: %+v", a.sup.Status())
	}
	if st := b.sup.Status()[0]; st.Reason != failover.ReasonPrimaryUp || st.Votes != 1 {
		t.Fatalf("mirror status: %+v", st)
	}
	c.diedAt["a"] = c.now
	died := c.now
	for i := 0; i < 100 && b.tgt.failovers == 0; i++ {
		c.step()
		b.sup.Wait()
	}
	b.sup.Wait()
	if b.tgt.failovers != 1 {
		t.Fatalf("no failover 10s after the primary died: %+v", b.sup.Status())
	}
	if took := c.now.Sub(died); took < 600*time.Millisecond+failover.DefaultGrace || took > 5*time.Second {
		t.Errorf("failed over %v after the death (detection 600ms + grace %v)", took, failover.DefaultGrace)
	}
	for range 15 {
		c.step()
	}
	if !b.tgt.writable(c.now) {
		t.Fatalf("the new primary has no lease 1.5s after the failover: %+v", b.sup.Status())
	}
	st := b.sup.Status()[0]
	if st.Role != "primary" || st.Epoch != 2 || st.Failovers != 1 || st.LastAt.IsZero() {
		t.Errorf("new primary status: %+v", st)
	}
	recs, _, err := history.Read(b.dir + "/" + history.FileName)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action+":"+r.Reason)
	}
	iPromote, iDone := index(actions, "promote:primary-dead"), index(actions, "promoted:primary-dead")
	if iPromote < 0 || iDone < iPromote {
		t.Fatalf("history %v: want the decision recorded before its outcome", actions)
	}
	if p := recs[iPromote]; p.Votes != 2 || p.Voters != 3 || p.Witness == "" {
		t.Errorf("promote record: %+v", p)
	}
	if d := recs[iDone]; d.EpochBefore != 1 || d.EpochAfter != 2 || d.LagGivenUp != 3 {
		t.Errorf("promoted record: %+v", d)
	}
	// The old primary comes back after a pause: it is fenced at once, and
	// learns epoch 2 from the others (the witness relays it too).
	delete(c.diedAt, "a")
	c.step()
	if a.tgt.writable(c.now) {
		t.Fatal("the old primary is writable right after its pause")
	}
	for range 5 {
		c.step()
	}
	a.tgt.mu.Lock()
	role, epoch := a.tgt.role, a.tgt.epoch
	a.tgt.mu.Unlock()
	if role != "diverged" || epoch != 2 {
		t.Fatalf("old primary after its return: role %s epoch %d", role, epoch)
	}
	if w := c.nodes["w"].sup.Status()[0]; w.Epoch != 2 || w.Primary != "b" || w.Role != "none" {
		t.Errorf("witness status: %+v", w)
	}
}

func TestSupervisorNeverFailsOverWithoutQuorum(t *testing.T) {
	// Two nodes, no witness: no quorum is possible, the primary is not
	// leased and the mirror never acts.
	two := map[string]uint16{"a": 1, "b": 2}
	mk := func(name, role string) (*Supervisor, *fakeTarget) {
		tg := &fakeTarget{self: name, role: role, epoch: 1, primary: "a"}
		s, err := New(Config{Self: name, Nodes: two, Resources: []Resource{{Name: "r", Primary: "a", Mirror: "b",
			Failover: failover.Config{Auto: true}.WithDefaults(), Target: tg}}})
		if err != nil {
			t.Fatal(err)
		}
		return s, tg
	}
	sb, tb := mk("b", "mirror")
	now := t0
	for range 100 {
		now = now.Add(Every)
		if _, err := sb.Tick(context.Background(), Tick{Now: now, Peers: []Peer{{ID: 1, State: failover.NodeDown, Since: t0}}}); err != nil {
			t.Fatal(err)
		}
	}
	sb.Wait()
	st := sb.Status()[0]
	if tb.failovers != 0 || st.Reason != failover.ReasonNoQuorumPossible || st.Possible || !st.Alert {
		t.Fatalf("two nodes, primary DOWN 10s: %d failovers, %+v", tb.failovers, st)
	}
	sa, ta := mk("a", "primary")
	if _, err := sa.Tick(context.Background(), Tick{Now: now}); err != nil {
		t.Fatal(err)
	}
	if !ta.until.IsZero() || sa.Status()[0].Fenced {
		t.Errorf("an unsupervised primary got a lease: %+v", sa.Status()[0])
	}
}

func TestHearRejectsBadViews(t *testing.T) {
	n := newNode(t, "b", false)
	if err := n.sup.Hear(1, []byte{1, 2}, t0); err == nil {
		t.Error("a truncated view was accepted")
	}
	v, _ := failover.AppendView(nil, &failover.View{Seq: 1})
	if err := n.sup.Hear(9, v, t0); err == nil {
		t.Error("a view from an unknown node was accepted")
	}
	if err := n.sup.Hear(2, v, t0); err == nil {
		t.Error("a view from itself was accepted")
	}
	if n.sup.Rejected() != 3 {
		t.Errorf("rejected %d, want 3", n.sup.Rejected())
	}
}

func index(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
