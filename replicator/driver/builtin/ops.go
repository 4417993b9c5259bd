package builtin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tether-ha/tether/replicator/mirror"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/topics"
)

// Errors of the operator's commands; test with errors.Is. Every refusal
// changes nothing.
var (
	ErrWrongRole   = errors.New("not possible in this node's role")
	ErrPaused      = errors.New("a mirror topic is paused")
	ErrLagNotZero  = errors.New("lag did not reach 0")
	ErrUnreachable = errors.New("the other node is unreachable")
	ErrRestore     = errors.New("truncate-and-restore did not complete")
)

// TopicLag is one topic's position when a promote or failover took place.
type TopicLag struct {
	Topic         string `json:"topic"`
	LogEndOffset  uint64 `json:"log_end_offset"`
	HighWatermark uint64 `json:"last_source_high_watermark"`
	LagRecords    uint64 `json:"lag_records"`
	LagMs         int64  `json:"lag_ms"`
}

// PromoteResult reports a promote, reverse-and-start or failover.
type PromoteResult struct {
	Resource    string     `json:"resource"`
	Kind        string     `json:"kind"` // promote, reverse-and-start, failover
	EpochBefore uint32     `json:"epoch_before"`
	EpochAfter  uint32     `json:"epoch_after"`
	OldPrimary  string     `json:"old_primary"`
	Told        bool       `json:"old_primary_told"` // the old primary acknowledged its new role
	Note        string     `json:"note,omitempty"`
	Topics      []TopicLag `json:"topics"`
}

func (m *Manager) mirrorRes(name string) (*res, error) {
	r, err := m.resource(name)
	if err != nil {
		return nil, err
	}
	if role := r.role(); role != resource.Mirror {
		return nil, fmt.Errorf("%w: node %s is %s of resource %q, not its mirror: run this on the mirror node",
			ErrWrongRole, m.cfg.Self, role, name)
	}
	return r, nil
}

// Pause stops mirroring topics of resource name (all when topics is
// empty), durably: a restart keeps them paused.
func (m *Manager) Pause(name string, ts []string) error { return m.setPaused(name, ts, true) }

// Resume mirrors paused topics again from their log end.
func (m *Manager) Resume(name string, ts []string) error { return m.setPaused(name, ts, false) }

func (m *Manager) setPaused(name string, ts []string, pause bool) error {
	r, err := m.mirrorRes(name)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if len(ts) == 0 {
		ts = slices.Clone(r.topics)
	}
	for _, t := range ts {
		if !slices.Contains(r.topics, t) {
			r.mu.Unlock()
			return fmt.Errorf("resource %q has no topic %q (it has %v)", name, t, r.topics)
		}
	}
	st := r.st
	paused := slices.Clone(st.Paused)
	for _, t := range ts {
		i := slices.Index(paused, t)
		switch {
		case pause && i < 0:
			paused = append(paused, t)
		case !pause && i >= 0:
			paused = slices.Delete(paused, i, i+1)
		}
	}
	slices.Sort(paused)
	st.Paused = paused
	verb := "resumed"
	if pause {
		verb = "paused"
	}
	if err := r.saveLocked(st, fmt.Sprintf("%v %s", ts, verb)); err != nil {
		r.mu.Unlock()
		return err
	}
	rm := r.runner
	r.mu.Unlock()
	if rm != nil {
		for _, t := range ts {
			if pause {
				rm.r.Pause(t)
			} else {
				rm.r.Resume(t)
			}
		}
	}
	ev := EvResumed
	if pause {
		ev = EvPaused
	}
	m.cfg.Log.Info("mirror topics "+verb, "event", ev, "resource", name, "topics", ts)
	return nil
}

