package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// Default timers, as DESIGN.md sets them.
const (
	heartbeat = 100 * time.Millisecond
	peerInact = 600 * time.Millisecond
)

func TestEveryNodeOpenWithTwoLinks(t *testing.T) {
	b := newBed(t, testbed.Options{})
	for i := 0; i < b.N(); i++ {
		st, err := b.Status(i)
		if err != nil {
			t.Fatal(err)
		}
		if st.LocalNode != uint16(i) || len(st.Nodes) != 3 {
			t.Fatalf("node %d: local %d, %d nodes", i, st.LocalNode, len(st.Nodes))
		}
		for _, n := range st.Nodes {
			if n.State != status.NodeOpen || n.LinksUp != 2 || len(n.Links) != 2 {
				t.Errorf("node %d sees node %d %s with %d/%d links up, want OPEN 2/2", i, n.ID, n.State, n.LinksUp, len(n.Links))
			}
			if n.Local {
				continue
			}
			for _, l := range n.Links {
				want := b.MAC(int(n.ID), l.Network).String()
				if l.PeerAddress != want {
					t.Errorf("node %d: %s to node %d: peer address %q, want %q", i, l.Network, n.ID, l.PeerAddress, want)
				}
				if l.Channels["ether"] != status.ChannelUp || l.RTTMicros <= 0 {
					t.Errorf("node %d: %s to node %d: channels %v rtt %dus", i, l.Network, n.ID, l.Channels, l.RTTMicros)
				}
			}
		}
	}
}

// A pulled cable on node 1's hb1: node 1 sees carrier-lost at once; its
// peers see the link go down by silence, learn over hb0 that node 1 lost
// carrier there, and show node 1 in JEOPARDY. Restored, it comes back UP.
func TestCablePull(t *testing.T) {
	b := newBed(t, testbed.Options{})
	f := b.CablePull(1, "hb1")

	for _, p := range peersOf(b, 1) {
		e := b.WaitEvent(1, "carrier-lost on node1", 5*time.Second, eventAfter(f.At, "link.down", p, "hb1"))
		if e.Str("reason") != "carrier-lost" {
			t.Errorf("node1 hb1 to node%d down with reason %q, want carrier-lost", p, e.Str("reason"))
		}
		if d := e.Time.Sub(f.At); d > 500*time.Millisecond {
			t.Errorf("carrier loss seen after %v: it must not wait for peerinact", d)
		}
	}
	st := b.WaitFor(1, "local NIC shown without carrier", 5*time.Second, func(st *status.Status) bool {
		return !st.Networks[1].Carrier
	})
	if st.Networks[0].Carrier == false {
		t.Error("hb0 lost carrier too")
	}
	for _, p := range peersOf(b, 1) {
		// Node 1 tells its peers over hb0 at once: they need not wait for
		// peerinact.
		e := b.WaitEvent(p, "peer sees node1's hb1 down", peerInact+slack, eventAfter(f.At, "link.down", 1, "hb1"))
		if d := e.Time.Sub(f.At); d > peerInact/2 {
			t.Errorf("node%d saw node1's hb1 down %v after the pull, want well before peerinact (node1 reports it)", p, d)
		}
		st := b.WaitFor(p, "node1's hb1 down, peer-silent, remote carrier-lost", peerInact+slack, func(st *status.Status) bool {
			l := testbed.FindLink(st, 1, "hb1")
			return l != nil && l.State == status.LinkDown && l.Reason == "peer-silent" && l.RemoteReason == "carrier-lost"
		})
		if n := testbed.FindNode(st, 1); n.State != status.NodeJeopardy || n.LinksUp != 1 {
			t.Errorf("node%d sees node1 %s with %d links, want JEOPARDY with 1", p, n.State, n.LinksUp)
		}
		if l := testbed.FindLink(st, 1, "hb0"); l.State != status.LinkUp {
			t.Errorf("node%d: node1's hb0 is %s, want UP", p, l.State)
		}
	}
	// The link between the two healthy nodes is untouched.
	if st, _ := b.Status(0); testbed.FindNode(st, 2).State != status.NodeOpen {
		t.Error("node0 no longer sees node2 OPEN")
	}

	restore := time.Now()
	f.Undo()
	b.WaitAllUp(upTimeout)
	for _, p := range peersOf(b, 1) {
		b.WaitEvent(p, "link.up after restore", 5*time.Second, eventAfter(restore, "link.up", 1, "hb1"))
	}
}

