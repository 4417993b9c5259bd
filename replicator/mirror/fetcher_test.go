package mirror

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestLagWithInjectedClock(t *testing.T) {
	p, m := openLog(t), openLog(t)
	fill(t, p, 1000, 10, 1)
	f := NewFetcher(m, Config{Topic: "t", MaxBytes: 512}, t0)
	if s := f.Status(t0); s.SinceLastFetch != -1 || s.LagRecords != 0 {
		t.Fatalf("before any fetch: %+v", s)
	}
	req, _ := f.Next(t0)
	if err := f.Apply(t0, Serve(p, req)); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(1500 * time.Millisecond)
	s := f.Status(now)
	if s.LagRecords != 1000-m.LogEndOffset() || s.LagRecords == 0 {
		t.Fatalf("lag records %d, mirror end %d", s.LagRecords, m.LogEndOffset())
	}
	// The unmirrored records existed when the first answer showed HW 1000.
	if s.LagMs != 1500 || s.SinceLastFetch != 1500*time.Millisecond {
		t.Fatalf("lag ms %d since last fetch %v", s.LagMs, s.SinceLastFetch)
	}
	// New records later: once the mirror passes 1000, lag dates from the
	// answer that first showed the new watermark.
	fill(t, p, 100, 10, 1)
	t1 := t0.Add(2 * time.Second)
	pump(t, f, p, t1) // several pages of 512 bytes, all at t1
	if s := f.Status(t1.Add(time.Second)); s.LagRecords != 0 || s.LagMs != 0 || s.SinceLastFetch != time.Second {
		t.Fatalf("caught up: %+v", s)
	}
	// Paged catch-up over time: lag ms counts from when HW 1200 was seen.
	fill(t, p, 100, 10, 1)
	t2 := t0.Add(10 * time.Second)
	req, _ = f.Next(t2)
	if err := f.Apply(t2, Serve(p, req)); err != nil {
		t.Fatal(err)
	}
	if s := f.Status(t2.Add(250 * time.Millisecond)); s.LagMs != 250 || s.LagRecords == 0 {
		t.Fatalf("paging: %+v", s)
	}
}

func TestPauseResume(t *testing.T) {
	p, m := openLog(t), openLog(t)
	fill(t, p, 100, 10, 1)
	f := NewFetcher(m, Config{Topic: "t"}, t0)
	pump(t, f, p, t0)
	req, _ := f.Next(t0)
	f.Pause()
	if err := f.Apply(t0, Serve(p, req)); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("in-flight answer after pause: %v", err)
	}
	fill(t, p, 100, 10, 1)
	for i := range 5 {
		if _, ok := f.Next(t0.Add(time.Duration(i) * time.Minute)); ok {
			t.Fatal("paused fetcher sent a request")
		}
	}
	if s := f.Status(t0.Add(time.Hour)); s.State != Paused || m.LogEndOffset() != 100 {
		t.Fatalf("paused: %+v", s)
	}
	f.Resume()
	pump(t, f, p, t0.Add(time.Hour))
	sameLog(t, p, m)
	if f.State() != Active {
		t.Fatalf("state %v", f.State())
	}
}

func TestCorruptResponseFails(t *testing.T) {
	p := openLog(t)
	fill(t, p, 100, 10, 1)
	full := Serve(p, FetchRequest{FetchOffset: 0, MaxBytes: 1 << 20})
	first, n, _ := decodeFirst(full.Batches)
	cases := map[string]func(FetchResponse) FetchResponse{
		"bad CRC in the second batch": func(r FetchResponse) FetchResponse {
			r.Batches = bytes.Clone(r.Batches)
			r.Batches[n+40] ^= 1
			return r
		},
		"truncated batch": func(r FetchResponse) FetchResponse {
			r.Batches = r.Batches[:len(r.Batches)-1]
			return r
		},
		"gap": func(r FetchResponse) FetchResponse {
			r.Batches = r.Batches[n:]
			return r
		},
		"past the high watermark": func(r FetchResponse) FetchResponse {
			r.HighWatermark = first.NextOffset()
			return r
		},
	}
	for name, mangle := range cases {
		t.Run(name, func(t *testing.T) {
			m := openLog(t)
			f := NewFetcher(m, Config{Topic: "t"}, t0)
			req, _ := f.Next(t0)
			resp := mangle(full)
			resp.Correlation = req.Correlation
			err := f.Apply(t0, resp)
			if !errors.Is(err, ErrCorrupt) || f.State() != Failed || m.LogEndOffset() != 0 {
				t.Fatalf("err %v state %v end %d", err, f.State(), m.LogEndOffset())
			}
			if _, ok := f.Next(t0); ok {
				t.Fatal("FAILED fetcher sent a request")
			}
			f.Resume()
			if f.State() != Failed {
				t.Fatal("resume cleared FAILED")
			}
		})
	}
}

