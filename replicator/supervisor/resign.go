package supervisor

import (
	"fmt"
	"time"

	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/history"
)

// A primary whose node is up but whose back end has not answered for
// grace resigns (failover/resign.go): a redis-server or postgres that
// died under a live tetherd is a dead primary too.

// History actions of a resignation.
const (
	actionResign = "resign"
	actionResume = "resume"
)

// resignedAt reads a resignation the history holds for r: the epoch it
// was made at, or 0.
func resignedAt(h *history.Log, resource string) uint32 {
	if h == nil {
		return 0
	}
	rs, ok := h.Last(resource, actionResign)
	if !ok {
		return 0
	}
	if rm, ok := h.Last(resource, actionResume); ok && !rm.Time.Before(rs.Time) {
		return 0
	}
	return rs.EpochAfter
}

// resigned runs the resignation of a supervised primary; true: it is
// resigned now (fenced; no lease to keep).
func (s *Supervisor) resigned(t Tick, r *resState, heard map[uint16]failover.Heard) bool {
	l := r.local
	if r.resignEpoch != 0 && r.resignEpoch != l.Epoch {
		r.resignEpoch, r.resumeSeq = 0, 0 // a later epoch: that resignation is over
	}
	if r.resignEpoch == 0 {
		if l.Down.IsZero() || t.Now.Sub(l.Down) < r.Failover.Grace {
			return false
		}
		rec := history.Record{Action: actionResign, Reason: "backend-down", EpochBefore: l.Epoch, EpochAfter: l.Epoch,
			Fence: "self-fenced: resigned until the back end answers and the mirror confirms it is not taking over",
			Detail: fmt.Sprintf("the back end has not answered for %v (grace %v): this primary gives the resource up at epoch %d; last error: %s",
				t.Now.Sub(l.Down).Round(time.Millisecond), r.Failover.Grace, l.Epoch, l.Backend)}
		wrote, ok := s.record(t, r, &rec)
		if !ok {
			return false // unrecorded, a resignation would not hold across a restart
		}
		if wrote {
			s.cfg.Log.Warn("resigned: the back end is down, the mirror may take over", append(attrs(&rec), "event", EvResigned)...)
		}
		r.resignEpoch, r.resumeSeq = l.Epoch, 0
	}
	why := fmt.Sprintf("resigned at epoch %d: the back end was down", r.resignEpoch)
	if err := r.Target.SetLease(time.Time{}, why); err != nil {
		s.cfg.Log.Error("cannot end the lease", "event", EvError, "resource", r.Name, "err", err)
	}
	r.fenced, r.grant = true, failover.Grant{Quorum: failover.Quorum{Voters: s.e.Count(), Votes: 1}, Why: why}
	switch {
	case !l.Down.IsZero():
		r.resumeSeq = 0
		return true
	case r.resumeSeq == 0:
		// The back end answers: the next view is the first without the flag.
		s.hmu.Lock()
		r.resumeSeq = s.sent.Last() + 1
		s.hmu.Unlock()
		return true
	}
	other := s.id(r.Primary)
	if other == s.e.Self {
		other = s.id(r.Mirror)
	}
	if !failover.ResumeConfirmed(heard[other], s.e.Self, r.Name, l.Epoch, r.resumeSeq) {
		r.grant.Why = why + "; it answers again: waiting for " + s.names[other] + " to confirm it is not taking over"
		return true
	}
	rec := history.Record{Action: actionResume, Reason: "backend-up", EpochBefore: l.Epoch, EpochAfter: l.Epoch,
		Detail: fmt.Sprintf("the back end answers again and %s holds this node as the primary at epoch %d, not failing over", s.names[other], l.Epoch)}
	if _, ok := s.record(t, r, &rec); !ok {
		return true
	}
	s.cfg.Log.Info("resumed: the back end answers and the mirror did not take over", append(attrs(&rec), "event", EvResumed)...)
	r.resignEpoch, r.resumeSeq = 0, 0
	return false
}

// flags sets a resource's view flags: resigned (primary) or promoting (mirror).
func (s *Supervisor) flags(t Tick, r *resState, rv *failover.ResourceView) {
	if r.Target == nil {
		return
	}
	if r.resignEpoch != 0 && r.resumeSeq == 0 && r.local.Role == "primary" && rv.Epoch == r.resignEpoch && rv.Primary == s.e.Self {
		rv.Resigned = true
		if !r.local.Down.IsZero() {
			rv.DownFor = t.Now.Sub(r.local.Down)
		}
	}
	rv.Promoting = r.promoting
}
