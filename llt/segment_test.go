package llt

import (
	"testing"
	"time"
)

// healthyExcept fails the test if a link not in bad is unhealthy on a
// running node: a fault must cost nothing beyond the links it breaks.
func (s *sim) healthyExcept(bad func(node int, peer NodeID, net int) bool) {
	s.t.Helper()
	for i, n := range s.nodes {
		if n.down {
			continue
		}
		for _, p := range n.m.Snapshot(s.now).Peers {
			for _, l := range p.Links {
				if bad(i, p.ID, l.Network) {
					continue
				}
				if l.State != LinkUp || l.Reason != ReasonNone {
					s.t.Errorf("t=%v node %d link to %d on %s: %v %v, want healthy (no collateral)", s.now.Sub(simEpoch), i, p.ID, s.nets[l.Network].Name, l.State, l.Reason)
				}
			}
		}
	}
}

func touches(node int) func(int, NodeID, int) bool {
	return func(i int, p NodeID, _ int) bool { return i == node || int(p) == node }
}

// Node 1's two cables are swapped: its hb0 NIC is on the hb1 switch and
// the other way round. Both ends of every link of node 1 say
// cross-connected; the other links are untouched.
func TestSwappedCablesAreCrossConnectedOnBothEnds(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	fault := s.now
	s.seg[[2]int{1, 0}] = 1
	s.seg[[2]int{1, 1}] = 0
	s.run(2 * tm.PeerInact)
	for _, c := range []struct {
		node int
		peer NodeID
	}{{0, 1}, {2, 1}, {1, 0}, {1, 2}} {
		for net := range 2 {
			l := s.link(c.node, c.peer, net)
			if l.State != LinkDown || l.Reason != ReasonCrossConnected {
				t.Errorf("node %d link to %d on %s: %v %v, want DOWN cross-connected", c.node, c.peer, s.nets[net].Name, l.State, l.Reason)
			}
			dn, ok := s.firstLinkState(c.node, c.peer, net, fault, LinkDown)
			if !ok || dn.At.Sub(fault) > 2*tm.PeerInact {
				t.Errorf("node %d link to %d on %s: down %v after the fault (%v)", c.node, c.peer, s.nets[net].Name, dn.At.Sub(fault), ok)
			}
		}
	}
	// Node 0 knows where node 1's frames land: its hb0 frames on our hb1.
	if l := s.link(0, 1, 0); l.CrossArrives != 1 || l.CrossFrom != 1 {
		t.Errorf("node 0's hb0 link to node 1: frames arrive on %d, from %d; want 1 (hb1) both", l.CrossArrives, l.CrossFrom)
	}
	s.healthyExcept(touches(1))
	// Cables back: all healthy again.
	delete(s.seg, [2]int{1, 0})
	delete(s.seg, [2]int{1, 1})
	s.run(3 * DefaultBroadcastEvery)
	s.assertAllOpen()
}

// One cable in the wrong VLAN: node 1's hb1 NIC is on the hb0 switch, so
// node 1's two NICs share a segment. Node 1 says shared-segment on both
// networks (hb0 still works, but its redundancy is fake); its peers say
// node 1's hb1 frames arrive on their hb0: cross-connected on hb1. The
// peers' own networks are not shared. With the link tables on (as in the
// agent) the peers say node 1 does not hear them on hb1 and they hear
// each other there: that must not pass for a silent NIC on node 1, whose
// hb1 NIC receives plenty (the hb0 frames).
func TestOneCableInTheWrongVLAN(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, ether("hb0", "hb1"), tm)
	s.tables = true
	s.run(time.Second)
	s.seg[[2]int{1, 1}] = 0
	s.run(3 * DefaultBroadcastEvery)
	for net := range 2 {
		if r := s.netReasons(1, net); !hasReason(r, ReasonSharedSegment) {
			t.Errorf("node 1 %s: network reasons %v, want shared-segment", s.nets[net].Name, r)
		}
		for _, peer := range []NodeID{0, 2} {
			if l := s.link(1, peer, net); l.Reason != ReasonSharedSegment {
				t.Errorf("node 1 %s link to %d: %v %v, want shared-segment", s.nets[net].Name, peer, l.State, l.Reason)
			}
		}
	}
	if l := s.link(1, 0, 0); l.State != LinkUp {
		t.Errorf("node 1's hb0 link to 0 is %v: it still works", l.State)
	}
	for _, obs := range []int{0, 2} {
		if l := s.link(obs, 1, 1); l.State != LinkDown || l.Reason != ReasonCrossConnected || l.CrossArrives != 0 {
			t.Errorf("node %d hb1 link to 1: %v %v (arrives on %d), want DOWN cross-connected, arriving on hb0", obs, l.State, l.Reason, l.CrossArrives)
		}
		if l := s.link(obs, 1, 0); l.State != LinkUp || l.Reason != ReasonNone {
			t.Errorf("node %d hb0 link to 1: %v %v, want healthy", obs, l.State, l.Reason)
		}
		for net := range 2 {
			if r := s.netReasons(obs, net); len(r) != 0 {
				t.Errorf("node %d %s: network reasons %v, want none", obs, s.nets[net].Name, r)
			}
		}
	}
	s.healthyExcept(func(i int, p NodeID, net int) bool { return i == 1 || (p == 1 && net == 1) })
}

