package builtin

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ha/tether/replicator/mirror"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/topics"
)

// res is one resource on this node.
type res struct {
	m    *Manager
	cfg  ResourceConfig
	peer string // the other node
	acks *acks
	wake chan struct{} // buffered 1: the role or the runner's wish changed
	// gateMu serialises regate from reading the state to the last
	// SetGate, so two concurrent changes can never leave the older gate
	// in place (a write reopened after a freeze).
	gateMu sync.Mutex

	mu        sync.Mutex
	st        resource.State
	topics    []string // configured plus added, sorted
	frozen    *frozen  // primary: writes refused for a promote
	promoting bool     // mirror: a promote is in progress here
	runner    *runningMirror
	restoring map[string]uint64 // truncate-and-restore: topic -> log end before
	peerView  *view
	peerAt    time.Time
	peerErr   string
	// starting: a primary takes no write until it has heard the other
	// node (or StartCheck passed): an old primary restarted after a
	// failover must learn it is DIVERGED before it takes a write.
	starting bool
	// lease: with cfg.Leased, writes are taken only before lease.until
	// (read by every produce, set by the supervisor ten times a second).
	lease atomic.Pointer[lease]
	// mirroredAt: the last epoch at which the peer was seen mirroring
	// this node (acksDegraded).
	mirroredAt uint32
}

// lease is the failover supervisor's grant, or why there is none.
type lease struct {
	until time.Time
	why   string
}

// frozen is a primary's promote in progress, started by the mirror.
type frozen struct {
	by    string
	epoch uint32
	at    time.Time
}

// runningMirror is the Runner of a mirror and what stops it.
type runningMirror struct {
	r      *mirror.Runner
	cancel context.CancelFunc
	done   chan struct{}
}

func newRes(m *Manager, rc ResourceConfig, peer string) (*res, error) {
	st, err := m.cfg.States.Load(rc.Name, resource.State{Primary: rc.Primary})
	if err != nil {
		return nil, err
	}
	if st.Primary != rc.Primary && st.Primary != rc.Mirror {
		return nil, fmt.Errorf("resource %q: its saved primary %q is neither of the configured nodes (%s, %s)",
			rc.Name, st.Primary, rc.Primary, rc.Mirror)
	}
	r := &res{m: m, cfg: rc, peer: peer, acks: newAcks(), wake: make(chan struct{}, 1), st: st,
		starting: st.RoleOf(m.cfg.Self) == resource.Primary}
	r.topics = slices.Sorted(slices.Values(slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(rc.Topics), st.Topics...))))))
	for _, t := range r.topics {
		if other := m.topicRes(t); other != nil {
			return nil, fmt.Errorf("resource %q: topic %q already belongs to resource %q", rc.Name, t, other.cfg.Name)
		}
		if err := m.cfg.Store.Ensure(t); err != nil {
			return nil, fmt.Errorf("resource %q: %w", rc.Name, err)
		}
		m.addTopic(t, r)
	}
	if err := r.regate(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *res) self() string { return r.m.cfg.Self }

func (r *res) role() resource.Role {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.RoleOf(r.self())
}

// serves: this node answers the mirror's fetches (primary, frozen or not).
func (r *res) serves() bool { return r.role() == resource.Primary }

func (r *res) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// regate sets every topic's gate from the role; call it after each change.
func (r *res) regate() error {
	r.gateMu.Lock()
	defer r.gateMu.Unlock()
	return r.regateLocked()
}

// regateLocked is regate with gateMu held: a transition that makes this
// node less writable holds gateMu from its state change to its gates, and
// status takes gateMu, so nobody sees the new role while the old gate
// still takes writes.
func (r *res) regateLocked() error {
	r.mu.Lock()
	role := r.st.RoleOf(r.self())
	g := topics.Gate{Role: topics.RolePrimary, Epoch: r.st.Epoch}
	switch {
	case role == resource.Mirror || r.restoring != nil:
		g.Role = topics.RoleMirror
	case role == resource.Primary && r.starting:
		g.Refuse = fmt.Errorf("resource %q is starting: this node checks with node %s that it is still the primary (at most %v): %w",
			r.cfg.Name, r.peer, r.m.cfg.StartCheck, topics.ErrNotWritable)
	case role == resource.Primary && r.frozen != nil:
		g.Refuse = fmt.Errorf("resource %q is frozen while node %s promotes its mirror: writes go there once it is done, or resume here if it gives up: %w",
			r.cfg.Name, r.frozen.by, topics.ErrNotWritable)
	case role == resource.Stopped:
		g.Refuse = fmt.Errorf("resource %q was promoted on node %s at epoch %d: this old primary is read-only; make it the mirror with tetherctl mirror truncate-and-restore %s: %w",
			r.cfg.Name, r.st.Primary, r.st.Epoch, r.cfg.Name, topics.ErrNotWritable)
	case role == resource.Diverged:
		g.Refuse = fmt.Errorf("resource %q was failed over to node %s at epoch %d: this copy is DIVERGED and read-only; see tetherctl mirror describe %s, then truncate-and-restore: %w",
			r.cfg.Name, r.st.Diverged.Primary, r.st.Diverged.Epoch, r.cfg.Name, topics.ErrNotWritable)
	}
	writable := g.Role == topics.RolePrimary && g.Refuse == nil
	ts := slices.Clone(r.topics)
	r.mu.Unlock()
	for _, t := range ts {
		gt := g
		if writable {
			gt.Ack = func(ctx context.Context, end uint64) error { return r.ack(ctx, t, end) }
			if r.cfg.Leased {
				gt.Check = r.leaseCheck
			}
		}
		if err := r.m.cfg.Store.SetGate(t, gt); err != nil {
			return err
		}
	}
	return nil
}

