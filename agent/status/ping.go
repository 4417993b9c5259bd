package status

import (
	"context"
	"errors"
	"time"
)

// Ping and ping-cluster: echo messages to peers through the message API,
// answered by the far agent's echo service (nothing is started there).
//
// POST /v1/ping         PingRequest        -> PingResult
// POST /v1/ping-cluster PingClusterRequest -> PingClusterResult
//
// A request the agent cannot run as asked (an unknown network, a channel
// the network does not carry, a size out of range) is answered 400 with
// the reason; an agent that cannot run it at all, 503.

// Channel names a ping may be pinned to (PingRequest.Channel).
const (
	PingChannelEther   = "ether"
	PingChannelTCP     = "tcp"      // either connection of the pair, the one we dialled first
	PingChannelTCPTo   = "tcp-to"   // the connection we dialled
	PingChannelTCPFrom = "tcp-from" // the connection the peer dialled
)

// PingRequest asks the agent to send echo messages to a peer through the
// message API (POST /v1/ping): the round trip of an application message,
// and its throughput when Window > 1.
//
// Without Network, Channel, FrameLen or MTU, each echo takes the best
// route and the peer answers over its best route. With Network and/or
// Channel both the request and the reply are pinned to that network and
// channel (the reply comes back on the route the request arrived on, the
// same TCP connection on tcp), so exactly that path is tested both ways; a
// route that is not up fails that echo at once (Status "no-route", with
// the link's state and reason in Error).
type PingRequest struct {
	Peer       uint16 `json:"peer"`
	Count      int    `json:"count"`       // messages to send; default 10
	Size       int    `json:"size"`        // payload bytes; default 64
	Window     int    `json:"window"`      // messages in flight at once; default 1
	IntervalMs int    `json:"interval_ms"` // pause between sends (window 1); default 0
	TimeoutMs  int    `json:"timeout_ms"`  // wait for a reply; default 1000

	// Network pins requests and replies to this network (a configured
	// network name); "" any.
	Network string `json:"network,omitempty"`
	// Channel pins them to this channel: "ether", "tcp" (the connection we
	// dialled when it is up, else the one the peer dialled), "tcp-to",
	// "tcp-from"; "" any.
	Channel string `json:"channel,omitempty"`
	// FrameLen pads the request frame, and the reply frame, to this many
	// bytes (the encoded frame: on ether the Ethernet payload, at most the
	// network's MTU). 0: no padding.
	FrameLen int `json:"frame_len,omitempty"`
	// MTU sizes each echo to the MTU of the network it takes: on ether the
	// request and reply frames are padded to the MTU (FrameLen is set from
	// it), on tcp the message is MTU bytes (Size is set from it, at most
	// the largest message).
	MTU bool `json:"mtu,omitempty"`
	// Replies asks for one PingReply per echo in PingResult.Replies.
	Replies bool `json:"replies,omitempty"`
}

// PingResult is the outcome of a PingRequest.
type PingResult struct {
	Peer         uint16         `json:"peer"`
	Sent         int            `json:"sent"`
	Received     int            `json:"received"`
	SendErrors   map[string]int `json:"send_errors,omitempty"` // "no-route", "too-large", "busy", ...
	Busy         int            `json:"busy,omitempty"`        // sends pushed back (ErrBusy) and retried: after a reply, or after a backoff of up to one timeout
	Size         int            `json:"size"`
	RTTMinMicros int64          `json:"rtt_min_us"`
	RTTP50Micros int64          `json:"rtt_p50_us"`
	RTTP99Micros int64          `json:"rtt_p99_us"`
	RTTMaxMicros int64          `json:"rtt_max_us"`
	DurationMs   float64        `json:"duration_ms"`
	PerSecond    float64        `json:"per_second"` // replies received per second
	Routes       map[string]int `json:"routes"`     // "hb0/tcp-to": messages sent that way

	// The request's pinning, as run.
	Network  string `json:"network,omitempty"`
	Channel  string `json:"channel,omitempty"`
	FrameLen int    `json:"frame_len,omitempty"`
	MTU      bool   `json:"mtu,omitempty"`
	// Timeouts counts echoes sent whose reply did not come in time.
	Timeouts     int     `json:"timeouts"`
	RTTAvgMicros float64 `json:"rtt_avg_us"`
	// Replies has one entry per echo, in sending order, when the request
	// asked for them.
	Replies []PingReply `json:"replies,omitempty"`
}

// Outcomes of one echo (PingReply.Status).
const (
	EchoOK       = "ok"        // the reply came in time
	EchoTimeout  = "timeout"   // sent, no reply within the timeout
	EchoNoRoute  = "no-route"  // not sent: the route is not up
	EchoTooLarge = "too-large" // not sent: larger than the route takes
	EchoBusy     = "busy"      // not sent: the route's send buffer is full
	EchoUnpinned = "unpinned"  // a reply came, but not over the pinned route (the peer's agent cannot pin replies)
	EchoError    = "error"     // not sent, for another reason (Error says)
)

