package postgresql

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/driver"
)

// statusOf is Status with the error in the string, for eventually.
func statusOf(t *testing.T, d *Driver) (driver.Status, string) {
	st, err := d.Status(ctxT(t))
	return st, fmt.Sprintf("%+v (err %v)", st, err)
}

func TestReplicaStatus(t *testing.T) {
	t.Parallel()
	e := newPGEnv(t)
	a := e.primary("a")
	b := e.replica("b", a)
	mustExec(t, a, "CREATE TABLE t (id int PRIMARY KEY)")
	mustExec(t, a, "INSERT INTO t SELECT generate_series(1, 1000)")

	db := e.driver(e.config("b"))
	if db.LagUnit() != "bytes" {
		t.Errorf("LagUnit = %q", db.LagUnit())
	}
	var st driver.Status
	eventually(t, 20*time.Second, "b streams from a, caught up", func() (bool, string) {
		var seen string
		st, seen = statusOf(t, db)
		return st.Role == driver.RoleReplica && st.Following == "a" && st.LinkUp && st.Lag == 0 &&
			!st.LagAt.IsZero() && st.Offset > 0, seen
	})
	if age := time.Since(st.LagAt); age < 0 || age > 5*time.Second {
		t.Errorf("LagAt %v is not recent (%v ago)", st.LagAt, age)
	}

	da := e.driver(e.config("a"))
	if sa, err := da.Status(ctxT(t)); err != nil || sa.Role != driver.RolePrimary || sa.Offset < st.Offset {
		t.Errorf("a: Status = %+v, %v; want a primary at or past %d", sa, err, st.Offset)
	}

	// Some WAL b has not seen can't be had without a; measure, stop a:
	// the last sample (and its time) stand while a is away.
	last, err := db.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	e.stop(a)
	eventually(t, 20*time.Second, "b's link to a down, lag sample kept", func() (bool, string) {
		var seen string
		st, seen = statusOf(t, db)
		return st.Role == driver.RoleReplica && !st.LinkUp, seen
	})
	if !st.LagAt.Equal(last.LagAt) || st.Following != "a" {
		t.Errorf("after a stopped: Status = %+v; want LagAt %v kept and Following a", st, last.LagAt)
	}
	// Measured against the kept sample, while b only replays further.
	if st.Lag > last.Lag {
		t.Errorf("after a stopped: Lag = %d, more than the %d of the last sample", st.Lag, last.Lag)
	}

	e.stop(b)
	st, err = db.Status(ctxT(t))
	if err == nil || st.Role != driver.RoleDown || st.Detail == "" {
		t.Errorf("stopped b: Status = %+v, %v; want RoleDown, a detail and an error", st, err)
	}
	t.Logf("stopped: %+v, %v", st, err)
}

func TestFence(t *testing.T) {
	t.Parallel()
	e := newPGEnv(t)
	a := e.primary("a")
	mustExec(t, a, "CREATE TABLE t (id int)")
	d := e.driver(e.config("a"))
	ctx := ctxT(t)

	old := connect(t, a) // opened before the fence: must not keep writing
	if _, err := old.Exec(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := d.Fence(ctx, "test"); err != nil {
			t.Fatalf("Fence #%d: %v", i+1, err)
		}
	}
	if err := exec1(a, "INSERT INTO t VALUES (2)"); err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("INSERT after the fence: %v; want a read-only transaction error", err)
	}
	if _, err := old.Exec(ctx, "INSERT INTO t VALUES (3)"); err == nil {
		t.Error("a session opened before the fence still writes")
	}
	if st, err := e.driver(e.config("a")).Status(ctx); err != nil || st.Role != driver.RoleFenced {
		t.Errorf("Status from a new driver = %+v, %v; want fenced", st, err)
	}
	for i := 0; i < 2; i++ {
		if err := d.Unfence(ctx); err != nil {
			t.Fatalf("Unfence #%d: %v", i+1, err)
		}
	}
	mustExec(t, a, "INSERT INTO t VALUES (4)")
	if st, err := d.Status(ctx); err != nil || st.Role != driver.RolePrimary {
		t.Errorf("Status after Unfence = %+v, %v; want primary", st, err)
	}

	// The "stop" fence.
	cfg := e.config("a")
	cfg.Fence = FenceStop
	ds := e.driver(cfg)
	for i := 0; i < 2; i++ {
		if err := ds.Fence(ctx, "quorum lost"); err != nil {
			t.Fatalf("stop Fence #%d: %v", i+1, err)
		}
	}
	if e.running(a) {
		t.Fatal("the stop fence left the server running")
	}
	st, err := e.driver(cfg).Status(ctx)
	if err != nil || st.Role != driver.RoleFenced || !strings.Contains(st.Detail, "quorum lost") {
		t.Errorf("Status of a stop-fenced server = %+v, %v; want fenced, saying why", st, err)
	}
	for i := 0; i < 2; i++ {
		if err := ds.Unfence(ctx); err != nil {
			t.Fatalf("stop Unfence #%d: %v", i+1, err)
		}
	}
	mustExec(t, a, "INSERT INTO t VALUES (5)")
	if st, err := ds.Status(ctx); err != nil || st.Role != driver.RolePrimary {
		t.Errorf("Status after the stop Unfence = %+v, %v; want primary", st, err)
	}

	// Down, and not by a fence: Unfence does not start it.
	e.stop(a)
	if err := ds.Unfence(ctx); err == nil || e.running(a) {
		t.Errorf("Unfence of a server stopped by someone else: %v, running %v; want an error, stopped", err, e.running(a))
	}
	// A read-only fence of a stopped server holds when it is started.
	if err := d.Fence(ctx, "down"); err != nil {
		t.Fatalf("Fence of a stopped server: %v", err)
	}
	e.start(a)
	if st, err := d.Status(ctx); err != nil || st.Role != driver.RoleFenced {
		t.Errorf("Status of a server fenced while stopped, started = %+v, %v; want fenced", st, err)
	}
	if err := d.Unfence(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, a, "INSERT INTO t VALUES (6)")
}

