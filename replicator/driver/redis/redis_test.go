package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/driver"
)

func TestValidate(t *testing.T) {
	two := map[string]string{"a": "10.0.0.1:6379", "b": "redis-b:6379"}
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"ok", Config{Self: "a", Addrs: two}, true},
		{"ipv6", Config{Self: "a", Addrs: map[string]string{"a": "[::1]:6379", "b": "[::1]:6380"}}, true},
		{"no self", Config{Addrs: two}, false},
		{"self not in addrs", Config{Self: "c", Addrs: two}, false},
		{"one node", Config{Self: "a", Addrs: map[string]string{"a": "h:1"}}, false},
		{"no port", Config{Self: "a", Addrs: map[string]string{"a": "h:1", "b": "h"}}, false},
		{"bad port", Config{Self: "a", Addrs: map[string]string{"a": "h:1", "b": "h:70000"}}, false},
		{"no host", Config{Self: "a", Addrs: map[string]string{"a": "h:1", "b": ":1"}}, false},
		{"shared address", Config{Self: "a", Addrs: map[string]string{"a": "h:1", "b": "h:1"}}, false},
		{"negative min replicas", Config{Self: "a", Addrs: two, MinReplicasToWrite: -1}, false},
		{"min replicas at fence", Config{Self: "a", Addrs: two, MinReplicasToWrite: fenceValue}, false},
		{"negative timeout", Config{Self: "a", Addrs: two, Timeout: -time.Second}, false},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
		if _, err := New(tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%s: New() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// A replica reports whom it follows, by name, its link, and a lag that
// falls to 0 once writes stop, measured just now.
func TestReplicaStatus(t *testing.T) {
	t.Parallel()
	c := replicated(t)
	if u := c.db.LagUnit(); u != "bytes" {
		t.Errorf("LagUnit = %q", u)
	}
	pipe := c.a.client.Pipeline()
	for i := range 2000 {
		pipe.Set(ctx(t), "k"+strconv.Itoa(i), strings.Repeat("x", 100), 0)
	}
	if _, err := pipe.Exec(ctx(t)); err != nil {
		t.Fatal(err)
	}
	var st driver.Status
	eventually(t, "b caught up", func() (bool, string) {
		var err error
		st, err = c.db.Status(ctx(t))
		return err == nil && st.Role == driver.RoleReplica && st.Following == "a" && st.LinkUp &&
				st.Lag == 0 && time.Since(st.LagAt) < 2*time.Second && st.Offset > 200_000,
			fmt.Sprintf("%+v, err %v", st, err)
	})
	if v, ok := c.b.get(t, "k1999"); !ok || len(v) != 100 {
		t.Errorf("k1999 on b: %q, %v", v, ok)
	}
	pst, err := c.da.Status(ctx(t))
	if err != nil || pst.Role != driver.RolePrimary || pst.Offset < st.Offset || pst.Lag != 0 {
		t.Errorf("a: %+v, %v; want primary at offset >= %d", pst, err, st.Offset)
	}
}

// Fence makes real writes fail with NOREPLICAS, keeps the data, shows in
// Status, also to a driver started afterwards; Unfence makes writes work.
func TestFence(t *testing.T) {
	t.Parallel()
	a := startRedis(t)
	cfg := Config{Self: "a", Addrs: map[string]string{"a": a.addr, "b": "127.0.0.1:1"}}
	d := newDriver(t, cfg)
	a.mustSet(t, "k", "before")
	// With min-replicas-max-lag 0 Redis ignores min-replicas-to-write:
	// the fence must hold anyway.
	if err := a.client.ConfigSet(ctx(t), "min-replicas-max-lag", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d.Fence(ctx(t), "quorum lost"); err != nil {
			t.Fatalf("Fence: %v", err)
		}
	}
	if err := a.set(t, "k", "during"); !isErr(err, "NOREPLICAS") {
		t.Fatalf("SET on a fenced redis: %v, want NOREPLICAS", err)
	}
	if v, _ := a.get(t, "k"); v != "before" {
		t.Errorf("k = %q while fenced, want before", v)
	}
	st, err := d.Status(ctx(t))
	if err != nil || st.Role != driver.RoleFenced || !strings.Contains(st.Detail, "quorum lost") {
		t.Errorf("Status: %+v, %v; want fenced, with the reason", st, err)
	}

	// An agent restarted: a new driver sees the fence on the server.
	d2 := newDriver(t, cfg)
	if st, err := d2.Status(ctx(t)); err != nil || st.Role != driver.RoleFenced {
		t.Errorf("new driver Status: %+v, %v; want fenced", st, err)
	}
	for range 2 {
		if err := d2.Unfence(ctx(t)); err != nil {
			t.Fatalf("Unfence: %v", err)
		}
	}
	a.mustSet(t, "k", "after")
	if st, err := d2.Status(ctx(t)); err != nil || st.Role != driver.RolePrimary {
		t.Errorf("Status after Unfence: %+v, %v; want primary", st, err)
	}
	if v, err := a.client.ConfigGet(ctx(t), "min-replicas-to-write").Result(); err != nil || v["min-replicas-to-write"] != "0" {
		t.Errorf("min-replicas-to-write after Unfence: %v, %v; want the configured 0", v, err)
	}
}

// Promote makes a replica writable; the old primary then follows it,
// read-only, and gets what is written on the new one.
func TestPromoteAndFollow(t *testing.T) {
	t.Parallel()
	c := replicated(t)
	c.a.mustSet(t, "before", "1")
	waitKey(t, c.b, "before", "1")
	if err := c.db.Fence(ctx(t), "test"); err != nil { // Promote lifts a fence too
		t.Fatal(err)
	}
	for range 2 {
		if err := c.db.Promote(ctx(t)); err != nil {
			t.Fatalf("Promote b: %v", err)
		}
	}
	if st, err := c.db.Status(ctx(t)); err != nil || st.Role != driver.RolePrimary {
		t.Fatalf("b after Promote: %+v, %v; want primary", st, err)
	}
	c.b.mustSet(t, "after", "2")

	if err := c.da.Follow(ctx(t), "nobody"); err == nil {
		t.Error("Follow of an unknown node: no error")
	}
	if err := c.a.client.ConfigSet(ctx(t), "replica-read-only", "no").Err(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.da.Follow(ctx(t), "b"); err != nil {
			t.Fatalf("a Follow b: %v", err)
		}
	}
	waitFollowing(t, c.da, "b")
	waitKey(t, c.a, "after", "2")
	if v, ok := c.a.get(t, "before"); !ok || v != "1" {
		t.Errorf("before on a: %q, %v", v, ok)
	}
	if err := c.a.set(t, "x", "y"); !isErr(err, "READONLY") {
		t.Errorf("SET on the new replica: %v, want READONLY", err)
	}
}

// What the old primary took alone, cut off after the promotion, is
// dropped when it follows: Redis resyncs it from the new primary.
func TestFollowDropsDivergedHistory(t *testing.T) {
	t.Parallel()
	c := replicated(t)
	c.a.mustSet(t, "common", "0")
	waitKey(t, c.b, "common", "0")
	if err := c.db.Promote(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.a.mustSet(t, "lost", "only on a")
	c.b.mustSet(t, "kept", "b")
	if err := c.da.Follow(ctx(t), "b"); err != nil {
		t.Fatalf("a Follow b: %v", err)
	}
	waitFollowing(t, c.da, "b")
	waitKey(t, c.a, "kept", "b")
	if v, ok := c.a.get(t, "lost"); ok {
		t.Errorf("lost = %q on a after Follow, want it gone", v)
	}
	if v, ok := c.a.get(t, "common"); !ok || v != "0" {
		t.Errorf("common on a: %q, %v", v, ok)
	}
}

// Switchover under a steady stream of writes: every acknowledged write
// is on the new primary, and the old one follows it.
func TestSwitchover(t *testing.T) {
	t.Parallel()
	c := replicated(t)
	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		done  = make(chan error, 1)
	)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			key := "w" + strconv.Itoa(i)
			err := c.a.client.Set(context.Background(), key, i, 0).Err()
			switch {
			case err == nil:
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			case isErr(err, "READONLY"):
				done <- nil // a is a replica now
				return
			default:
				done <- fmt.Errorf("SET %s: %w", key, err)
				return
			}
		}
	}()
	eventually(t, "writes flowing", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 100, strconv.Itoa(len(acked))
	})
	if err := c.da.Switchover(ctx(t), "b", 5*time.Second); err != nil {
		t.Fatalf("Switchover a to b: %v", err)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	mu.Lock()
	keys := acked
	mu.Unlock()
	vals, err := c.b.client.MGet(ctx(t), keys...).Result()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for i, v := range vals {
		if v == nil {
			missing = append(missing, keys[i])
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged writes missing on b: %v", len(missing), len(keys), missing)
	}
	if st, err := c.db.Status(ctx(t)); err != nil || st.Role != driver.RolePrimary {
		t.Errorf("b: %+v, %v; want primary", st, err)
	}
	c.b.mustSet(t, "on-b", "1")
	waitFollowing(t, c.da, "b")
	waitKey(t, c.a, "on-b", "1")
	if err := c.da.Switchover(ctx(t), "b", 5*time.Second); err != nil {
		t.Errorf("Switchover again (done already): %v", err)
	}
}

// A switchover that cannot complete leaves the primary where it was,
// writable, whether Redis gives up or the caller does.
func TestSwitchoverFailureKeepsPrimary(t *testing.T) {
	t.Parallel()
	c := replicated(t)
	for _, to := range []string{"nobody", "a"} {
		if err := c.da.Switchover(ctx(t), to, time.Second); err == nil {
			t.Errorf("Switchover to %q: no error", to)
		}
	}
	// On the replica of a, a switchover to a is done already.
	if err := c.db.Switchover(ctx(t), "a", time.Second); err != nil {
		t.Errorf("Switchover on b to a, its primary: %v", err)
	}

	// b, stopped, never acknowledges the write: it cannot catch up.
	c.b.signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			c.b.signal(syscall.SIGCONT)
		}
	}()
	c.a.mustSet(t, "x", "1")
	stillPrimary := func(what string) {
		t.Helper()
		st, err := c.da.Status(ctx(t))
		if err != nil || st.Role != driver.RolePrimary {
			t.Errorf("%s: a is %+v, %v; want primary", what, st, err)
		}
		if fs := c.a.info(t)["master_failover_state"]; fs != "no-failover" {
			t.Errorf("%s: a's failover state %s", what, fs)
		}
		if err := c.a.set(t, "x", what); err != nil {
			t.Errorf("%s: SET on a: %v", what, err)
		}
	}

	// The timeout passes (Redis gives up after its FAILOVER TIMEOUT, or
	// the driver aborts at the deadline, whichever comes first).
	start := time.Now()
	err := c.da.Switchover(ctx(t), "b", 1500*time.Millisecond)
	if err == nil {
		t.Fatal("Switchover to a stopped replica: no error")
	}
	if el := time.Since(start); el > 2500*time.Millisecond {
		t.Errorf("Switchover took %v with a 1.5s timeout", el)
	}
	t.Logf("timed out: %v", err)
	stillPrimary("after the timeout")

	// The caller gives up first: the driver aborts the FAILOVER.
	c.a.mustSet(t, "y", "1")
	cctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = c.da.Switchover(cctx, "b", 5*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Switchover past its ctx: %v, want a deadline error", err)
	}
	t.Logf("caller gave up: %v", err)
	stillPrimary("after the caller gave up")

	// A FAILOVER left running (an agent restarted mid-switchover) is
	// aborted by Promote.
	if err := c.a.client.Do(ctx(t), "FAILOVER", "TO", "127.0.0.1", c.b.port(), "TIMEOUT", "20000").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.da.Promote(ctx(t)); err != nil {
		t.Fatalf("Promote during a FAILOVER: %v", err)
	}
	stillPrimary("after Promote")

	c.b.signal(syscall.SIGCONT)
	stopped = false
	waitFollowing(t, c.db, "a")
	waitKey(t, c.b, "x", "after Promote")
}

