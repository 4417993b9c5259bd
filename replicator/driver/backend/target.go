package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tether-ha/tether/replicator/driver"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/supervisor"
)

// Config configures a Target.
type Config struct {
	Resource string
	Self     string
	Primary  string // the configured primary (at the first epoch)
	Driver   driver.Driver
	States   *resource.Store
	// Leased: the supervisor keeps a lease (a cluster of three voters
	// with failover.auto); without, the primary's back end is always
	// writable.
	Leased bool
	Log    *slog.Logger
	Now    func() time.Time
	// Every is how often the back end is read; 250ms.
	Every time.Duration
	// RetryDiverged is how often a copy that could not follow is tried
	// again; 10s.
	RetryDiverged time.Duration
}

// Target is one resource's back end on this node.
type Target struct {
	cfg  Config
	wake chan struct{}

	mu       sync.Mutex
	st       resource.State
	status   driver.Status
	statusOK bool
	down     time.Time // the driver's status has failed since (zero: it answers)
	err      error     // the last driver error, for the status
	until    time.Time
	why      string
	tried    time.Time // the last Follow of a diverged copy
}

// New loads the resource's state.
func New(cfg Config) (*Target, error) {
	if cfg.Driver == nil || cfg.States == nil || cfg.Self == "" || cfg.Resource == "" {
		return nil, errors.New("backend: config needs Resource, Self, Driver and States")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every <= 0 {
		cfg.Every = 250 * time.Millisecond
	}
	if cfg.RetryDiverged <= 0 {
		cfg.RetryDiverged = 10 * time.Second
	}
	st, err := cfg.States.Load(cfg.Resource, resource.State{Primary: cfg.Primary})
	if err != nil {
		return nil, err
	}
	return &Target{cfg: cfg, st: st, wake: make(chan struct{}, 1)}, nil
}

func (t *Target) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Status is the copy as of the last reading (never blocks).
func (t *Target) Status() (supervisor.Local, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.st
	l := supervisor.Local{Role: string(st.RoleOf(t.cfg.Self)), Epoch: st.Epoch, Primary: st.Primary}
	if d := st.Diverged; d != nil {
		l.Epoch, l.Primary = d.Epoch, d.Primary
	}
	l.Backend, l.Down = t.status.Detail, t.down
	if t.err != nil {
		l.Backend += "; error: " + t.err.Error()
	}
	if l.Role == string(resource.Mirror) && t.statusOK && t.status.Role == driver.RoleReplica && t.status.Following == st.Primary {
		l.Usable, l.LagRecords, l.SampledAt = true, t.status.Lag, t.status.LagAt
	}
	return l, nil
}

// SetLease sets until when the primary's back end may take writes.
func (t *Target) SetLease(until time.Time, why string) error {
	t.mu.Lock()
	changed := !until.Equal(t.until)
	t.until, t.why = until, why
	t.mu.Unlock()
	if changed {
		t.poke()
	}
	return nil
}

// Learn takes a higher epoch at which node primary was promoted.
func (t *Target) Learn(epoch uint32, primary string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.st
	if primary == t.cfg.Self {
		return fmt.Errorf("resource %q: epoch %d names this node as the primary, which it does not know", t.cfg.Resource, epoch)
	}
	known := st.Epoch
	if st.Diverged != nil {
		known = st.Diverged.Epoch
	}
	if epoch <= known {
		return nil
	}
	switch st.RoleOf(t.cfg.Self) {
	case resource.Primary, resource.Diverged:
		st.Diverged = &resource.Divergence{Epoch: epoch, Primary: primary, At: t.cfg.Now()}
		st.Why = fmt.Sprintf("node %s was promoted at epoch %d while this node was primary at epoch %d", primary, epoch, st.Epoch)
	default:
		st.Epoch, st.Primary, st.Stopped = epoch, primary, false
		st.Why = fmt.Sprintf("node %s is primary at epoch %d", primary, epoch)
	}
	st.Changed = t.cfg.Now()
	if err := t.cfg.States.Save(st); err != nil {
		return err
	}
	t.st = st
	t.cfg.Log.Warn(st.Why, "event", EvDiverged, "resource", t.cfg.Resource, "epoch", epoch, "primary", primary)
	t.poke()
	return nil
}

// Failover makes this copy the primary at the next epoch: the epoch is
// saved first, then the back end promoted.
func (t *Target) Failover(ctx context.Context) (supervisor.Promotion, error) {
	t.mu.Lock()
	st := t.st
	if st.RoleOf(t.cfg.Self) != resource.Mirror {
		t.mu.Unlock()
		return supervisor.Promotion{}, fmt.Errorf("resource %q: this node is %s, not the mirror", t.cfg.Resource, st.RoleOf(t.cfg.Self))
	}
	lag := uint64(0)
	if t.statusOK {
		lag = t.status.Lag
	}
	p := supervisor.Promotion{EpochBefore: st.Epoch, EpochAfter: st.Epoch + 1, LagGivenUp: lag}
	st.Epoch, st.Primary, st.Changed = st.Epoch+1, t.cfg.Self, t.cfg.Now()
	st.Why = "failover on " + t.cfg.Self
	if err := t.cfg.States.Save(st); err != nil {
		t.mu.Unlock()
		return supervisor.Promotion{}, fmt.Errorf("failover: cannot save epoch %d: %w; nothing changed", st.Epoch, err)
	}
	t.st = st
	t.mu.Unlock()
	// The back end is promoted now; it takes writes once the lease says
	// so (the reconciler fences it until then when leased).
	if t.cfg.Leased {
		if err := t.cfg.Driver.Fence(ctx, "promoted: waiting for a majority at the new epoch"); err != nil {
			t.cfg.Log.Warn("cannot fence the back end before promoting it", "event", EvBackendError, "resource", t.cfg.Resource, "err", err)
		}
	}
	if err := t.cfg.Driver.Promote(ctx); err != nil {
		t.poke()
		return p, fmt.Errorf("failover: epoch %d saved, but the back end did not promote (it is retried): %w", p.EpochAfter, err)
	}
	if t.cfg.Leased {
		// Promote lifts a fence: put it back until the lease comes.
		t.mu.Lock()
		writable := t.cfg.Now().Before(t.until)
		t.mu.Unlock()
		if !writable {
			if err := t.cfg.Driver.Fence(ctx, "promoted: waiting for a majority at the new epoch"); err != nil {
				t.cfg.Log.Warn("cannot fence the promoted back end", "event", EvBackendError, "resource", t.cfg.Resource, "err", err)
			}
		}
	}
	t.poke()
	return p, nil
}

// Run reads and reconciles the back end until ctx ends.
func (t *Target) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-t.wake:
		}
		next := t.reconcile(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// reconcile reads the back end once and brings it to what the state and
// the lease say; it returns when to run again.
func (t *Target) reconcile(ctx context.Context) time.Duration {
	ds, err := t.cfg.Driver.Status(ctx)
	t.mu.Lock()
	t.status, t.statusOK = ds, err == nil
	switch {
	case err == nil:
		t.down = time.Time{}
	case t.down.IsZero() && ctx.Err() == nil:
		t.down = t.cfg.Now()
	}
	st, until, why := t.st, t.until, t.why
	t.mu.Unlock()
	now := t.cfg.Now()
	next := t.cfg.Every
	var act error
	switch st.RoleOf(t.cfg.Self) {
	case resource.Primary:
		writable := !t.cfg.Leased || now.Before(until)
		if writable && t.cfg.Leased {
			next = min(next, until.Sub(now)) // fence at the lease's end, not a poll later
		}
		switch {
		case err != nil:
		case writable && ds.Role == driver.RoleReplica:
			act = t.cfg.Driver.Promote(ctx)
		case writable && ds.Role == driver.RoleFenced:
			act = t.cfg.Driver.Unfence(ctx)
		case !writable && ds.Role != driver.RoleFenced:
			if why == "" {
				why = "no quorum confirmed yet"
			}
			act = t.cfg.Driver.Fence(ctx, why)
		}
	case resource.Mirror, resource.Stopped:
		if err == nil && (ds.Role != driver.RoleReplica || ds.Following != st.Primary) {
			act = t.cfg.Driver.Follow(ctx, st.Primary)
		}
	case resource.Diverged:
		act = t.rejoin(ctx, st, ds, err)
	}
	t.mu.Lock()
	switch {
	case err != nil:
		t.err = err
	case act != nil:
		t.err = act
	default:
		t.err = nil
	}
	t.mu.Unlock()
	if act != nil {
		t.cfg.Log.Warn("back end action failed", "event", EvBackendError, "resource", t.cfg.Resource, "err", act)
	}
	return max(next, time.Millisecond)
}

// rejoin makes an old primary's back end follow the new primary; once it
// does, this node is the mirror at the new epoch.
func (t *Target) rejoin(ctx context.Context, st resource.State, ds driver.Status, statusErr error) error {
	d := st.Diverged
	if statusErr != nil {
		return statusErr // down: tried once it answers
	}
	if ds.Role == driver.RolePrimary {
		// Never writable while diverged, whatever happens next.
		if err := t.cfg.Driver.Fence(ctx, fmt.Sprintf("node %s was promoted at epoch %d", d.Primary, d.Epoch)); err != nil {
			return err
		}
	}
	t.mu.Lock()
	due := t.cfg.Now().Sub(t.tried) >= t.cfg.RetryDiverged
	if due {
		t.tried = t.cfg.Now()
	}
	t.mu.Unlock()
	if !due {
		return nil
	}
	if err := t.cfg.Driver.Follow(ctx, d.Primary); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st.Diverged == nil || t.st.Diverged.Epoch != d.Epoch {
		return nil // changed meanwhile: the next round decides
	}
	ns := t.st
	ns.Epoch, ns.Primary, ns.Diverged, ns.Stopped, ns.Changed = d.Epoch, d.Primary, nil, false, t.cfg.Now()
	ns.Why = fmt.Sprintf("the back end follows node %s, primary at epoch %d", d.Primary, d.Epoch)
	if err := t.cfg.States.Save(ns); err != nil {
		return err
	}
	t.st = ns
	t.cfg.Log.Warn(ns.Why, "event", EvRejoined, "resource", t.cfg.Resource, "epoch", d.Epoch, "primary", d.Primary)
	return nil
}

// Err is the last driver error (nil when the back end is as wanted).
func (t *Target) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
