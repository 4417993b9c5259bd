// Package llt is tether's heartbeat protocol as pure logic: the frame codec
// with its authentication, the per-channel three-way session state machine,
// the per-link and per-node states and the timers.
//
// Nothing here does I/O, starts a goroutine or reads a clock. A Machine is
// fed authenticated frames, carrier changes and the current time, and
// returns frames to send and state-change events; the agent does the rest.
// That keeps every timing rule testable with a fake clock.
package llt

import "fmt"

// NodeID is a node's small integer id (0..MaxNodeID).
type NodeID uint16

// Broadcast is the destination id of a frame meant for every node.
const Broadcast NodeID = 0xFFFF

// MaxNodeID is the largest valid node id.
const MaxNodeID NodeID = 1023

// Channel is how a link is carried. The tcp channel of a network is two
// sessions, one per connection: a pair of long-lived connections per peer,
// one dialled by each side (like the Redis cluster bus), each carrying
// heartbeats both ways, so that a dead direction shows.
type Channel uint8

// Channels.
const (
	ChannelEther   Channel = iota // raw Ethernet frames
	ChannelTCPTo                  // the TCP connection we dialled to the peer
	ChannelTCPFrom                // the TCP connection the peer dialled to us
	NumChannels
)

func (c Channel) String() string {
	switch c {
	case ChannelEther:
		return "ether"
	case ChannelTCPTo:
		return "tcp-to"
	case ChannelTCPFrom:
		return "tcp-from"
	}
	return fmt.Sprintf("channel-%d", uint8(c))
}

// IsTCP reports whether c is one of the two TCP connections.
func (c Channel) IsTCP() bool { return c == ChannelTCPTo || c == ChannelTCPFrom }

// SessionState is the BFD-style state of one channel of a link (RFC 5880
// §6.2): a session is Up only when each side has proven it hears the other.
type SessionState uint8

// Session states. Zero is invalid on the wire.
const (
	SessionDown SessionState = 1
	SessionInit SessionState = 2
	SessionUp   SessionState = 3
)

func (s SessionState) String() string {
	switch s {
	case SessionDown:
		return "DOWN"
	case SessionInit:
		return "INIT"
	case SessionUp:
		return "UP"
	}
	return fmt.Sprintf("session-%d", uint8(s))
}

// Diag is the diagnostic code of a session: why it last left Up (or why it
// is not Up), as carried in frames (like BFD's Diag field).
type Diag uint8

// Diagnostic codes. The numbers are part of the wire format.
const (
	DiagNone         Diag = 0
	DiagTimeExpired  Diag = 1 // nothing heard for peerinact
	DiagNeighborDown Diag = 3 // the peer said it does not hear us
	DiagCarrierLost  Diag = 4 // our NIC lost carrier
	DiagPeerRestart  Diag = 5 // the peer restarted (new incarnation)
	DiagPeerShutdown Diag = 6 // the peer's agent stopped cleanly
	DiagAdminDown    Diag = 7 // our agent is stopping
	// DiagPeerCarrierLost: the peer reported, over another network, that
	// its NIC on this network lost carrier: nothing can pass.
	DiagPeerCarrierLost Diag = 8
)

func (d Diag) String() string {
	switch d {
	case DiagNone:
		return "none"
	case DiagTimeExpired:
		return "time-expired"
	case DiagNeighborDown:
		return "neighbor-down"
	case DiagCarrierLost:
		return "carrier-lost"
	case DiagPeerRestart:
		return "peer-restart"
	case DiagPeerShutdown:
		return "peer-shutdown"
	case DiagAdminDown:
		return "admin-down"
	case DiagPeerCarrierLost:
		return "peer-carrier-lost"
	}
	return fmt.Sprintf("diag-%d", uint8(d))
}

// LinkState is the operator-facing state of a (peer, network) link.
type LinkState uint8

// Link states. The numbers are part of the wire format (link vectors).
const (
	LinkDown    LinkState = 1
	LinkTrouble LinkState = 2 // up, but nothing heard for peertrouble
	LinkUp      LinkState = 3
)

