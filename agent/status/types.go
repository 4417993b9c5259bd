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

	// Claiming: the agent has just started and is still making sure no
	// other node uses its node id; it sends no heartbeat yet.
	Claiming bool `json:"claiming"`

	Nodes       []Node       `json:"nodes"`
	Networks    []Network    `json:"networks"`
	Connections []Connection `json:"connections"` // tcp channel, both directions per peer and network
	// Matrix is every node's view of every link (the cluster link
	// matrix, tetherstat -m) and the suspects localised from it.
	Matrix   Matrix   `json:"matrix"`
	Config   Config   `json:"config"`
	Counters Counters `json:"counters"`
	// Mirrors are the resources of the built-in replicator on this node
	// (tetherctl mirror describe's data), sorted by name; absent on a
	// node without any. Their counters count since the replicator
	// started mirroring, not from tetherstat -z.
	Mirrors []Mirror `json:"mirrors,omitempty"`
	// Failover is the failover supervisor's state of every resource of
	// the cluster as this node sees it (tetherctl failover status);
	// absent without resources.
	Failover []Failover `json:"failover,omitempty"`
}

// Failover is one resource as the failover supervisor sees it on this node.
type Failover struct {
	Resource string `json:"resource"`
	Role     string `json:"role"` // this node's copy: primary, mirror, stopped, diverged, or none (a witness, a third node)
	Epoch    uint32 `json:"epoch"`
	Primary  string `json:"primary"`
	Auto     bool   `json:"auto"`
	// QuorumPossible: three voters or more (a two-node cluster needs a
	// witness); without, automatic failover is off.
	QuorumPossible bool `json:"quorum_possible"`
	Voters         int  `json:"voters"`
	// Votes and Quorum: the last count, of the primary's lease or of the
	// mirror's confirmations that the primary is gone.
	Votes     int       `json:"votes"`
	Quorum    bool      `json:"quorum"`
	Fenced    bool      `json:"fenced,omitempty"` // a primary refusing writes: no quorum, or its own pause
	LeaseLeft float64   `json:"lease_left_seconds,omitempty"`
	Reason    string    `json:"reason,omitempty"` // the mirror's last decision
	Detail    string    `json:"detail,omitempty"`
	Alert     bool      `json:"alert,omitempty"` // a state the operator must know about
	Witness   string    `json:"witness,omitempty"`
	Failovers uint64    `json:"failovers"` // automatic failovers by this node since it started
	LastAt    time.Time `json:"last_failover,omitzero"`
	Promoting bool      `json:"promoting,omitempty"`
	Error     string    `json:"error,omitempty"`
	// Backend is what a redis, postgresql or exec back end said at its
	// last reading (role, replication link, lag, fence, last error).
	Backend string `json:"backend,omitempty"`
}

// Matrix is the cluster link matrix as the local node knows it: its own
// view, and every peer's from the link table it sends about once a second.
type Matrix struct {
	Networks []string     `json:"networks"`
	Nodes    []MatrixNode `json:"nodes"`
	Links    []MatrixLink `json:"links"` // one per (from, to, network) known
	Suspects []Suspect    `json:"suspects"`
	// Settling: the local node's links changed after some peer sent its
	// table, so that view (and the suspects) may lag; link tables follow a
	// change within a few hundred milliseconds.
	Settling bool `json:"settling"`
}

// MatrixNode is one node of the matrix and what it says of its networks.
type MatrixNode struct {
	ID       uint16          `json:"id"`
	Name     string          `json:"name"`
	Local    bool            `json:"local"`
	Known    bool            `json:"known"`  // its view is known (fresh link table, or the local node)
	AgeMs    int64           `json:"age_ms"` // age of its link table
	Stale    bool            `json:"stale"`  // its table came before the local node's links last changed
	Networks []MatrixNetwork `json:"networks"`
}

// MatrixNetwork is a node's view of one of its networks.
type MatrixNetwork struct {
	Network   string   `json:"network"`
	Known     bool     `json:"known"`
	Carrier   bool     `json:"carrier"`
	NICSilent bool     `json:"nic_silent"`
	Reasons   []string `json:"reasons"` // network-wide reasons
}

// MatrixLink is one node's view of its link to another on one network.
type MatrixLink struct {
	From         uint16 `json:"from"`
	To           uint16 `json:"to"`
	Network      string `json:"network"`
	State        string `json:"state"`
	Reason       string `json:"reason"`
	RemoteReason string `json:"remote_reason,omitempty"`
	Hears        bool   `json:"hears"`       // From hears To
	HeardBy      bool   `json:"heard_by"`    // To says it hears From
	RxLossPct    int    `json:"rx_loss_pct"` // -1: unknown
	TxLossPct    int    `json:"tx_loss_pct"`
	// Disagree: To's view of the same link says otherwise (one end finds
	// it usable and the other not, or one hears and the other does not):
	// the signature of a one-way fault.
	Disagree bool `json:"disagree"`
}

