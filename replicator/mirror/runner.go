package mirror

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
)

// RunnerConfig tunes a Runner; zero values take the defaults noted.
type RunnerConfig struct {
	Transport Transport
	// RequestTimeout bounds one fetch, including the primary's long-poll
	// (keep it above the Server's MaxWait and below Config.Timeout); 2s.
	RequestTimeout time.Duration
	IdleWait       time.Duration // after an empty answer; 10ms. Negative: none (the primary long-polls)
	MinBackoff     time.Duration // after a failure, doubling; 10ms
	MaxBackoff     time.Duration // 1s
	// OnAppend is called, from the topic's goroutine and without locks
	// held, after batches were appended to a topic's mirror log, so its
	// consumers can be woken. It must not block for long.
	OnAppend func(topic string)
	Now      func() time.Time // time.Now
	// MaxMessage is the largest answer the transport carries;
	// DefaultMaxMessage when zero. Every request's MaxBytes is kept below
	// it (a batch larger than that still comes whole: Read returns at
	// least one).
	MaxMessage int
}

// MirrorTopic is one topic for a Runner to mirror into Log.
type MirrorTopic struct {
	Log    *logstore.Log
	Config Config
}

// TopicStatus is the Fetcher's Status plus the Runner's counters, for
// metrics (the _total series) and tetherstat.
type TopicStatus struct {
	Status
	Fetches     uint64 // answers applied
	FetchErrors uint64 // transport, decode and primary errors
	Records     uint64 // appended
	Bytes       uint64 // of raw batches appended
	Stopped     bool   // FAILED or DIVERGED: not fetching until Restore
}

// Runner drives one Fetcher per topic, each in its own goroutine, over a
// Transport. Create it with NewRunner, then Run; Pause, Resume, Restore and
// Status are safe from any goroutine.
type Runner struct {
	cfg    RunnerConfig
	topics map[string]*topicLoop
	names  []string
}

type topicLoop struct {
	topic string
	log   *logstore.Log
	wake  chan struct{} // buffered 1: Resume and Restore

	mu                            sync.Mutex // guards f, cancel and the counters
	f                             *Fetcher
	cancel                        context.CancelFunc // the fetch in flight; Pause cancels it
	stopped                       bool
	fetches, errs, records, bytes uint64
}

// NewRunner prepares the topics; MaxBytes is capped below MaxMessage so
// every answer fits the transport.
func NewRunner(cfg RunnerConfig, topics ...MirrorTopic) (*Runner, error) {
	if cfg.Transport == nil {
		return nil, errors.New("mirror: runner without a transport")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 2 * time.Second
	}
	if cfg.IdleWait == 0 {
		cfg.IdleWait = 10 * time.Millisecond
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 10 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.MaxMessage <= 2*responseReserve {
		return nil, fmt.Errorf("mirror: runner MaxMessage %d is too small", cfg.MaxMessage)
	}
	maxBytes := uint32(cfg.MaxMessage - responseReserve)
	r := &Runner{cfg: cfg, topics: make(map[string]*topicLoop, len(topics))}
	for _, t := range topics {
		c := t.Config
		if len(c.Topic) == 0 || len(c.Topic) > 255 || t.Log == nil {
			return nil, fmt.Errorf("mirror: runner topic %q: want a name of 1..255 bytes and a log", c.Topic)
		}
		if _, dup := r.topics[c.Topic]; dup {
			return nil, fmt.Errorf("mirror: runner topic %q twice", c.Topic)
		}
		if c.MaxBytes == 0 || c.MaxBytes > maxBytes {
			c.MaxBytes = maxBytes
		}
		r.topics[c.Topic] = &topicLoop{
			topic: c.Topic, log: t.Log, wake: make(chan struct{}, 1),
			f: NewFetcher(t.Log, c, cfg.Now()),
		}
		r.names = append(r.names, c.Topic)
	}
	sort.Strings(r.names)
	return r, nil
}

// Run mirrors every topic until ctx is done and returns after all of its
// goroutines have stopped. Call it once.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range r.names {
		t := r.topics[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, t)
		}()
	}
	wg.Wait()
}

func (r *Runner) topic(name string) (*topicLoop, error) {
	t, ok := r.topics[name]
	if !ok {
		return nil, fmt.Errorf("mirror: runner has no topic %q", name)
	}
	return t, nil
}

// Pause stops fetching topic; a fetch in flight is cancelled and its
// answer, if any, dropped.
func (r *Runner) Pause(topic string) error {
	t, err := r.topic(topic)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.f.Pause()
	if t.cancel != nil {
		t.cancel()
	}
	t.mu.Unlock()
	return nil
}

// Resume continues a paused topic from its log end.
func (r *Runner) Resume(topic string) error {
	t, err := r.topic(topic)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.f.Resume()
	t.mu.Unlock()
	t.poke()
	return nil
}

