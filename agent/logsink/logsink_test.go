package logsink

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockingWriter blocks every write until released, like a stalled journald.
type blockingWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	release chan struct{}
}

func (w *blockingWriter) Write(b []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *blockingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A stalled output never blocks the logger: records beyond the queue are
// dropped and counted, and the drop is reported once the output is back.
func TestStalledOutputDoesNotBlock(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	s := New(slog.NewTextHandler(w, nil), 8)
	go s.Run()
	log := slog.New(s.Handler()).With("node", "n0")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i++ {
			log.Info("beat", "i", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logging blocked on a stalled output")
	}
	if d := s.Dropped(); d < 1000-8-1 {
		t.Fatalf("dropped %d of 1000 with a queue of 8 and a stalled writer", d)
	}
	close(w.release)
	for deadline := time.Now().Add(10 * time.Second); len(s.queue) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the queue did not drain")
		}
		time.Sleep(time.Millisecond)
	}
	log.Info("after")
	s.Close(5 * time.Second)
	out := w.String()
	if !strings.Contains(out, "node=n0") || !strings.Contains(out, "msg=after") {
		t.Fatalf("queued records lost their attributes or were not written:\n%s", out)
	}
	if !strings.Contains(out, "event="+EvDropped) {
		t.Fatalf("the drop was not reported:\n%s", out)
	}
}

func TestGroupsAndLevels(t *testing.T) {
	var b syncBuffer
	s := New(slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo}), 0)
	go s.Run()
	h := s.Handler()
	if h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug enabled under an info handler")
	}
	slog.New(h).WithGroup("g").Info("m", "k", 1)
	s.Close(5 * time.Second)
	if !strings.Contains(b.String(), `"g":{"k":1}`) {
		t.Fatalf("group lost: %s", b.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