// Promote makes this mirror the primary gracefully: the primary freezes
// its writes, the mirror reaches lag 0 on every topic within timeout and
// takes the final consumer offsets, then the epoch is bumped and saved
// and the old primary is told (stopped, or with reverse its mirror). If
// lag 0 is not reached, the primary writes again and nothing changed.
func (m *Manager) Promote(ctx context.Context, name string, timeout time.Duration, reverse bool) (PromoteResult, error) {
	r, err := m.mirrorRes(name)
	if err != nil {
		return PromoteResult{}, err
	}
	kind := "promote"
	if reverse {
		kind = "reverse-and-start"
	}
	epoch, release, err := r.claim(func() error {
		if len(r.st.Paused) > 0 {
			return fmt.Errorf("%w: %v of resource %q: a paused mirror cannot reach lag 0; resume it first (or failover)", ErrPaused, r.st.Paused, name)
		}
		if r.runner == nil {
			return fmt.Errorf("%w: resource %q is not mirroring now (starting)", ErrWrongRole, name)
		}
		return nil
	})
	if err != nil {
		return PromoteResult{}, err
	}
	defer release()
	for _, ts := range r.runnerStatus() {
		if ts.State == mirror.Diverged || ts.State == mirror.Failed {
			return PromoteResult{}, fmt.Errorf("%w: topic %q is %v (%v): it cannot be promoted gracefully", ErrWrongRole, ts.Topic, ts.State, ts.Err)
		}
	}
	m.cfg.Log.Info("promote: freezing the primary", "event", EvPromoting, "resource", name, "primary", r.peer, "epoch", epoch)
	rep, err := r.call(ctx, request{Op: opFreeze, Epoch: epoch})
	if err == nil && rep.Error != "" {
		err = errors.New(rep.Error)
	}
	if err != nil {
		return PromoteResult{}, fmt.Errorf("%w: cannot freeze the primary %s (%v): nothing changed; failover promotes without it", ErrUnreachable, r.peer, err)
	}
	unfreeze := func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.RequestTimeout)
		defer cancel()
		if _, err := r.call(uctx, request{Op: opUnfreeze, Epoch: epoch}); err != nil {
			m.cfg.Log.Warn("promote: cannot unfreeze the primary; it resumes once it sees this mirror's view", "event", EvMirrorError, "resource", name, "err", err)
		}
	}
	if err := r.waitCaughtUp(ctx, rep.Ends, timeout); err != nil {
		unfreeze()
		return PromoteResult{}, err
	}
	for t, g := range rep.Groups {
		if err := m.cfg.Store.SyncGroups(t, g); err != nil {
			unfreeze()
			return PromoteResult{}, fmt.Errorf("promote: final sync of consumer offsets of %q: %w; nothing changed", t, err)
		}
	}
	res := PromoteResult{Resource: name, Kind: kind, EpochBefore: epoch, OldPrimary: r.peer, Topics: r.lags()}
	r.stopMirror()
	if err := r.becomePrimary(kind); err != nil {
		unfreeze()
		r.poke() // mirror again
		return PromoteResult{}, err
	}
	res.EpochAfter = epoch + 1
	drep, err := r.call(ctx, request{Op: opDemote, Epoch: epoch + 1, Primary: m.cfg.Self, Reverse: reverse})
	if err == nil && drep.Error != "" {
		err = errors.New(drep.Error)
	}
	if err != nil {
		res.Note = fmt.Sprintf("the old primary %s was not told (%v): it stays frozen until it sees this node's view, then stops", r.peer, err)
	} else {
		res.Told = true
	}
	m.cfg.Log.Warn("promoted (graceful)", "event", EvPromoted, "resource", name, "kind", kind, "epoch", res.EpochAfter, "old_primary", r.peer, "told", res.Told)
	return res, nil
}

// claim marks a promote or failover in progress (views say so, and a
// second one is refused) once check, run under r.mu, passes; it returns
// the epoch it starts from and the release.
func (r *res) claim(check func() error) (uint32, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.promoting {
		return 0, nil, fmt.Errorf("%w: a promote or failover of %q is in progress", ErrWrongRole, r.cfg.Name)
	}
	if check != nil {
		if err := check(); err != nil {
			return 0, nil, err
		}
	}
	r.promoting = true
	return r.st.Epoch, func() {
		r.mu.Lock()
		r.promoting = false
		r.mu.Unlock()
	}, nil
}

// waitCaughtUp waits until every topic's durable end reaches ends.
func (r *res) waitCaughtUp(ctx context.Context, ends map[string]uint64, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		behind := ""
		for _, t := range r.topicList() {
			l, err := r.m.cfg.Store.Log(t)
			if err != nil {
				return err
			}
			if have := l.DurableOffset(); have < ends[t] {
				behind = fmt.Sprintf("topic %q at %d of %d", t, have, ends[t])
				break
			}
		}
		if behind == "" {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("%w within %v (%s): nothing changed, the primary writes again", ErrLagNotZero, timeout, behind)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (%s): nothing changed, the primary writes again", ErrLagNotZero, ctx.Err(), behind)
		}
	}
}

// lags is every topic's lag now.
func (r *res) lags() []TopicLag {
	var out []TopicLag
	for _, s := range r.runnerStatus() {
		out = append(out, TopicLag{Topic: s.Topic, LogEndOffset: s.LogEndOffset, HighWatermark: s.HighWatermark,
			LagRecords: s.LagRecords, LagMs: s.LagMs})
	}
	return out
}

