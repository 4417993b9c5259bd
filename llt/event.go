package llt

import "time"

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	EventLink        EventKind = iota + 1 // a link's state, reason or remote reason changed
	EventSession                          // a channel session changed state
	EventNode                             // a peer node's state changed
	EventPeerRestart                      // a peer came back with a new incarnation
	EventPause                            // this node's engine did not run for Pause (see Advance)
	EventNetwork                          // a network's network-wide reasons changed
	EventLocal                            // this node's own state changed (its NICs)
	EventClaimed                          // the claim phase ended: no other node uses our id
	EventDuplicateID                      // another node uses our node id (Fatal while claiming)
)

// Event is a state change the Machine reports. Which fields are set
// depends on Kind.
type Event struct {
	Kind    EventKind
	At      time.Time
	Peer    NodeID
	Network int     // network index; -1 for node events
	Channel Channel // EventSession

	// EventLink
	PrevLink, Link   LinkState
	PrevReason       Reason
	Reason           Reason
	RemoteReason     Reason
	PrevRemoteReason Reason

	// EventSession
	PrevSession, Session SessionState
	Diag                 Diag

	// EventNode, EventLocal
	PrevNode, Node NodeState

	// EventPeerRestart (and EventDuplicateID: Incarnation)
	PrevIncarnation, Incarnation uint64

	// EventPause: how long this node's engine did not run.
	Pause time.Duration

	// EventNetwork: the network's reasons before and after.
	PrevNetReasons, NetReasons []Reason

	// EventDuplicateID: the other sender's address (and Incarnation);
	// Fatal: it was found during the claim phase: do not start.
	Addr  string
	Fatal bool
}

// Message is an application message received from a peer. Payload
// aliases the received frame.
type Message struct {
	Peer    NodeID
	Network int
	Channel Channel
	Payload []byte
}

// Outgoing is a frame the agent must send.
type Outgoing struct {
	Network int
	Channel Channel
	Peer    NodeID
	// To is the peer's learned address on this channel (for ether, the 6
	// raw bytes of its MAC), or "" to broadcast.
	To    string
	Frame Frame
}

// Inbound is an authenticated frame the agent received.
type Inbound struct {
	Network int     // index of the network it arrived on
	Channel Channel // channel it arrived on
	From    string  // sender's address on the channel (ether: 6 raw MAC bytes)
	Frame   *Frame
}

// Verdict says what Receive did with a frame. Everything but Accepted
// means the frame changed no state; the agent counts it.
type Verdict uint8

// Verdicts.
const (
	Accepted                Verdict = iota
	DropForeignCluster              // authentic, but another cluster id
	DropSelf                        // our own frame, looped back
	DropDuplicateNodeID             // another sender uses our node id
	DropNotForUs                    // addressed to another node
	DropUnknownNode                 // sender is not in the node table
	DropUnknownNetwork              // network name we do not have, or bad index
	DropCrossConnected              // peer's frame for network X arrived on our network Y
	DropNoChannel                   // channel not configured on this network
	DropStaleIncarnation            // an older incarnation of a live peer (replay)
	DropReplay                      // sequence number already seen or too old
	DropCarrierDown                 // arrived while we believe the NIC has no carrier
	DropUnprovenIncarnation         // a newer incarnation that has not proved it is live (see Receive)
	DropClaim                       // a peer\'s claim of its id at start-up (claim.go): nothing to do
	DropProbeCopy                   // an MTU probe whose heartbeat (same sequence) arrived first
	numVerdicts
)

var verdictNames = [...]string{
	Accepted:                "accepted",
	DropForeignCluster:      "foreign-cluster",
	DropSelf:                "self",
	DropDuplicateNodeID:     "duplicate-node-id",
	DropNotForUs:            "not-for-us",
	DropUnknownNode:         "unknown-node",
	DropUnknownNetwork:      "unknown-network",
	DropCrossConnected:      "cross-connected",
	DropNoChannel:           "no-channel",
	DropStaleIncarnation:    "stale-incarnation",
	DropReplay:              "replay",
	DropCarrierDown:         "carrier-down",
	DropUnprovenIncarnation: "unproven-incarnation",
	DropClaim:               "claim",
	DropProbeCopy:           "probe-copy",
}

// String returns the stable counter label of v.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// NumVerdicts is the number of verdicts: they are 0..NumVerdicts-1.
const NumVerdicts = int(numVerdicts)