// TestFailover: the replica is promoted while the old primary still takes
// a write (divergence); the old primary is then left stopped without
// Rewind, and rewound with it.
func TestFailover(t *testing.T) {
	t.Parallel()
	e := newPGEnv(t)
	a := e.primary("a")
	b := e.replica("b", a)
	mustExec(t, a, "CREATE TABLE t (id int PRIMARY KEY, note text)")
	mustExec(t, a, "INSERT INTO t VALUES (1, 'before')")
	ctx := ctxT(t)
	db := e.driver(e.config("b"))
	eventually(t, 20*time.Second, "b has row 1", func() (bool, string) {
		k, err := count(b, "SELECT count(*) FROM t WHERE id = 1")
		return k == 1, fmt.Sprint(k, err)
	})

	// Promote b (fenced first: Promote lifts the fence too).
	if err := db.Fence(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := db.Promote(ctx); err != nil {
			t.Fatalf("Promote #%d: %v", i+1, err)
		}
	}
	if st, err := db.Status(ctx); err != nil || st.Role != driver.RolePrimary || !strings.Contains(st.Detail, "timeline 2") {
		t.Fatalf("b after Promote: %+v, %v; want a primary on timeline 2", st, err)
	}
	mustExec(t, b, "INSERT INTO t VALUES (2, 'on b')")

	// a never heard: it takes a write b will never have.
	mustExec(t, a, "INSERT INTO t VALUES (100, 'diverged')")
	if err := e.driver(e.config("a")).Fence(ctx, "b promoted"); err != nil {
		t.Fatal(err)
	}

	// Without Rewind: left stopped, with the command.
	noRewind := e.config("a")
	da0 := e.driver(noRewind)
	err := da0.Follow(ctx, "b")
	var div *driver.DivergedError
	if !errors.As(err, &div) {
		t.Fatalf("Follow without Rewind: %v; want a *driver.DivergedError", err)
	}
	for _, want := range []string{"pg_rewind", "--target-pgdata=" + a.dir, "--source-server=", fmt.Sprint(b.port), " -R"} {
		if !strings.Contains(div.Command, want) {
			t.Errorf("Command %q lacks %q", div.Command, want)
		}
	}
	t.Logf("diverged: %v", div)
	if e.running(a) {
		t.Error("a diverged copy was left running")
	}
	if st, err := da0.Status(ctx); err == nil || st.Role != driver.RoleDown {
		t.Errorf("Status of the diverged, stopped a = %+v, %v; want RoleDown and an error", st, err)
	}
	if err := da0.Unfence(ctx); err == nil || e.running(a) {
		t.Errorf("Unfence started a diverged copy (err %v)", err)
	}

	// With Rewind.
	withRewind := e.config("a")
	withRewind.Rewind = true
	da := e.driver(withRewind)
	if err := da.Follow(ctx, "b"); err != nil {
		t.Fatalf("Follow with Rewind: %v", err)
	}
	st, err := da.Status(ctx)
	if err != nil || st.Role != driver.RoleReplica || st.Following != "b" || !st.LinkUp {
		t.Fatalf("a after Follow: %+v, %v; want a streaming replica of b", st, err)
	}
	// pg_rewind copied b's configuration files; a's own are back, and
	// the fence setting is out of postgresql.auto.conf.
	if conf, err := os.ReadFile(filepath.Join(a.dir, "postgresql.conf")); err != nil || strings.Contains(string(conf), fmt.Sprintf("port = %d", b.port)) {
		t.Errorf("a's postgresql.conf after the rewind is b's (err %v)", err)
	}
	if auto, err := os.ReadFile(filepath.Join(a.dir, autoConf)); err != nil || strings.Contains(string(auto), "default_transaction_read_only") {
		t.Errorf("a's postgresql.auto.conf after the rewind:\n%s (err %v)", auto, err)
	}
	if k, err := count(a, "SELECT count(*) FROM t WHERE id = 100"); err != nil || k != 0 {
		t.Errorf("the diverged row on a: count %d, %v; want gone", k, err)
	}
	mustExec(t, b, "INSERT INTO t VALUES (3, 'after')")
	eventually(t, 20*time.Second, "a has b's rows", func() (bool, string) {
		k, err := count(a, "SELECT count(*) FROM t WHERE id IN (1, 2, 3)")
		return k == 3, fmt.Sprint(k, err)
	})

	// Following already: nothing (no restart).
	startedAt := func() (string, error) {
		c := connect(t, a)
		var s string
		err := c.QueryRow(ctx, "SELECT pg_postmaster_start_time()::text").Scan(&s)
		return s, err
	}
	t0, err := startedAt()
	if err != nil {
		t.Fatal(err)
	}
	if err := da.Follow(ctx, "b"); err != nil {
		t.Fatalf("Follow again: %v", err)
	}
	if t1, err := startedAt(); err != nil || t1 != t0 {
		t.Errorf("Follow of a streaming replica restarted it (%s -> %s, %v)", t0, t1, err)
	}

	// Promotable and writable later: the fence setting did not come back.
	if err := da.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, a, "INSERT INTO t VALUES (4, 'a again')")
}

