package failover

import (
	"testing"
	"time"
)

// A small simulation of three nodes exchanging views (a primary, its
// mirror, a witness), with node states derived from silence as llt does
// (DOWN after peerinact), to prove the rules meet: whatever the fault, the
// old primary's lease has ended before the mirror can write, and a fault
// that does not kill the primary never fails it over.

const (
	simStep     = 5 * time.Millisecond
	simEvery    = 100 * time.Millisecond
	simInact    = 600 * time.Millisecond
	simLatency  = 2 * time.Millisecond
	simDuration = 20 * time.Second
)

type simMsg struct {
	from uint16
	v    View
	at   time.Time // delivery
}

type simNode struct {
	id         uint16
	sent       *SentLog
	heard      map[uint16]Heard
	last       map[uint16]time.Time // last view heard
	lastSeq    map[uint16]uint64
	state      map[uint16]string
	since      map[uint16]time.Time
	lease      *Lease
	until      time.Time
	epoch      uint32
	primary    uint16
	nextTick   time.Time
	promoted   time.Time
	lastGrant  time.Time
	writableAt time.Time // first lease after promotion
}

type simFault struct {
	name string
	// cut reports whether views from → to are lost at t.
	cut func(t time.Duration, from, to uint16) bool
	// paused reports whether node id does not run at t.
	paused func(t time.Duration, id uint16) bool
	// failover: whether the mirror must end up promoted; fenced: whether
	// the primary ends up without a lease though nobody promoted (it
	// cannot hear a majority: it cannot know it may write).
	failover, fenced bool
}

func isolated(id, from, to uint16) bool { return from == id || to == id }

func runSim(t *testing.T, c Config, f simFault) {
	t.Helper()
	nodes := map[uint16]*simNode{}
	for i, id := range []uint16{idA, idB, idW} {
		nodes[id] = &simNode{id: id, sent: NewSentLog(uint64(id) << 32), heard: map[uint16]Heard{}, last: map[uint16]time.Time{},
			lastSeq: map[uint16]uint64{}, state: map[uint16]string{}, since: map[uint16]time.Time{}, lease: NewLease(c),
			epoch: 1, primary: idA, nextTick: t0.Add(time.Duration(i) * 33 * time.Millisecond)}
	}
	var inflight []simMsg
	var msgTo []uint16
	bothSince := time.Duration(-1)
	for d := time.Duration(0); d < simDuration; d += simStep {
		now := t0.Add(d)
		// Deliveries.
		var keep []simMsg
		var keepTo []uint16
		for i, m := range inflight {
			to := nodes[msgTo[i]]
			if m.at.After(now) || (f.paused != nil && f.paused(d, to.id)) {
				keep, keepTo = append(keep, m), append(keepTo, msgTo[i])
				continue
			}
			to.receive(now, m)
		}
		inflight, msgTo = keep, keepTo
		for _, id := range []uint16{idA, idB, idW} {
			n := nodes[id]
			if f.paused != nil && f.paused(d, id) {
				continue
			}
			if now.Before(n.nextTick) {
				continue
			}
			if late := now.Sub(n.nextTick); late > simEvery {
				n.lease.Paused(now)
				n.until = time.Time{}
			}
			n.nextTick = now.Add(simEvery)
			n.tick(t, c, now, nodes)
			v := n.view(now)
			for _, to := range []uint16{idA, idB, idW} {
				if to == id || (f.cut != nil && f.cut(d, id, to)) {
					continue
				}
				inflight = append(inflight, simMsg{from: id, v: v, at: now.Add(simLatency)})
				msgTo = append(msgTo, to)
			}
		}
		a, b := nodes[idA], nodes[idB]
		aw := a.writable(now) && (f.paused == nil || !f.paused(d, idA))
		bw := b.writable(now) && (f.paused == nil || !f.paused(d, idB))
		if aw && bw && bothSince < 0 {
			bothSince = d
			t.Errorf("%s: a and b both writable at %v (a's lease until %v, b promoted at %v)", f.name, d,
				a.until.Sub(t0), b.promoted.Sub(t0))
		}
	}
	b := nodes[idB]
	switch {
	case f.failover && b.promoted.IsZero():
		t.Errorf("%s: b never promoted", f.name)
	case f.failover && b.writableAt.IsZero():
		t.Errorf("%s: b promoted at %v but never became writable", f.name, b.promoted.Sub(t0))
	case !f.failover && !b.promoted.IsZero():
		t.Errorf("%s: b promoted at %v: a false failover", f.name, b.promoted.Sub(t0))
	case f.fenced && nodes[idA].lastGrant.After(t0.Add(simDuration-time.Second)):
		t.Errorf("%s: a kept its lease though it hears nobody", f.name)
	case !f.failover && !f.fenced && nodes[idA].lastGrant.Before(t0.Add(simDuration-time.Second)):
		t.Errorf("%s: a lost its lease for good (last granted at %v) though nothing failed over", f.name, nodes[idA].lastGrant.Sub(t0))
	}
	if f.failover && !b.promoted.IsZero() {
		t.Logf("%s: b promoted at %v, writable at %v", f.name, b.promoted.Sub(t0), b.writableAt.Sub(t0))
	}
}

