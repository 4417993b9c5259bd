package builtin

import (
	"context"
	"time"

	"github.com/tether-ha/tether/replicator/mirror"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/supervisor"
)

// Target is resource name as the failover supervisor drives it.
func (m *Manager) Target(name string) supervisor.Target { return target{m: m, name: name} }

type target struct {
	m    *Manager
	name string
}

func (t target) Status() (supervisor.Local, error) {
	s, err := t.m.StatusOf(t.name)
	if err != nil {
		return supervisor.Local{}, err
	}
	l := supervisor.Local{Role: s.Role, Epoch: s.Epoch, Primary: s.Primary}
	if s.Diverged != nil {
		// The highest epoch this copy knows, so the supervisor does not
		// teach it again what made it diverge.
		l.Epoch, l.Primary = s.Diverged.Epoch, s.Diverged.Primary
	}
	if s.Role != string(resource.Mirror) {
		return l, nil
	}
	l.Usable = len(s.Topics) > 0
	var oldest time.Duration
	for _, ts := range s.Topics {
		switch ts.State {
		case mirror.Diverged.String(), mirror.Failed.String(), mirror.Paused.String(), StateDiverged:
			l.Usable = false
		}
		l.LagRecords += ts.LagRecords
		if ts.SinceLastFetchMs < 0 {
			oldest = -1
		} else if oldest >= 0 {
			oldest = max(oldest, time.Duration(ts.SinceLastFetchMs)*time.Millisecond)
		}
	}
	if oldest >= 0 {
		l.SampledAt = t.m.cfg.Now().Add(-oldest)
	}
	return l, nil
}

func (t target) SetLease(until time.Time, why string) error { return t.m.SetLease(t.name, until, why) }

func (t target) Learn(epoch uint32, primary string) error { return t.m.Learn(t.name, epoch, primary) }

func (t target) Failover(ctx context.Context) (supervisor.Promotion, error) {
	r, err := t.m.Failover(ctx, t.name)
	if err != nil {
		return supervisor.Promotion{}, err
	}
	p := supervisor.Promotion{EpochBefore: r.EpochBefore, EpochAfter: r.EpochAfter, Detail: r.Note}
	for _, tl := range r.Topics {
		p.LagGivenUp += tl.LagRecords
	}
	return p, nil
}