// Suspect is the most likely place of one broken network or path.
type Suspect struct {
	Network   string   `json:"network,omitempty"` // empty: every network (a node down)
	Kind      string   `json:"kind"`              // node, network, path, cabling, node-down
	Nodes     []uint16 `json:"nodes"`
	NodeNames []string `json:"node_names"`
	Reason    string   `json:"reason"`
	Others    []string `json:"others,omitempty"`  // cabling: the other networks involved
	OneWay    bool     `json:"one_way,omitempty"` // path: frames lost from nodes[0] to nodes[1] only
	Text      string   `json:"text"`              // the one line tetherstat -m prints
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
	// Public: "alive" or "gone" on the public channel (memberlist);
	// empty without one.
	Public string `json:"public,omitempty"`
	Links  []Link `json:"links"`
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
	Transitions  uint64            `json:"transitions"`   // changes of State
	FlapDowns    uint64            `json:"flap_downs"`    // downs that counted towards flap damping
	// Diagnostics. Loss is over the loss window, each way: rx the peer's
	// frames we missed, tx ours it missed (from its report); -1 unknown.
	RxLossPct int `json:"rx_loss_pct"`
	TxLossPct int `json:"tx_loss_pct"`
	Flaps     int `json:"flaps"` // downs within the flap window
	// HeldUntil: a flapping link is held DOWN until then if it stays up.
	HeldUntil *time.Time `json:"held_until,omitempty"`
	// MTUOK: with mtu-mismatch, the largest frame seen to pass (bytes).
	MTUOK int `json:"mtu_ok,omitempty"`
	// Cross-connected: the network of ours the peer's frames for this one
	// arrive on, and the peer's network whose frames arrive on this one.
	CrossArrivesOn string `json:"cross_arrives_on,omitempty"`
	CrossFrom      string `json:"cross_from,omitempty"`
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
	// Order is the place of the network in the order messages try
	// (1 = the primary heartbeat: private networks in configuration
	// order, then lowpri ones); Primary marks the first.
	Order   int  `json:"order"`
	Primary bool `json:"primary"`
	// ProbeMTU is the size ether MTU probes are padded to.
	ProbeMTU int `json:"probe_mtu,omitempty"`
	// Reasons are the network-wide reasons (nic-silent, shared-segment,
	// foreign-cluster, auth-failure, duplicate-node-id, carrier-lost),
	// each with a sentence, and what was seen.
	Reasons      []NetworkReason  `json:"reasons"`
	SharedWith   []string         `json:"shared_with,omitempty"`
	Foreign      []ForeignCluster `json:"foreign,omitempty"`
	Duplicates   []Duplicate      `json:"duplicates,omitempty"`
	AuthFailures *AuthFailures    `json:"auth_failures,omitempty"`
}

// NetworkReason is one network-wide reason.
type NetworkReason struct {
	Reason string    `json:"reason"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since,omitzero"`
}

// ForeignCluster is another cluster seen on a network.
type ForeignCluster struct {
	Cluster  uint16    `json:"cluster"`
	Node     uint16    `json:"node"` // the node id its frames claim
	From     string    `json:"from"` // its address (MAC)
	Count    uint64    `json:"count"`
	LastSeen time.Time `json:"last_seen"`
}

// Duplicate is a sender seen with a node id that is already in use.
type Duplicate struct {
	Node        uint16    `json:"node"` // the id in dispute: ours, or a peer's
	From        string    `json:"from"`
	Incarnation string    `json:"incarnation"`
	Count       uint64    `json:"count"`
	LastSeen    time.Time `json:"last_seen"`
}

