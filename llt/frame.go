package llt

import "time"

// FrameType says what a frame is for.
type FrameType uint8

// Frame types. The numbers are part of the wire format.
const (
	FrameHeartbeat FrameType = 1 // periodic heartbeat, carries session state and echo
	FrameShutdown  FrameType = 2 // the sender's agent is stopping: take its links down now
	FrameMessage   FrameType = 3 // an application message (Payload); also serves as a heartbeat
	// FrameClaim: the sender is about to use its node id and asks whether
	// another node already does (sent at start-up, broadcast); with an
	// Echo, the answer of the node that holds the id.
	FrameClaim   FrameType = 4
	maxFrameType           = FrameClaim
)

// Frame flags.
const (
	// FlagProbe: the frame is padded to the network's MTU to prove that
	// frames of that size pass (ProbeAck acknowledges it).
	FlagProbe uint8 = 1 << 0
	// FlagCopy: the frame is a copy of the heartbeat sent just before it,
	// with the same sequence number (a probe sent as a separate frame).
	FlagCopy uint8 = 1 << 1
	// FlagAfterProbe: the frame before this one on the session (sequence
	// number minus one) was a padded heartbeat: if it was lost, it is not
	// loss of the link but a probe that did not fit.
	FlagAfterProbe uint8 = 1 << 2
	knownFlags           = FlagProbe | FlagCopy | FlagAfterProbe
)

func (t FrameType) String() string {
	switch t {
	case FrameHeartbeat:
		return "heartbeat"
	case FrameShutdown:
		return "shutdown"
	case FrameMessage:
		return "message"
	case FrameClaim:
		return "claim"
	}
	return "unknown"
}

// Wire format limits.
const (
	Version        = 2
	MaxNameLen     = 32 // network name bytes
	MaxVector      = 8  // link vector entries (networks)
	TagLen         = 16 // HMAC-SHA256 truncated to 128 bits
	KeyIDLen       = 4
	headerLen      = 87
	vectorFixedLen = 5 // name length, state, reason, flags, loss
	trailerLen     = KeyIDLen + TagLen
	// MinFrameLen is the shortest possible encoded frame.
	MinFrameLen = headerLen + 1 + trailerLen
	// MaxOverhead is the longest a frame can be without its payload and
	// pad: a message fits an Ethernet MTU when MTU - MaxOverhead >= its size.
	MaxOverhead = headerLen + MaxNameLen + MaxVector*(vectorFixedLen+MaxNameLen) + trailerLen
	// MaxPayload bounds the application payload of one frame.
	MaxPayload = 60000
	// MaxPad bounds padding (MTU probes).
	MaxPad = 65000
)

// Echo returns to a peer the last frame we received from it on this
// session, so it learns that we hear it and measures the round trip.
type Echo struct {
	Incarnation uint64        // the peer's incarnation we heard; 0 = nothing heard
	Seq         uint64        // the peer's sequence number we last accepted
	Timestamp   int64         // the peer's send timestamp of that frame (its clock)
	Hold        time.Duration // how long we held it before this send (µs precision)
}

// VectorEntry is the sender's view of one of its links to the receiver.
type VectorEntry struct {
	Network  string
	State    LinkState
	Reason   Reason
	HearsYou bool // the sender receives the receiver's frames on this network
	Carrier  bool // the sender's NIC on this network has carrier
	// Loss is the percentage of the receiver's frames on this network
	// that the sender did not get, over its loss window (LossUnknown:
	// too few frames to tell). It tells the receiver its own outgoing
	// loss.
	Loss uint8
}

// LossUnknown is the loss byte of a link with too few frames to measure.
const LossUnknown uint8 = 255

// Frame is one decoded heartbeat-protocol frame. Decode reuses the Vector
// slice of the Frame it fills, and Payload aliases the decoded buffer.
type Frame struct {
	Type        FrameType
	Flags       uint8
	State       SessionState
	Diag        Diag
	Cluster     uint16
	Src         NodeID
	Dst         NodeID        // Broadcast or a node id
	Heartbeat   time.Duration // sender's heartbeat interval on this network (µs precision)
	PeerInact   time.Duration // sender's peerinact on this network (µs precision)
	Network     string        // the sender's network name
	Incarnation uint64        // random per sender start, never 0
	Seq         uint64        // per session, starts at 1
	Timestamp   int64         // ns on the sender's clock
	Echo        Echo
	// ProbeAck is the sequence number of the newest MTU probe (FlagProbe)
	// the sender received from the destination on this session: the probe
	// of that size passed.
	ProbeAck uint64
	Vector   []VectorEntry
	Payload  []byte
	Pad      int    // zero bytes appended (covered by the tag)
	KeyID    uint32 // set by Decode: the key that authenticated the frame
}

// EncodedLen returns the length of f once encoded.
func (f *Frame) EncodedLen() int {
	n := headerLen + len(f.Network) + len(f.Payload) + f.Pad + trailerLen
	for i := range f.Vector {
		n += vectorFixedLen + len(f.Vector[i].Network)
	}
	return n
}