// A dead redis is RoleDown with an error saying where.
func TestStatusDown(t *testing.T) {
	t.Parallel()
	a := startRedis(t)
	d := newDriver(t, Config{Self: "a", Addrs: map[string]string{"a": a.addr, "b": "127.0.0.1:1"}, Timeout: 500 * time.Millisecond})
	if st, err := d.Status(ctx(t)); err != nil || st.Role != driver.RolePrimary {
		t.Fatalf("Status: %+v, %v", st, err)
	}
	a.kill()
	start := time.Now()
	st, err := d.Status(ctx(t))
	if err == nil || st.Role != driver.RoleDown || st.Detail == "" {
		t.Fatalf("Status of a dead redis: %+v, %v; want down with an error", st, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Status took %v", el)
	}
	for _, want := range []string{"redis a", a.addr, "INFO replication"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := d.Fence(ctx(t), "x"); err == nil || !strings.Contains(err.Error(), a.addr) {
		t.Errorf("Fence of a dead redis: %v", err)
	}
	if err := d.Promote(ctx(t)); err == nil {
		t.Error("Promote of a dead redis: no error")
	}
}

// The lag sampled while the primary answered is kept, with its time,
// once the primary is gone.
func TestLagKeptAfterPrimaryDies(t *testing.T) {
	t.Parallel()
	c := replicated(t)
	c.a.mustSet(t, "k", "v")
	var last driver.Status
	eventually(t, "b caught up", func() (bool, string) {
		var err error
		last, err = c.db.Status(ctx(t))
		return err == nil && last.LinkUp && last.Lag == 0 && !last.LagAt.IsZero(), fmt.Sprintf("%+v, %v", last, err)
	})
	c.a.kill()
	var st driver.Status
	eventually(t, "b's link down", func() (bool, string) {
		var err error
		st, err = c.db.Status(ctx(t))
		if !st.LagAt.Equal(last.LagAt) {
			t.Fatalf("LagAt moved from %v to %v with the primary dead: %+v", last.LagAt, st.LagAt, st)
		}
		return err == nil && st.Role == driver.RoleReplica && !st.LinkUp, fmt.Sprintf("%+v, %v", st, err)
	})
	if st.Lag != 0 || st.Following != "a" || !strings.Contains(st.Detail, "unreachable") {
		t.Errorf("b with a dead: %+v; want lag 0 following a, saying a is unreachable", st)
	}

	// Had b been behind at the last sample, it still is: the lag is
	// against that sample, not 0.
	c.db.mu.Lock()
	c.db.sample.offset = st.Offset + 100
	c.db.mu.Unlock()
	st, err := c.db.Status(ctx(t))
	if err != nil || st.Lag != 100 || !st.LagAt.Equal(last.LagAt) {
		t.Errorf("b behind a dead primary: %+v, %v; want lag 100 as of %v", st, err, last.LagAt)
	}
}
