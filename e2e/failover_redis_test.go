package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/testbed"
)

// redisBed is three nodes on two networks: a real redis-server on node0
// (the primary of resource cache) and node1 (its replica), node2 a
// witness.
type redisBed struct {
	*mirrorBed
	redis []*testbed.Redis
}

func newRedisBed(t *testing.T) *redisBed {
	testbed.RequireTool(t, "redis-server", "redis-server")
	data := t.TempDir()
	dirs := []string{filepath.Join(data, "n0"), filepath.Join(data, "n1")}
	var addrs map[string]any
	b := newBed(t, testbed.Options{Nodes: 3, Networks: tcpNets, EditConfig: func(i int, doc map[string]any) {
		nodes := doc["nodes"].([]any)
		nodes[2].(map[string]any)["witness"] = true
		addrs = map[string]any{}
		for j := range 2 {
			a := nodes[j].(map[string]any)["addresses"].(map[string]any)["hb0"]
			addrs[fmt.Sprintf("node%d", j)] = fmt.Sprintf("%v:%d", a, testbed.RedisPort)
		}
		if i < 2 {
			doc["replicator"] = map[string]any{"dir": dirs[i], "api": "127.0.0.1:9188"}
		}
		doc["resources"] = []any{map[string]any{"name": "cache", "driver": "redis", "primary": "node0", "mirror": "node1",
			"redis": map[string]any{"addresses": addrs}}}
	}})
	rb := &redisBed{mirrorBed: &mirrorBed{Bed: b, t: t, dirs: dirs}}
	for i := range 2 {
		rb.redis = append(rb.redis, b.StartRedis(i))
	}
	return rb
}

// role is INFO replication's role of node i's redis, and its master.
func (rb *redisBed) role(i int) (string, string) {
	c := rb.redis[i].Client()
	defer c.Close()
	info, err := c.Info(context.Background(), "replication").Result()
	if err != nil {
		return "down", ""
	}
	var role, host string
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "role:"); ok {
			role = v
		}
		if v, ok := strings.CutPrefix(l, "master_host:"); ok {
			host = v
		}
	}
	return role, host
}

// writable waits until a SET on node i's redis succeeds; it returns when.
func (rb *redisBed) writable(i int, timeout time.Duration) time.Time {
	rb.t.Helper()
	c := rb.redis[i].Client()
	defer c.Close()
	var err error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err = c.Set(context.Background(), "probe", time.Now().UnixNano(), 0).Err(); err == nil {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	rb.t.Fatalf("node%d's redis not writable after %v: %v", i, timeout, err)
	return time.Time{}
}

// writing waits for node1 to replicate node0, then writes to node0
// until the mirror's supervisor has seen the pair at work (it samples the
// lag every 250ms), as it would in production before a fault.
func (rb *redisBed) writing() *writer {
	rb.t.Helper()
	rb.writable(0, upTimeout)
	rb.waitFor("node1's redis to replicate node0's", 20*time.Second, func() bool {
		role, host := rb.role(1)
		return role == "slave" && host == rb.IP(0, "hb0").String()
	})
	w := rb.write(0)
	rb.waitFor("writes", 10*time.Second, func() bool { return w.count() > 200 })
	rb.waitFor("node1 to sample the lag", 10*time.Second, func() bool {
		f := rb.failoverStatus2(1, "cache")
		return strings.Contains(f.Backend, "link up") && !strings.Contains(f.Backend, "unreachable")
	})
	time.Sleep(time.Second)
	return w
}

// checkKept: Redis replicates asynchronously (acks: local), but what was
// acknowledged more than a moment (100 writes) before the fault is on
// node i, the new primary.
func (rb *redisBed) checkKept(i int, acked []string) {
	rb.t.Helper()
	c := rb.redis[i].Client()
	defer c.Close()
	missing := 0
	for _, k := range acked[:max(len(acked)-100, 0)] {
		if c.Exists(context.Background(), k).Val() != 1 {
			missing++
		}
	}
	if missing > 0 {
		rb.t.Errorf("%d keys acknowledged well before the fault are missing on the new primary", missing)
	}
}

// writer writes w-<n> with set until stopped, and keeps the keys that
// were acknowledged (a back end's client, used from its goroutine only).
type writer struct {
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	acked []string
}

func startWriter(set func(ctx context.Context, key string) error, closeClient func()) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() { // owned by w: halt waits for it
		defer close(w.done)
		defer closeClient()
		for n := 0; ; n++ {
			select {
			case <-w.stop:
				return
			default:
			}
			k := fmt.Sprintf("w-%d", n)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := set(ctx, k)
			cancel()
			if err == nil {
				w.mu.Lock()
				w.acked = append(w.acked, k)
				w.mu.Unlock()
			} else {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	return w
}

// write SETs w-<n> on node i's redis.
func (rb *redisBed) write(i int) *writer {
	c := rb.redis[i].Client()
	return startWriter(func(ctx context.Context, k string) error { return c.Set(ctx, k, 1, 0).Err() }, func() { c.Close() })
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *writer) halt() []string {
	close(w.stop)
	<-w.done
	return w.acked
}

// A real Redis pair with a witness: tether fences the primary until quorum,
// makes the replica follow it; kill -9 of the primary node (its tetherd
// and its redis) promotes the replica after grace; the old node, back
// with an empty redis, is fenced and made a replica of the new primary,
// which it resyncs from.
func TestFailoverRedis(t *testing.T) {
	rb := newRedisBed(t)
	w := rb.writing()
	rb.Kill(0)
	rb.redis[0].Kill()
	killed := time.Now()
	acked := w.halt()
	defer func() {
		if t.Failed() {
			st, _ := rb.Status(1)
			t.Logf("node1's failover status: %+v", st.Failover)
		}
	}()
	took := rb.writable(1, 20*time.Second).Sub(killed)
	t.Logf("kill -9 of the primary node -> replica writable: %v", took)
	if took < 3*time.Second {
		t.Errorf("node1's redis writable %v after the kill: before grace (3s)", took)
	}
	rb.checkKept(1, acked)
	if r := findRecord(rb.history(1), "promoted", "primary-dead"); r == nil || r.EpochAfter != 2 {
		t.Fatalf("no promotion in node1's history: %+v", rb.history(1))
	}
	// The old primary node comes back: redis first (empty, as a master),
	// then tetherd, which fences it and makes it follow node1.
	rb.redis[0].Restart()
	rb.Start(0)
	rb.waitFor("node0's redis to follow node1", 30*time.Second, func() bool {
		role, host := rb.role(0)
		return role == "slave" && host == rb.IP(1, "hb0").String()
	})
	c0 := rb.redis[0].Client()
	defer c0.Close()
	if err := c0.Set(context.Background(), "late", 1, 0).Err(); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("SET on the old primary's redis: %v, want READONLY", err)
	}
	rb.waitFor("node0's redis to resync from node1", 20*time.Second, func() bool {
		return c0.Exists(context.Background(), acked[0]).Val() == 1
	})
	rb.waitFor("node0's supervisor to show it the mirror at epoch 2", 5*time.Second, func() bool {
		f := rb.failoverStatus2(0, "cache")
		return f.Role == "mirror" && f.Epoch == 2 && f.Primary == "node1"
	})
}
