package mirror

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
)

// memTransport calls a Server directly, dropping a share of requests before
// or after the server saw them and delaying others, and checks that no
// message exceeds what the agent's message API carries.
type memTransport struct {
	srv      *Server
	failRate float64
	maxDelay time.Duration

	mu       sync.Mutex
	rng      *rand.Rand
	calls    atomic.Int64
	dropped  atomic.Int64
	oversize atomic.Int64
}

func newMemTransport(srv *Server, failRate float64, maxDelay time.Duration) *memTransport {
	return &memTransport{srv: srv, failRate: failRate, maxDelay: maxDelay, rng: rand.New(rand.NewPCG(1, 2))}
}

func (m *memTransport) roll() (drop, after bool, delay time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	drop = m.rng.Float64() < m.failRate
	after = m.rng.IntN(2) == 0
	if m.maxDelay > 0 {
		delay = time.Duration(m.rng.Int64N(int64(m.maxDelay)))
	}
	return
}

var errDropped = errors.New("test: message dropped")

// testMaxMessage is a small transport (the message API's size), so that a
// Runner must page: no answer over it may come back.
const testMaxMessage = 60 << 10

func (m *memTransport) Fetch(ctx context.Context, req []byte) ([]byte, error) {
	m.calls.Add(1)
	if len(req) > testMaxMessage {
		m.oversize.Add(1)
	}
	drop, after, delay := m.roll()
	if !sleep(ctx, delay, nil) {
		return nil, ctx.Err()
	}
	if drop && !after {
		m.dropped.Add(1)
		return nil, errDropped
	}
	resp, err := m.srv.Fetch(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp) > testMaxMessage {
		m.oversize.Add(1)
	}
	if drop {
		m.dropped.Add(1)
		return nil, errDropped
	}
	return resp, nil
}

func oneTopic(name string, l *logstore.Log) Lookup {
	return func(topic string) (*logstore.Log, ErrorCode) {
		if topic != name {
			return nil, ErrUnknownTopic
		}
		return l, ErrNone
	}
}