// leaseCheck refuses a write when the supervisor's lease has ended.
func (r *res) leaseCheck() error {
	l := r.lease.Load()
	if l != nil && r.m.cfg.Now().Before(l.until) {
		return nil
	}
	why := "no quorum confirmed yet"
	if l != nil && l.why != "" {
		why = l.why
	}
	return fmt.Errorf("resource %q is fenced on this node: %s (it writes only while a majority of voters confirms it is the primary): %w",
		r.cfg.Name, why, topics.ErrNotWritable)
}

// ack runs after a produce on the primary is durable here.
func (r *res) ack(ctx context.Context, topic string, end uint64) error {
	r.m.srv.Notify()
	if !r.cfg.AcksMirror || r.acksDegraded() {
		return nil
	}
	return r.acks.wait(ctx, r.peer, topic, end, r.cfg.AcksTimeout)
}

// acksDegraded: acks: mirror is acknowledged locally for now, because
// there is no mirror to wait for. That is so after a promotion or a
// failover until the other node (the old primary: stopped, diverged or
// dead) has been seen mirroring at this epoch; a failover exists to make
// the resource writable again, not to leave it refusing every write
// until an operator restores the old primary. Such writes have the
// guarantee of acks: local; no automatic failover can lose them, since
// the other copy is not usable (stopped or diverged) until it mirrors
// this one. Once it has been seen mirroring at this epoch, the primary
// waits for it again, whether it answers or not. At the first epoch the
// configured mirror is always waited for.
func (r *res) acksDegraded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acksDegradedLocked()
}

func (r *res) acksDegradedLocked() bool {
	if r.st.Epoch == resource.FirstEpoch && r.st.Primary == r.cfg.Primary {
		return false
	}
	if r.peerView != nil && r.peerView.Epoch == r.st.Epoch && r.peerView.Role == string(resource.Mirror) {
		r.mirroredAt = r.st.Epoch
	}
	return r.mirroredAt != r.st.Epoch
}

// save persists st as the new state (the caller holds r.mu).
func (r *res) saveLocked(st resource.State, why string) error {
	st.Changed, st.Why = r.m.cfg.Now(), why
	if err := r.m.cfg.States.Save(st); err != nil {
		return err
	}
	r.st = st
	return nil
}

// myView is this node's view (the caller holds r.mu).
func (r *res) myViewLocked() *view {
	return &view{Epoch: r.st.Epoch, Primary: r.st.Primary, Role: string(r.st.RoleOf(r.self())), Promoting: r.promoting}
}

// run exchanges views with the peer every ViewEvery and keeps a Runner
// going while this node is the mirror.
func (r *res) run(ctx context.Context) {
	tick := time.NewTicker(r.m.cfg.ViewEvery)
	defer tick.Stop()
	defer r.stopMirror()
	r.startCheck(ctx)
	r.sync(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.exchangeView(ctx)
			r.syncGroups()
		case <-r.wake:
		}
		r.sync(ctx)
	}
}

