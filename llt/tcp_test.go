package llt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func sessionState(l LinkSnapshot, c Channel) SessionState {
	for _, s := range l.Sessions {
		if s.Channel == c {
			return s.State
		}
	}
	return 0
}

func TestTCPSessionsComeUpWithEther(t *testing.T) {
	s := newSim(t, 3, etherTCP("hb0", "hb1"), DefaultTimers())
	s.run(5 * ms)
	s.assertAllOpen()
	l := s.link(0, 1, 0)
	for _, c := range []Channel{ChannelEther, ChannelTCPTo, ChannelTCPFrom} {
		if st := sessionState(l, c); st != SessionUp {
			t.Errorf("%v session %v, want UP", c, st)
		}
	}
	// A second of steady state: no tcp-blocked flash.
	s.run(time.Second)
	s.assertAllOpen()
}

// TCP dropped on one link both ways: ether keeps the link UP, and the
// reason says tcp-blocked on both ends.
func TestTCPBlockedKeepsLinkUpWithReason(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, etherTCP("hb0", "hb1"), tm)
	s.run(time.Second)
	fault := s.now
	s.cutTCP(0, 1, 0, true)
	s.run(2 * time.Second)
	for _, n := range []struct {
		node int
		peer NodeID
	}{{0, 1}, {1, 0}} {
		l := s.link(n.node, n.peer, 0)
		if l.State != LinkUp || l.Reason != ReasonTCPBlocked {
			t.Fatalf("node %d: %v %v, want UP tcp-blocked", n.node, l.State, l.Reason)
		}
		if sessionState(l, ChannelEther) != SessionUp || sessionState(l, ChannelTCPTo) == SessionUp || sessionState(l, ChannelTCPFrom) == SessionUp {
			t.Fatalf("node %d sessions %+v", n.node, l.Sessions)
		}
		e, ok := s.firstLinkState(n.node, n.peer, 0, fault, LinkUp)
		if ok {
			t.Fatalf("unexpected link transition %+v", e)
		}
		var reasonAt time.Time
		for _, e := range s.linkEvents(n.node, n.peer, 0, fault) {
			if e.Reason == ReasonTCPBlocked && reasonAt.IsZero() {
				reasonAt = e.At
			}
		}
		if d := reasonAt.Sub(fault); reasonAt.IsZero() || d > tm.PeerInact+tm.Heartbeat {
			t.Errorf("node %d: tcp-blocked %v after the fault, want within peerinact", n.node, d)
		}
		if st := s.peer(n.node, n.peer).State; st != NodeOpen {
			t.Errorf("node state %v: a TCP problem must not cost redundancy", st)
		}
	}
	// The other network is healthy.
	if l := s.link(0, 1, 1); l.Reason != ReasonNone {
		t.Errorf("hb1 reason %v", l.Reason)
	}
	s.cutTCP(0, 1, 0, false)
	s.run(tm.Heartbeat + 5*ms)
	s.assertAllOpen()
}

// Node 1 cannot dial node 0 (inbound blocked at node 0): node 0's tcp-from
// and node 1's tcp-to are down, the other connection is up. Each side can
// tell which direction failed.
func TestTCPOneDirectionIsVisible(t *testing.T) {
	s := newSim(t, 2, etherTCP("hb0"), DefaultTimers())
	s.noDial[[3]int{1, 0, 0}] = true
	s.run(2 * time.Second)
	l0, l1 := s.link(0, 1, 0), s.link(1, 0, 0)
	if l0.Reason != ReasonTCPBlocked || l1.Reason != ReasonTCPBlocked || l0.State != LinkUp {
		t.Fatalf("reasons %v / %v, state %v", l0.Reason, l1.Reason, l0.State)
	}
	if sessionState(l0, ChannelTCPTo) != SessionUp || sessionState(l0, ChannelTCPFrom) == SessionUp {
		t.Errorf("node 0: to %v from %v, want to UP, from down", sessionState(l0, ChannelTCPTo), sessionState(l0, ChannelTCPFrom))
	}
	if sessionState(l1, ChannelTCPFrom) != SessionUp || sessionState(l1, ChannelTCPTo) == SessionUp {
		t.Errorf("node 1: to %v from %v, want to down, from UP", sessionState(l1, ChannelTCPTo), sessionState(l1, ChannelTCPFrom))
	}
}

// A network with only the tcp channel (lowpri public, routed): links come
// up over TCP alone and follow the lowpri timers.
func TestTCPOnlyNetwork(t *testing.T) {
	tm := DefaultTimers()
	nets := []NetworkConfig{{Name: "hb0", Ether: true}, {Name: "pub", TCP: true, Lowpri: true}}
	s := newSim(t, 2, nets, tm)
	s.run(time.Second)
	s.assertAllOpen()
	fault := s.now
	s.cutLink(0, 1, 1, true)
	last := s.lastHeard(1, 0, 1)
	s.run(5 * time.Second)
	dn, ok := s.firstLinkState(1, 0, 1, fault, LinkDown)
	if !ok || dn.At.Sub(last) != tm.PeerInactLo {
		t.Fatalf("tcp-only lowpri link down %v after last frame, want peerinactlo", dn.At.Sub(last))
	}
}

