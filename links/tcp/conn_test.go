package tcp

import (
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