func (n *simNode) receive(now time.Time, m simMsg) {
	n.heard[m.from] = Heard{View: m.v, At: now}
	n.last[m.from] = now
	n.lastSeq[m.from] = m.v.Seq
	for _, r := range m.v.Resources {
		if r.Epoch > n.epoch {
			n.epoch, n.primary = r.Epoch, r.Primary
		}
	}
}

func (n *simNode) states(now time.Time) {
	for _, p := range []uint16{idA, idB, idW} {
		if p == n.id {
			continue
		}
		s := NodeConnWait
		if l, ok := n.last[p]; ok {
			s = NodeOpen
			if now.Sub(l) > simInact {
				s = NodeDown
			}
		}
		if s != n.state[p] {
			n.state[p], n.since[p] = s, now
		}
	}
}

func (n *simNode) view(now time.Time) View {
	v := View{Seq: n.sent.Next(now), Resources: []ResourceView{{Name: "r", Epoch: n.epoch, Primary: n.primary}}}
	for _, p := range []uint16{idA, idB, idW} {
		if p != n.id {
			v.Peers = append(v.Peers, PeerView{ID: p, State: n.state[p], For: now.Sub(n.since[p]), Echo: n.lastSeq[p]})
		}
	}
	return v
}

func (n *simNode) tick(t *testing.T, c Config, now time.Time, nodes map[uint16]*simNode) {
	n.states(now)
	e := electorate(n.id)
	if n.primary == n.id {
		g := n.lease.Evaluate(now, e, "r", n.epoch, n.heard, n.sent, External{})
		if g.Higher != nil {
			n.epoch, n.primary, n.until = g.Higher.Epoch, g.Higher.Primary, time.Time{}
			return
		}
		n.until = g.Until
		if !g.Until.IsZero() {
			n.lastGrant = now
			if !n.promoted.IsZero() && n.writableAt.IsZero() {
				n.writableAt = now
			}
		}
		return
	}
	if n.id != idB || n.primary != idA {
		return
	}
	conf := Confirm(c, now, e, idA, n.heard, n.sent, External{})
	d := Decide(c, Inputs{Now: now, IsMirror: true, Epoch: n.epoch, EpochSeen: n.epoch,
		Primary: Primary{State: n.state[idA], Since: n.since[idA]}, Quorum: conf.Quorum,
		Mirror: Mirror{Usable: true, SampledAt: n.last[idA]}})
	if d.Promote {
		n.epoch++
		n.primary, n.promoted = n.id, now
	}
}

func (n *simNode) writable(now time.Time) bool { return n.primary == n.id && now.Before(n.until) }

func TestFenceBeforePromote(t *testing.T) {
	at := func(from time.Duration) func(time.Duration) bool {
		return func(d time.Duration) bool { return d >= from }
	}
	after2 := at(2 * time.Second)
	faults := []simFault{
		{name: "nothing", failover: false},
		{name: "a isolated, alive", failover: true,
			cut: func(d time.Duration, from, to uint16) bool { return after2(d) && isolated(idA, from, to) }},
		{name: "a paused 6s then resumes with buffered views", failover: true,
			paused: func(d time.Duration, id uint16) bool { return id == idA && d >= 2*time.Second && d < 8*time.Second }},
		{name: "a paused 1s (less than grace)", failover: false,
			paused: func(d time.Duration, id uint16) bool { return id == idA && d >= 2*time.Second && d < 3*time.Second }},
		{name: "interconnect a-b cut, witness sees both", failover: false,
			cut: func(d time.Duration, from, to uint16) bool {
				return after2(d) && (from == idA && to == idB || from == idB && to == idA)
			}},
		{name: "a-b cut, then a-w cut 2s later", failover: true,
			cut: func(d time.Duration, from, to uint16) bool {
				ab := from == idA && to == idB || from == idB && to == idA
				aw := from == idA && to == idW || from == idW && to == idA
				return after2(d) && ab || d >= 4*time.Second && aw
			}},
		{name: "one way: a's views to w and b lost, a hears them", failover: true,
			cut: func(d time.Duration, from, to uint16) bool { return after2(d) && from == idA }},
		{name: "a's views lost to b from 2s, to w from 4.5s", failover: true,
			cut: func(d time.Duration, from, to uint16) bool {
				return from == idA && (to == idB && after2(d) || to == idW && d >= 4500*time.Millisecond)
			}},
		{name: "one way: a hears nothing, its views arrive", fenced: true,
			cut: func(d time.Duration, from, to uint16) bool { return after2(d) && to == idA }},
		{name: "isolated for 2.5s then healed", failover: false,
			cut: func(d time.Duration, from, to uint16) bool {
				return d >= 2*time.Second && d < 4500*time.Millisecond && isolated(idA, from, to)
			}},
	}
	for _, c := range []Config{cfg(), Config{Auto: true, Grace: 1200 * time.Millisecond, SelfFence: 600 * time.Millisecond, Margin: 100 * time.Millisecond}.WithDefaults()} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, f := range faults {
			if c.Grace < 2*time.Second && f.name == "isolated for 2.5s then healed" {
				f.failover = true // longer than this grace
			}
			runSim(t, c, f)
		}
	}
}
