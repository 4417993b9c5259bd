package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/history"
)

// resState is the supervisor's state of one resource (Tick's goroutine).
type resState struct {
	Resource
	lease     *failover.Lease
	known     failover.ResourceView // the highest epoch known, for the view
	knownFrom uint16
	last      *history.Record // the last decision recorded
	local     Local
	localErr  error
	grant     failover.Grant
	fenced    bool // primary: no lease now
	// resignEpoch: this primary resigned at that epoch (0: it did not);
	// resumeSeq: its back end answers again since the view of that
	// number, the first without the flag (0: not yet).
	resignEpoch uint32
	resumeSeq   uint64
	decision    failover.Decision
	conf        failover.Confirmation
	promoting   bool
	failovers   uint64
	lastFail    time.Time
}

// promoted is a failover that finished.
type promoted struct {
	r   *resState
	p   Promotion
	err error
	rec history.Record
}

func (s *Supervisor) id(name string) uint16 { return s.cfg.Nodes[name] }

func (s *Supervisor) tickResource(ctx context.Context, t Tick, r *resState, heard map[uint16]failover.Heard, peers map[uint16]Peer) {
	r.local, r.localErr = r.Target.Status()
	if r.localErr != nil {
		return
	}
	l := r.local
	if l.Epoch >= r.known.Epoch {
		r.known = failover.ResourceView{Name: r.Name, Epoch: l.Epoch, Primary: s.id(l.Primary)}
	} else {
		s.learn(t, r)
		if r.local, r.localErr = r.Target.Status(); r.localErr != nil {
			return
		}
		l = r.local
	}
	supervised := Supervised(r.Failover, s.e.Count())
	resigned := l.Role == "primary" && supervised && s.resigned(t, r, heard)
	if x := s.cfg.External; x != nil {
		x.Want(r.Name, l.Role == "primary" && supervised && !resigned, l.Epoch)
	}
	switch {
	case resigned:
	case l.Role == "primary" && supervised:
		s.keepLease(t, r, heard)
	case l.Role == "mirror":
		s.decide(ctx, t, r, heard, peers)
	}
}

// learn tells the copy of a higher epoch heard from another node.
func (s *Supervisor) learn(t Tick, r *resState) {
	primary := s.names[r.known.Primary]
	if primary == s.cfg.Self || primary == "" {
		return
	}
	if err := r.Target.Learn(r.known.Epoch, primary); err != nil {
		s.cfg.Log.Error("cannot take a higher epoch", "event", EvError, "resource", r.Name, "epoch", r.known.Epoch, "err", err)
		return
	}
	rec := history.Record{Action: "learn", Reason: "higher-epoch", EpochBefore: r.local.Epoch, EpochAfter: r.known.Epoch,
		Detail: fmt.Sprintf("node %s holds epoch %d with primary %s", s.names[r.knownFrom], r.known.Epoch, primary)}
	if wrote, _ := s.record(t, r, &rec); wrote {
		s.cfg.Log.Warn("a higher epoch was heard: this copy follows it", append(attrs(&rec), "event", EvEpochLearned)...)
	}
}

// keepLease renews (or ends) the lease of a resource this node is primary of.
func (s *Supervisor) keepLease(t Tick, r *resState, heard map[uint16]failover.Heard) {
	s.hmu.Lock()
	g := r.lease.Evaluate(t.Now, s.e, r.Name, r.local.Epoch, heard, s.sent, s.word(r.Name))
	s.hmu.Unlock()
	r.grant = g
	if g.Higher != nil && g.Higher.Epoch > r.known.Epoch {
		r.known, r.knownFrom = g.Higher.Fact(), g.HigherFrom
	}
	if err := r.Target.SetLease(g.Until, g.Why); err != nil {
		s.cfg.Log.Error("cannot set the lease", "event", EvError, "resource", r.Name, "err", err)
	}
	fenced := g.Until.IsZero()
	if fenced == r.fenced && r.last != nil {
		return
	}
	r.fenced = fenced
	rec := history.Record{EpochBefore: r.local.Epoch, EpochAfter: r.local.Epoch, Votes: g.Quorum.Votes, Voters: g.Quorum.Voters}
	if fenced {
		rec.Action, rec.Reason, rec.Detail, rec.Fence = "fence", "no-quorum", g.Why, "self-fenced: writes refused"
		if wrote, _ := s.record(t, r, &rec); wrote {
			s.cfg.Log.Warn("self-fenced: this primary takes no writes until a majority confirms it", append(attrs(&rec), "event", EvFenced)...)
		}
		return
	}
	rec.Action, rec.Reason, rec.Fence = "unfence", "quorum", "writable"
	rec.Detail = fmt.Sprintf("%d of %d votes", g.Quorum.Votes, g.Quorum.Voters)
	if wrote, _ := s.record(t, r, &rec); wrote {
		s.cfg.Log.Info("quorum confirmed: this primary takes writes", append(attrs(&rec), "event", EvUnfenced)...)
	}
}

// paused ends every lease at once: this node did not run for d.
func (s *Supervisor) paused(t Tick, d time.Duration) {
	for _, r := range s.res {
		r.lease.Paused(t.Now)
		if r.Target == nil || r.local.Role != "primary" || !Supervised(r.Failover, s.e.Count()) {
			continue
		}
		why := fmt.Sprintf("this node did not run for %v: no writes until a majority answers again", d.Round(time.Millisecond))
		if err := r.Target.SetLease(time.Time{}, why); err != nil {
			s.cfg.Log.Error("cannot end the lease", "event", EvError, "resource", r.Name, "err", err)
		}
		r.fenced = true
		rec := history.Record{Action: "fence", Reason: "paused", Detail: why, EpochBefore: r.local.Epoch, EpochAfter: r.local.Epoch,
			Fence: "self-fenced at once"}
		if wrote, _ := s.record(t, r, &rec); wrote {
			s.cfg.Log.Warn("self-fenced after a pause of this node", append(attrs(&rec), "event", EvFenced)...)
		}
	}
}

