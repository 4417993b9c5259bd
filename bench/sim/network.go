package main

import (
	"errors"
	"math/rand/v2"
	"time"
)

// netParams shape the simulated wire.
type netParams struct {
	Latency time.Duration // one way
	Jitter  time.Duration // added uniformly in [0, Jitter)
	Loss    float64       // probability that any frame is lost
}

// network is the simulated interconnect: one switch per network, every
// node's NIC on each, and the faults a test injects on them.
type network struct {
	p    netParams
	rng  *rand.Rand
	port [][]portFault // [node][net]
	// group: while partitioned, frames pass only within a group.
	group       []int
	partitioned bool
}

// portFault is what is wrong with one node's NIC, cable or switch port.
type portFault struct {
	noCarrier bool // cable pulled: nothing passes, and the NIC knows
	blackhole bool // the switch port drops both ways; carrier stays
	egress    bool // the node's frames on it are dropped (one-way loss)
}

func newNetwork(n, m int, p netParams, rng *rand.Rand) *network {
	nw := &network{p: p, rng: rng, group: make([]int, n)}
	nw.port = make([][]portFault, n)
	for i := range nw.port {
		nw.port[i] = make([]portFault, m)
	}
	return nw
}

// pass decides the fate of a frame from src to dst on net sent now: when
// it arrives, or that it is lost.
func (nw *network) pass(now time.Time, src, dst, net int) (time.Time, bool) {
	if nw.drop(src, dst, net) != nil {
		return time.Time{}, false
	}
	return nw.arrival(now), true
}

// errDropped: a frame the network lost.
var errDropped = errors.New("dropped")

// drop decides whether a frame from src to dst on net is lost (nil: it
// passes).
func (nw *network) drop(src, dst, net int) error {
	s, d := nw.port[src][net], nw.port[dst][net]
	switch {
	case s.noCarrier || d.noCarrier || s.blackhole || d.blackhole || s.egress:
		return errDropped
	case nw.partitioned && nw.group[src] != nw.group[dst]:
		return errDropped
	case nw.p.Loss > 0 && nw.rng.Float64() < nw.p.Loss:
		return errDropped
	}
	return nil
}

// arrival is when a frame sent now arrives: latency plus jitter.
func (nw *network) arrival(now time.Time) time.Time {
	lat := nw.p.Latency
	if nw.p.Jitter > 0 {
		lat += time.Duration(nw.rng.Int64N(int64(nw.p.Jitter)))
	}
	return now.Add(lat)
}

// route is the network a message from src to dst would take: the first
// one where frames pass both ways (the agent's route over the best link).
func (nw *network) route(src, dst int) (int, bool) {
	if nw.partitioned && nw.group[src] != nw.group[dst] {
		return 0, false
	}
	for k := range nw.port[src] {
		s, d := nw.port[src][k], nw.port[dst][k]
		if !s.noCarrier && !d.noCarrier && !s.blackhole && !d.blackhole && !s.egress && !d.egress {
			return k, true
		}
	}
	return 0, false
}
