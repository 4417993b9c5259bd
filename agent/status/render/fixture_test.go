package render

import (
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// fixture is a three-network cluster seen from node0: node1 healthy but
// lossy on hb1, node2 in jeopardy (hb1 silent because the peer lost
// carrier), node3 never heard, node4 down; the local pub NIC is missing.
func fixture() *status.Status {
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	now := t0.Add(2*time.Hour + 30*time.Minute + 5*time.Second)
	up := func(network, addr string, rtt int64) status.Link {
		return status.Link{
			Network: network, State: status.LinkUp, PeerAddress: addr, RTTMicros: rtt,
			Channels: map[string]string{"ether": status.ChannelUp}, LastHeardMs: 40,
		}
	}
	down := func(network, addr, reason string) status.Link {
		return status.Link{
			Network: network, State: status.LinkDown, Reason: reason, PeerAddress: addr,
			Channels: map[string]string{"ether": status.ChannelDown}, LastHeardMs: -1,
		}
	}
	node2hb1 := down("hb1", "02:00:00:00:01:03", "peer-silent")
	node2hb1.RemoteReason = "carrier-lost"
	node1hb1 := up("hb1", "02:00:00:00:01:02", 1234)
	node1hb1.State = status.LinkTrouble
	node1hb1.Reason = "lossy"
	node4hb1 := down("hb1", "02:00:00:00:01:05", "one-way-out")
	node4hb1.RemoteReason = "one-way-in"

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
				up("hb0", "02:00:00:00:00:01", 0),
				up("hb1", "02:00:00:00:01:01", 0),
				down("pub", "", "carrier-lost"),
			}},
			{ID: 1, Name: "node1", State: status.NodeOpen, LinksUp: 2, Links: []status.Link{
				up("hb0", "02:00:00:00:00:02", 71),
				node1hb1,
				down("pub", "10.0.0.2", "carrier-lost"),
			}},
			{ID: 2, Name: "node2", State: status.NodeJeopardy, LinksUp: 1, Links: []status.Link{
				up("hb0", "02:00:00:00:00:03", 85),
				node2hb1,
				down("pub", "10.0.0.3", "carrier-lost"),
			}},
			{ID: 3, Name: "node3", State: status.NodeConnWait, LinksUp: 0, Links: []status.Link{
				down("hb0", "", "peer-silent"),
				down("hb1", "", "peer-silent"),
				down("pub", "", "carrier-lost"),
			}},
			{ID: 4, Name: "node4", State: status.NodeDown, LinksUp: 0, Links: []status.Link{
				down("hb0", "02:00:00:00:00:05", "peer-silent"),
				node4hb1,
				down("pub", "10.0.0.5", "carrier-lost"),
			}},
		},
		Networks: []status.Network{
			{Name: "hb0", Interface: "eth1", Channels: []string{"ether", "tcp"}, MTU: 1500, Carrier: true,
				OperState: "up", Driver: "veth", MAC: "02:00:00:00:00:01", EtherType: "0x88b5", Address: "192.168.10.1"},
			{Name: "hb1", Interface: "eth2", Channels: []string{"ether"}, MTU: 1500, ConfigMTU: 9000, Carrier: true,
				OperState: "up", Driver: "ixgbe", MAC: "02:00:00:00:01:01", EtherType: "0x88b5"},
			{Name: "pub", Interface: "eth9", Channels: []string{"tcp"}, Lowpri: true, OperState: "down",
				Address: "10.0.0.1", Error: "interface eth9 not found"},
		},
		Config: status.Config{
			ConfigFile:      "/etc/tether/tether.yaml",
			HeartbeatMs:     100,
			PeerTroubleMs:   300,
			PeerInactMs:     600,
			HeartbeatLoMs:   500,
			PeerTroubleLoMs: 2000,
			PeerInactLoMs:   4000,
			KeyIDs:          []string{"9c1e", "04ab"},
			StatusSocket:    "/run/tether/tether.sock",
			MetricsListen:   "127.0.0.1:9187",
			MaxNodeID:       1023,
		},
		Counters: status.Counters{
			ResetAt: now.Add(-30*time.Minute - 5*time.Second),
			Networks: []status.NetworkCounters{
				{Network: "hb0", Channel: "ether", TxFrames: 72200, TxBytes: 8664000, RxFrames: 72188, RxBytes: 8662560,
					Dropped: map[string]uint64{"replay": 1, "bad-tag": 3, "unknown-key": 0}},
				{Network: "hb0", Channel: "tcp", TxFrames: 18050, TxBytes: 2166000, RxFrames: 18047, RxBytes: 2165640},
				{Network: "hb1", Channel: "ether", TxFrames: 72200, TxBytes: 8664000, TxErrors: 12, RxFrames: 54150,
					RxBytes: 6498000, RxQueueDrops: 7, Dropped: map[string]uint64{"cross-connected": 250}},
				{Network: "pub", Channel: "tcp", TxErrors: 18050},
			},
		},
	}
}