// decide runs the five conditions for a resource this node is mirror of.
func (s *Supervisor) decide(ctx context.Context, t Tick, r *resState, heard map[uint16]failover.Heard, peers map[uint16]Peer) {
	if r.promoting {
		return
	}
	pid := s.id(r.local.Primary)
	p, ok := peers[pid]
	if !ok {
		p = Peer{State: failover.NodeConnWait, Since: t.Now}
	}
	s.hmu.Lock()
	conf := failover.Confirm(r.Failover, t.Now, s.e, pid, heard, s.sent, s.word(r.Name))
	s.hmu.Unlock()
	seen := r.known.Epoch
	lostAt, resigned := failover.ResignedIn(heard[pid], t.Now, pid, r.Name, r.local.Epoch)
	in := failover.Inputs{Now: t.Now, IsMirror: true, Epoch: r.local.Epoch, EpochSeen: max(seen, r.local.Epoch),
		Primary: failover.Primary{State: p.State, Since: p.Since, OneWay: p.OneWay, Flapping: p.Flapping, LastHeard: p.LastHeard,
			Resigned: resigned, BackendLost: lostAt},
		Quorum: conf.Quorum,
		Mirror: failover.Mirror{Usable: r.local.Usable, LagRecords: r.local.LagRecords, SampledAt: r.local.SampledAt}}
	d := failover.Decide(r.Failover, in)
	r.decision, r.conf = d, conf
	rec := history.Record{Reason: d.Reason, Detail: d.Detail, EpochBefore: r.local.Epoch, EpochAfter: r.local.Epoch,
		Votes: conf.Quorum.Votes, Voters: conf.Quorum.Voters, Witness: conf.Witness, LagGivenUp: r.local.LagRecords,
		LagSampledAt: r.local.SampledAt}
	if !d.Promote {
		rec.Action = "refuse"
		wrote, _ := s.record(t, r, &rec)
		switch {
		case wrote && d.Alert:
			s.cfg.Log.Warn("no failover: "+d.Reason, append(attrs(&rec), "event", EvRefused, "witness", rec.Witness)...)
		case wrote:
			s.cfg.Log.Info("failover decision: "+d.Reason, append(attrs(&rec), "event", EvDecision)...)
		}
		return
	}
	rec.Action, rec.Fence = "promote", fmt.Sprintf("the old primary's lease ended: it has been DOWN for %v, more than selffence + margin", t.Now.Sub(p.Since).Round(time.Millisecond))
	if resigned {
		rec.Fence = fmt.Sprintf("the old primary resigned at epoch %d: fenced by its own word", r.local.Epoch)
	}
	wrote, ok := s.record(t, r, &rec)
	if !ok {
		return
	}
	if wrote {
		s.cfg.Log.Warn("failing over: the primary is dead", append(attrs(&rec), "event", EvPromote, "witness", rec.Witness)...)
	}
	r.promoting = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pr, err := s.promote(ctx, r, &rec)
		s.done <- promoted{r: r, p: pr, err: err, rec: rec}
	}()
}

// promote fails r over (on the failover's goroutine): with an external
// voter it first takes the key at the next epoch, whose revision is the
// fencing token, and gives it back if the promotion fails.
func (s *Supervisor) promote(ctx context.Context, r *resState, rec *history.Record) (Promotion, error) {
	x := s.cfg.External
	if x == nil {
		return r.Target.Failover(ctx)
	}
	next := r.local.Epoch + 1
	rev, err := x.Acquire(ctx, r.Name, next)
	if err != nil {
		return Promotion{}, fmt.Errorf("%s: cannot take the key at epoch %d: %w", x.Name(), next, err)
	}
	rec.Revision = rev
	pr, err := r.Target.Failover(ctx)
	if err != nil {
		if rerr := x.Release(context.WithoutCancel(ctx), r.Name, next); rerr != nil {
			err = fmt.Errorf("%w (and the key could not be given back: %v)", err, rerr)
		}
	}
	return pr, err
}

// word is the external voter's word on resource (zero without one).
func (s *Supervisor) word(resource string) failover.External {
	if s.cfg.External == nil {
		return failover.External{}
	}
	return s.cfg.External.Word(resource)
}

// finished records a failover's outcome.
func (s *Supervisor) finished(t Tick, p promoted) {
	r := p.r
	r.promoting = false
	rec := p.rec
	rec.Time = time.Time{}
	if p.err != nil {
		rec.Action, rec.Detail = "promote-failed", p.err.Error()
		if wrote, _ := s.record(t, r, &rec); wrote {
			s.cfg.Log.Error("failover failed", append(attrs(&rec), "event", EvPromoteFailed)...)
		}
		return
	}
	r.failovers++
	r.lastFail = t.Now
	rec.Action, rec.EpochBefore, rec.EpochAfter, rec.LagGivenUp = "promoted", p.p.EpochBefore, p.p.EpochAfter, p.p.LagGivenUp
	rec.Detail = p.p.Detail
	if wrote, _ := s.record(t, r, &rec); wrote {
		s.cfg.Log.Warn("failed over: this node is the primary", append(attrs(&rec), "event", EvPromoted, "lag_given_up", rec.LagGivenUp)...)
	}
}
