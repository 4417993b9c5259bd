package llt

import (
	"testing"
	"time"
)

const ms = time.Millisecond

func TestHandshakeBringsEveryLinkUp(t *testing.T) {
	s := newSim(t, 3, ether("hb0", "hb1"), DefaultTimers())
	for i := range s.nodes {
		for _, p := range s.nodes[i].m.Snapshot(s.now).Peers {
			if p.State != NodeConnWait {
				t.Fatalf("node %d sees %d as %v before any frame, want CONNWAIT", i, p.ID, p.State)
			}
		}
	}
	// The first heartbeats go out at once; the three-way handshake then
	// takes round trips, not heartbeat intervals.
	s.run(5 * ms)
	s.assertAllOpen()
	for _, n := range s.nodes {
		for _, e := range n.events {
			if e.Kind == EventLink && e.Link == LinkUp && e.At.Sub(simEpoch) > ms {
				t.Errorf("link up at %v: the handshake should need only a few round trips", e.At.Sub(simEpoch))
			}
		}
	}
	// Heartbeats continue: a second of steady state changes nothing.
	before := len(s.nodes[0].events)
	s.run(time.Second)
	s.assertAllOpen()
	if got := len(s.nodes[0].events); got != before {
		t.Fatalf("steady state produced %d events: %+v", got-before, s.nodes[0].events[before:])
	}
	l := s.link(0, 1, 0)
	if l.PeerAddr != addr(1, 0) {
		t.Errorf("peer address %q, want %q (learned from accepted frames)", l.PeerAddr, addr(1, 0))
	}
	if l.RTT <= 0 || l.RTT > time.Millisecond {
		t.Errorf("RTT %v, want about 2×50µs", l.RTT)
	}
	if l.Lost != 0 || l.Replays != 0 {
		t.Errorf("lost %d replays %d on a perfect wire", l.Lost, l.Replays)
	}
}

func TestHeartbeatJitterStaysWithinBFDBounds(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), DefaultTimers())
	var sends []time.Time
	s.tap = func(src, dst, net int, b []byte) {
		var f Frame
		if src == 0 && s.nodes[1].codec.Decode(b, &f) == nil && f.Flags&FlagCopy == 0 {
			sends = append(sends, s.now) // not the probe copies of a heartbeat
		}
	}
	s.run(20 * time.Second)
	// Skip the handshake's immediate sends.
	var gaps []time.Duration
	for i := 5; i < len(sends); i++ {
		gaps = append(gaps, sends[i].Sub(sends[i-1]))
	}
	if len(gaps) < 150 {
		t.Fatalf("only %d heartbeats in 20s", len(gaps))
	}
	lo, hi := gaps[0], gaps[0]
	for _, g := range gaps {
		lo, hi = min(lo, g), max(hi, g)
		if g < 75*ms || g > 100*ms {
			t.Fatalf("heartbeat gap %v outside 75..100ms", g)
		}
	}
	if hi-lo < 10*ms {
		t.Errorf("gaps %v..%v: heartbeats are not jittered", lo, hi)
	}
}

// A silent blackhole: frames stop both ways, carrier stays. TROUBLE comes
// exactly peertrouble after the last frame, DOWN exactly peerinact after it.
func TestBlackholeTimerBoundaries(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	s.assertAllOpen()

	fault := s.now
	s.isolate(0, 1, true) // node 0's hb1 switch port stops forwarding
	s.run(2 * time.Second)

	for _, obs := range []struct {
		node int
		peer NodeID
	}{{1, 0}, {2, 0}, {0, 1}, {0, 2}} {
		last := s.lastHeard(obs.node, obs.peer, 1)
		if last.After(fault) {
			t.Fatalf("node %d heard %d after the fault", obs.node, obs.peer)
		}
		tr, ok := s.firstLinkState(obs.node, obs.peer, 1, fault, LinkTrouble)
		if !ok {
			t.Fatalf("node %d: link to %d on hb1 never went TROUBLE", obs.node, obs.peer)
		}
		if got := tr.At.Sub(last); got != tm.PeerTrouble {
			t.Errorf("node %d: TROUBLE %v after the last frame, want exactly peertrouble %v", obs.node, got, tm.PeerTrouble)
		}
		dn, ok := s.firstLinkState(obs.node, obs.peer, 1, fault, LinkDown)
		if !ok {
			t.Fatalf("node %d: link to %d on hb1 never went DOWN", obs.node, obs.peer)
		}
		if got := dn.At.Sub(last); got != tm.PeerInact {
			t.Errorf("node %d: DOWN %v after the last frame, want exactly peerinact %v", obs.node, got, tm.PeerInact)
		}
		if d := dn.At.Sub(fault); d > tm.PeerInact || d < tm.PeerInact-tm.Heartbeat {
			t.Errorf("node %d: detection %v after the fault, want within [peerinact-heartbeat, peerinact]", obs.node, d)
		}
		if dn.Reason != ReasonPeerSilent {
			t.Errorf("node %d: DOWN reason %v, want peer-silent", obs.node, dn.Reason)
		}
		// The other network is untouched.
		if l := s.link(obs.node, obs.peer, 0); l.State != LinkUp {
			t.Errorf("node %d: hb0 link to %d is %v, want UP", obs.node, obs.peer, l.State)
		}
	}
	// Node 0 has one private link left to each peer: JEOPARDY both ways.
	if st := s.peer(1, 0).State; st != NodeJeopardy {
		t.Errorf("node 1 sees node 0 %v, want JEOPARDY", st)
	}
	if st := s.peer(0, 2).State; st != NodeJeopardy {
		t.Errorf("node 0 sees node 2 %v, want JEOPARDY", st)
	}
	if st := s.peer(1, 2).State; st != NodeOpen {
		t.Errorf("node 1 sees node 2 %v, want OPEN", st)
	}

	// Restore: back UP through the handshake, within a heartbeat.
	restore := s.now
	s.isolate(0, 1, false)
	s.run(tm.Heartbeat + 5*ms)
	s.assertAllOpen()
	if up, ok := s.firstLinkState(1, 0, 1, restore, LinkUp); !ok || up.At.Sub(restore) > tm.Heartbeat+ms {
		t.Errorf("link back up %v after restore, want within one heartbeat", up.At.Sub(restore))
	}
}

