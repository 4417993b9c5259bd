package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/replicator/history"
	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/testbed"
)

// newFailoverBed is three nodes on two networks: node0 the primary of
// orders (acks: mirror), node1 its mirror, node2 a witness (no
// replicator, no copy) that gives the pair its third vote.
func newFailoverBed(t *testing.T) *mirrorBed {
	data := t.TempDir()
	dirs := []string{filepath.Join(data, "n0"), filepath.Join(data, "n1")}
	b := newBed(t, testbed.Options{Nodes: 3, Networks: tcpNets, EditConfig: func(i int, doc map[string]any) {
		doc["nodes"].([]any)[2].(map[string]any)["witness"] = true
		if i < 2 {
			doc["replicator"] = map[string]any{"dir": dirs[i], "api": "127.0.0.1:9188"}
		}
		doc["resources"] = []any{
			map[string]any{"name": "orders", "driver": "builtin", "primary": "node0", "mirror": "node1",
				"topics": []any{"orders"}, "acks": "mirror", "acks_timeout": "2s"},
		}
	}})
	m := openMirrorBed(t, b, dirs)
	m.waitWritable(0, upTimeout)
	return m
}

// waitWritable waits until a produce on node i succeeds; it returns when.
func (m *mirrorBed) waitWritable(i int, timeout time.Duration) time.Time {
	m.t.Helper()
	var last error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := m.api[i].Produce(ctx, "orders", [][]byte{fmt.Appendf(nil, "probe-%d-%d", i, time.Now().UnixNano())})
		cancel()
		if err == nil {
			return time.Now()
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	m.t.Fatalf("node%d not writable after %v: %v", i, timeout, last)
	return time.Time{}
}

// waitLease waits until node i, primary of res, holds its failover lease
// (a cluster of three voters: it writes only while a majority confirms it).
func (m *mirrorBed) waitLease(i int, res string) {
	m.t.Helper()
	m.WaitFor(i, "the failover lease of "+res, upTimeout, func(st *status.Status) bool {
		for _, f := range st.Failover {
			if f.Resource == res {
				return f.Role == "primary" && !f.Fenced && f.LeaseLeft > 0
			}
		}
		return false
	})
}

// failoverStatus is node i's supervisor view of orders.
func (m *mirrorBed) failoverStatus(i int) status.Failover {
	m.t.Helper()
	return m.failoverStatus2(i, "orders")
}

// failoverStatus2 is node i's supervisor view of resource res.
func (m *mirrorBed) failoverStatus2(i int, res string) status.Failover {
	m.t.Helper()
	st, err := m.Status(i)
	if err != nil {
		m.t.Fatalf("node%d: %v", i, err)
	}
	for _, f := range st.Failover {
		if f.Resource == res {
			return f
		}
	}
	m.t.Fatalf("node%d: no failover status for %s: %+v", i, res, st.Failover)
	return status.Failover{}
}

// history is node i's failover history, read with the real tetherctl.
func (m *mirrorBed) history(i int) []history.Record {
	m.t.Helper()
	out, errOut, err := m.ctl2(i, "--socket", m.Socket(i), "history", "--json")
	var recs []history.Record
	if err != nil || json.Unmarshal([]byte(out), &recs) != nil {
		m.t.Fatalf("node%d: tetherctl history --json: %v\n%s%s", i, err, out, errOut)
	}
	return recs
}

func findRecord(recs []history.Record, action, reason string) *history.Record {
	for i := range recs {
		if recs[i].Action == action && recs[i].Reason == reason {
			return &recs[i]
		}
	}
	return nil
}

// With a witness: the interconnect between primary and mirror broken
// (the witness sees both) fails nothing over; kill -9 of the primary
// does, after grace, with every acknowledged write on the new primary,
// and the old primary comes back DIVERGED.
func TestFailoverWithWitness(t *testing.T) {
	m := newFailoverBed(t)
	if f := m.failoverStatus(0); f.Role != "primary" || f.Fenced || !f.QuorumPossible || f.Voters != 3 {
		t.Fatalf("primary's failover status: %+v", f)
	}
	if f := m.failoverStatus(2); f.Role != "none" || f.Primary != "node0" || f.Epoch != 1 {
		t.Fatalf("witness's failover status: %+v", f)
	}
	if out, err := m.ctl(2, "--socket", m.Socket(2), "failover", "status"); err != nil || !strings.Contains(out, "orders") {
		t.Fatalf("tetherctl failover status on the witness: %v\n%s", err, out)
	}

	// The interconnect between node0 and node1 broken on both networks,
	// for longer than grace: node1 sees node0 DOWN, the witness does not.
	severs := []testbed.Fault{m.Sever(0, 1, "hb0"), m.Sever(0, 1, "hb1")}
	m.waitFor("node1 to see node0 DOWN", 10*time.Second, func() bool {
		st, err := m.Status(1)
		return err == nil && nodeState(st, 0) == "DOWN"
	})
	// Past grace the decision moves from within-grace to the reason it
	// refuses; a failover would have happened instead.
	m.waitFor("node1 to decide past grace", 10*time.Second, func() bool {
		r := m.failoverStatus(1).Reason
		return r != "" && r != "within-grace" && r != "primary-up" && r != "primary-jeopardy"
	})
	f1 := m.failoverStatus(1)
	if f1.Role != "mirror" || f1.Reason != "no-quorum" || !f1.Alert || !strings.Contains(f1.Witness, "node2: sees node0 OPEN") {
		t.Fatalf("mirror with the interconnect broken: %+v", f1)
	}
	if f0 := m.failoverStatus(0); f0.Role != "primary" || f0.Fenced {
		t.Fatalf("the primary lost its lease though the witness supports it: %+v", f0)
	}
	if out, err := m.ctl(1, "--socket", m.Socket(1), "failover", "status"); err == nil || !strings.Contains(out, "no-quorum !") {
		t.Fatalf("tetherctl failover status on the mirror: %v (want exit 1)\n%s", err, out)
	}
	for _, f := range severs {
		f.Undo()
	}
	m.waitFor("node1 to see node0 again and decide nothing", 15*time.Second, func() bool {
		f := m.failoverStatus(1)
		return f.Reason == "primary-up"
	})
	if r := findRecord(m.history(1), "refuse", "no-quorum"); r == nil || r.Votes != 1 || r.Voters != 3 || len(r.Links) == 0 {
		t.Fatalf("the refusal is not in node1's history: %+v", r)
	}

	// kill -9 of the primary while it produces with acks: mirror.
	p := m.produce(0, "orders", 50, "kill")
	m.waitFor("produces", 10*time.Second, func() bool { return p.count() >= 20 })
	m.Kill(0)
	killed := time.Now()
	acked := p.halt()
	writable := m.waitWritable(1, 20*time.Second)
	took := writable.Sub(killed)
	t.Logf("kill -9 of the primary -> mirror writable: %v", took)
	if took < 3*time.Second {
		t.Errorf("node1 writable %v after the kill: before grace (3s)", took)
	}
	m.checkMirrored(1, "orders", acked)
	recs := m.history(1)
	pr, done := findRecord(recs, "promote", "primary-dead"), findRecord(recs, "promoted", "primary-dead")
	if pr == nil || done == nil || pr.Votes != 2 || !strings.Contains(pr.Witness, "node2: confirms") || done.EpochBefore != 1 || done.EpochAfter != 2 {
		t.Fatalf("history of the failover: promote %+v, promoted %+v", pr, done)
	}
	m.waitFor("the witness to relay epoch 2", 5*time.Second, func() bool {
		f := m.failoverStatus(2)
		return f.Epoch == 2 && f.Primary == "node1"
	})

	// The old primary returns: it learns epoch 2 and takes no write.
	m.Start(0)
	m.waitFor("node0 to come back DIVERGED", 20*time.Second, func() bool {
		rs, err := m.api[0].Mirrors(context.Background())
		return err == nil && len(rs) == 1 && rs[0].Role == "diverged"
	})
	_, err := m.api[0].Produce(context.Background(), "orders", [][]byte{[]byte("late")})
	if !topicapi.IsStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "DIVERGED") {
		t.Fatalf("produce on the returned old primary: %v", err)
	}
}