// startCheck asks the other node's view until it answers or StartCheck
// passes, then opens a primary's topics for writes (unless the answer
// made it DIVERGED). Without an answer it takes writes as before: the
// other node may be down, and only quorum (failover supervision) can
// tell that apart from a partition.
func (r *res) startCheck(ctx context.Context) {
	r.mu.Lock()
	starting := r.starting
	r.mu.Unlock()
	if !starting {
		return
	}
	deadline := time.Now().Add(r.m.cfg.StartCheck)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		cctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := r.exchangeView(cctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.mu.Lock()
	r.starting = false
	heard := r.peerErr == "" && r.peerView != nil
	r.mu.Unlock()
	if !heard {
		r.m.cfg.Log.Warn("the other node did not answer: taking writes as the primary", "event", EvUnconfirmed,
			"resource", r.cfg.Name, "peer", r.peer, "after", r.m.cfg.StartCheck)
	}
	r.regate()
}

// sync starts or stops the Runner to match the role.
func (r *res) sync(ctx context.Context) {
	r.mu.Lock()
	want := r.st.RoleOf(r.self()) == resource.Mirror || r.restoring != nil
	running := r.runner != nil
	r.mu.Unlock()
	switch {
	case want && !running:
		if err := r.startMirror(ctx); err != nil {
			r.m.cfg.Log.Error("cannot start mirroring", "event", EvMirrorError, "resource", r.cfg.Name, "err", err)
		}
	case !want && running:
		r.stopMirror()
	}
}

func (r *res) startMirror(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var mts []mirror.MirrorTopic
	var session [8]byte
	rand.Read(session[:])
	for _, t := range r.topics {
		l, err := r.m.cfg.Store.Log(t)
		if err != nil {
			return err
		}
		// Nothing this node holds is cut unseen: a divergence stops the
		// topic in DIVERGED with the cut pending (truncate-and-restore
		// exports it first).
		c := mirror.Config{Topic: t, Session: binary.BigEndian.Uint64(session[:]), MaxBytes: r.m.cfg.FetchBytes,
			StopOnAckedTruncation: true, AckedEnd: l.LogEndOffset()}
		mts = append(mts, mirror.MirrorTopic{Log: l, Config: c})
	}
	p := r.m.pools[r.peer]
	run, err := mirror.NewRunner(mirror.RunnerConfig{
		Transport:      mirror.TransportFunc(func(ctx context.Context, req []byte) ([]byte, error) { return p.roundTrip(ctx, req) }),
		RequestTimeout: r.m.cfg.RequestTimeout,
		IdleWait:       -1, // the primary long-polls
		OnAppend:       r.m.cfg.Store.Appended,
		Now:            r.m.cfg.Now,
		MaxMessage:     r.m.cfg.MaxMessage,
	}, mts...)
	if err != nil {
		return err
	}
	for _, t := range r.st.Paused {
		run.Pause(t)
	}
	rctx, cancel := context.WithCancel(ctx)
	rm := &runningMirror{r: run, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rm.done)
		run.Run(rctx)
	}()
	r.runner = rm
	r.m.cfg.Log.Info("mirroring", "event", EvMirrorStart, "resource", r.cfg.Name, "primary", r.peer,
		"epoch", r.st.Epoch, "topics", r.topics)
	return nil
}

// stopMirror stops the Runner, if any, and waits for it.
func (r *res) stopMirror() {
	r.mu.Lock()
	rm := r.runner
	r.runner = nil
	r.mu.Unlock()
	if rm != nil {
		rm.cancel()
		<-rm.done
	}
}

// syncGroups applies the mirrored consumer-group offsets to the store.
func (r *res) syncGroups() {
	r.mu.Lock()
	rm := r.runner
	r.mu.Unlock()
	if rm == nil {
		return
	}
	for _, t := range r.topicList() {
		if g := rm.r.GroupOffsets(t); len(g) > 0 {
			if err := r.m.cfg.Store.SyncGroups(t, g); err != nil {
				r.m.cfg.Log.Warn("cannot sync consumer offsets", "event", EvMirrorError, "resource", r.cfg.Name, "topic", t, "err", err)
			}
		}
	}
}

func (r *res) topicList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.topics)
}

