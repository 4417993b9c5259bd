package agent

import (
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// counterBase is what tetherstat -z set to zero: the counters' values at
// that moment. The counters themselves never go back (they are
// Prometheus counters); the status document shows them from the base.
type counterBase struct {
	at     time.Time
	links  map[linkKey]status.Link // Sent, Received, Lost, Replays, Downs, Transitions, FlapDowns
	nets   map[[2]string]status.NetworkCounters
	msgs   status.Messages
	tables status.LinkTables
	pauses uint64
}

type linkKey struct {
	peer    uint16
	network string
}

// capture makes the counters of st (raw) the base.
func (b *counterBase) capture(st *status.Status) {
	*b = counterBase{at: st.Now, links: map[linkKey]status.Link{}, nets: map[[2]string]status.NetworkCounters{},
		msgs: st.Counters.Messages, tables: st.Counters.LinkTables, pauses: st.Counters.Pauses.Count}
	for _, n := range st.Nodes {
		if n.Local {
			continue
		}
		for _, l := range n.Links {
			b.links[linkKey{n.ID, l.Network}] = l
		}
	}
	for _, c := range st.Counters.Networks {
		b.nets[[2]string{c.Network, c.Channel}] = c
	}
}

// apply shows the counters of st (raw) from the base.
func (b *counterBase) apply(st *status.Status) {
	if b.at.IsZero() {
		return
	}
	st.Counters.ResetAt = b.at
	for i := range st.Nodes {
		n := &st.Nodes[i]
		for j := range n.Links {
			l := &n.Links[j]
			o, ok := b.links[linkKey{n.ID, l.Network}]
			if !ok {
				continue
			}
			for _, f := range [...]struct{ cur, base *uint64 }{{&l.Sent, &o.Sent}, {&l.Received, &o.Received},
				{&l.Lost, &o.Lost}, {&l.Replays, &o.Replays}, {&l.Downs, &o.Downs},
				{&l.Transitions, &o.Transitions}, {&l.FlapDowns, &o.FlapDowns}} {
				*f.cur = sub(*f.cur, *f.base)
			}
		}
	}
	for i := range st.Counters.Networks {
		c := &st.Counters.Networks[i]
		o, ok := b.nets[[2]string{c.Network, c.Channel}]
		if !ok {
			continue
		}
		c.TxFrames, c.TxBytes, c.TxErrors = sub(c.TxFrames, o.TxFrames), sub(c.TxBytes, o.TxBytes), sub(c.TxErrors, o.TxErrors)
		c.RxFrames, c.RxBytes = sub(c.RxFrames, o.RxFrames), sub(c.RxBytes, o.RxBytes)
		c.Dropped = subMap(c.Dropped, o.Dropped)
		c.Connections = subMap(c.Connections, o.Connections)
	}
	m, bm := &st.Counters.Messages, b.msgs
	m.Sent, m.Received, m.Busy = sub(m.Sent, bm.Sent), sub(m.Received, bm.Received), sub(m.Busy, bm.Busy)
	m.NoRoute, m.TooLarge, m.EchoShed = sub(m.NoRoute, bm.NoRoute), sub(m.TooLarge, bm.TooLarge), sub(m.EchoShed, bm.EchoShed)
	m.Unrouted = sub(m.Unrouted, bm.Unrouted)
	t, bt := &st.Counters.LinkTables, b.tables
	t.Sent, t.SendFailed = sub(t.Sent, bt.Sent), sub(t.SendFailed, bt.SendFailed)
	t.Received, t.Rejected = sub(t.Received, bt.Received), sub(t.Rejected, bt.Rejected)
	t.Public = sub(t.Public, bt.Public)
	st.Counters.Pauses.Count = sub(st.Counters.Pauses.Count, b.pauses)
}

func sub(cur, base uint64) uint64 {
	if cur < base {
		return 0
	}
	return cur - base
}

// subMap subtracts base from cur and keeps the non-zero counts (the
// status document lists only those).
func subMap(cur, base map[string]uint64) map[string]uint64 {
	if cur == nil {
		return nil
	}
	out := make(map[string]uint64, len(cur))
	for k, v := range cur {
		if d := sub(v, base[k]); d > 0 {
			out[k] = d
		}
	}
	return out
}