// produce appends n records in batches of 1..64, syncing and notifying
// after each so the long-poll and the high watermark move as they would.
func produce(t *testing.T, l *logstore.Log, srv *Server, n int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for n > 0 {
		k := min(n, 1+rng.IntN(64))
		recs := make([][]byte, k)
		for i := range recs {
			recs[i] = fmt.Appendf(nil, "rec-%d-%0*d", l.LogEndOffset()+uint64(i), rng.IntN(200), 0)
		}
		if _, err := l.Append(recs, 1, time.Now().UnixMilli()); err != nil {
			t.Error(err)
			return
		}
		if err := l.Sync(); err != nil {
			t.Error(err)
			return
		}
		srv.Notify()
		n -= k
		if rng.IntN(20) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func waitEnd(t *testing.T, l *logstore.Log, end uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for l.LogEndOffset() != end {
		if time.Now().After(deadline) {
			t.Fatalf("mirror at %d, want %d after %v", l.LogEndOffset(), end, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// start runs r until the returned stop is called, which waits for Run.
func start(t *testing.T, r *Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func mirrorWhileProducing(t *testing.T, failRate float64) {
	const n = 20000
	p, m := openLog(t), openLog(t)
	srv := NewServer(oneTopic("t", p), ServerOptions{MaxWait: 50 * time.Millisecond})
	tr := newMemTransport(srv, failRate, 200*time.Microsecond)
	var wakes atomic.Int64
	r, err := NewRunner(RunnerConfig{Transport: tr, MaxMessage: testMaxMessage, OnAppend: func(topic string) {
		if topic == "t" {
			wakes.Add(1)
		}
	}}, MirrorTopic{Log: m, Config: Config{Topic: "t", Session: 5}})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	var wg sync.WaitGroup
	wg.Go(func() { produce(t, p, srv, n, 3) })
	wg.Wait()
	waitEnd(t, m, n, 30*time.Second)
	stop()

	sameLog(t, p, m) // byte-for-byte, SHA-256 of all raw batches, same epochs
	st := r.Status()[0]
	if st.State != Active || st.Records != n || st.LogEndOffset != n || st.LagRecords != 0 || st.Stopped {
		t.Fatalf("status %+v", st)
	}
	// One wake-up per answer that appended: at least one, at most one per fetch.
	if w := wakes.Load(); w == 0 || w > int64(st.Fetches) {
		t.Fatalf("%d OnAppend calls for %d fetches", wakes.Load(), st.Fetches)
	}
	if tr.oversize.Load() != 0 {
		t.Fatalf("%d messages over %d bytes", tr.oversize.Load(), testMaxMessage)
	}
	if failRate > 0 && (tr.dropped.Load() == 0 || st.FetchErrors == 0) {
		t.Fatalf("no failures injected: dropped %d errors %d", tr.dropped.Load(), st.FetchErrors)
	}
	t.Logf("%d calls, %d dropped, %d fetches applied, %d OnAppend, %d bytes", tr.calls.Load(), tr.dropped.Load(), st.Fetches, wakes.Load(), st.Bytes)
}

func TestRunnerMirrorsWhileProducing(t *testing.T) { mirrorWhileProducing(t, 0) }

func TestRunnerConvergesOverFlakyTransport(t *testing.T) { mirrorWhileProducing(t, 0.3) }

func TestRunnerPauseResume(t *testing.T) {
	p, m := openLog(t), openLog(t)
	srv := NewServer(oneTopic("t", p), ServerOptions{MaxWait: time.Second})
	r, err := NewRunner(RunnerConfig{Transport: srv}, MirrorTopic{Log: m, Config: Config{Topic: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	produce(t, p, srv, 1000, 1)
	waitEnd(t, m, 1000, 10*time.Second)

	// The fetch in flight is long-polling (MaxWait 1s): Pause cancels it.
	if err := r.Pause("t"); err != nil {
		t.Fatal(err)
	}
	produce(t, p, srv, 1000, 2)
	time.Sleep(100 * time.Millisecond)
	if st := r.Status()[0]; m.LogEndOffset() != 1000 || st.State != Paused || st.FetchErrors != 0 {
		t.Fatalf("paused mirror at %d, status %+v", m.LogEndOffset(), st)
	}
	if err := r.Resume("t"); err != nil {
		t.Fatal(err)
	}
	waitEnd(t, m, 2000, 10*time.Second)
	if st := r.Status()[0]; st.State != Active {
		t.Fatalf("resumed: %+v", st)
	}
	if err := r.Pause("nope"); err == nil {
		t.Fatal("paused an unknown topic")
	}
}

// Every goroutine stops on cancel, whether long-polling, paused or backing
// off, even with a request timeout far beyond the test.
func TestRunnerCancelStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	logs := map[string]*logstore.Log{}
	var topics []MirrorTopic
	for i := range 4 {
		name := fmt.Sprintf("t%d", i)
		logs[name] = openLog(t)
		topics = append(topics, MirrorTopic{Log: openLog(t), Config: Config{Topic: name}})
	}
	srv := NewServer(func(topic string) (*logstore.Log, ErrorCode) {
		if l, ok := logs[topic]; ok && topic != "t3" { // t3: unknown, so it backs off
			return l, ErrNone
		}
		return nil, ErrUnknownTopic
	}, ServerOptions{MaxWait: time.Minute})
	r, err := NewRunner(RunnerConfig{Transport: srv, RequestTimeout: time.Hour}, topics...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	if err := r.Pause("t1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := runtime.NumGoroutine(); n < before+4 {
		t.Fatalf("%d goroutines running, want at least %d", n, before+4)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return")
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := r.Status(); st[3].FetchErrors == 0 || st[1].State != Paused {
		t.Fatalf("status %+v", st)
	}
}

// A corrupt answer sets FAILED and the topic's loop stops fetching.
func TestRunnerStopsOnFailed(t *testing.T) {
	m := openLog(t)
	var calls atomic.Int64
	tr := TransportFunc(func(ctx context.Context, msg []byte) ([]byte, error) {
		calls.Add(1)
		req, err := DecodeFetchRequest(msg)
		if err != nil {
			return nil, err
		}
		return FetchResponse{Session: req.Session, Correlation: req.Correlation, HighWatermark: 10, LogEndOffset: 10,
			Batches: []byte("not a batch, not even close to one")}.Encode()
	})
	r, err := NewRunner(RunnerConfig{Transport: tr, MaxMessage: testMaxMessage}, MirrorTopic{Log: m, Config: Config{Topic: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	deadline := time.Now().Add(5 * time.Second)
	for !r.Status()[0].Stopped {
		if time.Now().After(deadline) {
			t.Fatalf("not stopped: %+v", r.Status()[0])
		}
		time.Sleep(2 * time.Millisecond)
	}
	n := calls.Load()
	time.Sleep(50 * time.Millisecond)
	st := r.Status()[0]
	if calls.Load() != n || n != 1 || st.State != Failed || !errors.Is(st.Err, ErrCorrupt) || m.LogEndOffset() != 0 {
		t.Fatalf("%d then %d calls, status %+v", n, calls.Load(), st)
	}
}

// Errors back off exponentially from MinBackoff up to MaxBackoff.
func TestRunnerBacksOff(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	tr := TransportFunc(func(ctx context.Context, msg []byte) ([]byte, error) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		return nil, errDropped
	})
	r, err := NewRunner(RunnerConfig{Transport: tr, MaxMessage: testMaxMessage, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond},
		MirrorTopic{Log: openLog(t), Config: Config{Topic: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	calls := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(at)
	}
	for deadline := time.Now().Add(20 * time.Second); calls() < 6; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d calls in 20 s", calls())
		}
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	// 5+10+20+40+40+... : about 8 calls in the first 300 ms, not hundreds
	// (a loaded machine only makes fewer).
	early := 0
	for _, a := range at {
		if a.Sub(at[0]) < 300*time.Millisecond {
			early++
		}
	}
	if early > 12 {
		t.Fatalf("%d calls in the first 300ms", early)
	}
	if gap := at[3].Sub(at[2]); gap < 20*time.Millisecond {
		t.Fatalf("third backoff %v, want >= 20ms", gap)
	}
	if st := r.Status()[0]; st.State != SourceUnavailable || st.FetchErrors != uint64(len(at)) {
		t.Fatalf("status %+v after %d calls", st, len(at))
	}
}

// The primary loses its tail and writes a new epoch while the runner runs:
// the mirror cuts at the divergence and ends equal to the primary.
func TestRunnerFollowsDivergence(t *testing.T) {
	p, m := openLog(t), openLog(t)
	srv := NewServer(oneTopic("t", p), ServerOptions{MaxWait: 20 * time.Millisecond})
	r, err := NewRunner(RunnerConfig{Transport: srv}, MirrorTopic{Log: m, Config: Config{Topic: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	fill(t, p, 500, 10, 1)
	srv.Notify()
	waitEnd(t, m, 500, 10*time.Second)
	bs, _ := batches(t, p)
	cut := bs[len(bs)/2].BaseOffset
	if err := p.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	fill(t, p, 800-int(cut), 10, 2)
	srv.Notify()
	deadline := time.Now().Add(10 * time.Second)
	for e, ok := m.LatestEpoch(); !ok || e != 2 || m.LogEndOffset() != 800; e, ok = m.LatestEpoch() {
		if time.Now().After(deadline) {
			t.Fatalf("mirror at %d epoch %d: %+v", m.LogEndOffset(), e, r.Status()[0])
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop()
	sameLog(t, p, m)
	if tr := r.Status()[0].Truncations; len(tr) != 1 || tr[0].From != 500 || tr[0].To != cut {
		t.Fatalf("truncations %+v, want 500 → %d", tr, cut)
	}
}