func (s LinkState) String() string {
	switch s {
	case LinkDown:
		return "DOWN"
	case LinkTrouble:
		return "TROUBLE"
	case LinkUp:
		return "UP"
	}
	return fmt.Sprintf("link-%d", uint8(s))
}

// Usable reports whether traffic can use the link (UP or TROUBLE).
func (s LinkState) Usable() bool { return s == LinkUp || s == LinkTrouble }

// NodeState is the state of a peer node as a whole.
type NodeState uint8

// Node states.
const (
	NodeConnWait    NodeState = 1 // never heard since start
	NodeOpen        NodeState = 2 // enough links up
	NodeJeopardy    NodeState = 3 // up, but on a single private link (or only lowpri)
	NodeDown        NodeState = 4 // was heard, every link lost
	NodePartitioned NodeState = 5 // every private link lost, alive on the public channel
)

func (s NodeState) String() string {
	switch s {
	case NodeConnWait:
		return "CONNWAIT"
	case NodeOpen:
		return "OPEN"
	case NodeJeopardy:
		return "JEOPARDY"
	case NodeDown:
		return "DOWN"
	case NodePartitioned:
		return "PARTITIONED"
	}
	return fmt.Sprintf("node-%d", uint8(s))
}

// Reason is the one primary reason a link is not healthy (DESIGN.md
// "reasons"). The strings are stable ids used in status, metrics and logs;
// the numbers are part of the wire format (link vectors).
type Reason uint8

// Reasons.
const (
	ReasonNone            Reason = 0
	ReasonCarrierLost     Reason = 1
	ReasonPeerSilent      Reason = 2
	ReasonOneWayOut       Reason = 3
	ReasonOneWayIn        Reason = 4
	ReasonCrossConnected  Reason = 5
	ReasonSharedSegment   Reason = 6
	ReasonMTUMismatch     Reason = 7
	ReasonTCPBlocked      Reason = 8
	ReasonFlapping        Reason = 9
	ReasonLossy           Reason = 10
	ReasonAuthFailure     Reason = 11
	ReasonDuplicateNodeID Reason = 12
	ReasonForeignCluster  Reason = 13
	ReasonPeerStopped     Reason = 14 // the peer's agent said it is stopping
	// ReasonNICSilent: our NIC has carrier but passes nothing: no peer
	// hears us on the network and we hear no one, while the peers hear
	// each other there (a NIC broken by a failed firmware update, a
	// switch port that drops everything).
	ReasonNICSilent Reason = 15
)

// numReasons is one more than the highest reason.
const numReasons = 16

// NumReasons is the number of reasons: they are 0..NumReasons-1.
const NumReasons = numReasons

var reasonNames = [numReasons]string{
	ReasonNone:            "",
	ReasonCarrierLost:     "carrier-lost",
	ReasonPeerSilent:      "peer-silent",
	ReasonOneWayOut:       "one-way-out",
	ReasonOneWayIn:        "one-way-in",
	ReasonCrossConnected:  "cross-connected",
	ReasonSharedSegment:   "shared-segment",
	ReasonMTUMismatch:     "mtu-mismatch",
	ReasonTCPBlocked:      "tcp-blocked",
	ReasonFlapping:        "flapping",
	ReasonLossy:           "lossy",
	ReasonAuthFailure:     "auth-failure",
	ReasonDuplicateNodeID: "duplicate-node-id",
	ReasonForeignCluster:  "foreign-cluster",
	ReasonPeerStopped:     "peer-stopped",
	ReasonNICSilent:       "nic-silent",
}

// ParseReason returns the reason whose id is s.
func ParseReason(s string) (Reason, bool) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), true
		}
	}
	return 0, false
}

// String returns the stable id ("" for ReasonNone).
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason-%d", uint8(r))
}

// Valid reports whether r is a known reason.
func (r Reason) Valid() bool { return int(r) < numReasons }
