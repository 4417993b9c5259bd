package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/testbed"
)

// newEtcdBed is a two-node cluster, node0 primary of orders (acks: local)
// and node1 its mirror, with no witness node and no public channel: the
// third vote is a real etcd in a host namespace on network pub, which
// the interconnect (hb0, hb1) does not touch.
func newEtcdBed(t *testing.T) (*mirrorBed, *testbed.Etcd) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "etcd", "etcd-server")
	data := t.TempDir()
	dirs := []string{filepath.Join(data, "n0"), filepath.Join(data, "n1")}
	nets := append(append([]testbed.NetworkSpec{}, tcpNets...), testbed.NetworkSpec{Name: "pub", Channels: []string{"tcp"}})
	b := testbed.New(t, testbed.Options{BinDir: binDir, Nodes: 2, Networks: nets, EditConfig: func(i int, doc map[string]any) {
		publicOnly(i, doc, false)
		doc["replicator"] = map[string]any{"dir": dirs[i], "api": "127.0.0.1:9188"}
		doc["resources"] = []any{
			map[string]any{"name": "orders", "driver": "builtin", "primary": "node0", "mirror": "node1",
				"topics": []any{"orders"}, "acks": "local"},
		}
		doc["quorum"] = etcdQuorum()
	}})
	e := startEtcd(t, b)
	b.StartAll()
	b.WaitAllUp(upTimeout)
	m := openMirrorBed(t, b, dirs)
	m.waitWritable(0, upTimeout)
	return m, e
}

// etcdEndpoint is where startEtcd's etcd listens: the bed's first host
// on network 2 (pub), known before the bed writes the configs.
const etcdEndpoint = "http://10.77.2.201:2379"

// etcdQuorum is the quorum section naming it.
func etcdQuorum() map[string]any {
	return map[string]any{"etcd": map[string]any{"endpoints": []any{etcdEndpoint}}}
}

// startEtcd runs an etcd in a host on network pub, which the interconnect
// does not share (a primary's isolation cuts it off, an interconnect cut
// does not).
func startEtcd(t *testing.T, b *testbed.Bed) *testbed.Etcd {
	t.Helper()
	e := b.StartEtcd(b.AddHost("etcd", "pub"), "pub")
	if e.Endpoint != etcdEndpoint {
		t.Fatalf("etcd listens on %s, the configs name %s", e.Endpoint, etcdEndpoint)
	}
	return e
}

// writeFor produces to node i every 50ms for d; it returns the failures.
func (m *mirrorBed) writeFor(i int, d time.Duration, tag string) (ok int, failed []string) {
	for n, end := 0, time.Now().Add(d); time.Now().Before(end); n++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := m.api[i].Produce(ctx, "orders", [][]byte{fmt.Appendf(nil, "%s-%d", tag, n)})
		cancel()
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", time.Now().Format(time.StampMilli), err))
		} else {
			ok++
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ok, failed
}

