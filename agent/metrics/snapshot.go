package metrics

import "github.com/tether-ha/tether/agent/status"

// Snapshot is what one scrape exports: the status document with its
// counters since start (not from tetherstat -z), and what the document
// does not carry.
type Snapshot struct {
	// Status is the document; its Mirrors (the builtin resources, nil
	// without any) are exported as tether_resource_* and tether_mirror_*,
	// its Failover (every resource of the cluster as the failover
	// supervisor sees it) as tether_failover_*.
	Status *status.Status
	// Channels holds each peer link's channels (ether, tcp: its two
	// connections folded), in no particular order.
	Channels map[LinkKey][]Channel
	// ScheduleDelay: how late the engine's timer ran past its deadline.
	ScheduleDelay Histogram
	// PublicAlive says, per peer id, whether the peer is alive on the
	// public channel; nil without a public channel.
	PublicAlive map[uint16]bool
	// Supervisor holds the failover supervisor's own counters; nil on a
	// node without one (a cluster without resources), which exports no
	// tether_failover_ series at all.
	Supervisor *Supervisor
}

// Supervisor is the failover supervisor's counters since start.
type Supervisor struct {
	// ViewsRejected: peers' views that did not decode or came from a
	// node that is not a peer.
	ViewsRejected uint64
}

// LinkKey names a link: the peer's id and the network's name.
type LinkKey struct {
	Peer    uint16
	Network string
}

// Channel is one channel of a link: its heartbeat counters since start
// and its RTT histogram.
type Channel struct {
	Name                 string // "ether" or "tcp"
	Sent, Received, Lost uint64
	RTT                  Histogram
}

// Histogram is a histogram since start: Counts per bucket (not
// cumulative), one more than Bounds (the last is +Inf); Sum in seconds.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
}

// Add adds o, of the same bounds, to h.
func (h *Histogram) Add(o Histogram) {
	if h.Counts == nil {
		h.Bounds, h.Counts = o.Bounds, make([]uint64, len(o.Counts))
	}
	for i := range min(len(h.Counts), len(o.Counts)) {
		h.Counts[i] += o.Counts[i]
	}
	h.Sum += o.Sum
}

// cumulative returns the count and the cumulative bucket counts
// client_golang's const histograms take.
func (h Histogram) cumulative() (uint64, map[float64]uint64) {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var n uint64
	for i, c := range h.Counts {
		n += c
		if i < len(h.Bounds) {
			buckets[h.Bounds[i]] = n
		}
	}
	return n, buckets
}
