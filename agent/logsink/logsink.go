// Package logsink is an slog.Handler that never blocks its caller: records
// go to a bounded queue that one goroutine writes to the real handler. A
// stalled journald or a full pipe then costs log records, counted and
// reported when the writer catches up, never heartbeats.
//
// Written here because the slog handler libraries we looked at either
// block when their buffer is full or spawn a goroutine per record.
package logsink

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueue is the queue length New uses for 0.
const DefaultQueue = 4096

// Sink owns the queue and the writer goroutine; Handler returns the
// handlers that feed it.
type Sink struct {
	inner   slog.Handler
	queue   chan item
	dropped atomic.Uint64 // records dropped since start
	pending atomic.Uint64 // dropped and not yet reported

	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

type item struct {
	h slog.Handler // inner handler with the record's attrs and groups
	r slog.Record
}

// New returns a sink writing to inner with a queue of n records (0:
// DefaultQueue). Run must be started for records to be written.
func New(inner slog.Handler, n int) *Sink {
	if n <= 0 {
		n = DefaultQueue
	}
	return &Sink{inner: inner, queue: make(chan item, n), done: make(chan struct{})}
}

// Handler returns the non-blocking handler of the sink.
func (s *Sink) Handler() slog.Handler { return &handler{s: s, h: s.inner} }

// Dropped returns how many records were dropped because the queue was full.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// Run writes queued records until Close, then writes what is left and
// returns. Errors of the inner handler are ignored: there is nowhere to
// report them.
func (s *Sink) Run() {
	defer close(s.done)
	for it := range s.queue {
		_ = it.h.Handle(context.Background(), it.r)
		if n := s.pending.Swap(0); n > 0 && len(s.queue) < cap(s.queue)/2 {
			r := slog.NewRecord(time.Now(), slog.LevelWarn, "log records dropped: the log output did not keep up", 0)
			r.AddAttrs(slog.String("event", EvDropped), slog.Uint64("dropped", n), slog.Uint64("dropped_total", s.dropped.Load()))
			_ = s.inner.Handle(context.Background(), r)
		} else if n > 0 {
			s.pending.Add(n) // report once the queue has drained
		}
	}
}

// EvDropped is the event id of the record that reports dropped records.
const EvDropped = "log.dropped"

// Close stops accepting records and waits, at most timeout, for Run to
// write the queued ones.
func (s *Sink) Close(timeout time.Duration) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(timeout):
	}
}

func (s *Sink) enqueue(it item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.queue <- it:
	default:
		s.dropped.Add(1)
		s.pending.Add(1)
	}
}

type handler struct {
	s *Sink
	h slog.Handler
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	h.s.enqueue(item{h: h.h, r: r.Clone()})
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{s: h.s, h: h.h.WithAttrs(as)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{s: h.s, h: h.h.WithGroup(name)}
}
