package postgresql

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// connSlot keeps one idle connection to a node between calls. A caller
// takes it out (so concurrent calls never share one) and puts it back
// when it is still clean; a second connection is closed instead.
type connSlot struct {
	mu     sync.Mutex
	conn   *pgx.Conn
	closed bool
}

func (s *connSlot) take() *pgx.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conn
	s.conn = nil
	return c
}

func (s *connSlot) put(c *pgx.Conn) {
	s.mu.Lock()
	if !s.closed && s.conn == nil && !c.IsClosed() && c.PgConn().TxStatus() == 'I' {
		s.conn, c = c, nil
	}
	s.mu.Unlock()
	if c != nil {
		closeConn(c)
	}
}

// drop closes the idle connection (the server is going down); close also
// refuses any later one.
func (s *connSlot) drop(closing bool) {
	s.mu.Lock()
	c := s.conn
	s.conn = nil
	if closing {
		s.closed = true
	}
	s.mu.Unlock()
	if c != nil {
		closeConn(c)
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx) // a goodbye to a server that may be gone: its error says nothing
}

var errClosed = errors.New("postgresql: driver closed")

// withConn runs fn on a connection to node, bounded by timeout (and ctx).
// A kept connection the server has since closed (restart, our own fence
// terminating sessions) is replaced by a fresh one and fn run again: fn
// must be idempotent, which every caller's statements are.
func (d *Driver) withConn(ctx context.Context, node string, timeout time.Duration, fn func(context.Context, *pgx.Conn) error) error {
	slot := d.conns[node]
	if slot == nil {
		return fmt.Errorf("postgresql: unknown node %q", node)
	}
	slot.mu.Lock()
	closed := slot.closed
	slot.mu.Unlock()
	if closed {
		return errClosed
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		c := slot.take()
		reused := c != nil
		if c == nil {
			var err error
			if c, err = pgx.ConnectConfig(ctx, d.pgcfg[node]); err != nil {
				return fmt.Errorf("connect to %s (%s): %w", node, d.addr(node), err)
			}
		}
		err := fn(ctx, c)
		if err != nil && reused && c.IsClosed() && ctx.Err() == nil && attempt == 0 {
			continue // a stale kept connection: once more on a fresh one
		}
		slot.put(c)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", node, d.addr(node), err)
		}
		return nil
	}
}

// addr names a node's server in errors.
func (d *Driver) addr(node string) string {
	if cfg := d.pgcfg[node]; cfg != nil {
		return endpoint{cfg.Host, cfg.Port}.String()
	}
	return "?"
}

// dropConns forgets the kept connections to the local server (before it is
// stopped, so that the next call does not first trip on a dead one).
func (d *Driver) dropConns() {
	d.conns[d.cfg.Self].drop(false)
}