// Without TCP from the start, the link comes UP on ether with no reason
// for peerinact (connections take a moment), then says tcp-blocked.
func TestTCPBlockedFromStartWaitsForGrace(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, etherTCP("hb0"), tm)
	s.cutTCP(0, 1, 0, true)
	s.runUntil(simEpoch.Add(tm.PeerInact - ms))
	if l := s.link(0, 1, 0); l.State != LinkUp || l.Reason != ReasonNone {
		t.Fatalf("%v %v before the grace, want UP with no reason", l.State, l.Reason)
	}
	s.run(tm.Heartbeat + ms)
	if l := s.link(0, 1, 0); l.Reason != ReasonTCPBlocked {
		t.Fatalf("reason %v after the grace, want tcp-blocked", l.Reason)
	}
}

func TestMessagesTakeTheBestLinkAndFailOver(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 2, etherTCP("hb0", "hb1"), tm)
	s.run(time.Second)
	n0 := s.nodes[0]
	send := func(payload string) Route {
		t.Helper()
		r, err := n0.m.SendMessage(s.now, 1, []byte(payload))
		if err != nil {
			t.Fatalf("send %q: %v", payload, err)
		}
		s.collect(n0)
		s.run(ms)
		return r
	}
	if r := send("one"); r != (Route{0, ChannelTCPTo}) {
		t.Fatalf("first route %+v, want hb0 tcp-to", r)
	}
	got := s.nodes[1].messages
	if len(got) != 1 || got[0].payload != "one" || got[0].msg.Peer != 0 || got[0].msg.Channel != ChannelTCPFrom || got[0].msg.Network != 0 {
		t.Fatalf("received %+v", got)
	}

	// hb0 dies silently: within about a heartbeat and a half, messages go
	// over hb1, long before hb0 is declared down.
	fault := s.now
	s.isolate(0, 0, true)
	var moved time.Time
	for i := 0; i < 40 && moved.IsZero(); i++ {
		if r := send("x"); r.Network == 1 {
			moved = s.now
		}
		s.run(10 * ms)
	}
	if moved.IsZero() {
		t.Fatal("messages never moved to hb1")
	}
	if d := moved.Sub(fault); d > freshWithin(tm.Heartbeat)+tm.Heartbeat/4 {
		t.Errorf("failover after %v, want about 1.5 heartbeats", d)
	}
	if l := s.link(0, 1, 0); l.State != LinkUp {
		t.Logf("hb0 is %v at failover", l.State)
	}
	// Both networks' TCP gone: ether carries small messages, large ones are refused.
	s.cutTCP(0, 1, 1, true)
	s.run(time.Second)
	if r := send("small"); r != (Route{1, ChannelEther}) {
		t.Fatalf("route %+v, want hb1 ether", r)
	}
	big := strings.Repeat("x", DefaultMaxEtherPayload+1)
	if _, err := n0.m.SendMessage(s.now, 1, []byte(big)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("large message over ether only: %v, want ErrTooLarge", err)
	}
	// Nothing left: no route.
	s.isolate(0, 1, true)
	s.run(time.Second)
	if _, err := n0.m.SendMessage(s.now, 1, []byte("z")); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("no links: %v, want ErrNoRoute", err)
	}
	if _, err := n0.m.SendMessage(s.now, 9, []byte("z")); err == nil {
		t.Fatal("unknown peer accepted")
	}
}

func TestMessagesArriveInOrderOnARoute(t *testing.T) {
	s := newSim(t, 2, etherTCP("hb0"), DefaultTimers())
	s.run(time.Second)
	n0 := s.nodes[0]
	var want []string
	for i := 0; i < 100; i++ {
		p := strings.Repeat("m", i+1)
		want = append(want, p)
		if err := n0.m.SendMessageVia(s.now, 1, Route{0, ChannelTCPTo}, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	s.collect(n0)
	s.run(5 * ms)
	got := s.nodes[1].messages
	if len(got) != len(want) {
		t.Fatalf("%d of %d messages", len(got), len(want))
	}
	for i := range want {
		if got[i].payload != want[i] {
			t.Fatalf("message %d out of order", i)
		}
	}
	if err := n0.m.SendMessageVia(s.now, 1, Route{0, ChannelEther}, make([]byte, DefaultMaxEtherPayload+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized ether message: %v", err)
	}
	s.isolate(0, 0, true)
	s.run(time.Second)
	if err := n0.m.SendMessageVia(s.now, 1, Route{0, ChannelTCPTo}, []byte("x")); !errors.Is(err, ErrNoRoute) {
		t.Errorf("message via a down session: %v", err)
	}
}

// A padded message is a frame of exactly the asked length (ping at the
// MTU); on ether no longer than the network's MTU.
func TestSendPaddedVia(t *testing.T) {
	s := newSim(t, 2, withMTU(9000, ether("hb0")), DefaultTimers())
	s.run(time.Second)
	m := s.nodes[0].m
	if err := m.SendPaddedVia(s.now, 1, Route{0, ChannelEther}, []byte("ping"), 9000); err != nil {
		t.Fatal(err)
	}
	out := m.Ready()
	if len(out.Frames) != 1 || out.Frames[0].Frame.EncodedLen() != 9000 || out.Frames[0].Frame.Type != FrameMessage {
		t.Fatalf("frames %d, length %d", len(out.Frames), out.Frames[0].Frame.EncodedLen())
	}
	m.Release(out)
	if err := m.SendPaddedVia(s.now, 1, Route{0, ChannelEther}, []byte("ping"), 9001); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("beyond the MTU: %v, want ErrTooLarge", err)
	}
}
