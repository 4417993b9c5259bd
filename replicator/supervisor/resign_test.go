package supervisor

import (
	"context"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/history"
)

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, now: t0, diedAt: map[string]time.Time{},
		nodes: map[string]*testNode{"a": newNode(t, "a", true), "b": newNode(t, "b", true), "w": newNode(t, "w", false)}}
}

func (n *testNode) set(f func(*fakeTarget)) {
	n.tgt.mu.Lock()
	defer n.tgt.mu.Unlock()
	f(n.tgt)
}

func actions(t *testing.T, n *testNode) []string {
	var out []string
	for _, r := range records(t, n) {
		out = append(out, r.Action+":"+r.Reason)
	}
	return out
}

// The primary's back end dies under a live tetherd: after grace the
// primary resigns (fenced), and the mirror fails over while the primary
// node is OPEN; the old primary learns the new epoch.
func TestPrimaryResignsWhenItsBackEndDies(t *testing.T) {
	c := newCluster(t)
	a, b := c.nodes["a"], c.nodes["b"]
	for range 20 {
		c.step()
	}
	if !a.tgt.writable(c.now) {
		t.Fatalf("no lease: %+v", a.sup.Status())
	}
	died := c.now
	a.set(func(f *fakeTarget) { f.down = died })
	for i := 0; i < 100 && b.tgt.failovers == 0; i++ {
		c.step()
		b.sup.Wait()
		if a.tgt.writable(c.now) && c.now.Sub(died) >= failover.DefaultGrace {
			t.Fatalf("the primary is writable %v after its back end died", c.now.Sub(died))
		}
	}
	b.sup.Wait()
	if b.tgt.failovers != 1 {
		t.Fatalf("no failover 10s after the primary's back end died: %+v", b.sup.Status())
	}
	if took := c.now.Sub(died); took < failover.DefaultGrace || took > failover.DefaultGrace+time.Second {
		t.Errorf("failed over %v after the back end died (grace %v)", took, failover.DefaultGrace)
	}
	for range 10 {
		c.step()
	}
	if i, j := index(actions(t, a), "resign:backend-down"), index(actions(t, b), "promoted:primary-resigned"); i < 0 || j < 0 {
		t.Fatalf("histories: a %v, b %v", actions(t, a), actions(t, b))
	}
	a.tgt.mu.Lock()
	role, epoch := a.tgt.role, a.tgt.epoch
	a.tgt.mu.Unlock()
	if role != "diverged" || epoch != 2 || !b.tgt.writable(c.now) {
		t.Fatalf("after the failover: old primary %s at %d, new primary writable %v", role, epoch, b.tgt.writable(c.now))
	}
}

// A resignation holds until the back end answers and the mirror confirms
// it is not taking over (here it cannot: its data is unusable), and
// across a restart of the primary's supervisor.
func TestResignationHoldsUntilTheMirrorConfirms(t *testing.T) {
	c := newCluster(t)
	a, b := c.nodes["a"], c.nodes["b"]
	b.set(func(f *fakeTarget) { f.unusable = true })
	for range 20 {
		c.step()
	}
	a.set(func(f *fakeTarget) { f.down = c.now })
	for range 40 {
		c.step()
	}
	if st := a.sup.Status()[0]; a.tgt.writable(c.now) || !st.Fenced || index(actions(t, a), "resign:backend-down") < 0 {
		t.Fatalf("not resigned 4s after the back end died: %+v", st)
	}
	if st := b.sup.Status()[0]; b.tgt.failovers != 0 || st.Reason != failover.ReasonMirrorUnusable {
		t.Fatalf("mirror: %d failovers, %+v", b.tgt.failovers, st)
	}
	// The primary restarts: the history holds the resignation.
	h, err := history.Open(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	restarted, err := New(Config{Self: "a", Nodes: ids, Witnesses: map[string]bool{"w": true}, History: h, FirstSeq: 7 << 40,
		Resources: []Resource{{Name: "orders", Primary: "a", Mirror: "b", Failover: failover.Config{Auto: true}.WithDefaults(), Target: a.tgt}}})
	if err != nil {
		t.Fatal(err)
	}
	a.sup = restarted
	for range 20 {
		c.step()
	}
	if a.tgt.writable(c.now) {
		t.Fatal("a restarted primary forgot its resignation")
	}
	// The back end answers again: the mirror answers an unflagged view,
	// holding a at epoch 1 and not promoting: a resumes.
	a.set(func(f *fakeTarget) { f.down = time.Time{} })
	for i := 0; i < 30 && !a.tgt.writable(c.now); i++ {
		c.step()
	}
	if !a.tgt.writable(c.now) || index(actions(t, a), "resume:backend-up") < 0 {
		t.Fatalf("not resumed 3s after the back end came back: %+v, history %v", a.sup.Status(), actions(t, a))
	}
	if b.tgt.failovers != 0 {
		t.Fatal("the mirror failed over")
	}
}

// A witness relays epochs, not the flags of their sender: a new primary
// heard while it was still promoting must not stay "promoting" in the
// witness's views (it would never back the new primary's lease).
func TestWitnessRelaysNoFlags(t *testing.T) {
	w := newNode(t, "w", false)
	v, err := failover.AppendView(nil, &failover.View{Seq: 1, Resources: []failover.ResourceView{
		{Name: "orders", Epoch: 2, Primary: ids["b"], Promoting: true, Resigned: true, DownFor: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.sup.Hear(ids["b"], v, t0); err != nil {
		t.Fatal(err)
	}
	out, err := w.sup.Tick(context.Background(), Tick{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	got, err := failover.DecodeView(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Resources) != 1 || got.Resources[0] != (failover.ResourceView{Name: "orders", Epoch: 2, Primary: ids["b"]}) {
		t.Fatalf("the witness relays %+v", got.Resources)
	}
}