// SIGSTOP of the primary for longer than grace: the mirror fails over,
// and the old primary, continued, refuses every write from the moment it
// runs again (its lease ended during the pause) and then learns it was
// replaced.
func TestFailoverPausedPrimary(t *testing.T) {
	m := newFailoverBed(t)
	m.Signal(0, syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			m.Signal(0, syscall.SIGCONT)
		}
	}()
	m.waitWritable(1, 20*time.Second)
	m.Signal(0, syscall.SIGCONT)
	stopped = false
	resumed := time.Now()
	for time.Since(resumed) < 3*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := m.api[0].Produce(ctx, "orders", [][]byte{[]byte("after-pause")})
		cancel()
		if err == nil {
			t.Fatalf("the old primary took a write %v after its pause, with node1 promoted: split brain", time.Since(resumed))
		}
		time.Sleep(10 * time.Millisecond)
	}
	m.waitFor("node0 to learn it was replaced", 10*time.Second, func() bool {
		rs, err := m.api[0].Mirrors(context.Background())
		return err == nil && len(rs) == 1 && rs[0].Role == "diverged"
	})
	if r := findRecord(m.history(0), "fence", "paused"); r == nil {
		t.Errorf("node0's history has no fence after its pause: %+v", m.history(0))
	}
}
