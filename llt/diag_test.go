package llt

import (
	"testing"
	"time"
)

func withMTU(mtu int, nets []NetworkConfig) []NetworkConfig {
	for i := range nets {
		nets[i].MTU = mtu
	}
	return nets
}

// MTU 9000 on the hosts, 1500 on node 1's hb1 switch port: heartbeats
// pass, padded probes do not. Both ends of node 1's hb1 links say
// mtu-mismatch within 2 × peerinact, the links stay UP, the largest size
// that passes is found, and nothing else is touched. Restored, it clears.
func TestMTUMismatch(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, withMTU(9000, ether("hb0", "hb1")), tm)
	s.run(time.Second)
	s.assertAllOpen()
	fault := s.now
	s.portMTU[[2]int{1, 1}] = 1500
	s.run(5 * time.Second) // the reason within 2 × peerinact; the largest size a little later
	for _, c := range []struct {
		node int
		peer NodeID
	}{{0, 1}, {2, 1}, {1, 0}, {1, 2}} {
		l := s.link(c.node, c.peer, 1)
		if l.State != LinkUp || l.Reason != ReasonMTUMismatch {
			t.Errorf("node %d hb1 link to %d: %v %v, want UP mtu-mismatch", c.node, c.peer, l.State, l.Reason)
			continue
		}
		if l.MTUOK < 1492 || l.MTUOK > 1500 {
			t.Errorf("node %d hb1 link to %d: largest size that passes %d, want 1500 (within 8)", c.node, c.peer, l.MTUOK)
		}
		var named time.Time
		for _, e := range s.linkEvents(c.node, c.peer, 1, fault) {
			if e.Reason == ReasonMTUMismatch {
				named = e.At
				break
			}
		}
		// The contract is 2 × peerinact; a lost probe is asked again at
		// once rather than at the next heartbeat, which brings it within
		// one peerinact here.
		if d := named.Sub(fault); named.IsZero() || d > tm.PeerInact {
			t.Errorf("node %d hb1 link to %d: mtu-mismatch named %v after the fault, want within peerinact", c.node, c.peer, d)
		}
		for _, e := range s.linkEvents(c.node, c.peer, 1, fault) {
			if e.Link != LinkUp {
				t.Errorf("node %d hb1 link to %d went %v", c.node, c.peer, e.Link)
			}
		}
	}
	s.healthyExcept(func(i int, p NodeID, net int) bool { return net == 1 && (i == 1 || p == 1) })
	// Messages no longer take the ether channel at sizes that cannot pass.
	if _, err := s.nodes[0].m.MessageRoute(s.now, 1, 4000); err == nil {
		r, _ := s.nodes[0].m.MessageRoute(s.now, 1, 4000)
		if r.Network == 1 {
			t.Errorf("a 4000-byte message routed over hb1, whose path passes only %d", s.link(0, 1, 1).MTUOK)
		}
	}
	// Small ones still do (the limit is what fits the largest frame that
	// passes, not what the worst-case header leaves).
	if err := s.nodes[0].m.SendMessageVia(s.now, 1, Route{1, ChannelEther}, make([]byte, 64)); err != nil {
		t.Errorf("a 64-byte message on the mismatched hb1: %v", err)
	}
	s.collect(s.nodes[0])
	delete(s.portMTU, [2]int{1, 1})
	s.run(time.Second)
	s.assertAllOpen()
}