func TestNoTroubleBeforePeerTrouble(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, ether("hb0"), tm)
	s.run(time.Second)
	s.isolate(0, 0, true)
	last := s.lastHeard(1, 0, 0)
	s.runUntil(last.Add(tm.PeerTrouble - time.Nanosecond))
	if l := s.link(1, 0, 0); l.State != LinkUp {
		t.Fatalf("link %v 1ns before peertrouble, want UP", l.State)
	}
	s.runUntil(last.Add(tm.PeerTrouble))
	if l := s.link(1, 0, 0); l.State != LinkTrouble {
		t.Fatalf("link %v at peertrouble, want TROUBLE", l.State)
	}
	s.runUntil(last.Add(tm.PeerInact - time.Nanosecond))
	if l := s.link(1, 0, 0); l.State != LinkTrouble {
		t.Fatalf("link %v 1ns before peerinact, want TROUBLE", l.State)
	}
	s.runUntil(last.Add(tm.PeerInact))
	if l := s.link(1, 0, 0); l.State != LinkDown {
		t.Fatalf("link %v at peerinact, want DOWN", l.State)
	}
	// One link, peer lost: DOWN (it was OPEN), not CONNWAIT.
	if st := s.peer(1, 0).State; st != NodeDown {
		t.Fatalf("node %v, want DOWN", st)
	}
}

// TROUBLE recovers without a DOWN when frames resume before peerinact.
func TestTroubleRecoversWithoutDown(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, ether("hb0"), tm)
	s.run(time.Second)
	from := s.now
	s.isolate(0, 0, true)
	s.run(tm.PeerTrouble + tm.Heartbeat)
	if l := s.link(1, 0, 0); l.State != LinkTrouble {
		t.Fatalf("link %v, want TROUBLE", l.State)
	}
	s.isolate(0, 0, false)
	s.run(tm.Heartbeat + ms)
	if l := s.link(1, 0, 0); l.State != LinkUp {
		t.Fatalf("link %v after frames resumed, want UP", l.State)
	}
	if _, ok := s.firstLinkState(1, 0, 0, from, LinkDown); ok {
		t.Fatal("link went DOWN although frames resumed before peerinact")
	}
}