// call sends a control request to the peer.
func (r *res) call(ctx context.Context, req request) (reply, error) {
	req.Resource, req.From = r.cfg.Name, r.self()
	msg, err := encodeControl(req)
	if err != nil {
		return reply{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.m.cfg.RequestTimeout)
	defer cancel()
	out, err := r.m.pools[r.peer].roundTrip(ctx, msg)
	if err != nil {
		return reply{}, fmt.Errorf("node %s: %w", r.peer, err)
	}
	var rep reply
	if err := decodeControl(out, &rep); err != nil {
		return reply{}, fmt.Errorf("node %s: %w", r.peer, err)
	}
	return rep, nil
}

// exchangeView tells the peer our view and learns from its answer, which
// it returns.
func (r *res) exchangeView(ctx context.Context) (view, error) {
	r.mu.Lock()
	v := r.myViewLocked()
	r.mu.Unlock()
	rep, err := r.call(ctx, request{Op: opView, View: v})
	if err == nil && rep.View == nil {
		err = fmt.Errorf("node %s: %s", r.peer, rep.Error)
	}
	r.mu.Lock()
	if err != nil {
		r.peerErr = err.Error()
		r.mu.Unlock()
		return view{}, err
	}
	r.peerErr = ""
	r.mu.Unlock()
	r.learn(*rep.View)
	return *rep.View, nil
}

// learn acts on the peer's view: a higher epoch with another primary
// demotes a primary that did not know (DIVERGED) and updates a mirror.
func (r *res) learn(pv view) {
	r.gateMu.Lock()
	defer r.gateMu.Unlock()
	r.mu.Lock()
	r.peerView, r.peerAt = &pv, r.m.cfg.Now()
	st := r.st
	role := st.RoleOf(r.self())
	var change, why string
	switch {
	case pv.Epoch > st.Epoch && pv.Primary == r.peer:
		change, why = r.adoptLocked(&st, pv.Epoch, pv.Primary)
	case pv.Epoch == st.Epoch && role == resource.Primary && r.frozen != nil && pv.Role == string(resource.Mirror) && !pv.Promoting:
		// The promoter gave up or restarted without telling us.
		r.frozen = nil
		r.mu.Unlock()
		r.m.cfg.Log.Warn("promote abandoned by the mirror: writes resume", "event", EvUnfrozen, "resource", r.cfg.Name, "mirror", r.peer)
		r.regateLocked()
		return
	case pv.Epoch == st.Epoch && pv.Primary == r.peer && role == resource.Primary:
		r.mu.Unlock()
		r.m.cfg.Log.Error("both nodes claim to be primary at the same epoch", "event", EvSplitBrain, "resource", r.cfg.Name,
			"peer", r.peer, "epoch", st.Epoch)
		return
	case pv.Epoch < st.Epoch && pv.Role == string(resource.Primary) && st.Primary == r.self():
		r.mu.Unlock()
		r.m.cfg.Log.Warn("the old primary is back with a lower epoch; it will be told", "event", EvStalePeer, "resource", r.cfg.Name,
			"peer", r.peer, "peer_epoch", pv.Epoch, "epoch", st.Epoch)
		return
	}
	r.applyLocked(st, change, why)
}

// Learn takes an epoch heard from a third node (the failover
// supervisor's views: a witness relays epochs): node primary was promoted
// at epoch. It acts as if the peer had said so itself.
func (m *Manager) Learn(name string, epoch uint32, primary string) error {
	r, err := m.resource(name)
	if err != nil {
		return err
	}
	if primary != r.peer {
		return fmt.Errorf("resource %q: epoch %d names primary %s, not node %s", name, epoch, primary, r.peer)
	}
	r.gateMu.Lock()
	defer r.gateMu.Unlock()
	r.mu.Lock()
	st := r.st
	if epoch <= st.Epoch {
		r.mu.Unlock()
		return nil
	}
	change, why := r.adoptLocked(&st, epoch, primary)
	r.applyLocked(st, change, why)
	return nil
}

// adoptLocked changes st for a higher epoch at which primary (the peer)
// was promoted, and says what changed.
func (r *res) adoptLocked(st *resource.State, epoch uint32, primary string) (change, why string) {
	switch role := st.RoleOf(r.self()); {
	case role == resource.Primary && r.frozen != nil && epoch == r.frozen.epoch+1 && r.frozen.by == r.peer:
		// The promote we froze for completed; its demote did not reach us.
		st.Stopped, change, why = true, "stopped", fmt.Sprintf("node %s was promoted at epoch %d (graceful)", primary, epoch)
		st.Epoch, st.Primary = epoch, primary
		r.frozen = nil
	case role == resource.Primary:
		st.Diverged = &resource.Divergence{Epoch: epoch, Primary: primary, At: r.m.cfg.Now()}
		change, why = "diverged", fmt.Sprintf("node %s was promoted at epoch %d while this node was primary at epoch %d", primary, epoch, st.Epoch)
	case role == resource.Diverged:
		// Already read-only; remember the newest epoch we saw.
		if st.Diverged.Epoch < epoch {
			d := *st.Diverged
			d.Epoch, st.Diverged = epoch, &d
			change, why = "diverged", fmt.Sprintf("node %s is primary at epoch %d", primary, epoch)
		}
	default:
		st.Epoch, st.Primary = epoch, primary
		change, why = "epoch", fmt.Sprintf("node %s is primary at epoch %d", primary, epoch)
	}
	return change, why
}

// applyLocked saves st after a change learnt and sets the gates (r.mu and
// gateMu held; it releases r.mu).
func (r *res) applyLocked(st resource.State, change, why string) {
	if change == "" {
		r.mu.Unlock()
		return
	}
	err := r.saveLocked(st, why)
	r.mu.Unlock()
	if err != nil {
		r.m.cfg.Log.Error("cannot save the resource state", "event", EvMirrorError, "resource", r.cfg.Name, "err", err)
		return
	}
	r.acks.reset()
	ev := EvEpoch
	switch change {
	case "diverged":
		ev = EvDiverged
	case "stopped":
		ev = EvStopped
	}
	r.regateLocked()
	r.m.cfg.Log.Warn(why, "event", ev, "resource", r.cfg.Name, "epoch", st.Epoch, "primary", st.Primary)
	r.poke()
}
