package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/driver/builtin"
	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/testbed"
)

// mirrorBed is a two-node bed on two tcp networks, each node with a
// replicator in its own directory, and two resources primary on node0:
// orders (acks: mirror) and audit (acks: local).
type mirrorBed struct {
	*testbed.Bed
	t    *testing.T
	dirs []string
	api  []*topicapi.Client
}

func newMirrorBed(t *testing.T) *mirrorBed {
	data := t.TempDir()
	dirs := []string{filepath.Join(data, "n0"), filepath.Join(data, "n1")}
	b := newBed(t, testbed.Options{Nodes: 2, Networks: tcpNets, EditConfig: func(i int, doc map[string]any) {
		doc["replicator"] = map[string]any{"dir": dirs[i], "api": "127.0.0.1:9188"}
		doc["resources"] = []any{
			map[string]any{"name": "orders", "driver": "builtin", "primary": "node0", "mirror": "node1",
				"topics": []any{"orders"}, "acks": "mirror", "acks_timeout": "3s"},
			map[string]any{"name": "audit", "driver": "builtin", "primary": "node0", "mirror": "node1",
				"topics": []any{"audit"}, "acks": "local"},
		}
	}})
	m := openMirrorBed(t, b, dirs)
	return m
}

// openMirrorBed wraps a started bed whose node0 and node1 hold copies
// in dirs, with a topic API client per node, once both APIs answer.
func openMirrorBed(t *testing.T, b *testbed.Bed, dirs []string) *mirrorBed {
	m := &mirrorBed{Bed: b, t: t, dirs: dirs}
	for i := range 2 {
		m.api = append(m.api, topicapi.NewClient("127.0.0.1:9188").WithHTTPClient(testbed.HTTPClient(b.NodeNS(i))))
	}
	m.waitAPI(0)
	m.waitAPI(1)
	return m
}