// One-way failure: node 0's frames on hb0 no longer reach node 1, node 1's
// still reach node 0. Both ends go DOWN; node 0 says one-way-out (they do
// not hear us), node 1 says one-way-in (we do not hear them, but node 0
// tells us over hb1 that it hears us on hb0).
func TestOneWayFailureBothEndsDownWithDirection(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	s.assertAllOpen()
	fault := s.now
	s.cut[[3]int{0, 1, 0}] = true
	s.run(2 * time.Second)

	l0 := s.link(0, 1, 0)
	l1 := s.link(1, 0, 0)
	if l0.State != LinkDown || l1.State != LinkDown {
		t.Fatalf("states %v / %v, want DOWN on both ends", l0.State, l1.State)
	}
	if l0.Reason != ReasonOneWayOut {
		t.Errorf("sender side reason %v, want one-way-out", l0.Reason)
	}
	if l1.Reason != ReasonOneWayIn {
		t.Errorf("receiver side reason %v, want one-way-in", l1.Reason)
	}
	// Both went down within peerinact (plus the one-way echo staleness).
	for _, n := range []struct {
		node int
		peer NodeID
	}{{0, 1}, {1, 0}} {
		dn, ok := s.firstLinkState(n.node, n.peer, 0, fault, LinkDown)
		if !ok {
			t.Fatalf("node %d never went down", n.node)
		}
		if d := dn.At.Sub(fault); d > tm.PeerInact+tm.Heartbeat {
			t.Errorf("node %d down %v after the fault, want ≤ peerinact+heartbeat", n.node, d)
		}
	}
	// The sender side session sits in INIT: it hears the peer but is not heard.
	if got := l0.Sessions[0].State; got != SessionInit {
		t.Errorf("sender side session %v, want INIT", got)
	}
	// hb1 is unaffected, so both nodes are JEOPARDY, not DOWN.
	if st := s.peer(0, 1).State; st != NodeJeopardy {
		t.Errorf("node state %v, want JEOPARDY", st)
	}
	// Heal: both UP again.
	s.cut[[3]int{0, 1, 0}] = false
	s.run(tm.Heartbeat + 5*ms)
	s.assertAllOpen()
}

// With a single network there is no other path to learn the far side's
// view, so the deaf side can only say peer-silent; the other still knows
// it is one-way-out.
func TestOneWayFailureSingleNetwork(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), DefaultTimers())
	s.run(time.Second)
	s.cut[[3]int{1, 0, 0}] = true // node 1 cannot reach node 0
	s.run(2 * time.Second)
	if l := s.link(1, 0, 0); l.State != LinkDown || l.Reason != ReasonOneWayOut {
		t.Errorf("node 1: %v %v, want DOWN one-way-out", l.State, l.Reason)
	}
	if l := s.link(0, 1, 0); l.State != LinkDown || l.Reason != ReasonPeerSilent {
		t.Errorf("node 0: %v %v, want DOWN peer-silent", l.State, l.Reason)
	}
}

func TestCarrierLossIsImmediateAndRecoveryNeedsHandshake(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	n0 := s.nodes[0]

	fault := s.now
	n0.m.SetCarrier(s.now, 1, false)
	// A pulled cable: node 0 stops sending and receiving on hb1.
	s.isolate(0, 1, true)
	s.collect(n0)
	for _, peer := range []NodeID{1, 2} {
		dn, ok := s.firstLinkState(0, peer, 1, fault, LinkDown)
		if !ok || !dn.At.Equal(fault) {
			t.Fatalf("link to %d not DOWN at the carrier loss (event %+v)", peer, dn)
		}
		if dn.Reason != ReasonCarrierLost {
			t.Errorf("reason %v, want carrier-lost", dn.Reason)
		}
	}
	// The peers learn over hb0 at once (node 0 tells them straight away)
	// that node 0's hb1 lost carrier, and take the link down without
	// waiting for peerinact.
	s.run(5 * ms)
	for _, obs := range []int{1, 2} {
		dn, ok := s.firstLinkState(obs, 0, 1, fault, LinkDown)
		if !ok || dn.At.Sub(fault) > ms {
			t.Errorf("node %d: node 0's hb1 down %v after the carrier loss, want about one latency", obs, dn.At.Sub(fault))
		}
	}
	s.run(2 * time.Second)
	// The peers see node 0's hb1 down, and know from its report that it
	// lost carrier there.
	for _, obs := range []int{1, 2} {
		l := s.link(obs, 0, 1)
		if l.State != LinkDown || l.Reason != ReasonPeerSilent || l.RemoteReason != ReasonCarrierLost {
			t.Errorf("node %d: link to 0 on hb1 %v %v (remote %v), want DOWN peer-silent (remote carrier-lost)", obs, l.State, l.Reason, l.RemoteReason)
		}
		if st := s.peer(obs, 0).State; st != NodeJeopardy {
			t.Errorf("node %d sees node 0 %v, want JEOPARDY", obs, st)
		}
	}
	// Carrier returns: nothing comes up until frames prove both ways.
	restore := s.now
	s.isolate(0, 1, false)
	n0.m.SetCarrier(s.now, 1, true)
	if l := n0.m.Snapshot(s.now).Peers[0].Links[1]; l.State != LinkDown {
		t.Fatalf("link %v right at carrier return, want DOWN until the handshake", l.State)
	}
	s.collect(n0)
	s.run(5 * ms)
	s.assertAllOpen()
	up, _ := s.firstLinkState(0, 1, 1, restore, LinkUp)
	if up.At.Equal(restore) {
		t.Error("link came up at the carrier event, without a handshake")
	}
	// Recovery is one transition, DOWN carrier-lost -> UP: no reason flaps
	// in between.
	for _, e := range s.linkEvents(0, 1, 1, restore) {
		if e.Link == LinkDown {
			t.Errorf("reason changed to %v during recovery", e.Reason)
		}
	}
}

