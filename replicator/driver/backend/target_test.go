package backend

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/driver"
	"github.com/tether-ha/tether/replicator/resource"
)

// fakeDriver is a back end in memory that records what it was told.
type fakeDriver struct {
	mu        sync.Mutex
	role      driver.Role
	following string
	calls     []string
	followErr error
	statusErr error // the server does not answer
}

func (f *fakeDriver) LagUnit() string { return "bytes" }
func (f *fakeDriver) Status(context.Context) (driver.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statusErr != nil {
		return driver.Status{}, f.statusErr
	}
	return driver.Status{Role: f.role, Following: f.following, LinkUp: f.role == driver.RoleReplica, Lag: 5}, nil
}
func (f *fakeDriver) do(call string, role driver.Role, following string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	f.role, f.following = role, following
	return nil
}
func (f *fakeDriver) Promote(context.Context) error { return f.do("promote", driver.RolePrimary, "") }
func (f *fakeDriver) Fence(context.Context, string) error {
	f.mu.Lock()
	r := f.role
	f.mu.Unlock()
	if r == driver.RoleReplica {
		return f.do("fence", r, f.following)
	}
	return f.do("fence", driver.RoleFenced, "")
}
func (f *fakeDriver) Unfence(context.Context) error { return f.do("unfence", driver.RolePrimary, "") }
func (f *fakeDriver) Follow(_ context.Context, p string) error {
	f.mu.Lock()
	err := f.followErr
	f.mu.Unlock()
	if err != nil {
		f.do("follow-failed", driver.RoleFenced, "")
		return err
	}
	return f.do("follow "+p, driver.RoleReplica, p)
}
func (f *fakeDriver) Close() error { return nil }