// TestSwitchover: a clean hand-over. The old primary is stop-fenced
// before the promotion, so it has not diverged: it follows without
// pg_rewind (Rewind off), and a second replica is only retargeted.
func TestSwitchover(t *testing.T) {
	t.Parallel()
	e := newPGEnv(t)
	a := e.primary("a")
	b := e.replica("b", a)
	c := e.replica("c", a)
	mustExec(t, a, "CREATE TABLE t (id int PRIMARY KEY)")
	mustExec(t, a, "INSERT INTO t VALUES (1)")
	ctx := ctxT(t)

	cfgA := e.config("a")
	cfgA.Fence = FenceStop
	da := e.driver(cfgA)
	db := e.driver(e.config("b"))
	dc := e.driver(e.config("c"))
	cStart, err := count(c, "SELECT extract(epoch from pg_postmaster_start_time())::int")
	if err != nil {
		t.Fatal(err)
	}

	if err := da.Fence(ctx, "switchover"); err != nil {
		t.Fatal(err)
	}
	if err := db.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dc.Follow(ctx, "b"); err != nil {
		t.Fatalf("c Follow b: %v", err)
	}
	if st, err := dc.Status(ctx); err != nil || st.Following != "b" || !st.LinkUp {
		t.Errorf("c after Follow: %+v, %v", st, err)
	}
	if k, err := count(c, "SELECT extract(epoch from pg_postmaster_start_time())::int"); err != nil || k != cStart {
		t.Errorf("c was restarted to follow b (%d -> %d, %v); want retargeted live", cStart, k, err)
	}
	if err := da.Follow(ctx, "b"); err != nil {
		t.Fatalf("a (stop-fenced, not diverged, Rewind off) Follow b: %v", err)
	}
	if st, err := da.Status(ctx); err != nil || st.Role != driver.RoleReplica || st.Following != "b" || !st.LinkUp {
		t.Errorf("a after Follow: %+v, %v", st, err)
	}
	// a's stop fence wrote default_transaction_read_only into its
	// postgresql.auto.conf, which no rewind replaced: Follow took it out.
	if auto, err := os.ReadFile(filepath.Join(a.dir, autoConf)); err != nil || strings.Contains(string(auto), "default_transaction_read_only") {
		t.Errorf("a's postgresql.auto.conf after Follow:\n%s (err %v)", auto, err)
	}
	mustExec(t, b, "INSERT INTO t VALUES (2)")
	for _, n := range []*pgNode{a, c} {
		eventually(t, 20*time.Second, n.name+" has b's row", func() (bool, string) {
			k, err := count(n, "SELECT count(*) FROM t")
			return k == 2, fmt.Sprint(k, err)
		})
	}
}
