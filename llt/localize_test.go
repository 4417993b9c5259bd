package llt

import (
	"fmt"
	"testing"
	"time"
)

func suspectsString(mx Matrix) string {
	s := ""
	for _, x := range mx.Suspects {
		net := "*"
		if x.Network >= 0 {
			net = mx.Networks[x.Network]
		}
		s += fmt.Sprintf("[%s %s %v %v oneway=%v others=%v] ", net, x.Kind, x.Nodes, x.Reason, x.OneWay, x.Others)
	}
	return s
}

// wantSuspect checks that every observer's matrix names exactly one
// suspect, of the kind, network, nodes and reason given.
func (s *sim) wantSuspect(observers []int, want Suspect) {
	s.t.Helper()
	for _, o := range observers {
		mx := s.nodes[o].m.Matrix(s.now)
		if len(mx.Suspects) != 1 {
			s.t.Errorf("node %d: suspects %s, want one", o, suspectsString(mx))
			continue
		}
		got := mx.Suspects[0]
		if got.Kind != want.Kind || got.Network != want.Network || got.Reason != want.Reason ||
			fmt.Sprint(got.Nodes) != fmt.Sprint(want.Nodes) || got.OneWay != want.OneWay {
			s.t.Errorf("node %d: suspects %s, want %+v", o, suspectsString(mx), want)
		}
	}
}

func localizeSim(t *testing.T) *sim {
	s := newSim(t, 3, ether("hb0", "hb1"), DefaultTimers())
	s.tables = true
	s.run(2 * time.Second)
	for i := range s.nodes {
		if mx := s.nodes[i].m.Matrix(s.now); len(mx.Suspects) != 0 {
			t.Fatalf("healthy cluster: node %d suspects %s", i, suspectsString(mx))
		}
	}
	return s
}

func TestLocalizeCablePull(t *testing.T) {
	s := localizeSim(t)
	n1 := s.nodes[1]
	n1.m.SetCarrier(s.now, 1, false)
	s.isolate(1, 1, true)
	s.collect(n1)
	s.run(2 * time.Second)
	s.wantSuspect([]int{0, 1, 2}, Suspect{Network: 1, Kind: SuspectNode, Nodes: []NodeID{1}, Reason: ReasonCarrierLost})
}

func TestLocalizeSilentNIC(t *testing.T) {
	s := localizeSim(t)
	s.isolate(0, 1, true)
	s.run(2 * time.Second)
	s.wantSuspect([]int{0, 1, 2}, Suspect{Network: 1, Kind: SuspectNode, Nodes: []NodeID{0}, Reason: ReasonNICSilent})
}

func TestLocalizeDeadSwitch(t *testing.T) {
	s := localizeSim(t)
	for i := range 3 {
		s.isolate(i, 1, true)
	}
	s.run(2 * time.Second)
	s.wantSuspect([]int{0, 1, 2}, Suspect{Network: 1, Kind: SuspectNetwork, Reason: ReasonPeerSilent})
}

func TestLocalizeOnePath(t *testing.T) {
	s := localizeSim(t)
	s.cutLink(0, 1, 0, true)
	s.run(2 * time.Second)
	s.wantSuspect([]int{0, 1, 2}, Suspect{Network: 0, Kind: SuspectPath, Nodes: []NodeID{0, 1}, Reason: ReasonPeerSilent})
}

func TestLocalizeOneWayPath(t *testing.T) {
	s := localizeSim(t)
	s.cut[[3]int{0, 1, 0}] = true // node 0's hb0 frames no longer reach node 1
	s.run(2 * time.Second)
	s.wantSuspect([]int{0, 1, 2}, Suspect{Network: 0, Kind: SuspectPath, Nodes: []NodeID{0, 1}, Reason: ReasonOneWayOut, OneWay: true})
}

func TestLocalizeSwappedCables(t *testing.T) {
	s := localizeSim(t)
	s.seg[[2]int{1, 0}] = 1
	s.seg[[2]int{1, 1}] = 0
	s.run(3 * time.Second)
	for _, o := range []int{0, 2} {
		mx := s.nodes[o].m.Matrix(s.now)
		if len(mx.Suspects) != 2 {
			t.Fatalf("node %d: suspects %s, want node 1's cabling on both networks", o, suspectsString(mx))
		}
		for _, x := range mx.Suspects {
			if x.Kind != SuspectCabling || x.Nodes[0] != 1 || x.Reason != ReasonCrossConnected || len(x.Others) != 1 {
				t.Errorf("node %d: suspect %s", o, suspectsString(mx))
			}
		}
	}
}

