package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/replicator/history"
	"github.com/tether-ha/tether/testbed"
)

// The race against Redis Sentinel: the same testbed, the same Redis pair
// (node0 master, node1 replica, on hb0), the same faults on the master's
// node, the same client and checker; failover is decided by three
// Sentinels, one per node (testbed/sentinel.go: they watch over hb0, the
// data network), and tetherd runs with no resource. "sentinel" has
// Sentinel's default down-after-milliseconds (30 s), "sentinel-tuned"
// 1 s. failover-timeout is 10 s in both (Sentinel's default, 180 s, bars
// a new failover against a master for 6 minutes after one was tried,
// which would leave consecutive trials without one). Sentinel's trials are
// measured, not asserted: what it loses or doubles is what the suite
// reports about it.

// arbiter decides failover in place of tether (Sentinel): the suite asks
// it for the primary and its promotions.
type arbiter interface {
	primary() int
	promotions(since time.Time) []history.Record
	// detection: how long it takes to notice a dead primary (the trials
	// wait that much longer than for tether).
	detection() time.Duration
}

type sentinelBackend struct {
	*redisBackend
	t         *testing.T
	downAfter time.Duration
	sen       *testbed.Sentinels
}

func newSentinelBackend(t *testing.T, downAfter time.Duration) *sentinelBackend {
	testbed.RequireTool(t, "redis-server", "redis-server")
	testbed.RequireTool(t, "redis-sentinel", "redis-sentinel")
	return &sentinelBackend{redisBackend: &redisBackend{}, t: t, downAfter: downAfter}
}

func (be *sentinelBackend) resources(int, map[string]any) []any { return []any{} }

func (be *sentinelBackend) up() {
	b := be.b
	r0 := b.StartRedis(0)
	r1 := b.StartRedis(1, "--replicaof", b.IP(0, "hb0").String(), fmt.Sprint(testbed.RedisPort))
	be.redis = []*testbed.Redis{r0, r1}
	be.sen = b.StartSentinels(r0, []int{0, 1, 2}, testbed.SentinelOptions{DownAfter: be.downAfter, FailoverTimeout: 10 * time.Second})
	be.sen.WaitSettled(60 * time.Second)
}

// primary is the master every Sentinel names, once settled (its replica
// linked), else -1.
func (be *sentinelBackend) primary() int {
	if _, err := be.sen.Settled(); err != nil {
		return -1
	}
	n, err := be.sen.MasterNode()
	if err != nil || n > 1 {
		return -1
	}
	return n
}

func (be *sentinelBackend) mirroring(m int, st *status.Status) bool {
	return be.primary() == 1-m && be.redisBackend.mirroring(m, st)
}

// promotions are Sentinel's failovers since, one record each.
func (be *sentinelBackend) promotions(since time.Time) []history.Record {
	var out []history.Record
	for _, sw := range be.sen.FailoversSince(since) {
		out = append(out, history.Record{Action: "promoted", Reason: "sentinel", Resource: "cache", Time: sw.At,
			Node: fmt.Sprintf("node%d", be.sen.NodeOf(sw.To))})
	}
	return out
}

func (be *sentinelBackend) detection() time.Duration { return be.downAfter }

// A node crash takes its Sentinel with it; its reboot brings both back
// (redis empty, as a master: Sentinel makes it a replica).
func (be *sentinelBackend) kill(p int) {
	be.redisBackend.kill(p)
	be.sen.Kill(p)
}

func (be *sentinelBackend) restart(p int) {
	be.redis[p].Restart()
	be.sen.Restart(p)
}

func (be *sentinelBackend) signal(p int, sig syscall.Signal) {
	be.redisBackend.signal(p, sig)
	be.sen.Signal(p, sig)
}

// lossLimit: Sentinel records no lag; what it loses is reported, not judged.
func (be *sentinelBackend) lossLimit(uint64) uint64 { return 0 }