// Carrier back, but the peer stays silent: after peerinact the reason
// moves on from carrier-lost to peer-silent.
func TestCarrierBackButPeerSilent(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, ether("hb0"), tm)
	s.run(time.Second)
	n0 := s.nodes[0]
	n0.m.SetCarrier(s.now, 0, false)
	s.collect(n0)
	s.isolate(0, 0, true)
	s.run(time.Second)
	back := s.now
	n0.m.SetCarrier(s.now, 0, true)
	s.collect(n0)
	s.runUntil(back.Add(tm.PeerInact - ms))
	if l := s.link(0, 1, 0); l.Reason != ReasonCarrierLost {
		t.Fatalf("reason %v during the handshake grace, want carrier-lost", l.Reason)
	}
	s.run(tm.Heartbeat + ms)
	if l := s.link(0, 1, 0); l.State != LinkDown || l.Reason != ReasonPeerSilent {
		t.Fatalf("%v %v after the grace, want DOWN peer-silent", l.State, l.Reason)
	}
}

func TestCarrierDownIgnoresLateFrames(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), DefaultTimers())
	s.run(time.Second)
	n0 := s.nodes[0]
	n0.m.SetCarrier(s.now, 0, false)
	s.collect(n0)
	s.run(time.Second) // node 1 keeps sending; the frames must not bring the link up
	if l := s.link(0, 1, 0); l.State != LinkDown || l.Reason != ReasonCarrierLost {
		t.Fatalf("link %v %v, want DOWN carrier-lost", l.State, l.Reason)
	}
	if n0.verdict[DropCarrierDown] == 0 {
		t.Fatal("late frames were not counted as carrier-down drops")
	}
}

func TestShutdownTakesPeerDownAtOnce(t *testing.T) {
	s := newSim(t, 3, ether("hb0", "hb1"), DefaultTimers())
	s.run(time.Second)
	n2 := s.nodes[2]
	stop := s.now
	n2.m.Shutdown(s.now)
	s.collect(n2)
	n2.down = true
	s.run(5 * ms)
	for _, obs := range []int{0, 1} {
		p := s.peer(obs, 2)
		if p.State != NodeDown {
			t.Fatalf("node %d sees node 2 %v right after its shutdown, want DOWN", obs, p.State)
		}
		if p.Since.Sub(stop) > ms {
			t.Errorf("node %d: DOWN %v after shutdown, want about one latency", obs, p.Since.Sub(stop))
		}
		for _, l := range p.Links {
			if l.Reason != ReasonPeerStopped {
				t.Errorf("node %d: link reason %v, want peer-stopped", obs, l.Reason)
			}
		}
	}
}

func TestPeerRestartIsReportedAndLinksRecover(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	oldInc := s.nodes[1].m.Incarnation()

	// Node 1 crashes and restarts with a new incarnation.
	s.nodes[1].down = true
	s.run(time.Second)
	if st := s.peer(0, 1).State; st != NodeDown {
		t.Fatalf("crashed peer %v, want DOWN", st)
	}
	m, err := New(Config{Cluster: 7, Self: 1, Incarnation: NewIncarnation(s.now, 99), Epoch: s.now,
		Networks: s.nets, Peers: []NodeID{0}, Timers: tm, Diagnostics: simDiag})
	if err != nil {
		t.Fatal(err)
	}
	restart := s.now
	s.nodes[1].m = m
	s.nodes[1].down = false
	s.run(tm.Heartbeat + 5*ms)
	s.assertAllOpen()
	evs := s.nodeEvents(0, 1, restart)
	var restarted bool
	for _, e := range evs {
		if e.Kind == EventPeerRestart {
			restarted = true
			if e.PrevIncarnation != oldInc || e.Incarnation != m.Incarnation() {
				t.Errorf("restart event %x -> %x, want %x -> %x", e.PrevIncarnation, e.Incarnation, oldInc, m.Incarnation())
			}
		}
	}
	if !restarted {
		t.Fatalf("no peer-restart event: %+v", evs)
	}
	if p := s.peer(0, 1); p.Restarts != 1 || p.Incarnation != m.Incarnation() {
		t.Errorf("restarts %d incarnation %x", p.Restarts, p.Incarnation)
	}
}