// The node whose cables are swapped, cut off from every peer, has only its
// own view: every peer's frames for one network land on its other one.
// One fault explains that (its own cabling); the alternative (every peer
// swapped the same way) takes one per peer. It blames its own cabling on
// both networks, naming the other network, as its peers do.
func TestLocalizeSwappedCablesOnTheSwappedNode(t *testing.T) {
	s := localizeSim(t)
	s.seg[[2]int{1, 0}] = 1
	s.seg[[2]int{1, 1}] = 0
	s.run(3 * time.Second)
	mx := s.nodes[1].m.Matrix(s.now)
	if len(mx.Suspects) != 2 {
		t.Fatalf("node 1: suspects %s, want its own cabling on both networks", suspectsString(mx))
	}
	for _, x := range mx.Suspects {
		if x.Kind != SuspectCabling || x.Nodes[0] != 1 || x.Reason != ReasonCrossConnected || len(x.Others) != 1 || x.Others[0] == x.Network {
			t.Errorf("node 1: suspect %s, want cabling of node 1 with the other network", suspectsString(mx))
		}
	}
}

func TestLocalizeSharedSegment(t *testing.T) {
	s := localizeSim(t)
	s.seg[[2]int{1, 1}] = 0
	s.run(3 * time.Second)
	for _, o := range []int{0, 1, 2} {
		mx := s.nodes[o].m.Matrix(s.now)
		found := false
		for _, x := range mx.Suspects {
			if x.Kind == SuspectCabling && x.Nodes[0] == 1 && x.Reason == ReasonSharedSegment {
				found = true
			} else if x.Kind != SuspectCabling {
				t.Errorf("node %d: extra suspect %s", o, suspectsString(mx))
			}
		}
		if !found {
			t.Errorf("node %d: suspects %s, want node 1's shared segment", o, suspectsString(mx))
		}
	}
}

func TestLocalizeMTUOfOnePort(t *testing.T) {
	s := newSim(t, 3, withMTU(9000, ether("hb0", "hb1")), DefaultTimers())
	s.tables = true
	s.run(2 * time.Second)
	s.portMTU[[2]int{1, 1}] = 1500
	s.run(3 * time.Second)
	s.wantSuspect([]int{0, 1, 2}, Suspect{Network: 1, Kind: SuspectNode, Nodes: []NodeID{1}, Reason: ReasonMTUMismatch})
}

func TestLocalizeCrashedNode(t *testing.T) {
	s := localizeSim(t)
	s.nodes[2].down = true
	s.run(5 * time.Second)
	s.wantSuspect([]int{0, 1}, Suspect{Network: -1, Kind: SuspectNodeDown, Nodes: []NodeID{2}, Reason: ReasonPeerSilent})
}

// The disagreement mark: one end hears, the other does not.
func TestMatrixMarksDisagreement(t *testing.T) {
	s := localizeSim(t)
	s.cut[[3]int{0, 1, 0}] = true
	s.run(2 * time.Second)
	mx := s.nodes[2].m.Matrix(s.now)
	c01, c10 := mx.Views[0].Cells[1][0], mx.Views[1].Cells[0][0]
	if !c01.Disagree && !c10.Disagree {
		t.Errorf("node 2's matrix: 0->1 %+v, 1->0 %+v: no disagreement marked", c01, c10)
	}
	if c := mx.Views[0].Cells[2][0]; c.Disagree || c.State != LinkUp {
		t.Errorf("healthy cell 0->2 %+v", c)
	}
}

// Right after a fault the peers' tables predate it: the matrix says it is
// settling, until their tables follow.
func TestMatrixSettles(t *testing.T) {
	s := localizeSim(t)
	n1 := s.nodes[1]
	n1.m.SetCarrier(s.now, 1, false)
	s.isolate(1, 1, true)
	s.collect(n1)
	s.run(10 * ms)
	if mx := s.nodes[2].m.Matrix(s.now); !mx.Settling {
		t.Errorf("right after the fault: not settling, suspects %s", suspectsString(mx))
	}
	s.run(2 * time.Second)
	if mx := s.nodes[2].m.Matrix(s.now); mx.Settling {
		t.Errorf("tables exchanged since: still settling")
	}
}
