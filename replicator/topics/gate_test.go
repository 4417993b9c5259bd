package topics

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tether-ha/tether/replicator/logstore"
)

func TestMirrorTopicIsReadOnly(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Ensure("users"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGate("users", Gate{Role: RoleMirror, Epoch: 3}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Produce(context.Background(), "users", vals("a"))
	if err == nil || err.Error() != "cannot append records to read-only mirror topic 'users'" || !errors.Is(err, ErrNotWritable) {
		t.Fatalf("produce to a mirror: %v", err)
	}
	if info, _ := s.Describe("users"); info.Role != RoleMirror || info.LogEndOffset != 0 {
		t.Errorf("describe: %+v", info)
	}
	// The replicator appends to the log itself, and consumers see it.
	l, err := s.Log("users")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(vals("x", "y"), 3, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Appended("users")
	f, err := s.Consume(context.Background(), "users", 0, 1<<20, 0)
	if err != nil || fmt.Sprint(values(f)) != "[x y]" {
		t.Fatalf("consume on the mirror: %v %v", values(f), err)
	}
	if err := s.Ensure("users"); err != nil {
		t.Errorf("Ensure of an existing topic: %v", err)
	}
	if err := s.SetGate("users", Gate{Role: "other"}); err == nil {
		t.Error("a bad role was accepted")
	}
}

func TestGateRefuseEpochAndAck(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Create("o"); err != nil {
		t.Fatal(err)
	}
	frozen := fmt.Errorf("frozen for a promote: %w", ErrNotWritable)
	if err := s.SetGate("o", Gate{Role: RolePrimary, Epoch: 5, Refuse: frozen}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Produce(context.Background(), "o", vals("a")); !errors.Is(err, frozen) {
		t.Fatalf("frozen produce: %v", err)
	}
	if info, _ := s.Describe("o"); info.LogEndOffset != 0 {
		t.Fatalf("a refused produce appended: %+v", info)
	}
	var acked []uint64
	fail := false
	ack := func(_ context.Context, end uint64) error {
		acked = append(acked, end)
		if fail {
			return errors.New("mirror silent")
		}
		return nil
	}
	if err := s.SetGate("o", Gate{Role: RolePrimary, Epoch: 5, Ack: ack}); err != nil {
		t.Fatal(err)
	}
	if base, err := s.Produce(context.Background(), "o", vals("a", "b")); err != nil || base != 0 {
		t.Fatalf("produce: %d %v", base, err)
	}
	fail = true
	base, err := s.Produce(context.Background(), "o", vals("c"))
	if !errors.Is(err, ErrNotAcknowledged) || base != 2 {
		t.Fatalf("unacknowledged produce: %d %v", base, err)
	}
	if fmt.Sprint(acked) != "[2 3]" {
		t.Errorf("Ack saw ends %v, want [2 3]", acked)
	}
	if info, _ := s.Describe("o"); info.Epoch != 5 || info.LogEndOffset != 3 {
		t.Errorf("the gate's epoch was not stamped, or the unacknowledged batch is gone: %+v", info)
	}
}

func TestSyncGroupsCapsAtLogEnd(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Create("o"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Produce(context.Background(), "o", vals("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncGroups("o", map[string]int64{"billing": 2, "ahead": 10, "bad/name": 1, "neg": -1}); err != nil {
		t.Fatal(err)
	}
	got := s.GroupOffsets("o")
	if len(got) != 2 || got["billing"] != 2 || got["ahead"] != 3 {
		t.Errorf("synced offsets %v, want billing 2 and ahead capped at 3", got)
	}
}

func TestApplyRetention(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Log: logstore.Options{SegmentBytes: 4096, RetentionBytes: 8192}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Create("o"); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1000)
	for range 40 {
		if _, err := s.Produce(context.Background(), "o", [][]byte{big}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.ApplyRetention()
	if err != nil || n == 0 {
		t.Fatalf("retention deleted %d segments: %v", n, err)
	}
	info, _ := s.Describe("o")
	if info.LogStartOffset == 0 || info.LogEndOffset != 40 || info.SizeBytes > 8192+4096 {
		t.Errorf("after retention: %+v", info)
	}
	if _, err := s.Consume(context.Background(), "o", 0, 1<<20, 0); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("consume below the new log start: %v", err)
	}
}

// The lease check runs before the append and again once it is durable: a
// lease that ended mid-write leaves the records but acknowledges nothing.
func TestGateCheckBeforeAndAfter(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Create("o"); err != nil {
		t.Fatal(err)
	}
	fenced := fmt.Errorf("no lease: %w", ErrNotWritable)
	calls := 0
	var answers []error
	acked := false
	g := Gate{Role: RolePrimary, Epoch: 1, Check: func() error {
		calls++
		a := answers[0]
		answers = answers[1:]
		return a
	}, Ack: func(context.Context, uint64) error { acked = true; return nil }}
	if err := s.SetGate("o", g); err != nil {
		t.Fatal(err)
	}
	answers = []error{fenced}
	if _, err := s.Produce(context.Background(), "o", vals("a")); !errors.Is(err, fenced) || calls != 1 {
		t.Fatalf("fenced before: %v after %d checks", err, calls)
	}
	if info, _ := s.Describe("o"); info.LogEndOffset != 0 {
		t.Fatalf("a fenced produce appended: %+v", info)
	}
	answers = []error{nil, fenced}
	if _, err := s.Produce(context.Background(), "o", vals("b")); !errors.Is(err, ErrNotAcknowledged) || !errors.Is(err, fenced) || acked {
		t.Fatalf("lease ended during the write: %v (acked %v)", err, acked)
	}
	if info, _ := s.Describe("o"); info.LogEndOffset != 1 {
		t.Fatalf("the durable record is gone: %+v", info)
	}
	answers = []error{nil, nil}
	if off, err := s.Produce(context.Background(), "o", vals("c")); err != nil || off != 1 || !acked {
		t.Fatalf("with a lease: %d %v (acked %v)", off, err, acked)
	}
}