func TestReplayedFramesChangeNothing(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, ether("hb0"), tm)
	var captured [][]byte
	s.tap = func(src, dst, net int, b []byte) {
		if src == 1 {
			captured = append(captured, b)
		}
	}
	s.run(time.Second)
	s.tap = nil
	n0 := s.nodes[0]

	replay := func() {
		for _, b := range captured {
			var f Frame
			if err := n0.codec.Decode(b, &f); err != nil {
				t.Fatal(err)
			}
			n0.verdict[n0.m.Receive(s.now, Inbound{Network: 0, Channel: ChannelEther, From: "attacker", Frame: &f})]++
		}
		s.collect(n0)
	}
	before := len(n0.events)
	dropped0 := n0.verdict[DropReplay] + n0.verdict[DropProbeCopy]
	replay()
	if n := n0.verdict[DropReplay] + n0.verdict[DropProbeCopy] - dropped0; n != len(captured) {
		t.Fatalf("%d of %d replays dropped", n, len(captured))
	}
	if len(n0.events) != before {
		t.Fatalf("replays produced events: %+v", n0.events[before:])
	}
	if l := s.link(0, 1, 0); l.PeerAddr != addr(1, 0) {
		t.Fatalf("replayed frames moved the peer address to %q", l.PeerAddr)
	}

	// After the peer restarts, its old incarnation's frames are stale.
	m, err := New(Config{Cluster: 7, Self: 1, Incarnation: NewIncarnation(s.now, 7), Epoch: s.now,
		Networks: s.nets, Peers: []NodeID{0}, Timers: tm, Diagnostics: simDiag})
	if err != nil {
		t.Fatal(err)
	}
	s.nodes[1].m = m
	s.run(time.Second)
	s.assertAllOpen()
	before = len(n0.events)
	replay()
	if n0.verdict[DropStaleIncarnation] != len(captured) {
		t.Fatalf("%d of %d old-incarnation frames dropped as stale", n0.verdict[DropStaleIncarnation], len(captured))
	}
	if len(n0.events) != before {
		t.Fatalf("stale frames produced events: %+v", n0.events[before:])
	}
	s.run(time.Second)
	s.assertAllOpen()
}

func TestForeignAndMisaddressedFramesAreDropped(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), DefaultTimers())
	s.run(time.Second)
	n0 := s.nodes[0]
	base := Frame{Type: FrameHeartbeat, State: SessionUp, Cluster: 7, Src: 1, Dst: 0, Network: "hb0",
		Incarnation: 1 << 40, Seq: 1 << 30, Heartbeat: 100 * ms, PeerInact: 600 * ms}
	cases := []struct {
		name string
		mod  func(f *Frame)
		want Verdict
	}{
		{"foreign cluster", func(f *Frame) { f.Cluster = 8 }, DropForeignCluster},
		{"unknown node", func(f *Frame) { f.Src = 5 }, DropUnknownNode},
		{"for another node", func(f *Frame) { f.Dst = 3 }, DropNotForUs},
		{"our own id, other incarnation", func(f *Frame) { f.Src = 0 }, DropDuplicateNodeID},
		{"our own frame", func(f *Frame) { f.Src, f.Incarnation = 0, n0.m.Incarnation() }, DropSelf},
		{"unknown network", func(f *Frame) { f.Network = "hb9" }, DropUnknownNetwork},
		{"older incarnation of a live peer", func(f *Frame) { f.Incarnation = 1 }, DropStaleIncarnation},
	}
	before := len(n0.events)
	for _, c := range cases {
		f := base
		c.mod(&f)
		if v := n0.m.Receive(s.now, Inbound{Network: 0, Channel: ChannelEther, From: "x", Frame: &f}); v != c.want {
			t.Errorf("%s: verdict %v, want %v", c.name, v, c.want)
		}
	}
	s.collect(n0)
	if ch := stateChanges(n0.events[before:]); len(ch) != 0 {
		t.Fatalf("dropped frames changed state: %+v", ch)
	}
	// The foreign cluster shows on the network, and only there.
	if r := s.netReasons(0, 0); len(r) != 1 || r[0] != ReasonForeignCluster {
		t.Errorf("network reasons %v, want [foreign-cluster]", r)
	}
	if v := n0.m.Receive(s.now, Inbound{Network: 5, Frame: &base}); v != DropUnknownNetwork {
		t.Errorf("bad network index: %v", v)
	}
	s.run(time.Second)
	s.assertAllOpen()
}