// Random loss alone is not an MTU mismatch, and 30 % loss on one link at
// default timers keeps it UP: it is named lossy on both ends (the
// receiver measures it, the sender learns it from the receiver), within
// the loss window, and never goes DOWN.
func TestLossyLinkStaysUp(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	fault := s.now
	s.egressLoss[[2]int{0, 0}] = 30 // node 0's hb0 NIC loses 30 % of what it sends
	s.run(5 * time.Minute)
	for _, c := range []struct {
		node int
		peer NodeID
	}{{0, 1}, {0, 2}, {1, 0}, {2, 0}} {
		for _, e := range s.linkEvents(c.node, c.peer, 0, fault) {
			if e.Link == LinkDown {
				t.Fatalf("node %d hb0 link to %d went DOWN (%v) %v after 30 %% loss began", c.node, c.peer, e.Reason, e.At.Sub(fault))
			}
			if e.Reason == ReasonMTUMismatch {
				t.Fatalf("node %d hb0 link to %d: random loss taken for an MTU mismatch", c.node, c.peer)
			}
		}
		l := s.link(c.node, c.peer, 0)
		if !l.State.Usable() || l.Reason != ReasonLossy {
			t.Errorf("node %d hb0 link to %d: %v %v, want UP lossy", c.node, c.peer, l.State, l.Reason)
		}
		var named time.Time
		for _, e := range s.linkEvents(c.node, c.peer, 0, fault) {
			if e.Reason == ReasonLossy {
				named = e.At
				break
			}
		}
		if d := named.Sub(fault); named.IsZero() || d > DefaultLossWindow {
			t.Errorf("node %d hb0 link to %d: lossy named %v after the loss began, want within the loss window", c.node, c.peer, d)
		}
	}
	// The receivers measure about 30 %; the sender is told.
	if l := s.link(1, 0, 0); l.RxLoss < 20 || l.RxLoss > 40 {
		t.Errorf("node 1 measures %d %% loss of node 0's hb0 frames, want about 30", l.RxLoss)
	}
	if l := s.link(0, 1, 0); l.TxLoss < 20 || l.TxLoss > 40 || l.RxLoss > 5 {
		t.Errorf("node 0 sees tx loss %d %%, rx %d %% to node 1; want about 30 and 0", l.TxLoss, l.RxLoss)
	}
	s.healthyExcept(func(i int, p NodeID, net int) bool { return net == 0 && (i == 0 || p == 0) })
	// Loss gone: the reason goes within a window.
	delete(s.egressLoss, [2]int{0, 0})
	s.run(DefaultLossWindow + time.Second)
	s.assertAllOpen()
}

// A cable toggled five times in ten seconds: the link is flapping, held
// down once back (the hold visible and doubling), and released once it
// has been up for the hold.
func TestFlappingIsDamped(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	n0 := s.nodes[0]
	start := s.now
	for i := range 5 {
		n0.m.SetCarrier(s.now, 1, false)
		s.isolate(0, 1, true)
		s.collect(n0)
		s.run(time.Second)
		s.isolate(0, 1, false)
		n0.m.SetCarrier(s.now, 1, true)
		s.collect(n0)
		s.run(time.Second)
		if i == 2 {
			for _, c := range [][2]int{{0, 1}, {1, 0}} {
				l := s.link(c[0], NodeID(c[1]), 1)
				if l.State != LinkDown || l.Reason != ReasonFlapping || l.HeldUntil.IsZero() {
					t.Errorf("after the third toggle: node %d hb1 link to %d: %v %v held until %v, want DOWN flapping, held", c[0], c[1], l.State, l.Reason, l.HeldUntil)
				}
			}
		}
	}
	l := s.link(0, 1, 1)
	if l.State != LinkDown || l.Reason != ReasonFlapping {
		t.Fatalf("after five toggles: %v %v, want DOWN flapping", l.State, l.Reason)
	}
	hold := l.HeldUntil.Sub(s.now)
	if hold <= DefaultFlapHold {
		t.Errorf("hold %v left after five downs, want the doubled hold (more than %v)", hold, DefaultFlapHold)
	}
	if l.Flaps < 3 {
		t.Errorf("%d flaps counted", l.Flaps)
	}
	// Stable: released after the hold, not before.
	s.runUntil(l.HeldUntil.Add(-ms))
	if l := s.link(0, 1, 1); l.State != LinkDown {
		t.Fatalf("released %v before the hold ended", l.HeldUntil.Sub(s.now))
	}
	s.run(2 * ms)
	if l := s.link(0, 1, 1); l.State != LinkUp {
		t.Fatalf("still %v %v after the hold", l.State, l.Reason)
	}
	// hb0 never moved.
	for _, obs := range []int{0, 1, 2} {
		for _, p := range s.nodes[obs].m.Snapshot(s.now).Peers {
			for _, e := range s.linkEvents(obs, p.ID, 0, start) {
				t.Errorf("node %d hb0 link to %d changed: %v %v", obs, p.ID, e.Link, e.Reason)
			}
		}
	}
}

// A peer that stops and starts is not a flapping link.
func TestRestartsAreNotFlaps(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), DefaultTimers())
	s.run(time.Second)
	for i := range 4 {
		n1 := s.nodes[1]
		n1.m.Shutdown(s.now)
		s.collect(n1)
		n1.down = true
		s.run(100 * ms)
		s.restartNode(1, uint16(10+i))
		s.run(500 * ms)
	}
	s.assertAllOpen()
	if l := s.link(0, 1, 0); l.Flaps != 0 {
		t.Errorf("%d flaps counted for clean restarts", l.Flaps)
	}
}

