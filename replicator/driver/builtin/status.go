package builtin

import (
	"time"

	"github.com/tether-ha/tether/replicator/mirror"
	"github.com/tether-ha/tether/replicator/resource"
)

// Topic states besides the fetcher's (mirror.State): the primary's copy,
// a mirror being promoted, and an old primary's read-only copy.
const (
	StatePrimary        = "PRIMARY"
	StatePendingStopped = "PENDING_STOPPED"
	StateStopped        = "STOPPED"
	StateDiverged       = "DIVERGED"
)

// TopicStatus is one topic of a resource on this node, as tetherctl
// mirror describe and the metrics show it.
type TopicStatus struct {
	Topic            string `json:"topic"`
	State            string `json:"state"`
	LogEndOffset     uint64 `json:"dest_log_end_offset"`              // this node's durable end
	HighWatermark    uint64 `json:"last_fetch_source_high_watermark"` // mirror: the primary's, last seen; primary: its own
	LagRecords       uint64 `json:"lag"`                              // mirror: HW − end; primary: end − what the mirror confirmed
	LagMs            int64  `json:"lag_ms"`
	SinceLastFetchMs int64  `json:"time_since_last_fetch_ms"` // -1: never
	MirrorConfirmed  uint64 `json:"mirror_confirmed,omitempty"`
	Fetches          uint64 `json:"fetches"`
	FetchErrors      uint64 `json:"fetch_errors"`
	Records          uint64 `json:"records_mirrored"`
	Bytes            uint64 `json:"bytes_mirrored"`
	Error            string `json:"error,omitempty"`
	// Pending is the cut a DIVERGED mirror topic waits to make.
	Pending *mirror.Truncation `json:"pending_truncation,omitempty"`
}

// ResourceStatus is one resource on this node.
type ResourceStatus struct {
	Name    string `json:"resource"`
	Role    string `json:"role"`
	Epoch   uint32 `json:"epoch"`
	Primary string `json:"primary"`
	Mirror  string `json:"mirror"`
	Peer    string `json:"peer"`
	Acks    string `json:"acks"`
	// AcksDegraded: acks: mirror is acknowledged locally for now, the
	// other node not mirroring since a promotion or failover.
	AcksDegraded bool                 `json:"acks_degraded,omitempty"`
	FrozenBy     string               `json:"frozen_by,omitempty"`
	Promoting    bool                 `json:"promoting,omitempty"`
	Restoring    bool                 `json:"restoring,omitempty"`
	Starting     bool                 `json:"starting,omitempty"` // a primary checking with the other node before it takes writes
	Diverged     *resource.Divergence `json:"diverged,omitempty"`
	// The peer's view as last heard, and why it was not heard since.
	PeerEpoch uint32        `json:"peer_epoch,omitempty"`
	PeerRole  string        `json:"peer_role,omitempty"`
	PeerSeen  time.Time     `json:"peer_seen,omitzero"`
	PeerError string        `json:"peer_error,omitempty"`
	Changed   time.Time     `json:"changed,omitzero"`
	Why       string        `json:"why,omitempty"`
	Topics    []TopicStatus `json:"topics"`
}

// Status describes every resource of this node, sorted by name.
func (m *Manager) Status() []ResourceStatus {
	out := make([]ResourceStatus, 0, len(m.names))
	for _, n := range m.names {
		out = append(out, m.res[n].status())
	}
	return out
}

// StatusOf describes one resource.
func (m *Manager) StatusOf(name string) (ResourceStatus, error) {
	r, err := m.resource(name)
	if err != nil {
		return ResourceStatus{}, err
	}
	return r.status(), nil
}

func (r *res) status() ResourceStatus {
	// Under gateMu too: a transition holds it from its state change to its
	// gates, so the role shown is always the one the gates enforce.
	r.gateMu.Lock()
	r.mu.Lock()
	role := r.st.RoleOf(r.self())
	acks := "local"
	if r.cfg.AcksMirror {
		acks = "mirror"
	}
	s := ResourceStatus{Name: r.cfg.Name, Role: string(role), Epoch: r.st.Epoch, Primary: r.st.Primary,
		Peer: r.peer, Acks: acks, Promoting: r.promoting, Restoring: r.restoring != nil, Diverged: r.st.Diverged,
		PeerError: r.peerErr, Changed: r.st.Changed, Why: r.st.Why, Starting: r.starting}
	s.Mirror = r.cfg.Mirror
	if r.st.Primary == r.cfg.Mirror {
		s.Mirror = r.cfg.Primary
	}
	if r.frozen != nil {
		s.FrozenBy = r.frozen.by
	}
	s.AcksDegraded = r.cfg.AcksMirror && role == resource.Primary && r.acksDegradedLocked()
	if r.peerView != nil {
		s.PeerEpoch, s.PeerRole, s.PeerSeen = r.peerView.Epoch, r.peerView.Role, r.peerAt
	}
	rm := r.runner
	ts := append([]string(nil), r.topics...)
	promoting := r.promoting
	r.mu.Unlock()
	r.gateMu.Unlock()

	fetched := map[string]mirror.TopicStatus{}
	if rm != nil {
		for _, t := range rm.r.Status() {
			fetched[t.Topic] = t
		}
	}
	for _, t := range ts {
		tsx := TopicStatus{Topic: t, SinceLastFetchMs: -1}
		if l, err := r.m.cfg.Store.Log(t); err == nil {
			tsx.LogEndOffset = l.DurableOffset()
		}
		f, mirroring := fetched[t]
		switch {
		case mirroring:
			tsx.State = f.State.String()
			if promoting && f.State == mirror.Active {
				tsx.State = StatePendingStopped
			}
			tsx.HighWatermark, tsx.LagRecords, tsx.LagMs = f.HighWatermark, f.LagRecords, f.LagMs
			if f.SinceLastFetch >= 0 {
				tsx.SinceLastFetchMs = f.SinceLastFetch.Milliseconds()
			}
			tsx.Fetches, tsx.FetchErrors, tsx.Records, tsx.Bytes = f.Fetches, f.FetchErrors, f.Records, f.Bytes
			if f.Err != nil {
				tsx.Error = f.Err.Error()
			}
			tsx.Pending = f.Pending
		case role == resource.Primary:
			tsx.State = StatePrimary
			tsx.HighWatermark = tsx.LogEndOffset
			have, _ := r.acks.get(t)
			tsx.MirrorConfirmed = have
			if tsx.LogEndOffset > have {
				tsx.LagRecords = tsx.LogEndOffset - have
			}
		case role == resource.Stopped:
			tsx.State = StateStopped
		case role == resource.Diverged:
			tsx.State = StateDiverged
		default: // a mirror whose runner is not up (starting, or promoted away)
			tsx.State = mirror.SourceUnavailable.String()
		}
		s.Topics = append(s.Topics, tsx)
	}
	return s
}