// Swapped cables: node 1's hb0 frames arrive on node 0's hb1 and the other
// way round. The frames are counted as cross-connected and never feed the
// wrong link; node 0 names the cause on the affected links.
func TestCrossConnectedFramesAreNamed(t *testing.T) {
	s := newSim(t, 2, ether("hb0", "hb1"), DefaultTimers())
	s.run(time.Second)
	s.route[[2]int{1, 0}] = 1
	s.route[[2]int{1, 1}] = 0
	s.run(2 * time.Second)
	n0 := s.nodes[0]
	if n0.verdict[DropCrossConnected] == 0 {
		t.Fatal("no cross-connected drops")
	}
	for net := 0; net < 2; net++ {
		if l := s.link(0, 1, net); l.State != LinkDown || l.Reason != ReasonCrossConnected {
			t.Errorf("net %d: %v %v, want DOWN cross-connected", net, l.State, l.Reason)
		}
	}
}

func TestAuthFailuresNameTheReasonOnlyOnDownLinks(t *testing.T) {
	s := newSim(t, 2, ether("hb0", "hb1"), DefaultTimers())
	s.run(time.Second)
	n0 := s.nodes[0]
	before := len(n0.events)
	n0.m.NoteAuthFailure(s.now, 0, 1, "x")
	s.collect(n0)
	if ch := stateChanges(n0.events[before:]); len(ch) != 0 {
		t.Fatalf("an auth failure changed an UP link: %+v", ch)
	}
	if r := s.netReasons(0, 0); len(r) != 1 || r[0] != ReasonAuthFailure {
		t.Errorf("network reasons %v, want [auth-failure]", r)
	}
	// The network says where the last one came from, a peer's id or not.
	if a := n0.m.Snapshot(s.now).Networks[0].Auth; a.Count != 1 || a.Node != 1 || a.From != "x" {
		t.Errorf("auth failures %+v, want 1 claiming node 1 from x", a)
	}
	// The peer's hb1 now only sends frames we cannot authenticate (wrong key).
	s.cutLink(0, 1, 1, true)
	for i := 0; i < 30; i++ {
		s.run(100 * ms)
		n0.m.NoteAuthFailure(s.now, 1, 1, "x")
		s.collect(n0)
	}
	if l := s.link(0, 1, 1); l.State != LinkDown || l.Reason != ReasonAuthFailure {
		t.Fatalf("link %v %v, want DOWN auth-failure", l.State, l.Reason)
	}
}

func TestLowpriNetworkUsesLowpriTimers(t *testing.T) {
	tm := DefaultTimers()
	nets := []NetworkConfig{
		{Name: "hb0", Ether: true},
		{Name: "pub", Ether: true, Lowpri: true},
	}
	s := newSim(t, 2, nets, tm)
	var pubSends int
	s.tap = func(src, dst, net int, b []byte) {
		if src == 0 && net == 1 {
			pubSends++
		}
	}
	s.run(10 * time.Second)
	// 10 s at 375..500 ms: 20..27 frames, plus a few handshake frames.
	if pubSends < 20 || pubSends > 32 {
		t.Errorf("%d lowpri frames in 10s, want about 20..27", pubSends)
	}
	s.assertAllOpen()
	// Losing the private network leaves only lowpri: the node is alive,
	// the interconnect broken: PARTITIONED.
	s.isolate(0, 0, true)
	s.run(time.Second)
	if st := s.peer(1, 0).State; st != NodePartitioned {
		t.Errorf("only lowpri left: %v, want PARTITIONED", st)
	}
	// Lowpri goes DOWN after peerinactlo, not peerinact.
	fault := s.now
	s.isolate(0, 1, true)
	last := s.lastHeard(1, 0, 1)
	s.run(5 * time.Second)
	dn, ok := s.firstLinkState(1, 0, 1, fault, LinkDown)
	if !ok {
		t.Fatal("lowpri link never went down")
	}
	if got := dn.At.Sub(last); got != tm.PeerInactLo {
		t.Errorf("lowpri DOWN %v after last frame, want peerinactlo %v", got, tm.PeerInactLo)
	}
	if st := s.peer(1, 0).State; st != NodeDown {
		t.Errorf("all links lost: %v, want DOWN", st)
	}
}