// The claim phase: a node sends no heartbeat for three heartbeats after
// start, only claims; nobody answers, so it starts and its links come up.
func TestClaimPhase(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, ether("hb0", "hb1"), tm)
	for i := range s.nodes {
		s.restartNode(i, uint16(i+1)) // with the claim phase this time
		s.nodes[i].m.diag.Claim = 3 * tm.Heartbeat
		s.nodes[i].m.claim = claimState{until: s.now.Add(3 * tm.Heartbeat), claiming: true}
	}
	var beats int
	s.tap = func(src, dst, net int, b []byte) {
		var f Frame
		if err := s.nodes[dst].codec.Decode(b, &f); err == nil && f.Type != FrameClaim {
			beats++
		}
	}
	s.run(3*tm.Heartbeat - ms)
	if beats != 0 {
		t.Fatalf("%d frames other than claims during the claim phase", beats)
	}
	s.run(10 * ms)
	s.assertAllOpen()
	for i := range s.nodes {
		if s.nodes[i].m.Claiming() {
			t.Errorf("node %d still claiming", i)
		}
	}
}

// addNode adds a node with the given id (possibly one already taken) at
// the next place on the wire, with the claim phase on, and returns its
// index.
func (s *sim) addNode(id NodeID, random uint16) int {
	s.t.Helper()
	var peers []NodeID
	for _, n := range s.nodes {
		if n.id != id {
			peers = append(peers, n.id)
		}
	}
	m, err := New(Config{Cluster: 7, Self: id, Incarnation: NewIncarnation(s.now, random), Epoch: s.now,
		Networks: s.nets, Peers: peers, Timers: s.nodes[0].m.cfg.Timers})
	if err != nil {
		s.t.Fatal(err)
	}
	n := &simNode{id: id, idx: len(s.nodes), m: m, codec: s.nodes[0].codec, verdict: map[Verdict]int{}}
	s.nodes = append(s.nodes, n)
	return n.idx
}

// A second node started with node 1's id: it claims the id, node 1
// answers, the newcomer refuses to start (a fatal duplicate) without ever
// sending a heartbeat, and node 1 names duplicate-node-id on the networks
// it was seen on. No link moves.
func TestDuplicateNodeIDIsRefusedAtStart(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	start := s.now
	var beats int
	s.tap = func(src, dst, net int, b []byte) {
		var f Frame
		if src == 3 && s.nodes[0].codec.Decode(b, &f) == nil && f.Type != FrameClaim {
			beats++
		}
	}
	nc := s.addNode(1, 999)
	s.run(time.Second)
	var fatal *Event
	for _, e := range s.nodes[nc].events {
		if e.Kind == EventDuplicateID && e.Fatal {
			fatal = &e
			break
		}
	}
	if fatal == nil {
		t.Fatalf("the newcomer with a taken id found no duplicate: %+v", s.nodes[nc].events)
	}
	if fatal.Incarnation != s.nodes[1].m.Incarnation() || fatal.Addr != addr(1, fatal.Network) {
		t.Errorf("duplicate names incarnation %x at %q, want node 1's %x at %q", fatal.Incarnation, fatal.Addr, s.nodes[1].m.Incarnation(), addr(1, fatal.Network))
	}
	if d := fatal.At.Sub(start); d > tm.Heartbeat {
		t.Errorf("duplicate found %v after start, want within a heartbeat", d)
	}
	if beats != 0 {
		t.Errorf("the newcomer sent %d heartbeats", beats)
	}
	if !s.nodes[nc].m.Claiming() {
		t.Error("the newcomer left its claim phase")
	}
	for net := range 2 {
		if r := s.netReasons(1, net); !hasReason(r, ReasonDuplicateNodeID) {
			t.Errorf("node 1 %s: network reasons %v, want duplicate-node-id", s.nets[net].Name, r)
		}
	}
	for i := range 3 {
		if ch := stateChanges(s.nodes[i].events[countBefore(s.nodes[i].events, start):]); len(ch) != 0 {
			t.Errorf("node %d: state changed: %+v", i, ch)
		}
	}
	// The report fades once the newcomer is gone.
	s.nodes[nc].down = true
	s.run(4 * DefaultBroadcastEvery)
	for net := range 2 {
		if r := s.netReasons(1, net); len(r) != 0 {
			t.Errorf("node 1 %s: %v after the newcomer left", s.nets[net].Name, r)
		}
	}
}