// quorum.etcd: two nodes and an etcd. The interconnect cut (both reach
// etcd): node0 keeps writing on etcd's vote and node1, which sees it DOWN,
// does not fail over: the key is alive. etcd frozen: node0 keeps writing
// on node1's vote. kill -9 of node0: its key expires, node1 takes it and
// fails over after grace; node0 comes back DIVERGED.
func TestFailoverEtcdQuorum(t *testing.T) {
	m, e := newEtcdBed(t)
	m.waitFor("node1 to read node0's key", 10*time.Second, func() bool {
		f := m.failoverStatus(1)
		return f.Voters == 3 && f.QuorumPossible && strings.Contains(f.Witness, "etcd: the key still names node0 at epoch 1")
	})
	m.waitFor("node0 to count node1's and etcd's votes", 10*time.Second, func() bool {
		f := m.failoverStatus(0)
		return f.Role == "primary" && !f.Fenced && f.Votes == 3
	})

	// The interconnect cut, past grace.
	severs := []testbed.Fault{m.Sever(0, 1, "hb0"), m.Sever(0, 1, "hb1")}
	m.waitFor("node1 to see node0 DOWN", 10*time.Second, func() bool {
		st, err := m.Status(1)
		return err == nil && nodeState(st, 0) == "DOWN"
	})
	ok, failed := m.writeFor(0, 5*time.Second, "cut")
	f1 := m.failoverStatus(1)
	if f1.Reason != "no-quorum" || !strings.Contains(f1.Witness, "lease is alive") {
		t.Fatalf("mirror with the interconnect cut: %+v", f1)
	}
	if f0 := m.failoverStatus(0); f0.Role != "primary" || f0.Fenced || f0.Votes != 2 {
		t.Fatalf("the primary lost its lease though etcd backs it: %+v", f0)
	}
	// Its lease rests on etcd's vote from the start of the cut: a write
	// may fail while node1's vote lapses, none after.
	if ok == 0 || len(failed) > 2 {
		t.Fatalf("node0 took %d writes with the interconnect cut, %d failed: %v", ok, len(failed), failed)
	}
	for _, f := range severs {
		f.Undo()
	}
	m.waitFor("node1 to see node0 again", 15*time.Second, func() bool { return m.failoverStatus(1).Reason == "primary-up" })
	if r := findRecord(m.history(1), "refuse", "no-quorum"); r == nil || !strings.Contains(r.Witness, "etcd") {
		t.Fatalf("the refusal is not in node1's history with etcd's answer: %+v", r)
	}

	// etcd frozen: the pair still has a majority.
	e.Signal(syscall.SIGSTOP)
	frozen := true
	defer func() {
		if frozen {
			e.Signal(syscall.SIGCONT)
		}
	}()
	m.waitFor("node0 to miss etcd's vote", 10*time.Second, func() bool { return m.failoverStatus(0).Votes == 2 })
	if ok, failed := m.writeFor(0, 2*time.Second, "frozen"); ok == 0 || len(failed) > 0 {
		t.Fatalf("node0 with etcd frozen: %d writes, failed %v", ok, failed)
	}
	e.Signal(syscall.SIGCONT)
	frozen = false
	m.waitFor("node0 to hold etcd's vote again", 15*time.Second, func() bool { return m.failoverStatus(0).Votes == 3 })

	// kill -9 of the primary.
	m.Kill(0)
	killed := time.Now()
	writable := m.waitWritable(1, 20*time.Second)
	took := writable.Sub(killed)
	t.Logf("kill -9 of the primary -> mirror writable, etcd as third vote: %v", took)
	if took < 3*time.Second {
		t.Errorf("node1 writable %v after the kill: before grace (3s)", took)
	}
	recs := m.history(1)
	pr, done := findRecord(recs, "promote", "primary-dead"), findRecord(recs, "promoted", "primary-dead")
	if pr == nil || done == nil || pr.Votes != 2 || !strings.Contains(pr.Witness, "etcd: confirms") || done.EpochAfter != 2 || done.Revision == 0 {
		t.Fatalf("history of the failover: promote %+v, promoted %+v", pr, done)
	}
	m.waitFor("node1 to hold the key at epoch 2", 5*time.Second, func() bool {
		f := m.failoverStatus(1)
		return f.Role == "primary" && !f.Fenced && f.Votes == 2
	})

	// The old primary returns: the key (and node1's views) say epoch 2.
	m.Start(0)
	m.waitFor("node0 to come back DIVERGED", 20*time.Second, func() bool {
		rs, err := m.api[0].Mirrors(context.Background())
		return err == nil && len(rs) == 1 && rs[0].Role == "diverged"
	})
	_, err := m.api[0].Produce(context.Background(), "orders", [][]byte{[]byte("late")})
	if !topicapi.IsStatus(err, http.StatusConflict) {
		t.Fatalf("produce on the returned old primary: %v", err)
	}
	if f := m.failoverStatus(1); f.Role != "primary" || f.Fenced {
		t.Fatalf("node1 lost its lease when node0 came back: %+v", f)
	}
}