// Both networks on one switch for every node: every link still passes
// frames, but every node names both networks shared-segment.
func TestTwoNetworksOnOneSwitch(t *testing.T) {
	s := newSim(t, 3, ether("hb0", "hb1"), DefaultTimers())
	for i := range 3 {
		s.seg[[2]int{i, 1}] = 0
	}
	s.run(3 * time.Second)
	for i := range 3 {
		for _, p := range s.nodes[i].m.Snapshot(s.now).Peers {
			for _, l := range p.Links {
				if l.State != LinkUp || l.Reason != ReasonSharedSegment {
					t.Errorf("node %d link to %d on %s: %v %v, want UP shared-segment", i, p.ID, s.nets[l.Network].Name, l.State, l.Reason)
				}
			}
		}
		if sw := s.nodes[i].m.Snapshot(s.now).Networks[0].SharedWith; len(sw) != 1 || sw[0] != 1 {
			t.Errorf("node %d: hb0 shares its segment with %v, want [1]", i, sw)
		}
	}
}

// With the tcp channel a swapped cable leaves the link UP (TCP is routed
// by address), but ether frames land on the wrong network: the link is
// UP and cross-connected, on both ends.
func TestCrossConnectedOnAnUpLink(t *testing.T) {
	s := newSim(t, 2, etherTCP("hb0", "hb1"), DefaultTimers())
	s.run(time.Second)
	s.seg[[2]int{1, 0}] = 1
	s.seg[[2]int{1, 1}] = 0
	s.run(3 * time.Second)
	for _, c := range [][2]int{{0, 1}, {1, 0}} {
		for net := range 2 {
			if l := s.link(c[0], NodeID(c[1]), net); l.State != LinkUp || l.Reason != ReasonCrossConnected {
				t.Errorf("node %d link to %d on %s: %v %v, want UP cross-connected", c[0], c[1], s.nets[net].Name, l.State, l.Reason)
			}
		}
	}
}

// Replayed frames of an earlier incarnation injected on the wrong network
// mark nothing cross-connected.
func TestStaleFramesOnTheWrongNetworkMarkNothing(t *testing.T) {
	s := newSim(t, 2, ether("hb0", "hb1"), DefaultTimers())
	old := s.capture(1, 0, func() { s.run(time.Second) })
	var hb0 []capturedFrame
	for _, c := range old {
		if c.net == 0 {
			hb0 = append(hb0, c)
		}
	}
	s.run(time.Second)
	// Node 1's current frames, replayed onto hb1 once they are old.
	cur := s.capture(1, 0, func() { s.run(time.Second) })
	var cur0 []capturedFrame
	for _, c := range cur {
		if c.net == 0 {
			cur0 = append(cur0, c)
		}
	}
	s.run(10 * time.Second) // they are beyond the replay window now
	s.replay(0, cur0, 1)
	s.restartNode(1, 3)
	s.run(time.Second)
	s.replay(0, hb0, 1)
	s.run(10 * ms)
	s.assertAllOpen()
	if l := s.link(0, 1, 1); l.CrossFrom != -1 || l.CrossArrives != -1 {
		t.Fatalf("stale frames left cross-connection marks: from %d arrives %d", l.CrossFrom, l.CrossArrives)
	}
}

func hasReason(rs []Reason, r Reason) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// In a large cluster each node broadcasts at most about broadcastPeers
// periodic heartbeats per network per BroadcastEvery, not one per peer:
// every node receives every broadcast, so one per peer would cost each
// node peers² frames a second.
func TestPeriodicBroadcastsBounded(t *testing.T) {
	const n = 17
	s := newSim(t, n, ether("hb0"), DefaultTimers())
	s.run(3 * time.Second)
	s.assertAllOpen()
	from := s.now
	const window = 10 * time.Second
	s.run(window)
	for _, nd := range s.nodes {
		casts := 0
		for _, st := range nd.sentTo {
			if st.at.After(from) && st.to == "" {
				casts++
			}
		}
		// broadcastPeers per BroadcastEvery, plus the rounding of the
		// stretched interval to heartbeats.
		const perInterval = 8 // not broadcastPeers: the test must fail if it grows
		limit := int(perInterval * (window.Seconds() / DefaultBroadcastEvery.Seconds()) * 1.25)
		if casts > limit {
			t.Errorf("node %d broadcast %d heartbeats in %v, want at most %d (%d peers)", nd.idx, casts, window, limit, n-1)
		}
		if casts == 0 {
			t.Errorf("node %d broadcast nothing in %v: the segment checks need some", nd.idx, window)
		}
	}
}
