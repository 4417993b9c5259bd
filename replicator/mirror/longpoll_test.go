package mirror

import (
	"context"
	"testing"
	"time"
)

func TestLongPoll(t *testing.T) {
	p := openLog(t)
	fill(t, p, 10, 5, 1)
	// Upper bounds on time are checked against a MaxWait far above them
	// (a loaded machine only makes things slower); lower bounds exactly.
	srv := NewServer(oneTopic("t", p), ServerOptions{MaxWait: 20 * time.Second})
	short := NewServer(oneTopic("t", p), ServerOptions{MaxWait: 300 * time.Millisecond})
	ctx := context.Background()
	atEndReq := FetchRequest{Topic: "t", Correlation: 1, FetchOffset: 10, HasLastEpoch: true, LastEpoch: 1}

	// Not at the end: answered at once.
	began := time.Now()
	if resp := srv.Answer(ctx, FetchRequest{Topic: "t", FetchOffset: 0}); len(resp.Batches) == 0 || time.Since(began) > 10*time.Second {
		t.Fatalf("fetch from 0: %d bytes after %v", len(resp.Batches), time.Since(began))
	}
	if resp := srv.Answer(ctx, FetchRequest{Topic: "x", Correlation: 4}); resp.Error != ErrUnknownTopic || resp.Correlation != 4 {
		t.Fatalf("unknown topic: %+v", resp)
	}

	// At the end, nothing new: empty after MaxWait.
	began = time.Now()
	resp := short.Answer(ctx, atEndReq)
	if d := time.Since(began); len(resp.Batches) != 0 || resp.Error != ErrNone || d < 300*time.Millisecond || d > 15*time.Second {
		t.Fatalf("idle long-poll: %d bytes after %v", len(resp.Batches), d)
	}

	// At the end: an append that is not yet durable and a Notify keep it
	// waiting; Sync and Notify answer it with the batch.
	got := make(chan FetchResponse, 1)
	began = time.Now()
	go func() { got <- srv.Answer(ctx, atEndReq) }()
	time.Sleep(30 * time.Millisecond)
	if _, err := p.Append([][]byte{[]byte("new")}, 1, 0); err != nil {
		t.Fatal(err)
	}
	srv.Notify()
	time.Sleep(30 * time.Millisecond)
	select {
	case r := <-got:
		t.Fatalf("answered before the append was durable: %+v", r)
	default:
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	srv.Notify()
	select {
	case r := <-got:
		if len(r.Batches) == 0 || r.HighWatermark != 11 {
			t.Fatalf("woken answer %+v after %v", r, time.Since(began))
		}
	case <-time.After(10 * time.Second): // far below the 20 s MaxWait
		t.Fatal("Notify did not wake the long-poll")
	}

	// ctx ends the wait.
	atEndReq.FetchOffset = 11
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	began = time.Now()
	if r := srv.Answer(cctx, atEndReq); len(r.Batches) != 0 || time.Since(began) > 10*time.Second {
		t.Fatalf("cancelled long-poll: %+v after %v", r, time.Since(began))
	}

	// Negative MaxWait never waits; MaxBytes caps the request.
	nw := NewServer(oneTopic("t", p), ServerOptions{MaxWait: -1, MaxBytes: 1})
	began = time.Now()
	if r := nw.Answer(ctx, atEndReq); len(r.Batches) != 0 || time.Since(began) > 150*time.Millisecond { // the default wait is 200 ms
		t.Fatalf("no-wait server waited %v", time.Since(began))
	}
	if r := nw.Answer(ctx, FetchRequest{Topic: "t", MaxBytes: 1 << 20}); len(r.Batches) == 0 {
		t.Fatal("capped fetch returned nothing")
	} else if first, _, err := decodeFirst(r.Batches); err != nil || len(first.Raw) != len(r.Batches) {
		t.Fatalf("MaxBytes 1 returned more than one batch (%v)", err)
	}
}