// A peer that heartbeats more slowly than our timers expect must not flap:
// detection follows its advertised interval.
func TestSlowPeerDoesNotFlap(t *testing.T) {
	fast := Timers{Heartbeat: 10 * ms, PeerTrouble: 20 * ms, PeerInact: 30 * ms,
		HeartbeatLo: 500 * ms, PeerTroubleLo: 2000 * ms, PeerInactLo: 3000 * ms}
	s := newSim(t, 2, ether("hb0"), fast)
	slow := DefaultTimers()
	m, err := New(Config{Cluster: 7, Self: 1, Incarnation: NewIncarnation(s.now, 5), Epoch: s.now,
		Networks: s.nets, Peers: []NodeID{0}, Timers: slow, Diagnostics: simDiag})
	if err != nil {
		t.Fatal(err)
	}
	s.nodes[1].m = m
	s.run(10 * time.Second)
	s.assertAllOpen()
	for _, e := range s.nodes[0].events {
		if e.Kind == EventLink && e.Link == LinkDown && e.PrevLink != LinkDown {
			t.Fatalf("flap at %v", e.At.Sub(simEpoch))
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := Config{Cluster: 1, Self: 0, Incarnation: 1, Epoch: simEpoch, Networks: ether("hb0"),
		Peers: []NodeID{1}, Timers: DefaultTimers()}
	cases := map[string]func(c *Config){
		"zero incarnation": func(c *Config) { c.Incarnation = 0 },
		"no network":       func(c *Config) { c.Networks = nil },
		"bad name":         func(c *Config) { c.Networks = ether("hb 0") },
		"dup network":      func(c *Config) { c.Networks = ether("hb0", "hb0") },
		"self as peer":     func(c *Config) { c.Peers = []NodeID{0} },
		"dup peer":         func(c *Config) { c.Peers = []NodeID{1, 1} },
		"peer id range":    func(c *Config) { c.Peers = []NodeID{1024} },
		"timers order":     func(c *Config) { c.Timers.PeerTrouble = c.Timers.PeerInact },
		"only lowpri": func(c *Config) {
			c.Networks = []NetworkConfig{{Name: "p", Lowpri: true, Ether: true}}
		},
		"no channel": func(c *Config) { c.Networks = []NetworkConfig{{Name: "p"}} },
	}
	if _, err := New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mod := range cases {
		c := good
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A clean stop followed at once by a restart: the peers report the stop,
// the restart, and links straight back UP, with no reason noise made of
// the old incarnation's state in between.
func TestQuickRestartAfterShutdownIsClean(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	n1 := s.nodes[1]
	n1.m.Shutdown(s.now)
	s.collect(n1)
	n1.down = true
	s.run(200 * ms)
	restart := s.now
	m, err := New(Config{Cluster: 7, Self: 1, Incarnation: NewIncarnation(s.now, 3), Epoch: s.now,
		Networks: s.nets, Peers: []NodeID{0}, Timers: tm, Diagnostics: simDiag})
	if err != nil {
		t.Fatal(err)
	}
	n1.m = m
	n1.down = false
	s.run(50 * ms)
	s.assertAllOpen()
	for net := 0; net < 2; net++ {
		for _, e := range s.linkEvents(0, 1, net, restart) {
			if e.Link == e.PrevLink && e.Reason == e.PrevReason {
				continue // only the peer's own report changed
			}
			if e.Link != LinkUp || e.PrevLink != LinkDown || e.PrevReason != ReasonPeerStopped {
				t.Errorf("net %d: event %v %v->%v %v, want only DOWN(peer-stopped) -> UP", net, e.Kind, e.PrevLink, e.Link, e.Reason)
			}
		}
	}
}

var fastTimers = Timers{Heartbeat: 10 * ms, PeerTrouble: 20 * ms, PeerInact: 30 * ms,
	HeartbeatLo: 500 * ms, PeerTroubleLo: 2000 * ms, PeerInactLo: 3000 * ms}

// When both directions of a link die at once (a blackhole), neither end
// may call it one-way, whatever the phase of the fault against the
// heartbeats and however short the timers: the peer's last "I hear you"
// over the other network can be honest until just after the fault.
func TestBlackholeIsNeverCalledOneWay(t *testing.T) {
	for _, tm := range []Timers{fastTimers, DefaultTimers()} {
		for offset := time.Duration(0); offset < 2*tm.Heartbeat; offset += tm.Heartbeat / 50 {
			s := newSim(t, 3, ether("hb0", "hb1"), tm)
			s.run(time.Second + offset)
			fault := s.now
			s.isolate(1, 0, true)
			s.run(3 * tm.PeerInact)
			for _, n := range []struct {
				node int
				peer NodeID
			}{{0, 1}, {2, 1}, {1, 0}, {1, 2}} {
				for _, e := range s.linkEvents(n.node, n.peer, 0, fault) {
					if e.Reason == ReasonOneWayIn || e.Reason == ReasonOneWayOut {
						t.Fatalf("hb %v, fault at +%v: node %d called the blackholed link to %d %v", tm.Heartbeat, offset, n.node, n.peer, e.Reason)
					}
				}
				if l := s.link(n.node, n.peer, 0); l.State != LinkDown || l.Reason != ReasonPeerSilent {
					t.Fatalf("hb %v, fault at +%v: node %d link to %d %v %v", tm.Heartbeat, offset, n.node, n.peer, l.State, l.Reason)
				}
			}
		}
	}
}

// A real one-way loss is still named, at every phase, by both ends: at
// once with default timers, within a few heartbeats with very short ones.
func TestOneWayIsNamedWithShortTimers(t *testing.T) {
	for offset := time.Duration(0); offset < fastTimers.Heartbeat; offset += ms {
		s := newSim(t, 2, ether("hb0", "hb1"), fastTimers)
		s.run(time.Second + offset)
		s.cut[[3]int{0, 1, 0}] = true // node 0's frames on hb0 no longer reach node 1
		s.run(fastTimers.PeerInact + 5*fastTimers.Heartbeat)
		if l := s.link(1, 0, 0); l.State != LinkDown || l.Reason != ReasonOneWayIn {
			t.Fatalf("fault at +%v: deaf side %v %v, want DOWN one-way-in", offset, l.State, l.Reason)
		}
		if l := s.link(0, 1, 0); l.State != LinkDown || l.Reason != ReasonOneWayOut {
			t.Fatalf("fault at +%v: sending side %v %v, want DOWN one-way-out", offset, l.State, l.Reason)
		}
	}
}

// Heartbeats are broadcast until the peer's address is learned from an
// accepted frame, then unicast to it; when the peer falls silent they are
// broadcast again, so a peer whose MAC changed (NIC swap) is found again.
func TestBroadcastUntilLearnedThenUnicast(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), DefaultTimers())
	s.run(time.Second)
	n0 := s.nodes[0]
	if got := n0.sentTo[0].to; got != "" {
		t.Fatalf("first heartbeat addressed to %q, want broadcast", got)
	}
	last := n0.sentTo[len(n0.sentTo)-1]
	if last.to != addr(1, 0) {
		t.Fatalf("heartbeat after the handshake addressed to %q, want the learned %q", last.to, addr(1, 0))
	}
	s.isolate(1, 0, true)
	fault := s.now
	s.run(2 * time.Second)
	last = n0.sentTo[len(n0.sentTo)-1]
	if last.to != "" || !last.at.After(fault.Add(DefaultTimers().PeerInact)) {
		t.Fatalf("heartbeat to a silent peer at %v addressed to %q, want broadcast", last.at.Sub(fault), last.to)
	}
}

// A stale "no carrier" report must not take down a link that is back: the
// node's frames on another network can be processed after the handshake
// frames on the restored one (different sockets, different goroutines, a
// slower path). Reproduced with a network slower than the other.
func TestStaleCarrierReportDoesNotDownARestoredLink(t *testing.T) {
	for _, tm := range []Timers{fastTimers, DefaultTimers()} {
		for offset := time.Duration(0); offset < tm.Heartbeat; offset += tm.Heartbeat / 25 {
			s := newSim(t, 3, ether("hb0", "hb1"), tm)
			s.netLatency[0] = tm.Heartbeat / 5 // hb0 frames arrive late
			s.run(time.Second)
			n0 := s.nodes[0]
			n0.m.SetCarrier(s.now, 1, false)
			s.isolate(0, 1, true)
			s.collect(n0)
			s.run(time.Second + offset)
			restore := s.now
			s.isolate(0, 1, false)
			n0.m.SetCarrier(s.now, 1, true)
			s.collect(n0)
			s.run(time.Second)
			for _, obs := range []int{1, 2} {
				up, ok := s.firstLinkState(obs, 0, 1, restore, LinkUp)
				if !ok {
					t.Fatalf("hb %v: node %d never saw node 0's hb1 back", tm.Heartbeat, obs)
				}
				for _, e := range s.linkEvents(obs, 0, 1, up.At) {
					if e.Link == LinkDown {
						t.Fatalf("hb %v, restore at +%v: node %d took the restored link down again (%v, %v after it came up)", tm.Heartbeat, offset, obs, e.Reason, e.At.Sub(up.At))
					}
				}
			}
		}
	}
}

// A peer that stopped cleanly and comes back with the wrong key is named
// auth-failure, not peer-stopped for ever.
func TestStoppedPeerBackWithAWrongKey(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), DefaultTimers())
	s.run(time.Second)
	n1 := s.nodes[1]
	n1.m.Shutdown(s.now)
	s.collect(n1)
	n1.down = true
	s.run(time.Second)
	if l := s.link(0, 1, 0); l.Reason != ReasonPeerStopped {
		t.Fatalf("stopped peer: %v", l.Reason)
	}
	// Back, but its frames fail authentication.
	for range 10 {
		s.run(100 * ms)
		s.nodes[0].m.NoteAuthFailure(s.now, 0, 1, "x")
		s.collect(s.nodes[0])
	}
	if l := s.link(0, 1, 0); l.State != LinkDown || l.Reason != ReasonAuthFailure {
		t.Fatalf("stopped peer back with a wrong key: %v %v, want DOWN auth-failure", l.State, l.Reason)
	}
}
