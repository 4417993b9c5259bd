package mirror

import (
	"testing"
)

func TestMirrorByteForByte(t *testing.T) {
	p, m := openLog(t), openLog(t)
	fill(t, p, 4000, 40, 1)
	fill(t, p, 3000, 25, 2)
	fill(t, p, 3000, 60, 5)
	if p.LogEndOffset() != 10000 {
		t.Fatalf("primary end %d", p.LogEndOffset())
	}
	f := NewFetcher(m, Config{Topic: "orders", Session: 7, MaxBytes: 8 << 10}, t0)
	st := pump(t, f, p, t0)
	sameLog(t, p, m)
	s := f.Status(t0)
	if s.State != Active || s.LagRecords != 0 || s.LagMs != 0 || s.HighWatermark != 10000 || s.LogEndOffset != 10000 {
		t.Fatalf("status %+v", s)
	}
	if st.requests < 20 {
		t.Fatalf("only %d requests: paging not exercised", st.requests)
	}
}

func TestMaxBytesPaging(t *testing.T) {
	p, m := openLog(t), openLog(t)
	fill(t, p, 2000, 20, 1)
	const maxBytes = 2000
	f := NewFetcher(m, Config{Topic: "t", MaxBytes: maxBytes}, t0)
	for {
		req, ok := f.Next(t0)
		if !ok {
			t.Fatal("no request")
		}
		resp := Serve(p, req)
		if len(resp.Batches) > maxBytes {
			// Only a single batch may exceed the limit (Kafka's rule).
			if _, n, _ := decodeFirst(resp.Batches); n != len(resp.Batches) {
				t.Fatalf("%d bytes in several batches, max %d", len(resp.Batches), maxBytes)
			}
		}
		if err := f.Apply(t0, resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Batches) == 0 {
			break
		}
	}
	sameLog(t, p, m)
}

func TestStopsAtHighWatermark(t *testing.T) {
	p, m := openLog(t), openLog(t)
	fill(t, p, 500, 10, 1)
	// Appended but not fsynced: beyond the high watermark.
	for i := range 5 {
		if _, err := p.Append([][]byte{[]byte("unsynced"), {byte(i)}}, 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	if p.DurableOffset() != 500 || p.LogEndOffset() != 510 {
		t.Fatalf("durable %d end %d", p.DurableOffset(), p.LogEndOffset())
	}
	f := NewFetcher(m, Config{Topic: "t", MaxBytes: 1 << 20}, t0)
	pump(t, f, p, t0)
	if m.LogEndOffset() != 500 {
		t.Fatalf("mirror end %d, want the high watermark 500", m.LogEndOffset())
	}
	if s := f.Status(t0); s.LagRecords != 0 || s.HighWatermark != 500 {
		t.Fatalf("status %+v", s)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	pump(t, f, p, t0)
	sameLog(t, p, m)
}

func TestServeOutOfRange(t *testing.T) {
	p := openLog(t)
	fill(t, p, 100, 10, 1)
	resp := Serve(p, FetchRequest{Topic: "t", FetchOffset: 101})
	if resp.Error != ErrOffsetOutOfRange || resp.LogStartOffset != 0 || resp.LogEndOffset != 100 {
		t.Fatalf("%+v", resp)
	}
	// A mirror with an epoch ahead of the primary's end is told to diverge.
	resp = Serve(p, FetchRequest{Topic: "t", FetchOffset: 150, HasLastEpoch: true, LastEpoch: 1})
	if resp.Diverging == nil || *resp.Diverging != (DivergingEpoch{1, 100}) {
		t.Fatalf("%+v", resp)
	}
	// An epoch newer than any of ours: our latest and its end.
	resp = Serve(p, FetchRequest{Topic: "t", FetchOffset: 150, HasLastEpoch: true, LastEpoch: 9})
	if resp.Diverging == nil || *resp.Diverging != (DivergingEpoch{1, 100}) {
		t.Fatalf("%+v", resp)
	}
	empty := openLog(t)
	resp = Serve(empty, FetchRequest{Topic: "t", FetchOffset: 10, HasLastEpoch: true, LastEpoch: 1})
	if resp.Diverging == nil || *resp.Diverging != (DivergingEpoch{NoEpoch, 0}) {
		t.Fatalf("%+v", resp)
	}
}

func TestFetcherFollowsEmptyPrimary(t *testing.T) {
	// The primary was wiped (a new epoch-less log): the mirror cuts to 0.
	p, m := openLog(t), openLog(t)
	fill(t, m, 50, 10, 1)
	f := NewFetcher(m, Config{Topic: "t"}, t0)
	pump(t, f, p, t0)
	if m.LogEndOffset() != 0 || f.State() != Active {
		t.Fatalf("end %d state %v", m.LogEndOffset(), f.State())
	}
}
