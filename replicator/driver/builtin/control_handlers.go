package builtin

import (
	"context"
	"fmt"
	"slices"

	"github.com/tether-ha/tether/replicator/resource"
)

// control answers a peer's control request.
func (r *res) control(ctx context.Context, req request) reply {
	switch req.Op {
	case opView:
		r.learn(*req.View)
		r.mu.Lock()
		defer r.mu.Unlock()
		return reply{View: r.myViewLocked()}
	case opFreeze:
		return r.freeze(req)
	case opUnfreeze:
		r.mu.Lock()
		was := r.frozen != nil && r.frozen.by == req.From && r.frozen.epoch == req.Epoch
		if was {
			r.frozen = nil
		}
		r.mu.Unlock()
		if was {
			r.m.cfg.Log.Warn("promote abandoned by the mirror: writes resume", "event", EvUnfrozen, "resource", r.cfg.Name, "mirror", req.From)
			r.regate()
		}
		return reply{}
	case opDemote:
		return r.demoted(req)
	case opAddTopic:
		if err := r.adopt(req.Topic); err != nil {
			return reply{Error: err.Error()}
		}
		return reply{}
	}
	return reply{Error: "unknown operation " + req.Op}
}

// freeze stops writes on the primary for the mirror's promote and answers
// the durable end of every topic and the consumer offsets to sync.
func (r *res) freeze(req request) reply {
	r.gateMu.Lock()
	defer r.gateMu.Unlock()
	r.mu.Lock()
	role := r.st.RoleOf(r.self())
	switch {
	case role != resource.Primary:
		r.mu.Unlock()
		return reply{Error: fmt.Sprintf("node %s is not the primary of %q (it is %s at epoch %d)", r.self(), r.cfg.Name, role, r.st.Epoch)}
	case req.Epoch != r.st.Epoch:
		r.mu.Unlock()
		return reply{Error: fmt.Sprintf("epoch %d asked, the primary is at %d", req.Epoch, r.st.Epoch)}
	case r.frozen != nil && r.frozen.by != req.From:
		r.mu.Unlock()
		return reply{Error: "already frozen by " + r.frozen.by}
	}
	r.frozen = &frozen{by: req.From, epoch: req.Epoch, at: r.m.cfg.Now()}
	ts := slices.Clone(r.topics)
	r.mu.Unlock()
	// After regate no produce is appending; those that appended are
	// made durable here, so the ends cover every record ever accepted.
	if err := r.regateLocked(); err != nil {
		return reply{Error: err.Error()}
	}
	rep := reply{Ends: map[string]uint64{}, Groups: map[string]map[string]int64{}}
	for _, t := range ts {
		l, err := r.m.cfg.Store.Log(t)
		if err == nil {
			err = l.Sync()
		}
		if err != nil {
			return reply{Error: fmt.Sprintf("topic %q: %v", t, err)}
		}
		rep.Ends[t] = l.DurableOffset()
		rep.Groups[t] = r.m.cfg.Store.GroupOffsets(t)
	}
	r.m.srv.Notify()
	r.m.cfg.Log.Warn("writes frozen for a promote", "event", EvFrozen, "resource", r.cfg.Name, "by", req.From, "epoch", req.Epoch)
	return rep
}

// demoted: the mirror completed a graceful promote. A node that was not
// frozen for it may have taken writes the new primary lacks: DIVERGED.
func (r *res) demoted(req request) reply {
	r.gateMu.Lock()
	defer r.gateMu.Unlock()
	r.mu.Lock()
	if req.Primary == req.From && req.Epoch == r.st.Epoch && r.st.Primary == req.From && r.st.Diverged == nil {
		// The promote's view reached this node before its demote did
		// (learn stopped it): the demote is done, and a reverse still
		// makes this node the mirror.
		return r.demotedAgainLocked(req)
	}
	if req.Primary != req.From || req.Epoch <= r.st.Epoch {
		r.mu.Unlock()
		return reply{Error: fmt.Sprintf("demote to %s at epoch %d refused: this node is at epoch %d", req.Primary, req.Epoch, r.st.Epoch)}
	}
	st := r.st
	graceful := r.frozen != nil && r.frozen.by == req.From && r.frozen.epoch+1 == req.Epoch
	ev, why := EvStopped, fmt.Sprintf("node %s was promoted at epoch %d (graceful)", req.From, req.Epoch)
	switch {
	case !graceful:
		st.Diverged = &resource.Divergence{Epoch: req.Epoch, Primary: req.From, At: r.m.cfg.Now()}
		ev, why = EvDiverged, fmt.Sprintf("node %s was promoted at epoch %d without freezing this node", req.From, req.Epoch)
	case req.Reverse:
		st.Epoch, st.Primary, st.Stopped = req.Epoch, req.From, false
		ev, why = EvReversed, fmt.Sprintf("node %s was promoted at epoch %d; this node mirrors it now", req.From, req.Epoch)
	default:
		st.Epoch, st.Primary, st.Stopped = req.Epoch, req.From, true
	}
	st.Paused = nil
	err := r.saveLocked(st, why)
	if err == nil {
		r.frozen = nil
	}
	r.mu.Unlock()
	if err != nil {
		return reply{Error: err.Error()}
	}
	r.acks.reset()
	r.regateLocked()
	r.m.cfg.Log.Warn(why, "event", ev, "resource", r.cfg.Name, "epoch", req.Epoch, "primary", req.From)
	r.poke()
	return reply{}
}

// demotedAgainLocked answers a demote this node already applied
// (r.mu and gateMu held; it releases r.mu).
func (r *res) demotedAgainLocked(req request) reply {
	if !req.Reverse || !r.st.Stopped {
		r.mu.Unlock()
		return reply{}
	}
	st := r.st
	st.Stopped = false
	why := fmt.Sprintf("node %s was promoted at epoch %d; this node mirrors it now", req.From, req.Epoch)
	err := r.saveLocked(st, why)
	r.mu.Unlock()
	if err != nil {
		return reply{Error: err.Error()}
	}
	r.regateLocked()
	r.m.cfg.Log.Warn(why, "event", EvReversed, "resource", r.cfg.Name, "epoch", req.Epoch, "primary", req.From)
	r.poke()
	return reply{}
}

// adopt adds topic to the resource here, durably (mirror create).
func (r *res) adopt(topic string) error {
	if err := checkTopicName(topic); err != nil {
		return err
	}
	if other := r.m.topicRes(topic); other != nil && other != r {
		return fmt.Errorf("topic %q belongs to resource %q", topic, other.cfg.Name)
	}
	if err := r.m.cfg.Store.Ensure(topic); err != nil {
		return err
	}
	r.mu.Lock()
	if slices.Contains(r.topics, topic) {
		r.mu.Unlock()
		return nil
	}
	st := r.st
	st.Topics = append(slices.Clone(st.Topics), topic)
	if err := r.saveLocked(st, "topic "+topic+" added"); err != nil {
		r.mu.Unlock()
		return err
	}
	r.topics = append(r.topics, topic)
	slices.Sort(r.topics)
	r.mu.Unlock()
	r.m.addTopic(topic, r)
	return r.regate()
}
