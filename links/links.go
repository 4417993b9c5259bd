// Package links holds what every channel shares: the received-frame
// envelope and per-channel counters. The channels themselves live in the
// sub-packages (ether: raw Ethernet; nicwatch: NIC carrier via netlink).
package links

import (
	"sort"
	"sync/atomic"

	"github.com/tether-ha/tether/llt"
)

// Deliver hands a decoded frame to the agent. It is called on the
// channel's reader goroutine and processes the frame before it returns, so
// no frame waits in a queue and no goroutine is woken to take it; r and its
// Frame (Vector, Payload) may be reused once it returns.
type Deliver func(r *Received)

// Received is a frame a channel read and decoded, on its way to the agent.
type Received struct {
	Network int
	Channel llt.Channel
	From    string // sender's channel address (ether: 6 raw MAC bytes)
	Frame   llt.Frame
	// AuthFailure: the frame was well formed but not authentic; Frame holds
	// its unverified header, only for naming the reason of a DOWN link.
	AuthFailure bool
}

// Clone returns a copy of r that owns its vector and payload: readers reuse
// one Received, so a Deliver that keeps a frame must clone it.
func (r *Received) Clone() Received {
	cp := *r
	cp.Frame.Vector = append([]llt.VectorEntry(nil), r.Frame.Vector...)
	cp.Frame.Payload = append([]byte(nil), r.Frame.Payload...)
	return cp
}

// YieldEvery is how many frames a reader processes back to back before it
// lets other goroutines run (runtime.Gosched): under a flood the timers and
// the other networks' readers still get the processor within about a
// hundred microseconds, even with a single P. At normal rates a reader
// blocks long before that and never yields.
const YieldEvery = 64

// OtherCause counts drops whose cause is not in the fixed list.
const OtherCause = "other"

// Counters are one channel's statistics on one network. They are updated
// from several goroutines without locks: the set of drop causes is fixed
// at creation, so the map is read-only and only its values change.
type Counters struct {
	TxFrames, TxBytes, TxErrors atomic.Uint64
	RxFrames, RxBytes           atomic.Uint64
	drops                       map[string]*atomic.Uint64
	conn                        map[string]*atomic.Uint64
}

// NewCounters returns zeroed counters that know every decode error kind,
// every llt verdict and the drop causes named in dropCauses, and the
// connection events (accepts, refusals, resets) named in connCauses.
func NewCounters(dropCauses, connCauses []string) *Counters {
	c := &Counters{
		drops: map[string]*atomic.Uint64{OtherCause: new(atomic.Uint64)},
		conn:  map[string]*atomic.Uint64{OtherCause: new(atomic.Uint64)},
	}
	for k := llt.ErrKindTruncated; k <= llt.ErrKindBadTag; k++ {
		c.drops[k.String()] = new(atomic.Uint64)
	}
	for v := llt.DropForeignCluster; int(v) < llt.NumVerdicts; v++ {
		c.drops[v.String()] = new(atomic.Uint64)
	}
	for _, e := range dropCauses {
		c.drops[e] = new(atomic.Uint64)
	}
	for _, e := range connCauses {
		c.conn[e] = new(atomic.Uint64)
	}
	return c
}

// ConnEvent counts a connection event (TCP accept, refusal, reset, ...).
func (c *Counters) ConnEvent(cause string) {
	if v, ok := c.conn[cause]; ok {
		v.Add(1)
		return
	}
	c.conn[OtherCause].Add(1)
}

// ConnEvents returns the non-zero connection event counts by cause.
func (c *Counters) ConnEvents() map[string]uint64 { return nonZero(c.conn) }

// Drop counts a frame dropped for cause.
func (c *Counters) Drop(cause string) { c.DropN(cause, 1) }

// DropN counts n frames dropped for cause.
func (c *Counters) DropN(cause string, n uint64) {
	if v, ok := c.drops[cause]; ok {
		v.Add(n)
		return
	}
	c.drops[OtherCause].Add(n)
}

// Dropped returns the non-zero drop counts by cause.
func (c *Counters) Dropped() map[string]uint64 { return nonZero(c.drops) }

func nonZero(m map[string]*atomic.Uint64) map[string]uint64 {
	out := make(map[string]uint64)
	for k, v := range m {
		if n := v.Load(); n > 0 {
			out[k] = n
		}
	}
	return out
}

// Causes returns every cause the counters know, sorted.
func (c *Counters) Causes() []string {
	out := make([]string, 0, len(c.drops))
	for k := range c.drops {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
