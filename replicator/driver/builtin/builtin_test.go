package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/topics"
)

func pair(t *testing.T, acksMirror bool) (*testNet, *node, *node) {
	n := newTestNet(t)
	rc := orders(acksMirror)
	p, m := n.start("node0", t.TempDir(), rc), n.start("node1", t.TempDir(), rc)
	settled(t, p)
	return n, p, m
}

// A primary takes no write before it has heard the other node: restarted
// after a failover, it learns it is DIVERGED before any write lands.
func TestPrimaryChecksBeforeWriting(t *testing.T) {
	n := newTestNet(t)
	p := n.start("node0", t.TempDir(), orders(false))
	if _, err := produce(t, p, "orders", "early"); !errors.Is(err, topics.ErrNotWritable) || !strings.Contains(err.Error(), "is starting") {
		t.Fatalf("produce before the start check: %v", err)
	}
	// Nobody answers: after StartCheck it writes anyway (availability;
	// only quorum can tell a dead mirror from a partition).
	eventually(t, "the lone primary to take writes", func() bool { _, err := produce(t, p, "orders", "late"); return err == nil })
}

func TestMirrorsByteForByteWithGroupsAndReadOnly(t *testing.T) {
	_, p, m := pair(t, false)
	for i := range 200 {
		if _, err := produce(t, p, "orders", fmt.Sprintf("o%d-a", i), fmt.Sprintf("o%d-b", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := produce(t, p, "payments", "p0"); err != nil {
		t.Fatal(err)
	}
	if err := p.store.Commit("billing", "orders", 150); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mirror to catch up", func() bool { return end(m, "orders") == 400 && end(m, "payments") == 1 })
	if !bytes.Equal(rawLog(t, p, "orders"), rawLog(t, m, "orders")) {
		t.Fatal("the mirror's log is not byte-for-byte the primary's")
	}
	eventually(t, "consumer offsets to be mirrored", func() bool { o, ok := m.store.Committed("billing", "orders"); return ok && o == 150 })

	_, err := produce(t, m, "orders", "x")
	if err == nil || err.Error() != "cannot append records to read-only mirror topic 'orders'" {
		t.Fatalf("produce on the mirror: %v", err)
	}
	ts := topicStatus(t, m, "orders", "orders")
	if ts.State != "ACTIVE" || ts.LogEndOffset != 400 || ts.HighWatermark != 400 || ts.LagRecords != 0 || ts.Records != 400 {
		t.Errorf("mirror status: %+v", ts)
	}
	eventually(t, "the primary to see the mirror's confirmation", func() bool {
		ps := topicStatus(t, p, "orders", "orders")
		return ps.State == StatePrimary && ps.MirrorConfirmed == 400 && ps.LagRecords == 0
	})
}

func TestAcksMirror(t *testing.T) {
	n, p, m := pair(t, true)
	for i := range 50 {
		base, err := produce(t, p, "orders", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		// Acknowledged means on the mirror, durably, already.
		if got := end(m, "orders"); got < base+1 {
			t.Fatalf("produce of offset %d returned with the mirror at %d", base, got)
		}
	}
	n.isolate("node1", true)
	_, err := produce(t, p, "orders", "unconfirmed")
	if !errors.Is(err, topics.ErrNotAcknowledged) || !strings.Contains(err.Error(), "the mirror node1 did not confirm") {
		t.Fatalf("produce without the mirror: %v", err)
	}
	if end(p, "orders") != 51 {
		t.Errorf("the unacknowledged batch should stay on the primary: end %d", end(p, "orders"))
	}
}

func TestPauseResume(t *testing.T) {
	_, p, m := pair(t, false)
	if _, err := produce(t, p, "orders", "a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "catch up", func() bool { return end(m, "orders") == 1 })
	if err := m.m.Pause("orders", []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	if err := p.m.Pause("orders", nil); !errors.Is(err, ErrWrongRole) {
		t.Errorf("pause on the primary: %v", err)
	}
	for range 10 {
		if _, err := produce(t, p, "orders", "b"); err != nil {
			t.Fatal(err)
		}
	}
	if ts := topicStatus(t, m, "orders", "orders"); ts.State != "PAUSED" {
		t.Fatalf("paused topic state %s", ts.State)
	}
	// payments, not paused, is mirrored after the ten produces to orders:
	// once it is there the mirror has run past them, and orders must not
	// have moved.
	if _, err := produce(t, p, "payments", "p"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unpaused topic to be mirrored", func() bool { return end(m, "payments") == 1 })
	if end(m, "orders") != 1 {
		t.Fatalf("a paused topic was mirrored: %d", end(m, "orders"))
	}
	// Paused survives a restart, and promote refuses while paused.
	if _, err := m.m.Promote(context.Background(), "orders", time.Second, false); !errors.Is(err, ErrPaused) {
		t.Fatalf("promote while paused: %v", err)
	}
	if _, err := produce(t, p, "orders", "still-primary"); err != nil {
		t.Fatalf("the refused promote changed the primary: %v", err)
	}
	if err := m.m.Resume("orders", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the lag to drain", func() bool { return end(m, "orders") == 12 })
}

func TestPromoteGracefulThenReverse(t *testing.T) {
	_, p, m := pair(t, false)
	for range 20 {
		if _, err := produce(t, p, "orders", "x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.store.Commit("g", "orders", 20); err != nil {
		t.Fatal(err)
	}
	res, err := m.m.Promote(context.Background(), "orders", 5*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.EpochBefore != 1 || res.EpochAfter != 2 || !res.Told || res.OldPrimary != "node0" {
		t.Errorf("promote result: %+v", res)
	}
	if o, ok := m.store.Committed("g", "orders"); !ok || o != 20 {
		t.Errorf("final sync of consumer offsets: %d %v", o, ok)
	}
	if end(m, "orders") != 20 {
		t.Fatalf("promoted at %d", end(m, "orders"))
	}
	if base, err := produce(t, m, "orders", "on-new-primary"); err != nil || base != 20 {
		t.Fatalf("produce on the new primary: %d %v", base, err)
	}
	_, err = produce(t, p, "orders", "old")
	if !errors.Is(err, topics.ErrNotWritable) || !strings.Contains(err.Error(), "promoted on node node1 at epoch 2") {
		t.Fatalf("produce on the old primary: %v", err)
	}
	if s, _ := p.m.StatusOf("orders"); s.Role != string(resource.Stopped) || s.Epoch != 2 || s.Topics[0].State != StateStopped {
		t.Errorf("old primary status: %+v", s)
	}
	// The stopped old primary becomes the mirror without cutting anything.
	rr, err := p.m.TruncateAndRestore(context.Background(), "orders", t.TempDir(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rr.Cuts {
		if c.Records != 0 || c.File != "" {
			t.Errorf("restore of a graceful promote cut %+v", c)
		}
	}
	eventually(t, "the old primary to mirror the new one", func() bool { return end(p, "orders") == 21 })
	if !bytes.Equal(rawLog(t, p, "orders"), rawLog(t, m, "orders")) {
		t.Fatal("logs differ after the switch")
	}
	// And back again in one step.
	res, err = p.m.Promote(context.Background(), "orders", 5*time.Second, true)
	if err != nil || res.EpochAfter != 3 || !res.Told {
		t.Fatalf("reverse-and-start: %+v %v", res, err)
	}
	if _, err := produce(t, p, "orders", "back"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node1 to mirror node0 again", func() bool { return end(m, "orders") == 22 })
	if s, _ := m.m.StatusOf("orders"); s.Role != string(resource.Mirror) || s.Epoch != 3 {
		t.Errorf("after reverse-and-start node1 is %+v", s)
	}
}

func TestPromoteRefusals(t *testing.T) {
	n, p, m := pair(t, false)
	if _, err := p.m.Promote(context.Background(), "orders", time.Second, false); !errors.Is(err, ErrWrongRole) {
		t.Errorf("promote on the primary: %v", err)
	}
	if _, err := m.m.Promote(context.Background(), "nope", time.Second, false); !errors.Is(err, ErrUnknownResource) {
		t.Errorf("promote of an unknown resource: %v", err)
	}
	eventually(t, "mirroring", func() bool { return topicStatus(t, m, "orders", "orders").Fetches > 0 })
	n.isolate("node0", true)
	_, err := m.m.Promote(context.Background(), "orders", time.Second, false)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("promote with the primary unreachable: %v", err)
	}
	if s, _ := m.m.StatusOf("orders"); s.Role != string(resource.Mirror) || s.Epoch != 1 {
		t.Errorf("the refused promote changed the mirror: %+v", s)
	}
}

func TestPromoteTimesOutAndUnfreezes(t *testing.T) {
	_, p, m := pair(t, false)
	eventually(t, "mirroring", func() bool { return topicStatus(t, m, "orders", "orders").Fetches > 0 })
	// A stuck replicator: control messages pass, fetches do not.
	m.noFetch.Store(true)
	eventually(t, "fetches to fail", func() bool { return topicStatus(t, m, "orders", "orders").FetchErrors > 0 })
	if _, err := produce(t, p, "orders", "a", "b"); err != nil {
		t.Fatal(err)
	}
	_, err := m.m.Promote(context.Background(), "orders", 300*time.Millisecond, false)
	if !errors.Is(err, ErrLagNotZero) {
		t.Fatalf("promote with no time to catch up: %v", err)
	}
	if _, err := produce(t, p, "orders", "c"); err != nil {
		t.Fatalf("the primary stays frozen after the promote gave up: %v", err)
	}
	if s, _ := m.m.StatusOf("orders"); s.Epoch != 1 || s.Role != string(resource.Mirror) {
		t.Errorf("the failed promote changed the mirror: %+v", s)
	}
}

func TestFailoverDivergeTruncateAndRestore(t *testing.T) {
	n, p, m := pair(t, false)
	for range 10 {
		if _, err := produce(t, p, "orders", "shared"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "catch up", func() bool { return end(m, "orders") == 10 })
	// The primary is cut off and keeps taking writes the mirror never sees.
	n.isolate("node0", true)
	for range 3 {
		if _, err := produce(t, p, "orders", "lost-1", "lost-2"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := m.m.Failover(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if res.EpochAfter != 2 || res.Told {
		t.Errorf("failover: %+v", res)
	}
	if _, err := produce(t, m, "orders", "new-1", "new-2"); err != nil {
		t.Fatal(err)
	}
	// The old primary comes back: it learns epoch 2 and refuses writes.
	n.isolate("node0", false)
	eventually(t, "the old primary to diverge", func() bool {
		s, _ := p.m.StatusOf("orders")
		return s.Role == string(resource.Diverged)
	})
	if _, err := produce(t, p, "orders", "more"); !errors.Is(err, topics.ErrNotWritable) || !strings.Contains(err.Error(), "DIVERGED") {
		t.Fatalf("produce on the diverged old primary: %v", err)
	}
	if _, err := m.m.Failover(context.Background(), "orders"); !errors.Is(err, ErrWrongRole) {
		t.Errorf("a second failover on the new primary: %v", err)
	}
	exp := t.TempDir()
	rr, err := p.m.TruncateAndRestore(context.Background(), "orders", exp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var cut *Cut
	for i := range rr.Cuts {
		if rr.Cuts[i].Topic == "orders" {
			cut = &rr.Cuts[i]
		}
	}
	if cut == nil || cut.From != 16 || cut.To != 10 || cut.Records != 6 || cut.File == "" {
		t.Fatalf("cut: %+v", rr.Cuts)
	}
	data, err := os.ReadFile(cut.File)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 6 {
		t.Fatalf("exported %d records, want 6:\n%s", len(lines), data)
	}
	var first exported
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Offset != 10 || first.Value == nil || *first.Value != "lost-1" {
		t.Errorf("first exported record: %+v %v", first, err)
	}
	eventually(t, "the old primary to mirror the new", func() bool { return end(p, "orders") == 12 })
	if !bytes.Equal(rawLog(t, p, "orders"), rawLog(t, m, "orders")) {
		t.Fatal("logs differ after truncate-and-restore")
	}
	if s, _ := p.m.StatusOf("orders"); s.Role != string(resource.Mirror) || s.Epoch != 2 || s.Diverged != nil {
		t.Errorf("restored node: %+v", s)
	}
}

func TestEpochSurvivesRestart(t *testing.T) {
	n, p, m := pair(t, false)
	eventually(t, "mirroring", func() bool { return topicStatus(t, m, "orders", "orders").Fetches > 0 })
	if _, err := m.m.Failover(context.Background(), "orders"); err != nil {
		t.Fatal(err)
	}
	m.stop()
	p.stop()
	m2 := n.start("node1", m.dir, orders(false))
	if s, _ := m2.m.StatusOf("orders"); s.Role != string(resource.Primary) || s.Epoch != 2 {
		t.Fatalf("after a restart the new primary is %+v", s)
	}
	settled(t, m2)
	if _, err := produce(t, m2, "orders", "x"); err != nil {
		t.Fatal(err)
	}
	// The old primary restarts believing it is primary at epoch 1: the
	// first view exchange makes it DIVERGED.
	p2 := n.start("node0", p.dir, orders(false))
	eventually(t, "the old primary to diverge after its restart", func() bool {
		s, _ := p2.m.StatusOf("orders")
		return s.Role == string(resource.Diverged)
	})
	if _, err := produce(t, p2, "orders", "stale"); !errors.Is(err, topics.ErrNotWritable) {
		t.Errorf("the restarted old primary took a write: %v", err)
	}
	if end(p2, "orders") != 0 {
		t.Errorf("the restarted old primary has %d records", end(p2, "orders"))
	}
}

func TestAddTopic(t *testing.T) {
	_, p, m := pair(t, false)
	if err := m.m.AddTopic(context.Background(), "orders", "refunds"); err != nil {
		t.Fatal(err)
	}
	if _, err := produce(t, p, "refunds", "r1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new topic to be mirrored", func() bool { return end(m, "refunds") == 1 })
	if _, err := produce(t, m, "refunds", "x"); err == nil {
		t.Error("the added topic is writable on the mirror")
	}
}
