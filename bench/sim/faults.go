package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/tether-ha/tether/llt"
)

// A fault is injected on one node's port of one network (or on the
// cluster), and the peers' engines must name it within its bound: the
// timer rules of DESIGN.md, with the simulated wire's latency on top.
type fault struct {
	Name   string
	inject func(c *cluster, v, k int)
	undo   func(c *cluster, v, k int)
	// expect lists the links that must go DOWN: observer, peer, network.
	expect func(c *cluster, v, k int) []watch
}

// watch is one link that must go DOWN within bound with one of reasons.
type watch struct {
	observer, peer, net int
	bound               time.Duration
	reasons             []llt.Reason
}

// detection is what happened to one watch.
type detection struct {
	watch
	detected bool
	after    time.Duration
	reason   llt.Reason
}

func faults(t llt.Timers, p netParams) []fault {
	wire := p.Latency + p.Jitter
	silent := t.PeerInact + wire // nothing heard for peerinact after the last frame that passed
	peersOf := func(c *cluster, v, k int, bound time.Duration, reasons ...llt.Reason) []watch {
		var w []watch
		for o := range c.nodes {
			if o != v {
				w = append(w, watch{observer: o, peer: v, net: k, bound: bound, reasons: reasons})
			}
		}
		return w
	}
	ownLinks := func(c *cluster, v, k int, bound time.Duration, reasons ...llt.Reason) []watch {
		var w []watch
		for o := range c.nodes {
			if o != v {
				w = append(w, watch{observer: v, peer: o, net: k, bound: bound, reasons: reasons})
			}
		}
		return w
	}
	return []fault{
		{
			Name: "cable-pull",
			inject: func(c *cluster, v, k int) {
				c.net.port[v][k].noCarrier = true
				nd := c.nodes[v]
				c.call(nd, func() { nd.m.SetCarrier(c.now, k, false) })
			},
			undo: func(c *cluster, v, k int) {
				c.net.port[v][k].noCarrier = false
				nd := c.nodes[v]
				c.call(nd, func() { nd.m.SetCarrier(c.now, k, true) })
			},
			expect: func(c *cluster, v, k int) []watch {
				// At once on the node; its peers hear of it over its other
				// networks in the frames it sends at once.
				return append(ownLinks(c, v, k, 0, llt.ReasonCarrierLost),
					peersOf(c, v, k, wire, llt.ReasonPeerSilent)...)
			},
		},
		{
			Name:   "blackhole",
			inject: func(c *cluster, v, k int) { c.net.port[v][k].blackhole = true },
			undo:   func(c *cluster, v, k int) { c.net.port[v][k].blackhole = false },
			expect: func(c *cluster, v, k int) []watch {
				return append(peersOf(c, v, k, silent, llt.ReasonPeerSilent),
					ownLinks(c, v, k, silent, llt.ReasonPeerSilent, llt.ReasonNICSilent)...)
			},
		},
		{
			Name:   "one-way",
			inject: func(c *cluster, v, k int) { c.net.port[v][k].egress = true },
			undo:   func(c *cluster, v, k int) { c.net.port[v][k].egress = false },
			expect: func(c *cluster, v, k int) []watch {
				// The peers hear nothing from v and are told over the
				// other networks that v hears them; v hears the peers
				// say they do not hear it.
				return append(peersOf(c, v, k, silent, llt.ReasonOneWayIn),
					ownLinks(c, v, k, silent+t.Heartbeat, llt.ReasonOneWayOut)...)
			},
		},
		{
			Name: "partition",
			inject: func(c *cluster, v, k int) {
				for i := range c.net.group {
					c.net.group[i] = i % 2
				}
				c.net.partitioned = true
			},
			undo: func(c *cluster, v, k int) { c.net.partitioned = false },
			expect: func(c *cluster, v, k int) []watch {
				var w []watch
				for o := range c.nodes {
					for p := range c.nodes {
						if o%2 != p%2 {
							for net := range c.nets {
								w = append(w, watch{observer: o, peer: p, net: net, bound: silent, reasons: []llt.Reason{llt.ReasonPeerSilent}})
							}
						}
					}
				}
				return w
			},
		},
		{
			Name:   "pause",
			inject: func(c *cluster, v, k int) { c.pause(c.nodes[v], 3*t.PeerInact) },
			undo:   func(c *cluster, v, k int) {},
			expect: func(c *cluster, v, k int) []watch {
				var w []watch
				for net := range c.nets {
					w = append(w, peersOf(c, v, net, silent, llt.ReasonPeerSilent)...)
				}
				return w
			},
		},
	}
}