func (m *mirrorBed) waitAPI(i int) {
	m.t.Helper()
	deadline := time.Now().Add(upTimeout)
	for {
		rs, err := m.api[i].Mirrors(context.Background())
		if err == nil && !slices.ContainsFunc(rs, func(r builtin.ResourceStatus) bool { return r.Starting }) {
			return
		}
		if err == nil {
			err = fmt.Errorf("a resource is still starting")
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("node%d: replicator API not answering: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ctl runs the real tetherctl in node i's namespace: its standard output
// and error together.
func (m *mirrorBed) ctl(i int, args ...string) (string, error) {
	out, errOut, err := m.ctl2(i, args...)
	return out + errOut, err
}

// ctl2 runs tetherctl and returns its standard output and error apart.
func (m *mirrorBed) ctl2(i int, args ...string) (string, string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", m.NodeNS(i), filepath.Join(binDir, "tetherctl")}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func (m *mirrorBed) topic(i int, res, topic string) builtin.TopicStatus {
	m.t.Helper()
	r, err := m.api[i].Mirror(context.Background(), res)
	if err != nil {
		m.t.Fatalf("node%d: describe %s: %v", i, res, err)
	}
	for _, t := range r.Topics {
		if t.Topic == topic {
			return t
		}
	}
	m.t.Fatalf("node%d: %s has no topic %s", i, res, topic)
	return builtin.TopicStatus{}
}

func (m *mirrorBed) resource(i int, res string) builtin.ResourceStatus {
	m.t.Helper()
	r, err := m.api[i].Mirror(context.Background(), res)
	if err != nil {
		m.t.Fatalf("node%d: describe %s: %v", i, res, err)
	}
	return r
}

func (m *mirrorBed) waitFor(what string, timeout time.Duration, cond func() bool) {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			m.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logSum is the SHA-256 of a topic's segment files on node i, in offset
// order: equal sums mean byte-for-byte equal logs.
func (m *mirrorBed) logSum(i int, topic string) (string, int64) {
	m.t.Helper()
	dir := filepath.Join(m.dirs[i], "topics", topic)
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		m.t.Fatal(err)
	}
	slices.Sort(names) // zero-padded base offsets
	h := sha256.New()
	var n int64
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			m.t.Fatal(err)
		}
		h.Write(b)
		n += int64(len(b))
	}
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

// producer writes batches to topic on node i until stopped, and keeps
// what was acknowledged.
type producer struct {
	mu    sync.Mutex
	acked []ackedBatch
	errs  int
	slow  time.Duration // the longest acknowledged produce
	stop  chan struct{}
	done  chan struct{}
}

func (m *mirrorBed) produce(i int, topic string, batch int, prefix string) *producer {
	p := &producer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for seq := 0; ; seq++ {
			select {
			case <-p.stop:
				return
			default:
			}
			vals := make([]string, batch)
			raw := make([][]byte, batch)
			for k := range vals {
				vals[k] = fmt.Sprintf("%s-%d-%d", prefix, seq, k)
				raw[k] = []byte(vals[k])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			t0 := time.Now()
			r, err := m.api[i].Produce(ctx, topic, raw)
			took := time.Since(t0)
			cancel()
			p.mu.Lock()
			if err != nil {
				p.errs++
			} else {
				p.acked = append(p.acked, ackedBatch{r.BaseOffset, vals})
				p.slow = max(p.slow, took)
			}
			p.mu.Unlock()
			if err != nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	return p
}

func (p *producer) halt() []ackedBatch {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acked)
}

func (p *producer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// readAll consumes a whole topic on node i.
func (m *mirrorBed) readAll(i int, topic string) []topicapi.Record {
	m.t.Helper()
	var all []topicapi.Record
	for off := int64(0); ; {
		f, err := m.api[i].Consume(context.Background(), topic, off, 1<<20, 0)
		if err != nil {
			m.t.Fatalf("node%d: consume %s from %d: %v", i, topic, off, err)
		}
		all = append(all, f.Records...)
		if len(f.Records) == 0 || f.NextOffset >= f.HighWatermark {
			return all
		}
		off = f.NextOffset
	}
}

// checkMirrored: every acknowledged record is on node i at its offset, no
// gap, no duplicate (offsets contiguous from 0, each value once).
func (m *mirrorBed) checkMirrored(i int, topic string, acked []ackedBatch) {
	m.t.Helper()
	all := m.readAll(i, topic)
	seen := map[string]bool{}
	for k, r := range all {
		if r.Offset != int64(k) {
			m.t.Fatalf("node%d %s: record %d has offset %d: a gap", i, topic, k, r.Offset)
		}
		if seen[string(r.Value)] {
			m.t.Fatalf("node%d %s: %q twice: a duplicate", i, topic, r.Value)
		}
		seen[string(r.Value)] = true
	}
	for _, a := range acked {
		for k, v := range a.values {
			o := a.base + int64(k)
			if o >= int64(len(all)) || string(all[o].Value) != v {
				m.t.Fatalf("node%d %s: acknowledged %q at offset %d is missing (log has %d)", i, topic, v, o, len(all))
			}
		}
	}
}

// 100,000 records produced on node0 are on node1 byte for byte at the
// same offsets, with the consumer offsets; the mirror refuses writes;
// pause lets the lag grow and resume drains it; pulling the cable of the
// best link while producing moves replication to the next link with
// nothing lost, duplicated or resynced; promote at lag 0 succeeds and
// stops the old primary.
func TestMirrorReplicates(t *testing.T) {
	m := newMirrorBed(t)
	ctx := context.Background()
	vals := make([][]byte, 1000)
	start := time.Now()
	for b := range 100 {
		for k := range vals {
			vals[k] = []byte(fmt.Sprintf("order-%06d", b*1000+k))
		}
		if _, err := m.api[0].Produce(ctx, "orders", vals); err != nil {
			t.Fatalf("produce batch %d: %v", b, err)
		}
	}
	t.Logf("100,000 records produced with acks: mirror in %v", time.Since(start))
	if err := m.api[0].Commit(ctx, "billing", "orders", 75000); err != nil {
		t.Fatal(err)
	}
	m.waitFor("the mirror to hold 100,000 records", 30*time.Second, func() bool {
		return m.topic(1, "orders", "orders").LogEndOffset == 100000
	})
	if s0, n0 := m.logSum(0, "orders"); true {
		s1, n1 := m.logSum(1, "orders")
		if s0 != s1 || n0 != n1 || n0 == 0 {
			t.Fatalf("logs differ: node0 %s (%d bytes), node1 %s (%d bytes)", s0, n0, s1, n1)
		}
	}
	m.waitFor("consumer offsets on the mirror", 10*time.Second, func() bool {
		tp, err := m.api[1].DescribeTopic(ctx, "orders")
		return err == nil && tp.Groups["billing"] == 75000
	})
	out, err := m.ctl(1, "mirror", "describe", "orders")
	if err != nil || !strings.Contains(out, "State: ACTIVE  DestLogEndOffset: 100000  LastFetchSourceHighWatermark: 100000  Lag: 0") {
		t.Errorf("tetherctl mirror describe on the mirror: %v\n%s", err, out)
	}

	// Read-only mirror, through the real CLI.
	cmd := exec.Command("ip", "netns", "exec", m.NodeNS(1), filepath.Join(binDir, "tetherctl"), "topic", "produce", "orders")
	cmd.Stdin = strings.NewReader("forbidden\n")
	out2, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out2), "cannot append records to read-only mirror topic 'orders'") {
		t.Errorf("produce on the mirror: %v\n%s", err, out2)
	}

	// Pause: the lag grows; resume: it drains.
	if out, err := m.ctl(1, "mirror", "pause", "audit"); err != nil || !strings.Contains(out, "State: PAUSED") {
		t.Fatalf("pause: %v\n%s", err, out)
	}
	for range 10 {
		if _, err := m.api[0].Produce(ctx, "audit", vals[:100]); err != nil {
			t.Fatal(err)
		}
	}
	m.waitFor("lag while paused", 10*time.Second, func() bool {
		ts := m.topic(0, "audit", "audit")
		return ts.LagRecords == 1000
	})
	if ts := m.topic(1, "audit", "audit"); ts.State != "PAUSED" || ts.LogEndOffset != 0 {
		t.Errorf("paused mirror topic: %+v", ts)
	}
	if out, err := m.ctl(1, "mirror", "promote", "audit", "--timeout", "2s"); err == nil || !strings.Contains(out, "paused") {
		t.Errorf("promote while paused must refuse: %v\n%s", err, out)
	}
	if _, err := m.ctl(1, "mirror", "resume", "audit"); err != nil {
		t.Fatal(err)
	}
	m.waitFor("the lag to drain", 10*time.Second, func() bool { return m.topic(1, "audit", "audit").LogEndOffset == 1000 })

	// Pull the best link's cable while producing: replication moves on.
	before := m.topic(1, "orders", "orders")
	p := m.produce(0, "orders", 50, "during-pull")
	m.waitFor("some produces", 10*time.Second, func() bool { return p.count() >= 20 })
	p.mu.Lock()
	p.slow = 0
	p.mu.Unlock()
	pull := m.CablePull(1, "hb0")
	mark := p.count()
	// Held long enough for every timer (tcp idle timeout, peerinact) to
	// have run out on hb0: acknowledged produces (acks: mirror) go on.
	m.waitFor("produces to go on over hb1", 20*time.Second, func() bool {
		return p.count() >= mark+50 && time.Since(pull.At) > 3*time.Second
	})
	if l := m.topic(1, "orders", "orders"); l.State != "ACTIVE" {
		t.Errorf("mirror topic %s while hb0 is pulled", l.State)
	}
	pull.Undo()
	acked := p.halt()
	m.waitFor("the mirror to catch up after the pull", 20*time.Second, func() bool {
		return m.topic(1, "orders", "orders").LagRecords == 0 && m.topic(1, "orders", "orders").LogEndOffset == m.topic(0, "orders", "orders").LogEndOffset
	})
	m.checkMirrored(1, "orders", acked)
	after := m.topic(1, "orders", "orders")
	if s0, _ := m.logSum(0, "orders"); true {
		if s1, _ := m.logSum(1, "orders"); s0 != s1 {
			t.Fatal("logs differ after the cable pull")
		}
	}
	// No resync: every record was fetched once.
	if got, want := after.Records-before.Records, after.LogEndOffset-before.LogEndOffset; got != want {
		t.Errorf("%d records appended for %d new offsets: a resync or duplicate fetch", got, want)
	}
	t.Logf("cable pull: %d batches acknowledged (acks: mirror), %d produce errors, slowest %v", len(acked), p.errs, p.slow)
	// The stream on hb0 is closed when its carrier goes, so the fetch in
	// flight moves to hb1 at once; left to time out (2 s) it would hold
	// an acks: mirror produce that long.
	if p.errs > 0 || p.slow > time.Second {
		t.Errorf("during the pull: %d produces failed, the slowest took %v (want none, under 1 s)", p.errs, p.slow)
	}

	// Promote at lag 0 (audit, acks: local): the old primary is stopped.
	out, _, err = m.ctl2(1, "mirror", "promote", "audit", "--json")
	var res builtin.PromoteResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.EpochAfter != 2 || !res.Told {
		t.Fatalf("promote: %v %+v\n%s", err, res, out)
	}
	if _, err := m.api[1].Produce(ctx, "audit", vals[:1]); err != nil {
		t.Errorf("produce on the promoted node: %v", err)
	}
	if _, err := m.api[0].Produce(ctx, "audit", vals[:1]); err == nil || !strings.Contains(err.Error(), "promoted on node node1") {
		t.Errorf("produce on the old primary after the promote: %v", err)
	}
	if r := m.resource(0, "audit"); r.Role != "stopped" || r.Epoch != 2 {
		t.Errorf("old primary after the promote: %+v", r)
	}
	// reverse-and-start (orders, acks: mirror): node0 mirrors node1 at
	// once, so node1's produces are acknowledged by node0.
	out, err = m.ctl(1, "mirror", "reverse-and-start", "orders")
	if err != nil || !strings.Contains(out, "reverse-and-start of orders done: this node is the primary at epoch 2") {
		t.Fatalf("reverse-and-start: %v\n%s", err, out)
	}
	r, err := m.api[1].Produce(ctx, "orders", vals[:10])
	if err != nil {
		t.Fatalf("acks: mirror produce on the new primary: %v", err)
	}
	if got := m.topic(0, "orders", "orders").LogEndOffset; got < uint64(r.BaseOffset+10) {
		t.Errorf("acknowledged at %d but the new mirror has %d", r.BaseOffset+10, got)
	}
	if r := m.resource(0, "orders"); r.Role != "mirror" || r.Epoch != 2 {
		t.Errorf("old primary after reverse-and-start: %+v", r)
	}
}

// kill -9 of the mirror mid-stream: it resumes at its log end, no gap, no
// duplicate. kill -9 of the primary with acks: mirror: every acknowledged
// record is on the mirror, and failover (the primary unreachable)
// succeeds and reports the lag. The old primary comes back DIVERGED and
// refuses writes; truncate-and-restore exports and cuts exactly the
// records the new primary never had, then mirrors it.
func TestMirrorKillFailoverRestore(t *testing.T) {
	m := newMirrorBed(t)
	ctx := context.Background()

	// The mirror killed while the primary produces.
	p := m.produce(0, "orders", 100, "kill-mirror")
	m.waitFor("produces", 10*time.Second, func() bool { return p.count() >= 50 })
	m.Kill(1)
	m.waitFor("produces to fail without the mirror (acks: mirror)", 10*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.errs > 0
	})
	m.Start(1)
	m.waitAPI(1)
	m.waitFor("produces to be acknowledged again", 20*time.Second, func() bool { return p.count() >= 150 })
	acked := p.halt()
	m.waitFor("the mirror to catch up", 20*time.Second, func() bool {
		return m.topic(1, "orders", "orders").LogEndOffset == m.topic(0, "orders", "orders").LogEndOffset
	})
	m.checkMirrored(1, "orders", acked)
	if s0, _ := m.logSum(0, "orders"); true {
		if s1, _ := m.logSum(1, "orders"); s0 != s1 {
			t.Fatal("logs differ after the mirror's kill -9")
		}
	}

	// audit (acks: local): records the mirror never gets, before the
	// primary dies.
	for range 5 {
		if _, err := m.api[0].Produce(ctx, "audit", [][]byte{[]byte("shared")}); err != nil {
			t.Fatal(err)
		}
	}
	m.waitFor("audit mirrored", 10*time.Second, func() bool { return m.topic(1, "audit", "audit").LogEndOffset == 5 })
	// Paused, the mirror fetches nothing more of audit.
	if _, err := m.ctl(1, "mirror", "pause", "audit"); err != nil {
		t.Fatal(err)
	}
	for k := range 7 {
		if _, err := m.api[0].Produce(ctx, "audit", [][]byte{[]byte(fmt.Sprintf("never-mirrored-%d", k))}); err != nil {
			t.Fatal(err)
		}
	}
	// The primary killed while producing with acks: mirror.
	p = m.produce(0, "orders", 100, "kill-primary")
	m.waitFor("produces", 10*time.Second, func() bool { return p.count() >= 30 })
	m.Kill(0)
	acked = append(acked, p.halt()...)
	m.checkMirrored(1, "orders", acked)
	// ...but audit lost its primary with records the mirror lacks.
	holes := []testbed.Fault{m.Blackhole(0, "hb0"), m.Blackhole(0, "hb1")}
	out, _, err := m.ctl2(1, "mirror", "failover", "audit", "--json")
	var res builtin.PromoteResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.EpochAfter != 2 || res.Told {
		t.Fatalf("failover with the primary down: %v %+v\n%s", err, res, out)
	}
	if out, err := m.ctl(1, "mirror", "failover", "orders"); err != nil || !strings.Contains(out, "LagGivenUp") {
		t.Fatalf("failover of orders: %v\n%s", err, out)
	}
	for range 3 {
		if _, err := m.api[1].Produce(ctx, "audit", [][]byte{[]byte("new-primary")}); err != nil {
			t.Fatalf("produce on the new primary: %v", err)
		}
	}
	// The old primary comes back, still isolated at first: it believes it
	// is primary at epoch 1; once it hears node1 it is DIVERGED.
	m.Start(0)
	m.waitAPI(0)
	for _, h := range holes {
		h.Undo()
	}
	m.waitFor("the old primary to become DIVERGED", 30*time.Second, func() bool {
		return m.resource(0, "audit").Role == "diverged"
	})
	if _, err := m.api[0].Produce(ctx, "audit", [][]byte{[]byte("x")}); err == nil || !strings.Contains(err.Error(), "DIVERGED") {
		t.Fatalf("produce on the diverged old primary: %v", err)
	}
	out, err = m.ctl(0, "mirror", "describe", "audit")
	if err != nil || !strings.Contains(out, "DIVERGED: node node1 was promoted at epoch 2") {
		t.Errorf("describe of the diverged node: %v\n%s", err, out)
	}
	out, _, err = m.ctl2(0, "mirror", "truncate-and-restore", "audit", "--json")
	var rr builtin.RestoreResult
	if err != nil || json.Unmarshal([]byte(out), &rr) != nil || len(rr.Cuts) != 1 {
		t.Fatalf("truncate-and-restore: %v %+v\n%s", err, rr, out)
	}
	c := rr.Cuts[0]
	if c.From != 12 || c.To != 5 || c.Records != 7 || c.File == "" {
		t.Fatalf("cut %+v, want 12 -> 5: the 7 records node1 never had", c)
	}
	data, err := os.ReadFile(c.File)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 7 || !strings.Contains(lines[0], `"offset":5`) || !strings.Contains(lines[0], "never-mirrored-0") ||
		!strings.Contains(lines[6], "never-mirrored-6") {
		t.Errorf("export file %s:\n%s", c.File, data)
	}
	m.waitFor("the old primary to mirror the new one", 20*time.Second, func() bool {
		return m.topic(0, "audit", "audit").LogEndOffset == 8
	})
	if s0, _ := m.logSum(0, "audit"); true {
		if s1, _ := m.logSum(1, "audit"); s0 != s1 {
			t.Fatal("audit logs differ after truncate-and-restore")
		}
	}
	if r := m.resource(0, "audit"); r.Role != "mirror" || r.Epoch != 2 {
		t.Errorf("restored node: %+v", r)
	}
}

// Three nodes, node1 in both roles: mirror of node0's orders and primary
// of audit, mirrored to node2. Each resource's data goes only where its
// resource says.
func TestMirrorThreeNodes(t *testing.T) {
	data := t.TempDir()
	dirs := []string{filepath.Join(data, "n0"), filepath.Join(data, "n1"), filepath.Join(data, "n2")}
	b := newBed(t, testbed.Options{Nodes: 3, Networks: tcpNets, EditConfig: func(i int, doc map[string]any) {
		doc["replicator"] = map[string]any{"dir": dirs[i], "api": "127.0.0.1:9188"}
		doc["resources"] = []any{
			map[string]any{"name": "orders", "driver": "builtin", "primary": "node0", "mirror": "node1",
				"topics": []any{"orders"}, "acks": "mirror"},
			map[string]any{"name": "audit", "driver": "builtin", "primary": "node1", "mirror": "node2",
				"topics": []any{"audit"}},
		}
	}})
	m := &mirrorBed{Bed: b, t: t, dirs: dirs}
	for i := range 3 {
		m.api = append(m.api, topicapi.NewClient("127.0.0.1:9188").WithHTTPClient(testbed.HTTPClient(b.NodeNS(i))))
		m.waitAPI(i)
	}
	m.waitLease(0, "orders")
	m.waitLease(1, "audit")
	ctx := context.Background()
	vals := make([][]byte, 500)
	for k := range vals {
		vals[k] = bytes.Repeat([]byte{byte('a' + k%26)}, 1024)
	}
	for range 20 {
		if _, err := m.api[0].Produce(ctx, "orders", vals); err != nil {
			t.Fatal(err)
		}
		if _, err := m.api[1].Produce(ctx, "audit", vals); err != nil {
			t.Fatal(err)
		}
	}
	m.waitFor("both resources mirrored", 30*time.Second, func() bool {
		return m.topic(1, "orders", "orders").LogEndOffset == 10000 && m.topic(2, "audit", "audit").LogEndOffset == 10000
	})
	for _, c := range []struct {
		topic    string
		from, to int
	}{{"orders", 0, 1}, {"audit", 1, 2}} {
		s0, n0 := m.logSum(c.from, c.topic)
		s1, _ := m.logSum(c.to, c.topic)
		if s0 != s1 || n0 < 10000*1024 {
			t.Errorf("%s: node%d and node%d logs differ (or are short: %d bytes)", c.topic, c.from, c.to, n0)
		}
	}
	if _, err := m.api[2].DescribeTopic(ctx, "orders"); err == nil {
		t.Error("node2, in no role of orders, has the topic")
	}
	if rs, err := m.api[0].Mirrors(ctx); err != nil || len(rs) != 1 || rs[0].Name != "orders" {
		t.Errorf("node0's resources: %+v %v", rs, err)
	}
	if _, err := m.api[2].Produce(ctx, "audit", vals[:1]); err == nil || !strings.Contains(err.Error(), "read-only mirror topic 'audit'") {
		t.Errorf("produce on node2's mirror: %v", err)
	}
	// What an operator sees on node1: tetherstat's mirror section, and
	// the metrics Prometheus scrapes.
	out, err := exec.Command("ip", "netns", "exec", b.NodeNS(1), filepath.Join(binDir, "tetherstat"), "--socket", b.Socket(1)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tether mirror information:") ||
		!regexp.MustCompile(`audit\s+primary\s+1\s+node2\s+audit\s+PRIMARY\s+10000`).Match(out) ||
		!regexp.MustCompile(`orders\s+mirror\s+1\s+node0\s+orders\s+ACTIVE\s+10000\s+10000\s+0`).Match(out) {
		t.Errorf("tetherstat on node1: %v\n%s", err, out)
	}
	resp, err := testbed.HTTPClient(b.NodeNS(1)).Get("http://127.0.0.1:9187/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tether_mirror_lag_records{node="node1",resource="orders",topic="orders"} 0`,
		`tether_mirror_log_end_offset{node="node1",resource="orders",topic="orders"} 10000`,
		`tether_mirror_topic_state{node="node1",resource="orders",state="ACTIVE",topic="orders"} 1`,
		`tether_resource_role{node="node1",peer="node2",resource="audit",role="primary"} 1`,
		`tether_mirror_confirmed_offset{node="node1",resource="audit",topic="audit"} 10000`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("node1's metrics lack %s", want)
		}
	}
}
