package e2e

import (
	"strings"
	"testing"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// routedNets is a bridged ether network beside a routed one carried by
// the tcp channel alone (every node in its own subnet behind a router).
var routedNets = []testbed.NetworkSpec{
	{Name: "hb0", Channels: []string{"ether"}},
	{Name: "wan", Channels: []string{"tcp"}, Routed: true},
}

// wanUp matches node's wan link to peer: UP and healthy over tcp alone,
// with the peer's routed address.
func wanUp(b *testbed.Bed, peer int) func(*status.Status) bool {
	return func(st *status.Status) bool {
		l := testbed.FindLink(st, uint16(peer), "wan")
		if l == nil {
			return false
		}
		_, ether := l.Channels["ether"]
		return l.Healthy() && l.Channels["tcp"] == status.ChannelUp && !ether &&
			l.PeerAddress == b.IP(peer, "wan").String()
	}
}

// A private network reachable only through a router (no L2 adjacency)
// works with the tcp channel: links come up, a silent leg takes them down
// as peer-silent within peerinact, leaving the node in JEOPARDY on the
// remaining private network, and they come back.
func TestTCPOverRoutedNetwork(t *testing.T) {
	b := newBed(t, testbed.Options{Networks: routedNets})
	for i := 0; i < b.N(); i++ {
		st := b.WaitFor(i, "every peer OPEN, wan UP over tcp, a pair per peer", upTimeout, func(st *status.Status) bool {
			for _, p := range peersOf(b, i) {
				if !nodeIs(uint16(p), status.NodeOpen)(st) || !wanUp(b, p)(st) {
					return false
				}
			}
			return len(st.Connections) == 2*(b.N()-1)
		})
		// The pair runs between the nodes' routed addresses, each in its
		// own subnet: it crosses the router.
		for _, c := range st.Connections {
			local, remote := b.IP(i, "wan").String()+":", b.IP(int(c.Peer), "wan").String()+":"
			if c.Network != "wan" || c.State != status.LinkUp || !strings.HasPrefix(c.LocalAddress, local) || !strings.HasPrefix(c.RemoteAddress, remote) {
				t.Errorf("node%d: connection %+v, want wan %s* -> %s*", i, c, local, remote)
			}
		}
	}

	f := b.Blackhole(1, "wan")
	for _, p := range peersOf(b, 1) {
		e := b.WaitEvent(p, "wan to node1 down", peerInact+slack, eventAfter(f.At, "link.down", 1, "wan"))
		d := e.Time.Sub(f.At)
		if d > peerInact+slack {
			t.Errorf("node%d: wan to node1 down %v after the blackhole, want within %v", p, d, peerInact+slack)
		}
		t.Logf("node%d: wan to node1 down %v after the blackhole", p, d)
		// hb0 is node1's last private link: JEOPARDY, not DOWN.
		b.WaitFor(p, "wan to node1 DOWN, peer-silent, node1 in JEOPARDY", slack, func(st *status.Status) bool {
			return linkIs(1, "wan", status.LinkDown, "peer-silent")(st) && nodeIs(1, status.NodeJeopardy)(st)
		})
		// Node1 hears no one on wan and no one hears it, while node0 and
		// node2 meet there: its own leg passes nothing.
		b.WaitFor(1, "node1: wan to its peer DOWN, nic-silent", peerInact+2*slack, linkIs(uint16(p), "wan", status.LinkDown, "nic-silent"))
	}
	// The other legs are untouched: node 0 and node 2 still meet over wan.
	for _, pair := range [][2]int{{0, 2}, {2, 0}} {
		st := mustStatus(t, b, pair[0])
		if !wanUp(b, pair[1])(st) || !nodeIs(uint16(pair[1]), status.NodeOpen)(st) {
			t.Errorf("node%d to node%d disturbed by node1's blackhole:\n%s", pair[0], pair[1], testbed.Summary(st))
		}
	}

	f.Undo()
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "wan back UP over tcp", upTimeout, func(st *status.Status) bool {
			for _, p := range peersOf(b, i) {
				if !nodeIs(uint16(p), status.NodeOpen)(st) || !wanUp(b, p)(st) {
					return false
				}
			}
			return true
		})
	}
}