func (f *fakeDriver) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newTarget(t *testing.T, self string, d *fakeDriver, c *clock, dir string) *Target {
	t.Helper()
	states, err := resource.Open(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := New(Config{Resource: "cache", Self: self, Primary: "a", Driver: d, States: states, Leased: true, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestPrimaryFollowsTheLease(t *testing.T) {
	c := &clock{t0}
	d := &fakeDriver{role: driver.RolePrimary}
	tg := newTarget(t, "a", d, c, t.TempDir())
	ctx := context.Background()
	tg.reconcile(ctx)
	if d.last() != "fence" {
		t.Fatalf("no lease yet: calls %v", d.calls)
	}
	tg.SetLease(t0.Add(400*time.Millisecond), "")
	if next := tg.reconcile(ctx); d.last() != "unfence" || next > 250*time.Millisecond {
		t.Fatalf("under a lease: calls %v, next %v", d.calls, next)
	}
	c.t = t0.Add(300 * time.Millisecond)
	if next := tg.reconcile(ctx); next != 100*time.Millisecond {
		t.Errorf("next reading %v before the lease's end, want exactly at it (100ms)", next)
	}
	c.t = t0.Add(400 * time.Millisecond)
	tg.reconcile(ctx)
	if d.last() != "fence" {
		t.Fatalf("the lease ended: calls %v", d.calls)
	}
	if l, _ := tg.Status(); l.Role != "primary" || l.Usable {
		t.Errorf("status: %+v", l)
	}
}

func TestMirrorFailoverAndOldPrimaryRejoins(t *testing.T) {
	c := &clock{t0}
	ctx := context.Background()
	db := &fakeDriver{role: driver.RolePrimary} // b's redis misconfigured as a primary
	b := newTarget(t, "b", db, c, t.TempDir())
	b.reconcile(ctx)
	if db.last() != "follow a" {
		t.Fatalf("mirror: calls %v", db.calls)
	}
	b.reconcile(ctx) // reads the back end as it is now
	if l, _ := b.Status(); l.Role != "mirror" || !l.Usable || l.LagRecords != 5 || l.Primary != "a" {
		t.Fatalf("mirror status: %+v", l)
	}
	p, err := b.Failover(ctx)
	if err != nil || p.EpochBefore != 1 || p.EpochAfter != 2 || p.LagGivenUp != 5 {
		t.Fatalf("failover: %+v %v", p, err)
	}
	if db.last() != "fence" || db.role != driver.RoleFenced {
		t.Fatalf("promoted without a lease must stay fenced: %v", db.calls)
	}
	if l, _ := b.Status(); l.Role != "primary" || l.Epoch != 2 {
		t.Fatalf("after failover: %+v", l)
	}
	// The old primary hears epoch 2 (restarted: its state is on disk).
	adir := t.TempDir()
	da := &fakeDriver{role: driver.RolePrimary, followErr: &driver.DivergedError{Why: "needs pg_rewind", Command: "pg_rewind ..."}}
	a := newTarget(t, "a", da, c, adir)
	if err := a.Learn(2, "b"); err != nil {
		t.Fatal(err)
	}
	a.reconcile(ctx)
	var de *driver.DivergedError
	if !errors.As(a.Err(), &de) || da.role != driver.RoleFenced {
		t.Fatalf("cannot follow: err %v, calls %v", a.Err(), da.calls)
	}
	if l, _ := a.Status(); l.Role != "diverged" || l.Epoch != 2 || l.Primary != "b" {
		t.Fatalf("diverged status: %+v", l)
	}
	// Not retried before RetryDiverged; then it works.
	da.mu.Lock()
	da.followErr = nil
	da.mu.Unlock()
	a.reconcile(ctx)
	if da.last() != "follow-failed" {
		t.Fatalf("retried at once: %v", da.calls)
	}
	c.t = c.t.Add(10 * time.Second)
	a.reconcile(ctx)
	if da.last() != "follow b" || a.Err() != nil {
		t.Fatalf("after the retry: %v %v", da.calls, a.Err())
	}
	if l, _ := a.Status(); l.Role != "mirror" || l.Epoch != 2 || l.Primary != "b" {
		t.Fatalf("rejoined: %+v", l)
	}
	// Restarted, it is still the mirror at epoch 2.
	a2 := newTarget(t, "a", da, c, adir)
	if l, _ := a2.Status(); l.Role != "mirror" || l.Epoch != 2 {
		t.Fatalf("after a restart: %+v", l)
	}
	if err := a2.Learn(3, "a"); err == nil || !strings.Contains(err.Error(), "names this node") {
		t.Errorf("an epoch naming this node: %v", err)
	}
	if _, err := a2.Failover(ctx); err != nil {
		t.Errorf("the mirror fails over: %v", err)
	}
	if _, err := a2.Failover(ctx); err == nil {
		t.Error("a second failover on the primary was accepted")
	}
}

// A back end that stops answering is reported down from its first failed
// reading (the supervisor resigns the primary after grace), and up again
// at its first answer.
func TestBackendDownSince(t *testing.T) {
	c := &clock{t0}
	d := &fakeDriver{role: driver.RolePrimary}
	tg := newTarget(t, "a", d, c, t.TempDir())
	ctx := context.Background()
	tg.reconcile(ctx)
	if l, _ := tg.Status(); !l.Down.IsZero() {
		t.Fatalf("answering back end reported down: %+v", l)
	}
	d.mu.Lock()
	d.statusErr = errors.New("dial tcp: connection refused")
	d.mu.Unlock()
	c.t = t0.Add(time.Second)
	tg.reconcile(ctx)
	c.t = t0.Add(2 * time.Second)
	tg.reconcile(ctx)
	if l, _ := tg.Status(); !l.Down.Equal(t0.Add(time.Second)) || !strings.Contains(l.Backend, "connection refused") {
		t.Fatalf("down back end: %+v, want down since its first failed reading", l)
	}
	d.mu.Lock()
	d.statusErr = nil
	d.mu.Unlock()
	tg.reconcile(ctx)
	if l, _ := tg.Status(); !l.Down.IsZero() {
		t.Fatalf("back end answering again still down: %+v", l)
	}
}
