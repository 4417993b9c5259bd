// Package status defines the agent's status document (the JSON contract of
// DESIGN.md "tetherstat --json"), the server that publishes it on the unix
// socket, and the client that tetherstat and the test bed use to read it.
package status

import "time"

// Link states as shown to operators (lltstat's Status column).
const (
	LinkUp      = "UP"
	LinkTrouble = "TROUBLE"
	LinkDown    = "DOWN"
)

// Channel states (per channel of a link). The tcp channel is two
// connections: TO-ONLY / FROM-ONLY say which one alone works ("to": the
// one we dial, "from": the one the peer dials).
const (
	ChannelUp       = "UP"
	ChannelInit     = "INIT"
	ChannelDown     = "DOWN"
	ChannelTrouble  = "TROUBLE"
	ChannelToOnly   = "TO-ONLY"
	ChannelFromOnly = "FROM-ONLY"
)

// Node states (lltstat -n State column).
const (
	NodeOpen        = "OPEN"
	NodeJeopardy    = "JEOPARDY"
	NodeConnWait    = "CONNWAIT"
	NodeDown        = "DOWN"
	NodePartitioned = "PARTITIONED"
)

// Status is the whole document served at GET /v1/status and printed by
// `tetherstat --json`. Field names are part of the product contract: add
// fields freely, never rename or remove one.
type Status struct {
	Version     string    `json:"version"`
	Cluster     uint16    `json:"cluster"`
	ClusterName string    `json:"cluster_name"`
	LocalNode   uint16    `json:"local_node"`
	LocalName   string    `json:"local_name"`
	Incarnation string    `json:"incarnation"` // hex, changes on every start
	StartedAt   time.Time `json:"started_at"`
	Now         time.Time `json:"now"`

	Nodes       []Node       `json:"nodes"`
	Networks    []Network    `json:"networks"`
	Connections []Connection `json:"connections"` // tcp channel, both directions per peer and network
	Config      Config       `json:"config"`
	Counters    Counters     `json:"counters"`
}

// Node is one configured node, the local one included (Local is true and
// its links describe the local NICs).
type Node struct {
	ID          uint16    `json:"id"`
	Name        string    `json:"name"`
	Local       bool      `json:"local"`
	State       string    `json:"state"`
	LinksUp     int       `json:"links_up"`
	Incarnation string    `json:"incarnation,omitempty"` // hex; empty until heard
	Since       time.Time `json:"since"`                 // when State was entered
	Restarts    uint64    `json:"restarts"`              // peer-restart events seen
	Links       []Link    `json:"links"`
}

// Link is one (peer, network) pair.
type Link struct {
	Network string `json:"network"`
	State   string `json:"state"`  // UP, TROUBLE, DOWN
	Reason  string `json:"reason"` // empty when healthy; else one reason id of DESIGN.md
	// RemoteReason is what the peer reports for its side of this link (from
	// the link vectors it sends over any working link), e.g. "carrier-lost"
	// when the peer's cable is pulled. Empty when unknown or healthy.
	RemoteReason string            `json:"remote_reason,omitempty"`
	Detail       string            `json:"detail,omitempty"` // one human sentence
	Channels     map[string]string `json:"channels"`         // "ether": "UP", ...
	PeerAddress  string            `json:"peer_address"`     // MAC or IP; empty until learned
	RTTMicros    int64             `json:"rtt_us"`           // smoothed; 0 when unknown
	RTTMinMicros int64             `json:"rtt_min_us"`
	RTTMaxMicros int64             `json:"rtt_max_us"`
	Sent         uint64            `json:"sent"`
	Received     uint64            `json:"received"`
	Lost         uint64            `json:"lost"` // gaps in the peer's sequence numbers
	Replays      uint64            `json:"replays"`
	LastHeardMs  int64             `json:"last_heard_ms"` // -1 when never heard
	Since        time.Time         `json:"since"`         // when State was entered
	Downs        uint64            `json:"downs"`         // UP->DOWN transitions
}