// Two nodes start at once with the same id: neither may start.
func TestSimultaneousClaimsRefuseBoth(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), DefaultTimers())
	s.nodes[1].down = true
	a := s.addNode(1, 1)
	b := s.addNode(1, 2)
	s.run(time.Second)
	for _, i := range []int{a, b} {
		found := false
		for _, e := range s.nodes[i].events {
			found = found || (e.Kind == EventDuplicateID && e.Fatal)
		}
		if !found {
			t.Errorf("node at %d started although another node claimed its id at the same time", i)
		}
	}
}

func countBefore(evs []Event, t time.Time) int {
	n := 0
	for _, e := range evs {
		if e.At.Before(t) {
			n++
		}
	}
	return n
}

// Node 0's hb1 NIC keeps carrier but passes nothing either way (a NIC
// broken by a firmware update): node 0 names nic-silent on hb1 — its
// peers say over hb0 that they do not hear it, and they hear each other on
// hb1 — and is in JEOPARDY itself; the peers say peer-silent, with node
// 0's nic-silent as the remote reason. Node 1 and node 2 are untouched.
func TestNICSilent(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, ether("hb0", "hb1"), tm)
	s.tables = true
	s.run(2 * time.Second)
	fault := s.now
	s.isolate(0, 1, true)
	s.run(2 * time.Second)
	for _, p := range []NodeID{1, 2} {
		l := s.link(0, p, 1)
		if l.State != LinkDown || l.Reason != ReasonNICSilent {
			t.Errorf("node 0 hb1 link to %d: %v %v, want DOWN nic-silent", p, l.State, l.Reason)
		}
		for _, e := range s.linkEvents(0, p, 1, fault) {
			if e.Reason == ReasonNICSilent && e.At.Sub(fault) > 2*tm.PeerInact {
				t.Errorf("nic-silent named %v after the fault, want within 2 × peerinact", e.At.Sub(fault))
			}
		}
		r := s.link(int(p), 0, 1)
		if r.State != LinkDown || r.Reason != ReasonPeerSilent || r.RemoteReason != ReasonNICSilent {
			t.Errorf("node %d hb1 link to 0: %v %v (remote %v), want DOWN peer-silent (remote nic-silent)", p, r.State, r.Reason, r.RemoteReason)
		}
	}
	snap := s.nodes[0].m.Snapshot(s.now)
	if !hasReason(snap.Networks[1].Reasons, ReasonNICSilent) {
		t.Errorf("node 0 hb1 network reasons %v, want nic-silent", snap.Networks[1].Reasons)
	}
	if snap.Local.State != NodeJeopardy || snap.Local.Working != 1 {
		t.Errorf("node 0 sees itself %v with %d working networks, want JEOPARDY with 1", snap.Local.State, snap.Local.Working)
	}
	s.healthyExcept(func(i int, p NodeID, net int) bool { return net == 1 && (i == 0 || p == 0) })
	s.isolate(0, 1, false)
	s.run(time.Second)
	s.assertAllOpen()
	if st := s.nodes[0].m.Snapshot(s.now).Local.State; st != NodeOpen {
		t.Errorf("node 0 sees itself %v after the repair", st)
	}
}

// With two nodes nothing can tell our NIC from the peer's: peer-silent.
func TestNICSilentNeedsThreeNodes(t *testing.T) {
	s := newSim(t, 2, ether("hb0", "hb1"), DefaultTimers())
	s.tables = true
	s.run(2 * time.Second)
	s.isolate(0, 1, true)
	s.run(2 * time.Second)
	if l := s.link(0, 1, 1); l.Reason != ReasonPeerSilent {
		t.Errorf("two nodes: %v, want peer-silent", l.Reason)
	}
}

// The local node shows what its NICs allow: every NIC without carrier is
// DOWN, not OPEN.
func TestLocalStateFollowsTheNICs(t *testing.T) {
	s := newSim(t, 2, ether("hb0", "hb1"), DefaultTimers())
	s.run(time.Second)
	n0 := s.nodes[0]
	want := []NodeState{NodeJeopardy, NodeDown}
	for net := range 2 {
		n0.m.SetCarrier(s.now, net, false)
		s.collect(n0)
		if st := n0.m.Snapshot(s.now).Local.State; st != want[net] {
			t.Errorf("%d NICs without carrier: local %v, want %v", net+1, st, want[net])
		}
	}
	var local []Event
	for _, e := range n0.events {
		if e.Kind == EventLocal {
			local = append(local, e)
		}
	}
	if len(local) != 2 || local[1].Node != NodeDown {
		t.Errorf("local state events %+v, want OPEN->JEOPARDY->DOWN", local)
	}
}
