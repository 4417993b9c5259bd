package tcp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/llt"
)

// maxFrame bounds one framed llt frame on a connection.
const maxFrame = llt.MaxPayload + 4096

// conn is one established, authenticated connection to a peer: frames
// prefixed with a 32-bit length. A frame is written at once, without
// waiting, when nothing is queued; what the socket does not take goes to a
// bounded queue drained by a writer goroutine. Over the limit the
// connection is reset rather than allowed to grow (the lesson of Redis
// #9688).
type conn struct {
	nc      net.Conn
	raw     syscall.RawConn // for writes that never wait
	br      *bufio.Reader
	peer    llt.NodeID
	dir     llt.Channel // ChannelTCPTo (we dialled) or ChannelTCPFrom
	created time.Time
	limit   int

	mu      sync.Mutex
	queue   [][]byte // framed: length prefix included
	queued  int      // bytes in queue
	wake    chan struct{}
	closed  chan struct{}
	once    sync.Once
	why     string       // why it was closed
	err     error        // what made it close, if anything
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
	var rd io.Reader = nc
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw, rd = raw, rawReader{raw}
		}
	}
	// Heartbeats are a couple of hundred bytes; a larger frame is read
	// past the buffer, straight into its own slice.
	c.br = bufio.NewReaderSize(rd, 4<<10)
	c.lastRx.Store(c.created.UnixNano())
	return c
}

// tryWrite writes b without waiting for the socket and returns how much
// the kernel took (0 when it would block).
func (c *conn) tryWrite(b []byte) (int, error) {
	n, err := links.WriteNow(c.raw, b)
	if errors.Is(err, links.ErrWouldBlock) {
		return 0, nil
	}
	return n, err
}

// rawReader reads the connection with raw non-blocking reads (see
// links.Read), honouring the read deadline.
type rawReader struct{ rc syscall.RawConn }

func (r rawReader) Read(b []byte) (int, error) { return links.Read(r.rc, b) }

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
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(frame)), uint32(len(frame)))
	b = append(b, frame...)
	if len(c.queue) == 0 && c.writing.Load() == 0 && c.raw != nil {
		// Nothing ahead of it: write now, so an idle connection needs no
		// writer wakeup per frame.
		n, err := c.tryWrite(b)
		if err != nil {
			c.mu.Unlock()
			c.closeErr(ClosePeer, err)
			return err
		}
		if n == len(b) {
			c.mu.Unlock()
			c.framesOut.Add(1)
			c.bytesOut.Add(uint64(n))
			return nil
		}
		b = b[n:] // the rest waits for the writer
		c.framesOut.Add(1)
		c.bytesOut.Add(uint64(n))
	}
	c.queue = append(c.queue, b)
	c.queued += len(b)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// used returns the bytes queued and in the writer's hands: what the
// limit counts.
func (c *conn) used() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued + int(c.writing.Load())
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

func (c *conn) close(why string) { c.closeErr(why, nil) }

// closeErr closes the connection for reason why; err, when not nil, is
// the error that made it (logged with the reason).
func (c *conn) closeErr(why string, err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.why, c.err = why, err
		c.queue, c.queued = nil, 0
		c.mu.Unlock()
		close(c.closed)
		c.nc.Close()
	})
}

func (c *conn) reason() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.why, c.err
}

// writeLoop drains the queue until the connection closes.
func (c *conn) writeLoop(timeout time.Duration) {
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
			c.writing.Store(0)
			continue
		}
		bufs := net.Buffers(q)
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		_, err := bufs.WriteTo(c.nc)
		// Clear the deadline: it also governs enqueue's direct writes,
		// which would otherwise fail with a timeout once it has passed.
		_ = c.nc.SetWriteDeadline(time.Time{})
		c.writing.Store(0)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.close(CloseWriteTimeout)
			} else {
				c.closeErr(ClosePeer, err)
			}
			return
		}
		c.framesOut.Add(uint64(len(q)))
		c.bytesOut.Add(uint64(n))
		// Frames queued while this write ran find the writer busy and do
		// not wake it: look again.
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// readFrame reads one length-prefixed frame, allowing idle before the
// connection counts as dead.
func (c *conn) readFrame(idle time.Duration) ([]byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(idle))
	b, err := readFrame(c.br)
	if err != nil {
		return nil, err
	}
	c.lastRx.Store(time.Now().UnixNano())
	c.framesIn.Add(1)
	c.bytesIn.Add(uint64(len(b)) + 4)
	return b, nil
}

// readFrame reads one frame: a 32-bit length, checked before anything is
// allocated (at most maxFrame), and that many bytes.
func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n < llt.MinFrameLen || n > maxFrame {
		return nil, fmt.Errorf("frame length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