// Restore makes the cut a DIVERGED topic stopped before and mirrors again.
func (r *Runner) Restore(topic string) error {
	t, err := r.topic(topic)
	if err != nil {
		return err
	}
	t.mu.Lock()
	err = t.f.Restore()
	if err == nil {
		t.stopped = false
	}
	t.mu.Unlock()
	t.poke()
	return err
}

// GroupOffsets returns the consumer-group offsets last mirrored for topic,
// capped at the mirror's log end; nil for an unknown topic.
func (r *Runner) GroupOffsets(topic string) map[string]int64 {
	t, err := r.topic(topic)
	if err != nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.f.GroupOffsets()
}

// Status returns every topic's status, sorted by topic.
func (r *Runner) Status() []TopicStatus {
	now := r.cfg.Now()
	out := make([]TopicStatus, 0, len(r.names))
	for _, name := range r.names {
		t := r.topics[name]
		t.mu.Lock()
		out = append(out, TopicStatus{
			Status: t.f.Status(now), Fetches: t.fetches, FetchErrors: t.errs,
			Records: t.records, Bytes: t.bytes, Stopped: t.stopped,
		})
		t.mu.Unlock()
	}
	return out
}

func (t *topicLoop) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// sleep waits d, or until woken (when wake is set) or ctx is done; false
// when ctx is done.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-wake:
	case <-ctx.Done():
		return false
	}
	return true
}

// loop is one topic's goroutine: Next, send, Apply, repeat.
func (r *Runner) loop(ctx context.Context, t *topicLoop) {
	backoff := r.cfg.MinBackoff
	for ctx.Err() == nil {
		t.mu.Lock()
		req, ok := t.f.Next(r.cfg.Now())
		state := t.f.State()
		if !ok && (state == Failed || state == Diverged) {
			t.stopped = true
		}
		var rctx context.Context
		if ok {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(ctx, r.cfg.RequestTimeout)
			t.cancel = cancel
		}
		t.mu.Unlock()
		if !ok {
			// Paused, stopped, or (not here: one loop, one request) in
			// flight: wait for Resume or Restore. The timeout lets
			// Tick's state changes show without a wake-up.
			if !sleep(ctx, r.cfg.MaxBackoff, t.wake) {
				return
			}
			continue
		}
		appended, empty, err := r.exchange(rctx, t, req)
		t.mu.Lock()
		t.cancel()
		t.cancel = nil
		t.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err == nil && appended {
			// Durable before the next fetch: its offset tells the primary
			// what this mirror holds (acks: mirror counts on it), and
			// consumers here only see synced records.
			if serr := t.log.Sync(); serr != nil {
				err = t.failed(r.cfg.Now(), fmt.Errorf("mirror: sync: %w", serr))
			}
		}
		switch {
		case err != nil:
			if !sleep(ctx, backoff, nil) {
				return
			}
			backoff = min(2*backoff, r.cfg.MaxBackoff)
			continue
		case appended && r.cfg.OnAppend != nil:
			r.cfg.OnAppend(t.topic)
		}
		backoff = r.cfg.MinBackoff
		if empty && !sleep(ctx, r.cfg.IdleWait, t.wake) {
			return
		}
	}
}

// exchange sends req and applies the answer. appended: the log grew;
// empty: a well-formed answer with nothing to append (caught up).
func (r *Runner) exchange(ctx context.Context, t *topicLoop, req FetchRequest) (appended, empty bool, err error) {
	msg, err := req.Encode()
	if err != nil {
		return false, false, t.failed(r.cfg.Now(), err)
	}
	out, err := r.cfg.Transport.Fetch(ctx, msg)
	if err == nil && len(out) > r.cfg.MaxMessage {
		err = fmt.Errorf("mirror: answer of %d bytes exceeds the transport's %d", len(out), r.cfg.MaxMessage)
	}
	var resp FetchResponse
	if err == nil {
		resp, err = DecodeFetchResponse(out)
	}
	if err != nil {
		return false, false, t.failed(r.cfg.Now(), err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	before := t.log.LogEndOffset()
	err = t.f.Apply(r.cfg.Now(), resp)
	if errors.Is(err, ErrUnexpected) {
		// Paused (or paused and resumed) meanwhile: not a failure.
		return false, false, nil
	}
	if err != nil {
		t.errs++
		return false, false, err
	}
	t.fetches++
	after := t.log.LogEndOffset()
	if resp.Diverging == nil && after > before {
		t.records += after - before
		t.bytes += uint64(len(resp.Batches))
		return true, false, nil
	}
	return false, resp.Diverging == nil, nil
}

func (t *topicLoop) failed(now time.Time, err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f.State() == Paused {
		// Pause cancelled the fetch: nothing failed.
		return nil
	}
	t.f.Fail(now, err)
	t.errs++
	return err
}
