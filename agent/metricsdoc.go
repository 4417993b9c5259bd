package agent

import (
	"context"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/metrics"
	"github.com/tether-ha/tether/llt"
)

// MetricsSnapshot is what a Prometheus scrape exports, taken with the
// agent locked: the status document with its counters since start, and
// each link's channels; then, the lock released, the mirrors and the
// failover supervisor's state (the replicator and the supervisor are
// never called under the engine's lock).
func (a *Agent) MetricsSnapshot(ctx context.Context) (*metrics.Snapshot, error) {
	var s *metrics.Snapshot
	err := a.do(ctx, func(now time.Time) {
		snap := a.m.Snapshot(now)
		s = &metrics.Snapshot{Status: a.buildStatus(now, snap, false), Channels: map[metrics.LinkKey][]metrics.Channel{},
			ScheduleDelay: a.sched.histogram(), PublicAlive: a.publicAlive(snap.Peers)}
		bounds := rttBounds()
		for _, p := range snap.Peers {
			for _, l := range p.Links {
				k := metrics.LinkKey{Peer: uint16(p.ID), Network: a.nets[l.Network].cfg.Name}
				s.Channels[k] = channelStats(l.Sessions, bounds)
			}
		}
	})
	if err != nil {
		return s, err
	}
	s.Status.Mirrors = a.mirrorDocs()
	if a.sup != nil {
		s.Status.Failover = a.failoverDocs()
		s.Supervisor = &metrics.Supervisor{ViewsRejected: a.sup.Rejected()}
	}
	return s, nil
}

// channelStats folds a link's sessions into its channels: the tcp
// channel's two connections count as one.
func channelStats(sessions []llt.SessionSnapshot, bounds []float64) []metrics.Channel {
	var out []metrics.Channel
	idx := map[string]int{}
	for _, s := range sessions {
		name := config.ChannelEther
		if s.Channel != llt.ChannelEther {
			name = config.ChannelTCP
		}
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			out = append(out, metrics.Channel{Name: name})
		}
		c := &out[i]
		c.Sent += s.Sent
		c.Received += s.Received
		c.Lost += s.Lost
		c.RTT.Add(metrics.Histogram{Bounds: bounds, Counts: s.RTTHist, Sum: s.RTTSum.Seconds()})
	}
	return out
}

func rttBounds() []float64 {
	var out []float64
	for _, b := range llt.RTTBuckets() {
		out = append(out, b.Seconds())
	}
	return out
}
