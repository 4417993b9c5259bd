package builtin

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Stream is an authenticated connection to one peer (links/tcp.Stream).
// One goroutine sends while another receives, at most.
type Stream interface {
	Send(msg []byte) error
	Recv() ([]byte, error)
	SetDeadline(t time.Time) error
	Close() error
}

// Dialer opens a stream to a node over the best link to it. The agent
// closes the streams of a link that goes down, so a request in flight
// fails at once and the next one dials the next best link.
type Dialer interface {
	Dial(ctx context.Context, node string) (Stream, error)
}

// Staler is optionally implemented by a Stream that knows it no longer
// rides the best link (a better one came back): it is not reused.
type Staler interface{ Stale() bool }

// pool keeps idle streams to one node; each request takes one, so
// concurrent requests (one per topic) never share a stream.
type pool struct {
	dial Dialer
	node string

	mu     sync.Mutex
	idle   []Stream
	closed bool
}

const maxIdle = 16

func (p *pool) get(ctx context.Context) (Stream, error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		s := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if st, ok := s.(Staler); ok && st.Stale() {
			s.Close()
			continue
		}
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	return p.dial.Dial(ctx, p.node)
}

func (p *pool) put(s Stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= maxIdle {
		s.Close()
		return
	}
	p.idle = append(p.idle, s)
}

// close closes the idle streams; later puts close theirs.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, s := range p.idle {
		s.Close()
	}
	p.idle = nil
}

// past poisons a stream's deadline to end a request whose ctx ended.
var past = time.Unix(1, 0)

// roundTrip sends msg and returns the answer. A stream that failed, or
// whose request was cut short by ctx, is closed, never reused: its next
// message could be the late answer.
func (p *pool) roundTrip(ctx context.Context, msg []byte) ([]byte, error) {
	s, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { s.SetDeadline(past) })
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	err = s.Send(msg)
	var out []byte
	if err == nil {
		out, err = s.Recv()
	}
	if !stop() {
		if err == nil {
			err = ctx.Err()
		}
		s.Close()
		return nil, errors.Join(ctx.Err(), err)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	s.SetDeadline(time.Time{})
	p.put(s)
	return out, nil
}