// Network is one configured interconnect as seen by the local node (tetherstat -l).
type Network struct {
	Name      string   `json:"name"`
	Interface string   `json:"interface"`
	Channels  []string `json:"channels"`
	Lowpri    bool     `json:"lowpri"`
	MTU       int      `json:"mtu"`                // interface MTU as reported by the kernel
	ConfigMTU int      `json:"config_mtu"`         // 0 when not configured
	Carrier   bool     `json:"carrier"`            // NIC up and running
	OperState string   `json:"oper_state"`         // kernel operstate: up, down, lowerlayerdown, ...
	Driver    string   `json:"driver"`             // ethtool driver name, e.g. veth, ixgbe
	MAC       string   `json:"mac"`                // this node's address on the network
	EtherType string   `json:"ethertype"`          // "0x88b5"
	Address   string   `json:"address"`            // this node's IP on the network (tcp), if any
	TCPPort   int      `json:"tcp_port,omitempty"` // the tcp channel's port, if the network has it
	Error     string   `json:"error,omitempty"`    // why the network is not usable, if it is not
}

// Config echoes the effective configuration values (tetherstat -c).
type Config struct {
	ConfigFile            string   `json:"config_file"`
	HeartbeatMs           float64  `json:"heartbeat_ms"`
	PeerTroubleMs         float64  `json:"peertrouble_ms"`
	PeerInactMs           float64  `json:"peerinact_ms"`
	HeartbeatLoMs         float64  `json:"heartbeatlo_ms"`
	PeerTroubleLoMs       float64  `json:"peertroublelo_ms"`
	PeerInactLoMs         float64  `json:"peerinactlo_ms"`
	KeyIDs                []string `json:"key_ids"` // hex ids of the loaded keys, send key first
	TCPSendBufLimit       int      `json:"tcp_sendbuf_limit"`
	TCPHandshakeTimeoutMs float64  `json:"tcp_handshake_timeout_ms"`
	TCPConnectTimeoutMs   float64  `json:"tcp_connect_timeout_ms"`
	TCPBackoffMaxMs       float64  `json:"tcp_backoff_max_ms"`
	StatusSocket          string   `json:"status_socket"`
	MetricsListen         string   `json:"metrics_listen"`
	MaxNodeID             uint16   `json:"max_node_id"`
}

// Counters are the agent's statistics since start or the last reset
// (tetherstat with no flag; -z resets them).
type Counters struct {
	ResetAt  time.Time         `json:"reset_at"`
	Networks []NetworkCounters `json:"networks"`
	Pauses   Pauses            `json:"pauses"`
	Messages Messages          `json:"messages"`
	// LogDropped counts log records dropped since start because the log
	// output (journald, a pipe) did not keep up: the agent never waits
	// for it.
	LogDropped uint64 `json:"log_dropped"`
}

// Messages count the message API's traffic (all peers and topics, the
// agent's echo service included).
type Messages struct {
	Sent     uint64 `json:"sent"`      // handed to a link
	Received uint64 `json:"received"`  // delivered to a topic's handler or the echo service
	Busy     uint64 `json:"busy"`      // refused: the route's send buffer held its share (ErrBusy)
	NoRoute  uint64 `json:"no_route"`  // refused: no usable link to the peer
	TooLarge uint64 `json:"too_large"` // refused: larger than any usable link takes
	// EchoShed: echo requests not answered because the reply was refused
	// (busy, no route): the echo service sheds load rather than queue.
	EchoShed uint64 `json:"echo_shed"`
	Unrouted uint64 `json:"unrouted"` // received for a topic with no handler
}

// Pauses count the times this node's agent did not run for longer than
// half the margin between heartbeat and peertrouble (the process was not
// scheduled, the VM was paused, SIGSTOP): each is logged as agent.paused
// and not counted as silence of the peers.
type Pauses struct {
	Count     uint64    `json:"count"`
	LastMs    float64   `json:"last_ms,omitempty"`
	LastAt    time.Time `json:"last_at,omitzero"` // when it ran again
	LongestMs float64   `json:"longest_ms,omitempty"`
}

