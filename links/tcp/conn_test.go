package tcp

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tether-ha/tether/llt"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Once the writer goroutine has written a backlog (with its write
// deadline), a later frame written directly by enqueue must not fail with
// that old deadline: it did, closing healthy connections under load
// ("raw-write: i/o timeout", logged as peer-closed) an idle timeout after
// any burst.
func TestDirectWriteAfterTheWriterIsNotHitByItsDeadline(t *testing.T) {
	const timeout = 500 * time.Millisecond
	nc, server := tcpPair(t)
	_ = nc.(*net.TCPConn).SetWriteBuffer(16 << 10)
	_ = server.(*net.TCPConn).SetReadBuffer(16 << 10)
	c := newConn(nc, 1, llt.ChannelTCPTo, 64<<20)
	done := make(chan struct{})
	go func() { defer close(done); c.writeLoop(timeout) }()
	t.Cleanup(func() { c.close(CloseShutdown); <-done })

	// A burst the kernel cannot take at once while nobody reads: the rest
	// waits in the queue for the writer.
	frame := make([]byte, 32<<10)
	for i := 0; i < 64; i++ {
		if err := c.enqueue(frame); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	if used, _ := c.sendBuf(); used == 0 {
		t.Fatal("the burst went straight into the kernel: the writer was not used")
	}
	// Now the peer reads everything; the writer drains the queue.
	go func() { _, _ = io.Copy(io.Discard, server) }()
	waitFor(t, "queue drained", func() bool { used, _ := c.sendBuf(); return used == 0 })
	time.Sleep(2 * timeout) // the writer's deadline is long past

	if err := c.enqueue([]byte("heartbeat")); err != nil {
		why, cerr := c.reason()
		t.Fatalf("direct write after the writer's deadline: %v (closed: %s %v)", err, why, cerr)
	}
	select {
	case <-c.closed:
		why, err := c.reason()
		t.Fatalf("connection closed: %s %v", why, err)
	default:
	}
}

// chunkReader hands out at most max bytes per Read (short reads, as TCP
// gives) and records the largest buffer it was asked to fill.
type chunkReader struct {
	r       io.Reader
	max     int
	largest int
}

func (c *chunkReader) Read(b []byte) (int, error) {
	c.largest = max(c.largest, len(b))
	return c.r.Read(b[:min(len(b), c.max)])
}

// The length prefix decides an allocation before the peer has sent the
// bytes: it must be bounded, and out of bounds refused before anything is
// allocated or read.
func FuzzReadFrame(f *testing.F) {
	prefix := func(n uint32, body ...byte) []byte { return append(binary.BigEndian.AppendUint32(nil, n), body...) }
	valid := frame(f, ring(f, keyA), 0, 1, 1)
	f.Add(prefix(uint32(len(valid)), valid...), uint8(255))
	f.Add(prefix(uint32(len(valid)), valid[:10]...), uint8(3)) // cut short
	f.Add(prefix(llt.MinFrameLen, make([]byte, llt.MinFrameLen)...), uint8(0))
	f.Add(prefix(llt.MinFrameLen-1, make([]byte, llt.MinFrameLen)...), uint8(255))
	f.Add(prefix(maxFrame), uint8(255))
	f.Add(prefix(maxFrame+1), uint8(255))
	f.Add(prefix(0), uint8(1))
	f.Add(prefix(1<<32-1), uint8(1))
	f.Add([]byte{0, 0, 1}, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		br := bytes.NewReader(in)
		cr := &chunkReader{r: br, max: int(chunk) + 1}
		b, err := readFrame(cr)
		if cr.largest > maxFrame || cap(b) > maxFrame {
			t.Fatalf("read into %d bytes, returned cap %d: over maxFrame %d", cr.largest, cap(b), maxFrame)
		}
		if len(in) < 4 {
			if err == nil {
				t.Fatal("frame from a partial length")
			}
			return
		}
		n := binary.BigEndian.Uint32(in)
		if n < llt.MinFrameLen || n > maxFrame {
			if err == nil {
				t.Fatalf("length %d accepted", n)
			}
			if read := len(in) - br.Len(); read != 4 {
				t.Fatalf("length %d refused after reading %d bytes, want only the prefix", n, read)
			}
			return
		}
		if uint32(len(in)-4) < n {
			if err == nil {
				t.Fatalf("frame of %d bytes from %d", n, len(in)-4)
			}
			return
		}
		if err != nil || !bytes.Equal(b, in[4:4+n]) {
			t.Fatalf("frame of %d bytes: %v, got %d bytes", n, err, len(b))
		}
	})
}