// tracker records link transitions to DOWN, for the watches and for the
// false-DOWN count.
type tracker struct {
	armed     map[[3]int]int // (observer, peer, net) -> index in dets
	dets      []detection
	since     time.Time
	downs     int // any link of any node going DOWN while counting
	counting  bool
	downsSeen [][3]int
	// history: when each link last went DOWN (the newest few), for the
	// flap rule.
	history map[[3]int][]time.Time
	diag    llt.Diagnostics
}

func (tr *tracker) onEvent(c *cluster) func(n *node, e llt.Event) {
	return func(n *node, e llt.Event) {
		if e.Kind != llt.EventLink || e.Link != llt.LinkDown || e.PrevLink == llt.LinkDown {
			return
		}
		if tr.counting {
			tr.downs++
			if len(tr.downsSeen) < 10 {
				tr.downsSeen = append(tr.downsSeen, [3]int{n.idx, int(e.Peer), e.Network})
			}
		}
		key := [3]int{n.idx, int(e.Peer), e.Network}
		h := append(tr.history[key], e.At)
		if len(h) > 8 {
			h = h[1:]
		}
		tr.history[key] = h
		if i, ok := tr.armed[key]; ok && !tr.dets[i].detected {
			tr.dets[i].detected, tr.dets[i].after, tr.dets[i].reason = true, e.At.Sub(tr.since), e.Reason
		}
	}
}

func (tr *tracker) arm(now time.Time, ws []watch) {
	tr.since, tr.armed, tr.dets = now, map[[3]int]int{}, nil
	for _, w := range ws {
		key := [3]int{w.observer, w.peer, w.net}
		if tr.flapping(now, key) {
			// The link went down often enough lately that this down makes
			// it flapping (the flap rule), whatever broke it.
			w.reasons = append(slices.Clip(w.reasons), llt.ReasonFlapping)
		}
		tr.armed[key] = len(tr.dets)
		tr.dets = append(tr.dets, detection{watch: w})
	}
}

// flapping reports whether one more down of the link makes it flapping:
// FlapCount-1 downs within the FlapWindow before now.
func (tr *tracker) flapping(now time.Time, key [3]int) bool {
	n := 0
	for _, t := range tr.history[key] {
		if now.Sub(t) < tr.diag.FlapWindow {
			n++
		}
	}
	return n >= tr.diag.FlapCount-1
}

// faultResult is one fault's outcome over its trials.
type faultResult struct {
	Fault      string   `json:"fault"`
	Trials     int      `json:"trials"`
	Watched    int      `json:"links_watched"`
	Missed     int      `json:"missed"`       // not DOWN at all
	Late       int      `json:"late"`         // DOWN after the bound
	WrongCause int      `json:"wrong_reason"` // DOWN with another reason
	BoundMs    float64  `json:"bound_ms"`     // the largest bound of its watches
	P50Ms      float64  `json:"p50_ms"`
	P99Ms      float64  `json:"p99_ms"`
	MaxMs      float64  `json:"max_ms"`
	Examples   []string `json:"examples,omitempty"` // the first failures
}

func (r *faultResult) add(d detection) {
	r.Watched++
	r.BoundMs = max(r.BoundMs, ms(d.bound))
	switch {
	case !d.detected:
		r.Missed++
		r.example(fmt.Sprintf("node%d's link to node%d on hb%d never went DOWN", d.observer, d.peer, d.net))
		return
	case d.after > d.bound:
		r.Late++
		r.example(fmt.Sprintf("node%d's link to node%d on hb%d DOWN after %v (bound %v)", d.observer, d.peer, d.net, d.after, d.bound))
	case !slices.Contains(d.reasons, d.reason):
		r.WrongCause++
		r.example(fmt.Sprintf("node%d's link to node%d on hb%d DOWN %s, want %v", d.observer, d.peer, d.net, d.reason, d.reasons))
	}
}

func (r *faultResult) example(s string) {
	if len(r.Examples) < 5 {
		r.Examples = append(r.Examples, s)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
