package history

import "time"

// Record is one decision.
type Record struct {
	Time     time.Time `json:"time"`
	Resource string    `json:"resource"`
	Node     string    `json:"node"`   // who decided (this node)
	Action   string    `json:"action"` // promote, refuse, fence, unfence, operator-promote, operator-failover, ...
	Reason   string    `json:"reason"` // failover.Reason* or the operator's command
	Detail   string    `json:"detail,omitempty"`
	// Epochs before and after (equal when nothing was done).
	EpochBefore uint32 `json:"epoch_before"`
	EpochAfter  uint32 `json:"epoch_after"`
	// LagGivenUp: records the mirror lacked when it became primary.
	LagGivenUp uint64 `json:"lag_given_up,omitempty"`
	// LagSampledAt: when that lag was measured (the primary's last
	// answer). Writes the old primary acknowledged after it are not in
	// LagGivenUp: with acks: local they may be lost too (at most until
	// its lease ended, selffence after it was last heard).
	LagSampledAt time.Time `json:"lag_sampled_at,omitzero"`
	// Quorum and witness answers at that moment.
	Votes   int    `json:"votes"`
	Voters  int    `json:"voters"`
	Witness string `json:"witness,omitempty"` // what the witness answered, or why it did not count
	Fence   string `json:"fence,omitempty"`   // the fence result: "self-fenced at ...", "unknown", ...
	// Revision: with quorum.etcd, the revision at which the promoted node
	// took the resource's key: the new epoch's fencing token.
	Revision int64 `json:"etcd_revision,omitempty"`
	// Links is the link table at that moment: network -> peer -> state.
	Links map[string]map[string]string `json:"links,omitempty"`
}

// Same reports whether r repeats prev's decision (same resource, action,
// reason and epochs): a refusal that holds for an hour is one record, not
// one a tick.
func (r Record) Same(prev Record) bool {
	return r.Resource == prev.Resource && r.Action == prev.Action && r.Reason == prev.Reason &&
		r.EpochBefore == prev.EpochBefore && r.EpochAfter == prev.EpochAfter
}
