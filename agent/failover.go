package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/history"
	"github.com/tether-ha/tether/replicator/quorum/etcd"
	"github.com/tether-ha/tether/replicator/supervisor"
)

// Failover supervision: every node of a cluster with resources runs the
// supervisor (a witness too: it votes and relays epochs). Ten times a
// second the agent gives it the peers' node states and sends the view it
// returns to every peer (topic TopicFailover), over the best link, or the
// public channel when no link reaches the peer.

// openSupervisor builds the supervisor of cfg's resources; nil without
// any. The history lives in the replicator's directory (nodes without
// one, witnesses, decide nothing that needs it).
func openSupervisor(cfg *config.Config, a *Agent, repl *replication, bk *backends, voter *etcd.Voter) (*supervisor.Supervisor, *history.Log, error) {
	if len(cfg.Resources) == 0 {
		return nil, nil, nil
	}
	sc := supervisor.Config{Self: cfg.Node.Name, Nodes: map[string]uint16{}, Witnesses: map[string]bool{},
		Log: a.log, FirstSeq: a.inc}
	if voter != nil {
		sc.External = voter
	}
	for _, n := range cfg.Nodes {
		sc.Nodes[n.Name] = n.ID
		if n.Witness {
			sc.Witnesses[n.Name] = true
		}
	}
	var hist *history.Log
	if cfg.Replicator != nil {
		h, err := history.Open(cfg.Replicator.Dir)
		if err != nil {
			return nil, nil, err
		}
		hist, sc.History = h, h
	}
	for _, r := range cfg.Resources {
		sr := supervisor.Resource{Name: r.Name, Primary: r.Primary, Mirror: r.Mirror, Failover: r.Failover}
		switch {
		case !r.Members(cfg.Node.Name):
		case r.Driver == config.DriverBuiltin && repl != nil && repl.mgr != nil:
			sr.Target = repl.mgr.Target(r.Name)
		case bk != nil && bk.targets[r.Name] != nil:
			sr.Target = bk.targets[r.Name]
		}
		sc.Resources = append(sc.Resources, sr)
	}
	s, err := supervisor.New(sc)
	if err != nil {
		if hist != nil {
			hist.Close()
		}
		return nil, nil, err
	}
	return s, hist, nil
}

// receiveView hands a peer's view to the supervisor (without the lock).
func (a *Agent) receiveView(from llt.NodeID, body []byte) {
	s := a.sup
	if s == nil {
		return
	}
	if err := s.Hear(uint16(from), body, time.Now()); err != nil && a.tableLimit.Allow() {
		a.log.Warn("failover view rejected", "event", EvViewRejected, "peer", a.peerName(from), "peer_id", uint16(from), "err", err)
	}
}

// failoverLoop ticks the supervisor until ctx ends, then waits for the
// failovers it started.
func (a *Agent) failoverLoop(ctx context.Context, s *supervisor.Supervisor) {
	defer s.Wait()
	t := time.NewTicker(supervisor.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var tick supervisor.Tick
		_ = a.do(ctx, func(now time.Time) {
			if !a.stopped {
				tick = a.supervisorTick(now)
			}
		})
		if tick.Now.IsZero() {
			continue
		}
		view, err := s.Tick(ctx, tick)
		if err != nil {
			a.log.Error("cannot encode the failover view", "event", EvFrameEncodeError, "err", err)
			continue
		}
		a.sendView(view)
	}
}

// supervisorTick takes the peers' node states (locked).
func (a *Agent) supervisorTick(now time.Time) supervisor.Tick {
	snap := a.m.Snapshot(now)
	t := supervisor.Tick{Now: now}
	for _, p := range snap.Peers {
		sp := supervisor.Peer{ID: uint16(p.ID), State: nodeState(p.State), Since: p.Since}
		for _, l := range p.Links {
			for _, r := range []llt.Reason{l.Reason, l.RemoteReason} {
				switch r {
				case llt.ReasonOneWayIn, llt.ReasonOneWayOut:
					sp.OneWay = true
				case llt.ReasonFlapping:
					sp.Flapping = true
				}
			}
			if l.HeldUntil.After(now) {
				sp.Flapping = true
			}
			if l.LastRx.After(sp.LastHeard) {
				sp.LastHeard = l.LastRx
			}
		}
		t.Peers = append(t.Peers, sp)
	}
	t.Links = func() map[string]map[string]string {
		out := map[string]map[string]string{}
		for _, p := range snap.Peers {
			for _, l := range p.Links {
				name := a.netName(l.Network)
				if out[name] == nil {
					out[name] = map[string]string{}
				}
				st := l.State.String()
				if l.Reason != llt.ReasonNone {
					st += " (" + l.Reason.String() + ")"
				}
				out[name][a.peerName(p.ID)] = st
			}
		}
		return out
	}
	return t
}

// nodeState names an llt node state as the failover rules do.
func nodeState(s llt.NodeState) string {
	switch s {
	case llt.NodeOpen:
		return failover.NodeOpen
	case llt.NodeJeopardy:
		return failover.NodeJeopardy
	case llt.NodePartitioned:
		return failover.NodePartitioned
	case llt.NodeDown:
		return failover.NodeDown
	}
	return failover.NodeConnWait
}

// sendView sends the view to every peer: over the message API where a
// link reaches it, else over the public channel (after the lock).
func (a *Agent) sendView(view []byte) {
	b := append([]byte{TopicFailover}, view...)
	var viaPublic []uint16
	_ = a.do(context.Background(), func(now time.Time) {
		if a.stopped || a.m.Claiming() {
			return
		}
		for _, p := range a.cfg.Peers() {
			peer := llt.NodeID(p.ID)
			r, err := a.route(now, peer, len(b))
			if err == nil {
				err = a.m.SendMessageVia(now, peer, r, b)
			}
			if err != nil && a.pub != nil {
				viaPublic = append(viaPublic, p.ID)
			}
		}
	})
	for _, id := range viaPublic {
		_ = a.pub.Send(id, b)
	}
}

// History reads the failover history of this node (status.HistoryReader).
func (a *Agent) History(context.Context) (any, int, error) {
	if a.cfg.Replicator == nil || len(a.cfg.Resources) == 0 {
		return []history.Record{}, 0, nil
	}
	recs, skipped, err := history.Read(filepath.Join(a.cfg.Replicator.Dir, history.FileName))
	if errors.Is(err, os.ErrNotExist) {
		return []history.Record{}, 0, nil
	}
	if recs == nil {
		recs = []history.Record{}
	}
	return recs, skipped, err
}