// PingReply is the fate of one echo.
type PingReply struct {
	Seq    int    `json:"seq"`    // 1-based, in sending order within the request
	Status string `json:"status"` // EchoOK, EchoTimeout, ...
	// Network and Channel ("ether", "tcp-to", "tcp-from") the request
	// took; empty when it could not be sent.
	Network string `json:"network,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Bytes is the size of the echo: the message body, or the frame's
	// length when Padded.
	Bytes     int       `json:"bytes"`
	Padded    bool      `json:"padded,omitempty"`
	SentAt    time.Time `json:"sent_at"`
	RTTMicros float64   `json:"rtt_us,omitempty"` // when Status is EchoOK
	Error     string    `json:"error,omitempty"`  // why it was not sent, e.g. "no route on hb1/ether: the link is DOWN (peer-silent)"
}

// Route is "network/channel", or "" when the echo was not sent.
func (r PingReply) Route() string {
	if r.Network == "" {
		return ""
	}
	return r.Network + "/" + r.Channel
}

// PingClusterRequest asks the agent to test every path to every peer
// (POST /v1/ping-cluster): every local network × every peer × every
// channel the network carries, at 64 bytes, at the network's MTU, and
// beyond it.
type PingClusterRequest struct {
	Count     int `json:"count"`      // echoes per test; default 3
	TimeoutMs int `json:"timeout_ms"` // wait for each reply; default 1000
}

// Tests of a path (PingTest.Test).
const (
	TestBasic  = "basic"  // a 64-byte message
	TestMTU    = "mtu"    // ether: request and reply frames padded to the MTU; tcp: a message of MTU bytes
	TestLarger = "larger" // tcp: a message of 3 × MTU bytes; ether: not applicable
)

// Results of a test (PingTest.Result).
const (
	TestOK            = "ok"      // every echo came back
	TestFailed        = "failed"  // at least one did not
	TestSkipped       = "skipped" // not run: basic connectivity failed on the path
	TestNotApplicable = "n/a"     // cannot be run on this channel (ether frames cannot exceed the MTU)
)

// PingClusterResult is every path's outcome.
type PingClusterResult struct {
	LocalNode  uint16     `json:"local_node"`
	LocalName  string     `json:"local_name"`
	Networks   []string   `json:"networks"`
	Peers      []PingPeer `json:"peers"`
	Count      int        `json:"count"`
	TimeoutMs  int        `json:"timeout_ms"`
	DurationMs float64    `json:"duration_ms"`
	// Paths in network order, then peer id, then channel (ether, tcp).
	Paths []PingPath `json:"paths"`
}

// PingPeer is one peer of a PingClusterResult.
type PingPeer struct {
	ID   uint16 `json:"id"`
	Name string `json:"name"`
}

// PingPath is one network × peer × channel and its tests.
type PingPath struct {
	Network  string `json:"network"`
	Peer     uint16 `json:"peer"`
	PeerName string `json:"peer_name"`
	Channel  string `json:"channel"` // "ether" or "tcp"
	MTU      int    `json:"mtu"`     // the network's MTU the tests were sized to
	// Tests: basic, mtu, larger, in that order.
	Tests []PingTest `json:"tests"`
	// The link as the status document shows it once the tests are done.
	LinkState    string `json:"link_state"`
	ChannelState string `json:"channel_state"` // the channel's state in the link's Channels
	Reason       string `json:"reason,omitempty"`
	RemoteReason string `json:"remote_reason,omitempty"`
	Detail       string `json:"detail,omitempty"`
}

// OK reports whether every test of the path that could run passed.
func (p PingPath) OK() bool {
	for _, t := range p.Tests {
		if t.Result == TestFailed || t.Result == TestSkipped {
			return false
		}
	}
	return true
}

// Test returns the path's test of that name, or a zero PingTest.
func (p PingPath) Test(name string) PingTest {
	for _, t := range p.Tests {
		if t.Test == name {
			return t
		}
	}
	return PingTest{}
}

// PingTest is one test of a path.
type PingTest struct {
	Test   string `json:"test"`   // TestBasic, TestMTU, TestLarger
	Result string `json:"result"` // TestOK, TestFailed, TestSkipped, TestNotApplicable
	// Bytes is the message size, or the frame length when Padded.
	Bytes        int     `json:"bytes"`
	Padded       bool    `json:"padded,omitempty"`
	Sent         int     `json:"sent"`
	Received     int     `json:"received"`
	NoRoute      int     `json:"no_route,omitempty"` // echoes not sent: the route was not up
	OtherErrors  int     `json:"other_errors,omitempty"`
	RTTAvgMicros float64 `json:"rtt_avg_us,omitempty"`
	RTTMaxMicros float64 `json:"rtt_max_us,omitempty"`
	// Error is the first echo's error, if any was not sent; Note says why a
	// test was skipped or is not applicable.
	Error string `json:"error,omitempty"`
	Note  string `json:"note,omitempty"`
}

// ClusterPinger is implemented by providers that can run ping-cluster.
type ClusterPinger interface {
	PingCluster(ctx context.Context, req PingClusterRequest) (*PingClusterResult, error)
}

// RequestError is a request the agent cannot run as asked: the server
// answers it 400 Bad Request with the message.
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

// BadRequest wraps err as a RequestError.
func BadRequest(err error) error { return &RequestError{Err: err} }

// IsBadRequest reports whether err is a RequestError.
func IsBadRequest(err error) bool {
	var re *RequestError
	return errors.As(err, &re)
}