// AuthFailures count frames (and TCP handshakes) that failed
// authentication on a network.
type AuthFailures struct {
	Count    uint64    `json:"count"`
	LastSeen time.Time `json:"last_seen"`
	Node     uint16    `json:"node"` // the node the last one claimed to be
	From     string    `json:"from"`
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
	ResetAt    time.Time         `json:"reset_at"`
	Networks   []NetworkCounters `json:"networks"`
	Pauses     Pauses            `json:"pauses"`
	Messages   Messages          `json:"messages"`
	LinkTables LinkTables        `json:"link_tables"`
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

// LinkTables count the link table messages (the matrix) sent and taken.
type LinkTables struct {
	Sent       uint64 `json:"sent"`
	SendFailed uint64 `json:"send_failed"` // no route to the peer, or its send buffer full
	Received   uint64 `json:"received"`
	Rejected   uint64 `json:"rejected"` // malformed, or from a stale incarnation
	Public     uint64 `json:"public"`   // of Sent: over the public channel (no link reached the peer)
	// Of Sent: digests ("my table is still serial S") and pulls (a
	// peer's digest named a table we lack); the rest are tables.
	Digests uint64 `json:"digests"`
	Pulls   uint64 `json:"pulls"`
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

// Resource roles (Mirror.Role): what this node is for the resource.
const (
	RolePrimary  = "primary"  // writable
	RoleMirror   = "mirror"   // read-only, fetching from the primary
	RoleStopped  = "stopped"  // the old primary after a graceful promote, not mirroring yet
	RoleDiverged = "diverged" // the old primary after another node was promoted: read-only until restored
)

// Mirror topic states (MirrorTopic.State): the fetcher's on a mirror
// (ACTIVE, PAUSED, SOURCE_UNAVAILABLE, DIVERGED, FAILED), PENDING_STOPPED
// on a mirror being promoted, PRIMARY on the primary, STOPPED and
// DIVERGED on an old primary.
const (
	TopicActive            = "ACTIVE"
	TopicPaused            = "PAUSED"
	TopicSourceUnavailable = "SOURCE_UNAVAILABLE"
	TopicDiverged          = "DIVERGED"
	TopicFailed            = "FAILED"
	TopicPrimary           = "PRIMARY"
	TopicPendingStopped    = "PENDING_STOPPED"
	TopicStopped           = "STOPPED"
)

// Mirror is one resource of the built-in replicator as this node knows
// it (tetherctl mirror describe): its role here, its epoch, the two
// nodes, and each topic.
type Mirror struct {
	Resource string `json:"resource"`
	Role     string `json:"role"` // primary, mirror, stopped, diverged
	Epoch    uint32 `json:"epoch"`
	Primary  string `json:"primary"` // node name, primary at Epoch
	Mirror   string `json:"mirror"`  // the other node of the pair
	Peer     string `json:"peer"`    // the other node, as seen from this one
	Acks     string `json:"acks"`    // local or mirror
	// FrozenBy: on the primary, the node whose promote froze writes.
	FrozenBy  string `json:"frozen_by,omitempty"`
	Promoting bool   `json:"promoting,omitempty"` // a promote is in progress here
	Restoring bool   `json:"restoring,omitempty"` // truncate-and-restore is in progress here
	// Starting: a primary checking with the other node before it takes
	// writes.
	Starting bool `json:"starting,omitempty"`
	// Diverged: how this node learnt that another one was promoted.
	Diverged *MirrorDivergence `json:"diverged,omitempty"`
	// The peer's view as last heard, and why it was not heard since.
	PeerEpoch uint32        `json:"peer_epoch,omitempty"`
	PeerRole  string        `json:"peer_role,omitempty"`
	PeerSeen  time.Time     `json:"peer_seen,omitzero"`
	PeerError string        `json:"peer_error,omitempty"`
	Changed   time.Time     `json:"changed,omitzero"` // the last change of role or epoch
	Why       string        `json:"why,omitempty"`    // of the last change
	Topics    []MirrorTopic `json:"topics"`
}

// MirrorDivergence is another node's promotion that made this one
// DIVERGED.
type MirrorDivergence struct {
	Epoch   uint32    `json:"epoch"`   // the other primary's
	Primary string    `json:"primary"` // who it is
	At      time.Time `json:"at"`
}

// MirrorTopic is one topic of a resource on this node. Lag is, on a
// mirror, the primary's high watermark (last seen) minus this log's end,
// and the age of the oldest record not mirrored; on the primary, the
// records the mirror has not confirmed.
type MirrorTopic struct {
	Topic            string `json:"topic"`
	State            string `json:"state"`
	LogEndOffset     uint64 `json:"dest_log_end_offset"`              // this node's durable end
	HighWatermark    uint64 `json:"last_fetch_source_high_watermark"` // mirror: the primary's, last seen; primary: its own
	LagRecords       uint64 `json:"lag"`
	LagMs            int64  `json:"lag_ms"`
	SinceLastFetchMs int64  `json:"time_since_last_fetch_ms"` // -1: never (and on the primary)
	// MirrorConfirmed: on the primary, the offset up to which the mirror
	// confirmed it has the records.
	MirrorConfirmed uint64 `json:"mirror_confirmed,omitempty"`
	Fetches         uint64 `json:"fetches"`
	FetchErrors     uint64 `json:"fetch_errors"`
	Records         uint64 `json:"records_mirrored"`
	Bytes           uint64 `json:"bytes_mirrored"`
	Error           string `json:"error,omitempty"` // why FAILED or DIVERGED, or the last fetch failure
	// Pending is the cut a DIVERGED mirror topic waits to make.
	Pending *MirrorTruncation `json:"pending_truncation,omitempty"`
}

// MirrorTruncation is a cut of a mirror topic's log back to the
// primary's: From the log end before, To the offset cut to; AckedRecords
// of the records cut were below a high watermark seen before.
type MirrorTruncation struct {
	At           time.Time `json:"at"`
	From         uint64    `json:"from"`
	To           uint64    `json:"to"`
	AckedRecords uint64    `json:"acked_records"`
}

// Healthy reports whether a link needs no attention.
func (l Link) Healthy() bool { return l.State == LinkUp && l.Reason == "" }
