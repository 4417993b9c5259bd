package supervisor

import (
	"time"

	"github.com/tether-ha/tether/replicator/failover"
)

// ResourceStatus is the supervisor's state of one resource, for
// tetherstat, tetherctl failover status and the metrics.
type ResourceStatus struct {
	Resource  string    `json:"resource"`
	Role      string    `json:"role"` // this node's copy, or "none" (a witness)
	Epoch     uint32    `json:"epoch"`
	Primary   string    `json:"primary"`
	Auto      bool      `json:"auto"`
	Possible  bool      `json:"quorum_possible"` // a majority can exist (three voters or more)
	Voters    int       `json:"voters"`
	Votes     int       `json:"votes"`  // the last count (lease or confirmation)
	Quorum    bool      `json:"quorum"` // this node counted a majority
	Fenced    bool      `json:"fenced,omitempty"`
	LeaseLeft float64   `json:"lease_left_seconds,omitempty"`
	Reason    string    `json:"reason,omitempty"` // the mirror's last decision (failover.Reason*)
	Detail    string    `json:"detail,omitempty"`
	Alert     bool      `json:"alert,omitempty"`
	Witness   string    `json:"witness,omitempty"`
	Failovers uint64    `json:"failovers"`
	LastAt    time.Time `json:"last_failover,omitzero"`
	Error     string    `json:"error,omitempty"`
	Promoting bool      `json:"promoting,omitempty"`
	Backend   string    `json:"backend,omitempty"` // the back end's last reading
}

// Status returns the state as of the last tick.
func (s *Supervisor) Status() []ResourceStatus {
	if p := s.status.Load(); p != nil {
		return *p
	}
	return nil
}

// publish builds the status after a tick.
func (s *Supervisor) publish(now time.Time) {
	out := make([]ResourceStatus, 0, len(s.res))
	possible := failover.Quorum{Voters: s.e.Count()}.Possible()
	for _, r := range s.res {
		st := ResourceStatus{Resource: r.Name, Role: "none", Epoch: r.known.Epoch, Primary: s.names[r.known.Primary],
			Auto: r.Failover.Auto, Possible: possible, Voters: s.e.Count(), Failovers: r.failovers, LastAt: r.lastFail,
			Promoting: r.promoting}
		if r.Target != nil {
			st.Role, st.Backend = r.local.Role, r.local.Backend
			if r.localErr != nil {
				st.Error = r.localErr.Error()
			}
		}
		switch st.Role {
		case "primary":
			st.Votes, st.Quorum = r.grant.Quorum.Votes, r.grant.Quorum.Has()
			if Supervised(r.Failover, s.e.Count()) {
				st.Fenced = r.fenced
				if !r.grant.Until.IsZero() && r.grant.Until.After(now) {
					st.LeaseLeft = r.grant.Until.Sub(now).Seconds()
				}
				st.Detail = r.grant.Why
			}
		case "mirror":
			st.Votes, st.Quorum = r.conf.Quorum.Votes, r.conf.Quorum.Has()
			st.Reason, st.Detail, st.Alert, st.Witness = r.decision.Reason, r.decision.Detail, r.decision.Alert, r.conf.Witness
		}
		if !possible && st.Detail == "" {
			st.Detail = "automatic failover is off: a two-node cluster needs a witness (a third tetherd with witness: true, or quorum.etcd)"
		}
		out = append(out, st)
	}
	s.status.Store(&out)
}
