// Package config reads and validates tetherd's YAML configuration and the
// cluster key file. Every error names the file, the line and the key.
package config

import (
	"net/netip"
	"time"
)

// Channel kinds a network can carry.
const (
	ChannelEther = "ether"
	ChannelTCP   = "tcp"
)

// Defaults (DESIGN.md).
const (
	DefaultClusterName      = "tether"
	DefaultEtherType        = 0x88B5
	DefaultTCPPort          = 7947
	DefaultHeartbeat        = 100 * time.Millisecond
	DefaultPeerTrouble      = 300 * time.Millisecond
	DefaultPeerInact        = 600 * time.Millisecond
	DefaultHeartbeatLo      = 500 * time.Millisecond
	DefaultPeerTroubleLo    = 2000 * time.Millisecond
	DefaultPeerInactLo      = 3000 * time.Millisecond
	DefaultSendBufLimit     = 1 << 20
	DefaultHandshakeTimeout = 2 * time.Second
	DefaultConnectTimeout   = 2 * time.Second
	DefaultBackoffMax       = 2 * time.Second
	DefaultStatusSocket     = "/run/tether/tether.sock"
	DefaultMetricsListen    = "127.0.0.1:9187"
	DefaultReplicatorDir    = "/var/lib/tether"
	DefaultReplicatorAPI    = "127.0.0.1:9188"
	DefaultRetentionAge     = 7 * 24 * time.Hour
	MetricsOff              = "off" // metrics.listen value that turns the endpoint off
	DefaultLossThreshold    = 5     // percent
	DefaultLossWindow       = 10 * time.Second
	DefaultFlapCount        = 3
	DefaultFlapWindow       = 10 * time.Second
	DefaultFlapHold         = 2 * time.Second
	DefaultFlapHoldMax      = 30 * time.Second
	DefaultMTUProbeEvery    = 5
	DefaultBroadcastEvery   = time.Second
	MaxNodeID               = 1023
	MaxNetworks             = 8
	MaxNameLen              = 32 // node and network names
)

// Config is a validated configuration. Every field is filled: defaults are
// applied by Parse.
type Config struct {
	File        string // path it was read from ("" when parsed from bytes)
	Cluster     Cluster
	Node        NodeRef // this node
	Nodes       []Node  // every node of the cluster, this one included, sorted by ID
	Networks    []Network
	Timers      Timers
	TCP         TCP
	Status      Status
	Metrics     Metrics
	Public      *Public     // nil: no public channel
	Replicator  *Replicator // nil: no topics on this node
	Resources   []Resource
	Quorum      Quorum // an external voter (quorum.etcd)
	Diagnostics Diagnostics
}

// Diagnostics tunes how the agent names what is wrong with a link
// (llt.Diagnostics).
type Diagnostics struct {
	LossThreshold  int           // percent lost (either way) over LossWindow that makes a link lossy
	LossWindow     time.Duration // the sliding window loss is measured over
	FlapCount      int           // downs within FlapWindow that make a link flapping
	FlapWindow     time.Duration
	FlapHold       time.Duration // a flapping link is held down this long once back, doubling per down
	FlapHoldMax    time.Duration
	MTUProbeEvery  int           // every Nth heartbeat is padded to the MTU; -1: no MTU probes
	BroadcastEvery time.Duration // a heartbeat is broadcast at least this often (wrong-segment checks)
}

// TCP tunes the tcp channel's connections.
type TCP struct {
	SendBufLimit     int           // bytes queued per connection before it is reset (a peer that does not read)
	HandshakeTimeout time.Duration // an inbound connection must authenticate within this
	ConnectTimeout   time.Duration // an outbound connect attempt gives up after this
	BackoffMax       time.Duration // redial backoff cap (it starts at 50 ms and doubles)
}

// Cluster identifies the cluster and its key file.
type Cluster struct {
	ID      uint16
	Name    string
	KeyFile string
}

// NodeRef names this node: its id must be in Nodes with the same name.
type NodeRef struct {
	ID   uint16
	Name string
}

// Node is one line of the node table (like /etc/llthosts).
type Node struct {
	ID        uint16
	Name      string
	Addresses map[string]netip.Addr // network name -> IP, for the tcp channel
	// Witness: the node votes in failover decisions and holds no copy of
	// any resource (the third vote of a two-node cluster).
	Witness bool
}

// Network is one interconnect (like an llttab 'link' line).
type Network struct {
	Name      string
	Interface string
	Channels  []string // subset of {ether, tcp}, no duplicates, non-empty
	MTU       int      // 0: use the interface's MTU
	Lowpri    bool
	EtherType uint16 // DefaultEtherType unless set
	Port      uint16 // tcp channel port; DefaultTCPPort unless set
}

// HasChannel reports whether the network carries channel c.
func (n Network) HasChannel(c string) bool {
	for _, x := range n.Channels {
		if x == c {
			return true
		}
	}
	return false
}

// Timers are the heartbeat timers. Invariants (checked by Parse):
// 0 < Heartbeat < PeerTrouble < PeerInact and the same for the lowpri set.
type Timers struct {
	Heartbeat     time.Duration
	PeerTrouble   time.Duration
	PeerInact     time.Duration
	HeartbeatLo   time.Duration
	PeerTroubleLo time.Duration
	PeerInactLo   time.Duration
}

// Public is the public channel (memberlist gossip on the public network):
// it tells a peer that is alive but cut off on every private link
// (PARTITIONED) from one that is gone (DOWN).
type Public struct {
	Bind string   // IP:port memberlist listens on (UDP and TCP) and advertises
	Join []string // IP:port of the other nodes' public channels
}

// Replicator is the topic store and its HTTP API (the mirror replicator's
// primary side).
type Replicator struct {
	Dir string // topics and consumer-group offsets live under it
	API string // IP:port of the topic API
	// Retention of every topic's log, applied to whole segments each
	// minute: at most RetentionBytes per topic (0: no limit) and nothing
	// older than RetentionAge (0: kept forever). Kafka's defaults.
	RetentionBytes int64
	RetentionAge   time.Duration
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Listen string // host:port of /metrics; "" when turned off
}

// Status is the status socket.
type Status struct {
	Socket string
}

// Self returns this node's entry of Nodes.
func (c *Config) Self() Node {
	for _, n := range c.Nodes {
		if n.ID == c.Node.ID {
			return n
		}
	}
	return Node{ID: c.Node.ID, Name: c.Node.Name}
}

// Peers returns every node but this one, sorted by ID.
func (c *Config) Peers() []Node {
	out := make([]Node, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		if n.ID != c.Node.ID {
			out = append(out, n)
		}
	}
	return out
}