func (r *res) runnerStatus() []mirror.TopicStatus {
	r.mu.Lock()
	rm := r.runner
	r.mu.Unlock()
	if rm == nil {
		return nil
	}
	return rm.r.Status()
}

// becomePrimary bumps the epoch, saves it and opens the topics for writes.
func (r *res) becomePrimary(kind string) error {
	r.mu.Lock()
	st := r.st
	next := st.Epoch + 1
	if r.peerView != nil && r.peerView.Epoch >= next {
		next = r.peerView.Epoch + 1
	}
	st.Epoch, st.Primary, st.Paused, st.Stopped, st.Diverged = next, r.self(), nil, false, nil
	err := r.saveLocked(st, kind+" on "+r.self())
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: cannot save epoch %d: %w; nothing changed", kind, next, err)
	}
	r.acks.reset()
	return r.regate()
}

// Failover makes this mirror the primary at once, whatever its lag and
// whether or not the primary is reachable, and reports the lag given up.
// The old primary, when it is reachable now or later, learns the new
// epoch and becomes DIVERGED.
func (m *Manager) Failover(ctx context.Context, name string) (PromoteResult, error) {
	r, err := m.mirrorRes(name)
	if err != nil {
		return PromoteResult{}, err
	}
	epoch, release, err := r.claim(nil)
	if err != nil {
		return PromoteResult{}, err
	}
	defer release()
	res := PromoteResult{Resource: name, Kind: "failover", EpochBefore: epoch, OldPrimary: r.peer, Topics: r.lags()}
	if res.Topics == nil {
		for _, t := range r.topicList() {
			l, err := m.cfg.Store.Log(t)
			if err == nil {
				res.Topics = append(res.Topics, TopicLag{Topic: t, LogEndOffset: l.LogEndOffset()})
			}
		}
	}
	r.stopMirror()
	if err := r.becomePrimary("failover"); err != nil {
		r.poke()
		return PromoteResult{}, err
	}
	res.EpochAfter = r.epoch()
	// Tell the old primary now if it can hear us: it stops writing at once.
	pv, err := r.exchangeView(ctx)
	res.Told = err == nil && (pv.Role == string(resource.Diverged) || pv.Epoch == res.EpochAfter)
	if !res.Told {
		res.Note = fmt.Sprintf("the old primary %s did not confirm: it becomes DIVERGED when it next hears this node", r.peer)
	}
	var lost uint64
	for _, t := range res.Topics {
		lost += t.LagRecords
	}
	m.cfg.Log.Warn("failed over (forced)", "event", EvFailedOver, "resource", name, "epoch", res.EpochAfter,
		"old_primary", r.peer, "records_given_up", lost)
	return res, nil
}

// SetLease sets the failover supervisor's lease of a Leased resource:
// its primary takes writes until until (zero: none now), and why says
// why not after that.
func (m *Manager) SetLease(name string, until time.Time, why string) error {
	r, err := m.resource(name)
	if err != nil {
		return err
	}
	if !r.cfg.Leased {
		return fmt.Errorf("resource %q is not supervised (no lease)", name)
	}
	r.lease.Store(&lease{until: until, why: why})
	return nil
}

func (r *res) epoch() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.Epoch
}

// AddTopic adds a topic to a resource on both nodes (mirror create): the
// primary's copy is writable, the mirror's read-only and mirrored.
func (m *Manager) AddTopic(ctx context.Context, name, topic string) error {
	r, err := m.resource(name)
	if err != nil {
		return err
	}
	if err := checkTopicName(topic); err != nil {
		return err
	}
	rep, err := r.call(ctx, request{Op: opAddTopic, Topic: topic})
	if err == nil && rep.Error != "" {
		err = errors.New(rep.Error)
	}
	if err != nil {
		return fmt.Errorf("%w: node %s must create topic %q too: %v; nothing created", ErrUnreachable, r.peer, topic, err)
	}
	if err := r.adopt(topic); err != nil {
		return err
	}
	if r.role() == resource.Mirror {
		r.stopMirror() // restarted with the new topic by run
		r.poke()
	}
	m.cfg.Log.Info("mirror topic created", "event", EvTopicAdded, "resource", name, "topic", topic)
	return nil
}

func checkTopicName(t string) error {
	if !topics.ValidName(t) {
		return fmt.Errorf("bad topic name %q: 1..%d of a-z A-Z 0-9 . _ -", t, topics.MaxNameLen)
	}
	return nil
}