// A switch port that silently stops forwarding: carrier stays up, nothing
// passes. Every link through it goes DOWN within peerinact (plus slack),
// named peer-silent, and comes back when the port forwards again.
func TestSilentBlackhole(t *testing.T) {
	b := newBed(t, testbed.Options{})
	f := b.Blackhole(0, "hb0")

	check := func(observer, peer int) {
		e := b.WaitEvent(observer, "link.down through the blackholed port", peerInact+slack,
			eventAfter(f.At, "link.down", peer, "hb0"))
		if e.Str("reason") != "peer-silent" {
			t.Errorf("node%d: link to node%d down with reason %q, want peer-silent", observer, peer, e.Str("reason"))
		}
		if d := e.Time.Sub(f.At); d > peerInact+slack || d < peerInact-heartbeat-50*time.Millisecond {
			t.Errorf("node%d: down %v after the blackhole, want about peerinact (%v)", observer, d, peerInact)
		}
	}
	for _, p := range peersOf(b, 0) {
		check(p, 0)
		check(0, p)
	}
	st, err := b.Status(0)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Networks[0].Carrier {
		t.Error("carrier lost on a blackholed port: the test did not model a silent blackhole")
	}
	for _, p := range peersOf(b, 0) {
		if l := testbed.FindLink(st, uint16(p), "hb1"); l.State != status.LinkUp {
			t.Errorf("node0's hb1 to node%d is %s, want UP", p, l.State)
		}
		if n := testbed.FindNode(st, uint16(p)); n.State != status.NodeJeopardy {
			t.Errorf("node0 sees node%d %s, want JEOPARDY", p, n.State)
		}
	}
	// No flapping while the blackhole lasts.
	time.Sleep(2 * peerInact) // observing that nothing happens needs the time to pass
	if ev := eventsBetween(b, 1, f.At, time.Now(), "link.up"); len(ev) != 0 {
		t.Errorf("links came up through a blackhole: %v", ev)
	}
	f.Undo()
	b.WaitAllUp(upTimeout)
}

// One-way loss: node 0 can no longer send on hb0 (egress drop), but still
// receives. Both ends go DOWN; node 0 says one-way-out (it hears the peers,
// they do not hear it), the peers say one-way-in (node 0 tells them over
// hb1 that it hears them on hb0).
func TestOneWayLossNamesTheDirection(t *testing.T) {
	b := newBed(t, testbed.Options{})
	f := b.EgressDrop(0, "hb0")
	for _, p := range peersOf(b, 0) {
		b.WaitFor(0, fmt.Sprintf("node0: one-way-out to node%d", p), peerInact+slack+heartbeat, linkIs(uint16(p), "hb0", status.LinkDown, "one-way-out"))
		b.WaitFor(p, "peer: one-way-in from node0", peerInact+slack+heartbeat, linkIs(0, "hb0", status.LinkDown, "one-way-in"))
	}
	f.Undo()
	b.WaitAllUp(upTimeout)
}

// Both networks lost to one node: its peers see it DOWN (not CONNWAIT),
// and it comes back OPEN.
func TestAllLinksLostThenBack(t *testing.T) {
	b := newBed(t, testbed.Options{})
	f0 := b.Blackhole(2, "hb0")
	f1 := b.Blackhole(2, "hb1")
	for _, p := range peersOf(b, 2) {
		b.WaitFor(p, "node2 DOWN", peerInact+slack, nodeIs(2, status.NodeDown))
	}
	f1.Undo()
	f0.Undo()
	b.WaitAllUp(upTimeout)
}

// DESIGN.md's cable pull: the node's own interface set down. The raw
// socket survives it (no reopen), links go down at once as carrier-lost,
// and come back when the interface is up again.
func TestInterfaceDownOnNode(t *testing.T) {
	b := newBed(t, testbed.Options{})
	f := b.IfDown(0, "hb1")
	for _, p := range peersOf(b, 0) {
		e := b.WaitEvent(0, "carrier-lost", 5*time.Second, eventAfter(f.At, "link.down", p, "hb1"))
		if e.Str("reason") != "carrier-lost" {
			t.Errorf("reason %q, want carrier-lost", e.Str("reason"))
		}
	}
	// Keep it down long enough for the peers to time out too.
	for _, p := range peersOf(b, 0) {
		b.WaitFor(p, "node0's hb1 down", peerInact+slack, linkIs(0, "hb1", status.LinkDown, "peer-silent"))
	}
	f.Undo()
	b.WaitAllUp(upTimeout)
	for _, e := range b.Events(0) {
		if e.ID == "socket.reopen" {
			t.Errorf("raw socket reopened on a plain interface down/up: %v", e)
		}
	}
}