// NetworkCounters are per network and channel.
type NetworkCounters struct {
	Network  string `json:"network"`
	Channel  string `json:"channel"`
	TxFrames uint64 `json:"tx_frames"`
	TxBytes  uint64 `json:"tx_bytes"`
	TxErrors uint64 `json:"tx_errors"` // send failures (ENOBUFS, ENETDOWN, ...), tolerated
	RxFrames uint64 `json:"rx_frames"` // frames that reached the decoder
	RxBytes  uint64 `json:"rx_bytes"`
	// Frames dropped before they could change any state, by cause:
	// "truncated", "bad-magic", "bad-version", "malformed", "unknown-key",
	// "bad-tag", "replay", "stale-incarnation", "foreign-cluster",
	// "unknown-node", "not-for-us", "cross-connected", "duplicate-node-id", ...
	Dropped map[string]uint64 `json:"dropped"`
	// Connection events of the tcp channel, by cause: "accepted",
	// "dialled", "refused-<reason>", "reset-<reason>", "dial-failed", ...
	Connections map[string]uint64 `json:"connections,omitempty"`
}

// Connection is one TCP connection of the tcp channel, or a missing one
// (State DOWN, with the last error), like Redis CLUSTER LINKS
// (tetherstat -L).
type Connection struct {
	Direction           string     `json:"direction"` // "to": we dialled; "from": the peer dialled
	Peer                uint16     `json:"peer"`
	PeerName            string     `json:"peer_name"`
	Network             string     `json:"network"`
	State               string     `json:"state"`   // UP (connected and authenticated) or DOWN
	Session             string     `json:"session"` // the heartbeat session on it: UP, INIT, DOWN, TROUBLE
	LocalAddress        string     `json:"local_address"`
	RemoteAddress       string     `json:"remote_address"`
	CreateTime          time.Time  `json:"create_time"`
	Events              string     `json:"events"` // "r", or "rw" while output is queued
	SendBufferUsed      int        `json:"send_buffer_used"`
	SendBufferAllocated int        `json:"send_buffer_allocated"`
	LastFrameMs         int64      `json:"last_frame_ms"` // age of the last frame received; -1 none
	RTTMicros           int64      `json:"rtt_us"`
	FramesIn            uint64     `json:"frames_in"`
	FramesOut           uint64     `json:"frames_out"`
	BytesIn             uint64     `json:"bytes_in"`
	BytesOut            uint64     `json:"bytes_out"`
	LastError           string     `json:"last_error,omitempty"` // why it is down
	LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
}

// Healthy reports whether a link needs no attention.
func (l Link) Healthy() bool { return l.State == LinkUp && l.Reason == "" }

// PingRequest asks the agent to send echo messages to a peer through the
// message API (POST /v1/ping): the round trip of an application message,
// and its throughput when Window > 1.
type PingRequest struct {
	Peer       uint16 `json:"peer"`
	Count      int    `json:"count"`       // messages to send; default 10
	Size       int    `json:"size"`        // payload bytes; default 64
	Window     int    `json:"window"`      // messages in flight at once; default 1
	IntervalMs int    `json:"interval_ms"` // pause between sends (window 1); default 0
	TimeoutMs  int    `json:"timeout_ms"`  // wait for a reply; default 1000
}

// PingResult is the outcome of a PingRequest.
type PingResult struct {
	Peer         uint16         `json:"peer"`
	Sent         int            `json:"sent"`
	Received     int            `json:"received"`
	SendErrors   map[string]int `json:"send_errors,omitempty"` // "no-route", "too-large", "busy", ...
	Busy         int            `json:"busy,omitempty"`        // sends pushed back (ErrBusy) and retried after a reply
	Size         int            `json:"size"`
	RTTMinMicros int64          `json:"rtt_min_us"`
	RTTP50Micros int64          `json:"rtt_p50_us"`
	RTTP99Micros int64          `json:"rtt_p99_us"`
	RTTMaxMicros int64          `json:"rtt_max_us"`
	DurationMs   float64        `json:"duration_ms"`
	PerSecond    float64        `json:"per_second"` // replies received per second
	Routes       map[string]int `json:"routes"`     // "hb0/tcp-to": messages sent that way
}
