package topics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{Epoch: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func vals(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func values(f Fetch) []string {
	var out []string
	for _, r := range f.Records {
		out = append(out, string(r.Value))
	}
	return out
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	if err := s.Create("orders"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{0, 3, 4} {
		batch := [][]string{{"a", "b", "c"}, {"d"}, {"e", "f"}}[i]
		base, err := s.Produce(ctx, "orders", vals(batch...))
		if err != nil || base != want {
			t.Fatalf("produce %d: base %d, %v; want %d", i, base, err, want)
		}
	}
	f, err := s.Consume(ctx, "orders", 0, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	// One segment per read, all batches in it.
	if got := values(f); !slices.Equal(got, []string{"a", "b", "c", "d", "e", "f"}) || f.NextOffset != 6 || f.HighWatermark != 6 {
		t.Fatalf("consume 0: %v next %d hw %d", got, f.NextOffset, f.HighWatermark)
	}
	for i, r := range f.Records {
		if r.Offset != int64(i) || time.Since(r.Timestamp) > time.Minute {
			t.Fatalf("record %d: offset %d ts %v", i, r.Offset, r.Timestamp)
		}
	}
	// Mid-batch start skips the records before it.
	f, err = s.Consume(ctx, "orders", 1, 1<<20, 0)
	if err != nil || !slices.Equal(values(f), []string{"b", "c", "d", "e", "f"}) || f.Records[0].Offset != 1 {
		t.Fatalf("consume 1: %v %v", values(f), err)
	}
	// maxBytes bounds the answer, but one record always comes.
	f, err = s.Consume(ctx, "orders", 1, 0, 0)
	if err != nil || !slices.Equal(values(f), []string{"b"}) || f.NextOffset != 2 {
		t.Fatalf("consume max 0: %v next %d %v", values(f), f.NextOffset, err)
	}
	f, err = s.Consume(ctx, "orders", 2, 2, 0)
	if err != nil || !slices.Equal(values(f), []string{"c", "d"}) || f.NextOffset != 4 {
		t.Fatalf("consume max 2: %v next %d %v", values(f), f.NextOffset, err)
	}
	// At the end with no wait: nothing, at once.
	f, err = s.Consume(ctx, "orders", 6, 100, 0)
	if err != nil || len(f.Records) != 0 || f.NextOffset != 6 || f.HighWatermark != 6 {
		t.Fatalf("consume at end: %+v %v", f, err)
	}
	info, err := s.Describe("orders")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "orders" || info.Role != RolePrimary || info.LogStartOffset != 0 || info.LogEndOffset != 6 ||
		info.Epoch != 3 || info.Segments != 1 || info.SizeBytes <= 0 {
		t.Fatalf("describe: %+v", info)
	}
	if _, err := s.Produce(ctx, "orders", nil); !errors.Is(err, ErrNoRecords) {
		t.Fatalf("empty produce: %v", err)
	}
	if _, err := s.Produce(ctx, "nope", vals("x")); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	if _, err := s.Consume(ctx, "nope", 0, 1, 0); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}

func TestOutOfRange(t *testing.T) {
	s := open(t, t.TempDir())
	s.Create("t")
	s.Produce(context.Background(), "t", vals("a", "b"))
	for _, off := range []int64{-1, 3, 100} {
		_, err := s.Consume(context.Background(), "t", off, 10, time.Second)
		var oe *OutOfRangeError
		if !errors.As(err, &oe) || !errors.Is(err, ErrOffsetOutOfRange) || oe.Start != 0 || oe.End != 2 || oe.Offset != off {
			t.Fatalf("offset %d: %v", off, err)
		}
	}
}

func TestLongPoll(t *testing.T) {
	s := open(t, t.TempDir())
	s.Create("t")
	ctx := context.Background()

	t0 := time.Now()
	f, err := s.Consume(ctx, "t", 0, 10, 50*time.Millisecond)
	if err != nil || len(f.Records) != 0 || time.Since(t0) < 50*time.Millisecond {
		t.Fatalf("timeout: %+v %v after %v", f, err, time.Since(t0))
	}

	got := make(chan Fetch, 1)
	go func() {
		f, err := s.Consume(ctx, "t", 0, 10, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- f
	}()
	time.Sleep(20 * time.Millisecond)
	t0 = time.Now()
	if _, err := s.Produce(ctx, "t", vals("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-got:
		if !slices.Equal(values(f), []string{"x"}) || f.NextOffset != 1 {
			t.Fatalf("woken: %+v", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("long-poll not woken by produce")
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("woken after %v", d)
	}

	// ctx cancellation and Close end a wait.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := s.Consume(cctx, "t", 1, 10, 10*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Consume(ctx, "t", 1, 10, 10*time.Second)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the long-poll")
	}
}

func TestConcurrentProducers(t *testing.T) {
	s := open(t, t.TempDir())
	s.Create("a")
	s.Create("b")
	const producers, batches, per = 8, 25, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	bases := map[string][]int64{}
	for p := range producers {
		topic := []string{"a", "b"}[p%2]
		wg.Go(func() {
			for i := range batches {
				var vs [][]byte
				for k := range per {
					vs = append(vs, fmt.Appendf(nil, "%d/%d/%d", p, i, k))
				}
				base, err := s.Produce(context.Background(), topic, vs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				bases[topic] = append(bases[topic], base)
				mu.Unlock()
			}
		})
	}
	// A consumer follows topic a meanwhile, with long-polls.
	seen := map[string]bool{}
	var next int64
	want := int64(producers / 2 * batches * per)
	for next < want {
		f, err := s.Consume(context.Background(), "a", next, 1<<20, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Records {
			if r.Offset != next {
				t.Fatalf("offset %d, want %d", r.Offset, next)
			}
			if seen[string(r.Value)] {
				t.Fatalf("duplicate %s", r.Value)
			}
			seen[string(r.Value)] = true
			next++
		}
	}
	wg.Wait()
	for _, topic := range []string{"a", "b"} {
		bs := bases[topic]
		slices.Sort(bs)
		for i, b := range bs {
			if b != int64(i*per) {
				t.Fatalf("topic %s: bases %v not contiguous", topic, bs)
			}
		}
		if info, _ := s.Describe(topic); info.LogEndOffset != want {
			t.Fatalf("topic %s: end %d want %d", topic, info.LogEndOffset, want)
		}
	}
	if len(seen) != int(want) {
		t.Fatalf("consumer saw %d records, want %d", len(seen), want)
	}
}

func TestNames(t *testing.T) {
	s := open(t, t.TempDir())
	for _, n := range []string{"", ".", "..", "a/b", "a b", "ü", "../x", string(make([]byte, 65)), "x\x00"} {
		if err := s.Create(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Create(%q): %v", n, err)
		}
	}
	long := ""
	for range 64 {
		long += "x"
	}
	for _, n := range []string{"a", "A.b_c-9", "..a", long} {
		if err := s.Create(n); err != nil {
			t.Errorf("Create(%q): %v", n, err)
		}
	}
	if err := s.Create("a"); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := s.Commit("bad/group", "a", 0); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad group: %v", err)
	}
	if got := len(s.List()); got != 4 {
		t.Fatalf("list: %d topics", got)
	}
}

func TestCommit(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Create("t")
	s.Create("u")
	s.Produce(context.Background(), "t", vals("a", "b", "c"))
	if _, ok := s.Committed("g", "t"); ok {
		t.Fatal("committed before any commit")
	}
	for _, c := range []struct {
		off int64
		ok  bool
	}{{-1, false}, {4, false}, {0, true}, {3, true}, {2, true}} {
		err := s.Commit("g", "t", c.off)
		if (err == nil) != c.ok || (!c.ok && !errors.Is(err, ErrInvalidOffset)) {
			t.Fatalf("commit %d: %v", c.off, err)
		}
	}
	if err := s.Commit("g", "u", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("h", "t", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("g", "nope", 0); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	s.Close()
	if err := s.Commit("g", "t", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "groups", "g.json")); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	if o, ok := s.Committed("g", "t"); !ok || o != 2 {
		t.Fatalf("after reopen g/t: %d %v", o, ok)
	}
	if o, ok := s.Committed("g", "u"); !ok || o != 0 {
		t.Fatalf("after reopen g/u: %d %v", o, ok)
	}
	info, _ := s.Describe("t")
	if len(info.Groups) != 2 || info.Groups["g"] != 2 || info.Groups["h"] != 1 {
		t.Fatalf("describe groups: %v", info.Groups)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.Create("x")
	s.Create("y")
	s.Produce(ctx, "x", vals("1", "2"))
	s.Produce(ctx, "y", vals("3"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Produce(ctx, "x", vals("z")); !errors.Is(err, ErrClosed) {
		t.Fatalf("produce after close: %v", err)
	}
	if err := s.Create("z"); !errors.Is(err, ErrClosed) {
		t.Fatalf("create after close: %v", err)
	}
	// A stray .tmp of an interrupted commit is dropped.
	os.WriteFile(filepath.Join(dir, "groups", "g.json.tmp"), []byte("{"), 0o644)

	s, err = Open(dir, Options{Epoch: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list := s.List()
	if len(list) != 2 || list[0].Name != "x" || list[0].LogEndOffset != 2 || list[1].Name != "y" || list[1].LogEndOffset != 1 {
		t.Fatalf("list: %+v", list)
	}
	if base, err := s.Produce(ctx, "x", vals("4")); err != nil || base != 2 {
		t.Fatalf("produce after reopen: %d %v", base, err)
	}
	f, _ := s.Consume(ctx, "x", 0, 1<<20, 0)
	if !slices.Equal(values(f), []string{"1", "2", "4"}) {
		t.Fatalf("x: %v", values(f))
	}
	if info, _ := s.Describe("x"); info.Epoch != 2 {
		t.Fatalf("epoch %d", info.Epoch)
	}
}

func TestEpochRegression(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{Epoch: 5})
	s.Create("x")
	s.Produce(context.Background(), "x", vals("a"))
	s.Close()
	s = open(t, dir) // epoch 3
	if _, err := s.Produce(context.Background(), "x", vals("b")); err == nil {
		t.Fatal("produce with a lower epoch succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Create("good")
	s.Close()
	// A topic whose log cannot open (a file where its directory should be).
	os.WriteFile(filepath.Join(dir, "topics", "broken"), []byte("x"), 0o644)
	if _, err := Open(dir, Options{}); err == nil || !contains(err.Error(), `"broken"`) {
		t.Fatalf("broken topic: %v", err)
	}
	os.Remove(filepath.Join(dir, "topics", "broken"))
	os.WriteFile(filepath.Join(dir, "groups", "g.json"), []byte("{"), 0o644)
	if _, err := Open(dir, Options{}); err == nil || !contains(err.Error(), "g.json") {
		t.Fatalf("bad group file: %v", err)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

func TestConsumeAcrossSegments(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Log: logstore.Options{SegmentBytes: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Create("t")
	for i := range 20 {
		s.Produce(context.Background(), "t", vals(fmt.Sprint(i), "x"))
	}
	f, err := s.Consume(context.Background(), "t", 1, 1<<20, 0)
	if err != nil || len(f.Records) != 39 || f.NextOffset != 40 {
		t.Fatalf("%d records, next %d, %v", len(f.Records), f.NextOffset, err)
	}
	if info, _ := s.Describe("t"); info.Segments < 2 {
		t.Fatalf("segments %d", info.Segments)
	}
}
