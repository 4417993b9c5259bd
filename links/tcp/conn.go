package tcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ha/tether/llt"
)

// maxFrame bounds one framed llt frame on a connection.
const maxFrame = llt.MaxPayload + 4096

// conn is one established, authenticated connection to a peer: frames
// prefixed with a 32-bit length. Writes go through a bounded queue drained
// by a writer goroutine; over the limit the connection is reset rather
// than allowed to grow (the lesson of Redis #9688).
type conn struct {
	nc      net.Conn
	peer    llt.NodeID
	dir     llt.Channel // ChannelTCPTo (we dialled) or ChannelTCPFrom
	created time.Time
	limit   int

	mu      sync.Mutex
	queue   [][]byte
	queued  int // bytes in queue
	wake    chan struct{}
	closed  chan struct{}
	once    sync.Once
	why     string       // why it was closed
	writing atomic.Int64 // bytes handed to the kernel write in progress

	lastRx    atomic.Int64 // unix ns of the last frame read
	framesIn  atomic.Uint64
	framesOut atomic.Uint64
	bytesIn   atomic.Uint64
	bytesOut  atomic.Uint64
}

func newConn(nc net.Conn, peer llt.NodeID, dir llt.Channel, limit int) *conn {
	c := &conn{nc: nc, peer: peer, dir: dir, created: time.Now(), limit: limit,
		wake: make(chan struct{}, 1), closed: make(chan struct{})}
	c.lastRx.Store(c.created.UnixNano())
	return c
}

// errOverLimit is why a connection whose peer does not read is reset.
var errOverLimit = errors.New("send buffer limit reached")

// enqueue queues one frame. It never blocks; over the limit it closes the
// connection and returns errOverLimit.
func (c *conn) enqueue(frame []byte) error {
	c.mu.Lock()
	select {
	case <-c.closed:
		c.mu.Unlock()
		return net.ErrClosed
	default:
	}
	// The limit covers what is queued and what the writer holds: all the
	// memory a connection can pin.
	if c.queued+int(c.writing.Load())+4+len(frame) > c.limit {
		c.mu.Unlock()
		c.close(CloseSendBufLimit)
		return errOverLimit
	}
	c.queue = append(c.queue, frame)
	c.queued += 4 + len(frame)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// sendBuf returns the bytes queued and the bytes the queue holds
// allocated (Redis CLUSTER LINKS' send-buffer-used / -allocated).
func (c *conn) sendBuf() (used, alloc int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.queue {
		alloc += cap(f) + 4
	}
	w := int(c.writing.Load())
	return c.queued + w, alloc + w
}

// Close reasons: the counter labels of connection resets.
const (
	CloseSendBufLimit = "sendbuf-limit" // the peer does not read
	CloseIdle         = "idle-timeout"  // nothing heard for the idle timeout (frozen or blackholed peer)
	CloseWriteTimeout = "write-timeout"
	ClosePeer         = "peer-closed"
	CloseReplaced     = "replaced" // the peer connected again
	CloseBadFrame     = "bad-frame"
	CloseShutdown     = "shutdown"
)

func (c *conn) close(why string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.why = why
		c.queue, c.queued = nil, 0
		c.mu.Unlock()
		close(c.closed)
		c.nc.Close()
	})
}

func (c *conn) reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.why
}

// writeLoop drains the queue until the connection closes.
func (c *conn) writeLoop(timeout time.Duration) {
	var hdr []byte
	for {
		select {
		case <-c.closed:
			return
		case <-c.wake:
		}
		c.mu.Lock()
		q := c.queue
		n := c.queued
		c.queue, c.queued = nil, 0
		c.writing.Store(int64(n))
		c.mu.Unlock()
		if len(q) == 0 {
			continue
		}
		bufs := make(net.Buffers, 0, 2*len(q))
		hdr = hdr[:0]
		for _, f := range q {
			hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(f)))
		}
		for i, f := range q {
			bufs = append(bufs, hdr[4*i:4*i+4], f)
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		_, err := bufs.WriteTo(c.nc)
		c.writing.Store(0)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.close(CloseWriteTimeout)
			} else {
				c.close(ClosePeer)
			}
			return
		}
		c.framesOut.Add(uint64(len(q)))
		c.bytesOut.Add(uint64(n))
	}
}

// readFrame reads one length-prefixed frame, allowing idle before the
// connection counts as dead.
func (c *conn) readFrame(idle time.Duration) ([]byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(idle))
	var h [4]byte
	if _, err := io.ReadFull(c.nc, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n < llt.MinFrameLen || n > maxFrame {
		return nil, fmt.Errorf("frame length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.nc, b); err != nil {
		return nil, err
	}
	c.lastRx.Store(time.Now().UnixNano())
	c.framesIn.Add(1)
	c.bytesIn.Add(uint64(n) + 4)
	return b, nil
}