func TestGroupOffsetsCapped(t *testing.T) {
	p, m := openLog(t), openLog(t)
	fill(t, p, 100, 10, 1)
	f := NewFetcher(m, Config{Topic: "t", MaxBytes: 300}, t0)
	req, _ := f.Next(t0)
	resp := roundTrip(t, p, req, map[string]int64{"billing": 3, "audit": 100, "ahead": 1 << 40})
	if err := f.Apply(t0, resp); err != nil {
		t.Fatal(err)
	}
	end := int64(m.LogEndOffset())
	if end >= 100 {
		t.Fatalf("test needs a partial fetch, got %d", end)
	}
	g := f.GroupOffsets()
	if len(g) != 3 || g["billing"] != min(3, end) || g["audit"] != end || g["ahead"] != end {
		t.Fatalf("groups %v, log end %d", g, end)
	}
	// A response without group offsets leaves them as they were.
	pump(t, f, p, t0)
	if g2 := f.GroupOffsets(); g2["audit"] != end {
		t.Fatalf("groups changed without a sync: %v", g2)
	}
}

func TestSourceUnavailable(t *testing.T) {
	p, m := openLog(t), openLog(t)
	fill(t, p, 10, 10, 1)
	f := NewFetcher(m, Config{Topic: "t", MaxFailures: 3, Timeout: 5 * time.Second}, t0)
	now := t0
	for i := range 3 {
		if f.State() != Active {
			t.Fatalf("unavailable after %d failures", i)
		}
		if _, ok := f.Next(now); !ok {
			t.Fatal("no request")
		}
		f.Fail(now, errors.New("link down"))
		now = now.Add(100 * time.Millisecond)
	}
	if s := f.Status(now); s.State != SourceUnavailable || s.Failures != 3 || s.Err == nil {
		t.Fatalf("%+v", s)
	}
	// It keeps trying; an answer makes it ACTIVE again.
	pump(t, f, p, now)
	if f.State() != Active || m.LogEndOffset() != 10 {
		t.Fatalf("state %v end %d", f.State(), m.LogEndOffset())
	}
	// An unanswered request times out: a failure, and with no answer for
	// Timeout the source is unavailable.
	req, _ := f.Next(now)
	now = now.Add(5 * time.Second)
	if s := f.Status(now); s.State != SourceUnavailable || s.Failures != 1 {
		t.Fatalf("after timeout: %+v", s)
	}
	// The late answer is stale.
	if err := f.Apply(now, Serve(p, req)); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("late answer: %v", err)
	}
	pump(t, f, p, now)
	if f.State() != Active {
		t.Fatalf("state %v", f.State())
	}
	// A primary-side error counts as a failure, not corruption.
	req, _ = f.Next(now)
	if err := f.Apply(now, FetchResponse{Correlation: req.Correlation, Error: ErrNotPrimary}); err == nil || f.State() != Active || f.Status(now).Failures != 1 {
		t.Fatalf("err %v state %v", err, f.State())
	}
}

func TestOutOfRangeFails(t *testing.T) {
	m := openLog(t)
	f := NewFetcher(m, Config{Topic: "t"}, t0)
	req, _ := f.Next(t0)
	err := f.Apply(t0, FetchResponse{Correlation: req.Correlation, Error: ErrOffsetOutOfRange, LogStartOffset: 500, LogEndOffset: 900})
	if err == nil || f.State() != Failed {
		t.Fatalf("err %v state %v", err, f.State())
	}
}
