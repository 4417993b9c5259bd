package e2e

import (
	"testing"
	"time"
)

// The primary's redis-server dies while its tetherd lives (the node stays
// OPEN): after grace the primary resigns, fenced, and the mirror fails
// over at once on its word; the restarted redis is made to follow the
// new primary.
func TestFailoverRedisBackendDeath(t *testing.T) {
	rb := newRedisBed(t)
	w := rb.writing()
	rb.redis[0].Kill()
	killed := time.Now()
	acked := w.halt()
	took := rb.writable(1, 20*time.Second).Sub(killed)
	t.Logf("kill -9 of the primary's redis (tetherd alive) -> replica writable: %v", took)
	if took < 3*time.Second {
		t.Errorf("node1's redis writable %v after the kill: before grace (3s)", took)
	}
	if st, _ := rb.Status(1); nodeState(st, 0) != "OPEN" {
		t.Fatalf("node0 is not OPEN: the failover did not come from a resignation")
	}
	if r := findRecord(rb.history(0), "resign", "backend-down"); r == nil || r.EpochAfter != 1 {
		t.Fatalf("no resignation in node0's history: %+v", rb.history(0))
	}
	if r := findRecord(rb.history(1), "promoted", "primary-resigned"); r == nil || r.EpochAfter != 2 {
		t.Fatalf("no promotion on the resignation in node1's history: %+v", rb.history(1))
	}
	rb.checkKept(1, acked)
	// The old primary's redis comes back (empty, as a master): its
	// tetherd, which knows epoch 2, fences it and makes it follow node1.
	rb.redis[0].Restart()
	rb.waitFor("node0's redis to follow node1", 30*time.Second, func() bool {
		role, host := rb.role(0)
		return role == "slave" && host == rb.IP(1, "hb0").String()
	})
	rb.waitFor("node0 to be the mirror at epoch 2", 10*time.Second, func() bool {
		f := rb.failoverStatus2(0, "cache")
		return f.Role == "mirror" && f.Epoch == 2 && f.Primary == "node1"
	})
}
