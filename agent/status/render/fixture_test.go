package render

import (
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// fixture is a three-network cluster seen from node0: node1 healthy but
// lossy on hb1, node2 in jeopardy (hb1 silent because the peer lost
// carrier), node3 never heard, node4 down; the local pub NIC is missing.
// hb0 carries ether and tcp, pub tcp only: on hb0 node1's inbound TCP
// connection is missing (TO-ONLY, tcp-blocked), node2's are both up.
func fixture() *status.Status {
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	now := t0.Add(2*time.Hour + 30*time.Minute + 5*time.Second)
	up := func(network, addr string, rtt int64) status.Link {
		return status.Link{
			Network: network, State: status.LinkUp, PeerAddress: addr, RTTMicros: rtt,
			Channels: map[string]string{"ether": status.ChannelUp}, LastHeardMs: 40,
		}
	}
	down := func(network, addr, reason, detail string) status.Link {
		return status.Link{
			Network: network, State: status.LinkDown, Reason: reason, Detail: detail, PeerAddress: addr,
			Channels: map[string]string{"ether": status.ChannelDown}, LastHeardMs: -1,
		}
	}
	const pubDown = "our eth9 (pub) has no carrier: cable, switch port or NIC"
	// pub carries tcp only.
	pub := func(addr string) status.Link {
		return channels(down("pub", addr, "carrier-lost", pubDown), "tcp", status.ChannelDown)
	}
	node1hb0 := channels(up("hb0", "02:00:00:00:00:02", 71), "ether", status.ChannelUp, "tcp", status.ChannelToOnly)
	node1hb0.Reason = "tcp-blocked"
	node1hb0.Detail = "TCP on hb0 works one way only: we connect to node1, but it cannot connect to us " +
		"(the peer has not connected): inbound port 7947 blocked?"
	node1hb1 := channels(up("hb1", "02:00:00:00:01:02", 1234), "ether", status.ChannelTrouble)
	node1hb1.State = status.LinkTrouble
	node1hb1.Reason = "lossy"
	node1hb1.Detail = "lossy" // what the agent says for lossy: nothing more than the reason
	node2hb0 := channels(up("hb0", "02:00:00:00:00:03", 85), "ether", status.ChannelUp, "tcp", status.ChannelUp)
	node2hb1 := down("hb1", "02:00:00:00:01:03", "peer-silent",
		"nothing from node2 on hb1 (last heard 2m10s ago); node2 reports carrier-lost on its side")
	node2hb1.RemoteReason = "carrier-lost"
	node4hb1 := down("hb1", "02:00:00:00:01:05", "one-way-out",
		"we hear node4 on hb1 but it does not hear us: our frames are lost on the way to it; node4 reports one-way-in on its side")
	node4hb1.RemoteReason = "one-way-in"
	tcpDown := func(l status.Link) status.Link {
		return channels(l, "ether", status.ChannelDown, "tcp", status.ChannelDown)
	}

	return &status.Status{
		Version:     "0.1.0",
		Cluster:     7,
		ClusterName: "prod",
		LocalNode:   0,
		LocalName:   "node0",
		Incarnation: "5f3a9c21e0b47d16",
		StartedAt:   t0,
		Now:         now,
		Nodes: []status.Node{
			{ID: 0, Name: "node0", Local: true, State: status.NodeOpen, LinksUp: 2, Links: []status.Link{
				channels(up("hb0", "02:00:00:00:00:01", 0), "ether", status.ChannelUp, "tcp", status.ChannelUp),
				up("hb1", "02:00:00:00:01:01", 0),
				channels(down("pub", "", "carrier-lost", "eth9 has no carrier"), "tcp", status.ChannelDown),
			}},
			{ID: 1, Name: "node1", State: status.NodeOpen, LinksUp: 2, Links: []status.Link{
				node1hb0,
				node1hb1,
				pub("10.0.0.2"),
			}},
			{ID: 2, Name: "node2", State: status.NodeJeopardy, LinksUp: 1, Links: []status.Link{
				node2hb0,
				node2hb1,
				pub("10.0.0.3"),
			}},
			{ID: 3, Name: "node3", State: status.NodeConnWait, LinksUp: 0, Links: []status.Link{
				tcpDown(down("hb0", "", "peer-silent", "nothing from node3 on hb0 (never heard)")),
				down("hb1", "", "peer-silent", "nothing from node3 on hb1 (never heard)"),
				pub(""),
			}},
			{ID: 4, Name: "node4", State: status.NodeDown, LinksUp: 0, Links: []status.Link{
				tcpDown(down("hb0", "02:00:00:00:00:05", "peer-silent", "nothing from node4 on hb0 (last heard 25m0s ago)")),
				node4hb1,
				pub("10.0.0.5"),
			}},
		},
		Networks: []status.Network{
			{Name: "hb0", Interface: "eth1", Channels: []string{"ether", "tcp"}, MTU: 1500, Carrier: true,
				OperState: "up", Driver: "veth", MAC: "02:00:00:00:00:01", EtherType: "0x88b5", Address: "192.168.10.1",
				TCPPort: 7947, Order: 1, Primary: true,
				Reasons: []status.NetworkReason{{Reason: "foreign-cluster",
					Detail: "frames of another cluster arrive here: cluster 8 (node 0 at 02:00:00:00:08:01): two clusters share this VLAN; they are counted and ignored"}}},
			{Name: "hb1", Interface: "eth2", Channels: []string{"ether"}, MTU: 1500, ConfigMTU: 9000, Carrier: true,
				OperState: "up", Driver: "ixgbe", MAC: "02:00:00:00:01:01", EtherType: "0x88b5", Order: 2},
			{Name: "pub", Interface: "eth9", Channels: []string{"tcp"}, Lowpri: true, OperState: "down",
				Address: "10.0.0.1", TCPPort: 7948, Error: "interface eth9 not found", Order: 3,
				Reasons: []status.NetworkReason{{Reason: "carrier-lost", Detail: "eth9 has no carrier: cable, switch port or NIC"}}},
		},
		Matrix:      matrix(),
		Connections: connections(t0, now),
		Config: status.Config{
			ConfigFile:            "/etc/tether/tether.yaml",
			HeartbeatMs:           100,
			PeerTroubleMs:         300,
			PeerInactMs:           600,
			HeartbeatLoMs:         500,
			PeerTroubleLoMs:       2000,
			PeerInactLoMs:         4000,
			KeyIDs:                []string{"9c1e", "04ab"},
			TCPSendBufLimit:       1 << 20,
			TCPHandshakeTimeoutMs: 2000,
			TCPConnectTimeoutMs:   1500,
			TCPBackoffMaxMs:       5000,
			StatusSocket:          "/run/tether/tether.sock",
			MetricsListen:         "127.0.0.1:9187",
			MaxNodeID:             1023,
		},
		Counters: status.Counters{
			ResetAt: now.Add(-30*time.Minute - 5*time.Second),
			Networks: []status.NetworkCounters{
				{Network: "hb0", Channel: "ether", TxFrames: 72200, TxBytes: 8664000, RxFrames: 72188, RxBytes: 8662560,
					Dropped: map[string]uint64{"replay": 1, "bad-tag": 3, "unknown-key": 0}},
				{Network: "hb0", Channel: "tcp", TxFrames: 18050, TxBytes: 2166000, RxFrames: 18047, RxBytes: 2165640,
					Dropped: map[string]uint64{"not-connected": 15},
					Connections: map[string]uint64{"dialled": 3, "accepted": 2, "dial-failed": 1437,
						"handshake-failed": 212, "refused-bad-proof": 212, "reset-peer": 1, "refused-busy": 0}},
				{Network: "hb1", Channel: "ether", TxFrames: 72200, TxBytes: 8664000, TxErrors: 12, RxFrames: 54150,
					RxBytes: 6498000, Dropped: map[string]uint64{"cross-connected": 250}},
				{Network: "pub", Channel: "tcp", TxErrors: 18050, Connections: map[string]uint64{"dial-failed": 3610}},
			},
			Messages: status.Messages{Sent: 5120, Received: 5118, Busy: 31, NoRoute: 2, EchoShed: 1},
			Pauses:   status.Pauses{Count: 2, LastMs: 25.4, LastAt: now.Add(-90 * time.Second), LongestMs: 212.0},
		},
	}
}

// matrix is fixture's link matrix over hb0 and hb1: node0, node1 and
// node2 known; node2 lost carrier on hb1; node1's hb0 frames do not reach
// node2 (one way); node3 and node4 unknown.
func matrix() status.Matrix {
	mx := status.Matrix{Networks: []string{"hb0", "hb1"}}
	for _, n := range []struct {
		id    uint16
		known bool
		age   int64
	}{{0, true, 0}, {1, true, 400}, {2, true, 2500}, {3, false, 0}, {4, false, 0}} {
		mn := status.MatrixNode{ID: n.id, Name: "node" + string(rune('0'+n.id)), Local: n.id == 0, Known: n.known, AgeMs: n.age}
		mx.Nodes = append(mx.Nodes, mn)
	}
	link := func(from, to uint16, net, state, reason, remote string, disagree bool) status.MatrixLink {
		return status.MatrixLink{From: from, To: to, Network: net, State: state, Reason: reason, RemoteReason: remote,
			Hears: state == status.LinkUp, HeardBy: state == status.LinkUp, Disagree: disagree}
	}
	for _, p := range [][2]uint16{{0, 1}, {1, 0}, {0, 2}, {2, 0}} {
		mx.Links = append(mx.Links, link(p[0], p[1], "hb0", status.LinkUp, "", "", false))
	}
	mx.Links = append(mx.Links,
		link(1, 2, "hb0", status.LinkDown, "one-way-out", "one-way-in", true),
		link(2, 1, "hb0", status.LinkDown, "one-way-in", "one-way-out", true),
		link(0, 1, "hb1", status.LinkTrouble, "lossy", "", false),
		link(1, 0, "hb1", status.LinkUp, "lossy", "", false),
		link(0, 2, "hb1", status.LinkDown, "peer-silent", "carrier-lost", false),
		link(2, 0, "hb1", status.LinkDown, "carrier-lost", "", false),
		link(1, 2, "hb1", status.LinkDown, "peer-silent", "carrier-lost", false),
		link(2, 1, "hb1", status.LinkDown, "carrier-lost", "", false),
	)
	mx.Suspects = []status.Suspect{
		{Network: "hb0", Kind: "path", Nodes: []uint16{1, 2}, NodeNames: []string{"node1", "node2"}, Reason: "one-way-out", OneWay: true,
			Text: "hb0: the path from node1 to node2 loses node1's frames one way (one-way-out)"},
		{Network: "hb1", Kind: "node", Nodes: []uint16{2}, NodeNames: []string{"node2"}, Reason: "carrier-lost",
			Text: "hb1: node2's hb1 cable, switch port or NIC (no carrier)"},
	}
	return mx
}

// connections are the tcp connections of fixture, deliberately not in
// display order (pub first, some "from" before "to").
func connections(t0, now time.Time) []status.Connection {
	at := func(d time.Duration) *time.Time {
		t := now.Add(-d)
		return &t
	}
	down := func(dir string, peer uint16, network, remote, err string, errAt *time.Time) status.Connection {
		return status.Connection{
			Direction: dir, Peer: peer, PeerName: "node" + string(rune('0'+peer)), Network: network,
			State: status.LinkDown, Session: status.ChannelDown, RemoteAddress: remote, LastFrameMs: -1,
			LastError: err, LastErrorAt: errAt,
		}
	}
	const notConnected = "the peer has not connected"
	return []status.Connection{
		down("to", 1, "pub", "10.0.0.2:7948",
			"connect to 10.0.0.2:7948: dial tcp 10.0.0.1:0->10.0.0.2:7948: bind: cannot assign requested address", at(time.Second)),
		down("from", 1, "pub", "10.0.0.2", notConnected, nil),
		down("from", 1, "hb0", "192.168.10.2", notConnected, nil),
		{
			Direction: "to", Peer: 1, PeerName: "node1", Network: "hb0", State: status.LinkUp, Session: status.ChannelUp,
			LocalAddress: "192.168.10.1:41234", RemoteAddress: "192.168.10.2:7947", CreateTime: now.Add(-5*time.Minute - 3*time.Second),
			Events: "r", SendBufferUsed: 0, SendBufferAllocated: 0, LastFrameMs: 12, RTTMicros: 71,
			FramesIn: 3030, FramesOut: 3031, BytesIn: 363600, BytesOut: 363720,
		},
		{
			Direction: "from", Peer: 2, PeerName: "node2", Network: "hb0", State: status.LinkUp, Session: status.ChannelUp,
			LocalAddress: "192.168.10.1:7947", RemoteAddress: "192.168.10.3:52110", CreateTime: t0.Add(time.Minute),
			Events: "rw", SendBufferUsed: 312, SendBufferAllocated: 4096, LastFrameMs: 40, RTTMicros: 85,
			FramesIn: 89400, FramesOut: 89410, BytesIn: 10728000, BytesOut: 10729200,
		},
		{
			Direction: "to", Peer: 2, PeerName: "node2", Network: "hb0", State: status.LinkUp, Session: status.ChannelUp,
			LocalAddress: "192.168.10.1:38702", RemoteAddress: "192.168.10.3:7947", CreateTime: t0.Add(time.Minute),
			Events: "r", SendBufferUsed: 0, SendBufferAllocated: 4096, LastFrameMs: 35, RTTMicros: 88,
			FramesIn: 89400, FramesOut: 89410, BytesIn: 10728000, BytesOut: 10729200,
		},
		down("to", 3, "hb0", "192.168.10.4:7947",
			"connect to 192.168.10.4:7947: dial tcp 192.168.10.1:0->192.168.10.4:7947: i/o timeout", at(2*time.Second)),
		down("from", 3, "hb0", "192.168.10.4", notConnected, nil),
		down("from", 4, "hb0", "192.168.10.5",
			"handshake refused: bad-proof: node 4 does not prove the cluster key", at(4*time.Second)),
		down("to", 4, "hb0", "192.168.10.5:7947",
			"handshake with 192.168.10.5:7947: handshake refused by the peer: bad-proof", at(3*time.Second)),
	}
}

// channels replaces a link's channel states with the given name, state
// pairs.
func channels(l status.Link, pairs ...string) status.Link {
	l.Channels = map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		l.Channels[pairs[i]] = pairs[i+1]
	}
	return l
}

// etherOnly strips everything tcp from a document: the tcp channel of
// networks and links, the ports, the connections, the tcp-blocked
// reasons. What remains is the same cluster without tcp, whose -nvv
// layout must be the one tetherstat had before the tcp channel.
func etherOnly(st *status.Status) *status.Status {
	for i := range st.Networks {
		st.Networks[i].Channels = []string{"ether"}
		st.Networks[i].TCPPort = 0
	}
	for i := range st.Nodes {
		for j := range st.Nodes[i].Links {
			l := &st.Nodes[i].Links[j]
			delete(l.Channels, "tcp")
			if l.Reason == "tcp-blocked" {
				l.Reason, l.Detail = "", ""
			}
		}
	}
	st.Connections = nil
	return st
}
