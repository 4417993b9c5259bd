package tcp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/llt"
)

// pattern returns n bytes that depend on seed and i.
func pattern(n int, seed, i byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed, i}).Read(b)
	return b
}

// loopback returns the two ends of a loopback TCP connection.
func loopback(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	if server = <-accepted; server == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// streamPair opens a stream over loopback TCP with the real handshake,
// node 1 (client) to node 0 (server).
func streamPair(tb testing.TB, maxMsg int) (client, server *Stream) {
	tb.Helper()
	cn, sn := loopback(tb)
	kr := ring(tb, keyA)
	deadline := time.Now().Add(5 * time.Second)
	type side struct {
		tr  transcript
		err error
	}
	done := make(chan side, 1)
	go func() {
		_, _, tr, err := serverHandshake(sn, srv0, kr, func(llt.NodeID, netip.Addr) string { return "" }, true, peerAddr, deadline)
		done <- side{tr, err}
	}()
	ctr, err := clientHandshakeTranscript(cn, cli1, kr, 0, true, deadline)
	srv := <-done
	if err != nil || srv.err != nil {
		tb.Fatalf("handshake: client %v, server %v", err, srv.err)
	}
	if !ctr.stream || !srv.tr.stream {
		tb.Fatal("a stream handshake that does not say so")
	}
	if client, err = newStream(cn, ctr, true, 0, "hb0", maxMsg); err != nil {
		tb.Fatal(err)
	}
	if server, err = newStream(sn, srv.tr, false, 1, "hb0", maxMsg); err != nil {
		tb.Fatal(err)
	}
	return client, server
}

// fakeTranscript is a made-up stream handshake under keyA: streams built
// from it share its keys without a connection.
func fakeTranscript(tb testing.TB, tag string) transcript {
	kr := ring(tb, keyA)
	return transcript{stream: true, ring: kr, keyID: kr.SendKeyID(),
		hello: []byte("hello " + tag), chall: []byte("challenge"), auth: []byte("auth")}
}

func scriptStream(tb testing.TB, c *scriptConn, tr transcript, client bool, maxMsg int) *Stream {
	tb.Helper()
	s, err := newStream(c, tr, client, 1, "hb0", maxMsg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// recorder is an OnStream that echoes every message, and tells the test
// each stream it got, each message it received and how each stream ended.
type recorder struct {
	opened chan *Stream
	msgs   chan []byte
	ends   chan error
}

func newRecorder() *recorder {
	return &recorder{opened: make(chan *Stream, 16), msgs: make(chan []byte, 256), ends: make(chan error, 16)}
}

func (r *recorder) onStream(s *Stream) {
	r.opened <- s
	for {
		m, err := s.Recv()
		if err != nil {
			r.ends <- err
			return
		}
		r.msgs <- m
		if err := s.Send(m); err != nil {
			r.ends <- err
			return
		}
	}
}

func (r *recorder) msg(t *testing.T) []byte {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("the stream handler received nothing")
		return nil
	}
}

func (r *recorder) end(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.ends:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the stream handler's stream did not end")
		return nil
	}
}

// streamNet is a testNet whose node 0 takes streams into rec.
func streamNet(t *testing.T, rec *recorder) *testNet {
	return newTestNet(t, func(i int, c *Config) {
		if i == 0 {
			c.OnStream = rec.onStream
		}
	})
}

// streamClient returns a channel of node 1 of tn that does not run, on a
// port of its own, and finds node 0 at to.
func (tn *testNet) streamClient(t *testing.T, to netip.AddrPort, tweak func(c *Config)) *Channel {
	t.Helper()
	cfg := tn.config(1)
	cfg.Listen = netip.AddrPortFrom(addr(1), 0)
	cfg.Peers[0].Addr = to
	if tweak != nil {
		tweak(&cfg)
	}
	ch, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

func dialStream(t *testing.T, ch *Channel, peer llt.NodeID) *Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := ch.DialStream(ctx, peer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	_ = s.SetDeadline(time.Now().Add(30 * time.Second)) // no test hangs
	return s
}

func TestStreamRoundTrip(t *testing.T) {
	rec := newRecorder()
	tn := streamNet(t, rec)
	s := dialStream(t, tn.nodes[1].ch, 0)
	if s.Peer() != 0 || s.Network() != "hb0" || addrOf(s.LocalAddr()) != addr(1) ||
		s.RemoteAddr().String() != netip.AddrPortFrom(addr(0), tn.port).String() || s.MaxMessage() != DefaultStreamMaxMessage {
		t.Errorf("client end: peer %d, network %s, %v -> %v, max %d", s.Peer(), s.Network(), s.LocalAddr(), s.RemoteAddr(), s.MaxMessage())
	}
	var echoes, sent [][]byte
	for i, n := range []int{0, 1, 100, 64<<10 + 3, 4 << 20, 4 << 20} {
		m := pattern(n, 1, byte(i))
		if err := s.Send(m); err != nil {
			t.Fatalf("send %d bytes: %v", n, err)
		}
		if got := rec.msg(t); !bytes.Equal(got, m) {
			t.Fatalf("server received %d bytes, want the %d sent", len(got), n)
		}
		back, err := s.Recv()
		if err != nil || !bytes.Equal(back, m) {
			t.Fatalf("echo of %d bytes: %d bytes, %v", n, len(back), err)
		}
		echoes, sent = append(echoes, back), append(sent, m)
	}
	// Each Recv's slice is its own: later ones did not overwrite it.
	for i := range echoes {
		if !bytes.Equal(echoes[i], sent[i]) {
			t.Errorf("message %d changed after later Recvs", i)
		}
	}
	srv := <-rec.opened
	if srv.Peer() != 1 || srv.Network() != "hb0" || addrOf(srv.RemoteAddr()) != addr(1) || addrOf(srv.LocalAddr()) != addr(0) {
		t.Errorf("server end: peer %d, network %s, %v -> %v", srv.Peer(), srv.Network(), srv.LocalAddr(), srv.RemoteAddr())
	}
	// A clean close between messages is EOF on the other end.
	s.Close()
	if err := rec.end(t); !errors.Is(err, io.EOF) {
		t.Errorf("server after the client closed: %v, want EOF", err)
	}
}

// exchange sends n messages seeded mine while it receives and checks n
// seeded theirs, on two goroutines.
func exchange(s *Stream, n int, mine, theirs byte) error {
	size := func(i int) int { return (i * 7919) % (128 << 10) }
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := s.Send(pattern(size(i), mine, byte(i))); err != nil {
				sent <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		sent <- nil
	}()
	var rerr error
	for i := range n {
		m, err := s.Recv()
		if err != nil {
			rerr = fmt.Errorf("recv %d: %w", i, err)
			break
		}
		if !bytes.Equal(m, pattern(size(i), theirs, byte(i))) {
			rerr = fmt.Errorf("message %d differs", i)
			break
		}
	}
	if rerr != nil {
		s.Close() // let the sender out
	}
	return errors.Join(rerr, <-sent)
}

func TestStreamConcurrentSendAndRecvBothWays(t *testing.T) {
	const n = 200
	handled := make(chan error, 1)
	tn := newTestNet(t, func(i int, c *Config) {
		if i == 0 {
			c.OnStream = func(s *Stream) { handled <- exchange(s, n, 2, 1) }
		}
	})
	s := dialStream(t, tn.nodes[1].ch, 0)
	if err := exchange(s, n, 1, 2); err != nil {
		t.Errorf("client: %v", err)
	}
	select {
	case err := <-handled:
		if err != nil {
			t.Errorf("server: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server exchange did not end")
	}
}

// tamperProxy relays connections to node 0 of tn from node 1's address
// (so they are admitted as node 1): the handshake as it is, then each
// stream message from the client, length included, through alter, which
// returns what to send in its place (it, changed, nothing, or more) and
// whether to end the way to the server after that. It records every byte
// either end sent.
type tamperProxy struct {
	addr  netip.AddrPort
	mu    sync.Mutex
	wire  bytes.Buffer
	conns []net.Conn
}

type alterFunc func(i int, m []byte) (out [][]byte, cut bool)

func (p *tamperProxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wire.Write(b)
}

func (p *tamperProxy) recorded() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.wire.Bytes())
}

func startProxy(t *testing.T, tn *testNet, alter alterFunc) *tamperProxy {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr(0), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	p := &tamperProxy{addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: addr(1).AsSlice()}}
			sc, err := d.Dial("tcp", netip.AddrPortFrom(addr(0), tn.port).String())
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, sc)
			p.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(io.MultiWriter(c, p), sc)
			})
			wg.Go(func() {
				defer sc.Close()
				p.up(c, sc.(*net.TCPConn), alter)
			})
		}
	})
	return p
}

// up relays client to server: HELLO and AUTH, then stream messages.
func (p *tamperProxy) up(c net.Conn, sc *net.TCPConn, alter alterFunc) {
	r := io.TeeReader(c, p)
	for range 2 {
		b, err := readMsg(r)
		if err != nil || writeMsg(sc, b) != nil {
			return
		}
	}
	for i := 0; ; i++ {
		var h [4]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return
		}
		m := make([]byte, 4+binary.BigEndian.Uint32(h[:]))
		copy(m, h[:])
		if _, err := io.ReadFull(r, m[4:]); err != nil {
			return
		}
		out, cut := alter(i, m)
		for _, o := range out {
			if _, err := sc.Write(o); err != nil {
				return
			}
		}
		if cut {
			_ = sc.CloseWrite()
			_, _ = io.Copy(io.Discard, r)
			return
		}
	}
}

func untouched(_ int, m []byte) ([][]byte, bool) { return [][]byte{m}, false }

// Through a proxy that changes nothing, messages arrive; the proxy sees
// none of their text either way.
func TestStreamIsEncryptedOnTheWire(t *testing.T) {
	rec := newRecorder()
	tn := streamNet(t, rec)
	p := startProxy(t, tn, untouched)
	s := dialStream(t, tn.streamClient(t, p.addr, nil), 0)
	msgs := [][]byte{[]byte("plaintext marker one"), bytes.Repeat([]byte("plaintext marker two "), 5000)}
	for _, m := range msgs {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
		if got := rec.msg(t); !bytes.Equal(got, m) {
			t.Fatalf("server received %q..., want %q...", got[:min(len(got), 20)], m[:20])
		}
		if back, err := s.Recv(); err != nil || !bytes.Equal(back, m) {
			t.Fatalf("echo: %v", err)
		}
	}
	wire := p.recorded()
	if len(wire) < len(msgs[1]) {
		t.Fatalf("the proxy saw %d bytes, fewer than was sent", len(wire))
	}
	if bytes.Contains(wire, []byte("plaintext")) || bytes.Contains(wire, []byte("marker")) {
		t.Fatal("the proxy saw message text in clear")
	}
}

// Whatever a man in the middle does to the messages — a byte changed,
// one replayed, reordered, dropped, cut short — the receiver gets the
// messages before it intact, then an error, and nothing after.
func TestStreamTamperingIsDetected(t *testing.T) {
	flip := func(at int, bit byte) alterFunc {
		return func(i int, m []byte) ([][]byte, bool) {
			if i == 1 {
				m[(at+len(m))%len(m)] ^= bit
			}
			return [][]byte{m}, false
		}
	}
	var held []byte
	cases := []struct {
		name      string
		alter     alterFunc
		delivered int // messages received intact before the error
		want      error
	}{
		{"untouched", untouched, 3, nil},
		{"ciphertext byte flipped", flip(4, 1), 1, ErrBadMessage},
		{"middle byte flipped", flip(500, 0x40), 1, ErrBadMessage},
		{"tag byte flipped", flip(-1, 0x80), 1, ErrBadMessage},
		{"length one more", flip(3, 1), 1, ErrBadMessage},
		{"length over the limit", flip(0, 0x80), 1, ErrMessageTooLarge},
		{"replayed", func(i int, m []byte) ([][]byte, bool) {
			if i == 0 {
				return [][]byte{m, m}, false
			}
			return [][]byte{m}, false
		}, 1, ErrBadMessage},
		{"reordered", func(i int, m []byte) ([][]byte, bool) {
			switch i {
			case 0:
				held = m
				return nil, false
			case 1:
				return [][]byte{m, held}, false
			}
			return [][]byte{m}, false
		}, 0, ErrBadMessage},
		{"dropped", func(i int, m []byte) ([][]byte, bool) {
			if i == 1 {
				return nil, false
			}
			return [][]byte{m}, false
		}, 1, ErrBadMessage},
		{"cut in a message", func(i int, m []byte) ([][]byte, bool) {
			if i == 1 {
				return [][]byte{m[:len(m)/2]}, true
			}
			return [][]byte{m}, false
		}, 1, io.ErrUnexpectedEOF},
		{"cut in a length", func(i int, m []byte) ([][]byte, bool) {
			if i == 1 {
				return [][]byte{m[:2]}, true
			}
			return [][]byte{m}, false
		}, 1, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecorder()
			tn := streamNet(t, rec)
			p := startProxy(t, tn, c.alter)
			s := dialStream(t, tn.streamClient(t, p.addr, nil), 0)
			msgs := [][]byte{pattern(100, 3, 0), pattern(1000, 3, 1), pattern(100, 3, 2)}
			for _, m := range msgs {
				if err := s.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			for i := range c.delivered {
				if got := rec.msg(t); !bytes.Equal(got, msgs[i]) {
					t.Fatalf("message %d: %d bytes, not the one sent", i, len(got))
				}
			}
			if c.want == nil {
				return
			}
			if err := rec.end(t); !errors.Is(err, c.want) {
				t.Fatalf("the receiver says %v, want %v", err, c.want)
			}
			select {
			case m := <-rec.msgs:
				t.Fatalf("a message of %d bytes received after the error", len(m))
			default:
			}
		})
	}
}

func TestStreamWrongKeyFailsTheDial(t *testing.T) {
	rec := newRecorder()
	tn := streamNet(t, rec)
	failures := make(authFailures, 4)
	cl := tn.streamClient(t, netip.AddrPortFrom(addr(0), tn.port), func(c *Config) {
		c.Keys = ring(t, keyB)
		c.OnAuthFailure = failures.report
	})
	s, err := cl.DialStream(context.Background(), 0)
	if got, byRemote := reason(err); s != nil || got != RefusedBadProof || byRemote {
		t.Fatalf("stream with the wrong key: %v, want our own bad-proof verdict", err)
	}
	failures.want(t, "stream with the wrong key", 0)
	waitFor(t, "the refusal counted", func() bool { return tn.nodes[0].ctr.ConnEvents()["refused-"+RefusedUnknownKey] == 1 })
	select {
	case <-rec.opened:
		t.Fatal("OnStream got a stream of a client without the key")
	default:
	}
}

// A client without the key asking for a stream learns as little as for a
// link: a CHALLENGE of the same size, then EOF.
func TestStreamHelloWithoutTheKeyLearnsNothing(t *testing.T) {
	h := hello{cluster: 7, from: 1, to: 0, keyID: llt.KeyID(keyA), network: "hb0", stream: true}
	wrote, err, failed := probe(t, h, ring(t, keyA), peerAddr)
	if len(wrote) != 2+challengeLen || wrote[2+5] != msgChallenge {
		t.Errorf("server wrote % x to a stream HELLO without the key, want one CHALLENGE", wrote)
	}
	if got, _ := reason(err); got != RefusedBadProof || !failed {
		t.Errorf("server says %v (auth failed %v), want bad-proof", err, failed)
	}
	if parsed, err := parseHello(h.marshal()); err != nil || !parsed.stream {
		t.Errorf("stream HELLO parses as %+v, %v", parsed, err)
	}
}

func TestStreamRefusedByAChannelWithoutOnStream(t *testing.T) {
	tn := newTestNet(t, func(i int, c *Config) { c.IdleTimeout = 10 * time.Second })
	a, b := tn.nodes[0], tn.nodes[1]
	waitFor(t, "links up", func() bool { return bothUp(a) && bothUp(b) })
	before := a.ch.Connections()
	s, err := b.ch.DialStream(context.Background(), 0)
	if got, byRemote := reason(err); s != nil || got != RefusedNoStreams || !byRemote || !strings.Contains(err.Error(), "takes no streams") {
		t.Fatalf("stream to a channel without OnStream: %v, want refused by the peer: %s", err, RefusedNoStreams)
	}
	waitFor(t, "the refusal counted", func() bool { return a.ctr.ConnEvents()[links.OtherCause] == 1 })
	if after := a.ch.Connections(); !reflect.DeepEqual(after, before) {
		t.Errorf("links changed by a refused stream:\n%+v\n%+v", before, after)
	}
	// Nor is it the diagnosis of the inbound link, once that goes down.
	p := a.ch.peers[1]
	p.mu.Lock()
	inErr := p.inErr
	p.mu.Unlock()
	if inErr != "" {
		t.Errorf("inbound link diagnosis %q after a refused stream", inErr)
	}
}

func TestDialStreamErrors(t *testing.T) {
	tn := newTestNet(t, nil)
	if _, err := tn.nodes[1].ch.DialStream(context.Background(), 9); err == nil || !strings.Contains(err.Error(), "not a peer") {
		t.Errorf("stream to node 9: %v", err)
	}
	// A peer that never answers the HELLO: cancelling ctx ends the
	// handshake at once, long before its timeout.
	silent, err := net.Listen("tcp", netip.AddrPortFrom(addr(0), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	cl := tn.streamClient(t, silent.Addr().(*net.TCPAddr).AddrPort(), func(c *Config) { c.HandshakeTimeout = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := cl.DialStream(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during the handshake: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("DialStream returned %v after its ctx was cancelled", d)
	}
}

func TestStreamSendRefusesAMessageOverTheLimit(t *testing.T) {
	c, s := streamPair(t, 1024)
	if err := c.Send(make([]byte, 1025)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("1025 bytes on a stream of 1024: %v", err)
	}
	// Nothing went out and the stream goes on: the next message is the
	// first the peer sees, and opens.
	m := pattern(1024, 4, 0)
	if err := c.Send(m); err != nil {
		t.Fatal(err)
	}
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := s.Recv(); err != nil || !bytes.Equal(got, m) {
		t.Fatalf("after the refusal: %d bytes, %v", len(got), err)
	}
}

// A length over the limit is an error before anything is allocated or
// read for it, and the stream is closed.
func TestStreamRecvRefusesALengthOverTheLimit(t *testing.T) {
	const limit = 8 << 20
	for _, n := range []uint32{limit + tagLen + 1, 1<<32 - 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c, s := streamPair(t, limit)
			raw := c.nc // the peer, by hand
			if _, err := raw.Write(binary.BigEndian.AppendUint32(nil, n)); err != nil {
				t.Fatal(err)
			}
			_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := s.Recv()
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("length %d: %v, want ErrMessageTooLarge", n, err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > limit/2 {
				t.Errorf("Recv allocated %d bytes for a message it refused", got)
			}
			if _, err := s.Recv(); err == nil {
				t.Error("Recv after the error succeeded")
			}
			// Closed: the peer sees the connection end.
			_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
			var ne net.Error
			if _, err := raw.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
				t.Errorf("the peer reads %v, want the connection closed", err)
			}
		})
	}
	// Shorter than a tag: no message at all.
	c, s := streamPair(t, limit)
	_, _ = c.nc.Write([]byte{0, 0, 0, tagLen - 1})
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Recv(); !errors.Is(err, ErrBadMessage) {
		t.Errorf("length %d: %v", tagLen-1, err)
	}
	// The stream is done: a genuine message after the error is not read.
	if err := c.Send([]byte("genuine")); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Recv(); err == nil {
		t.Errorf("Recv after an error returned %q", m)
	}
}

// A message opens only under its stream's key for its direction: not
// reflected back to its sender, not on another stream.
func TestStreamKeysAreTheirOwn(t *testing.T) {
	tr := fakeTranscript(t, "one")
	var out bytes.Buffer
	tx := scriptStream(t, &scriptConn{in: bytes.NewReader(nil), out: &out}, tr, true, 1024)
	if err := tx.Send([]byte("to the server")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		tr     transcript
		client bool
		ok     bool
	}{
		{"the server of this stream", tr, false, true},
		{"the sender's own direction (reflected)", tr, true, false},
		{"another stream's server", fakeTranscript(t, "two"), false, false},
	} {
		rx := scriptStream(t, &scriptConn{in: bytes.NewReader(out.Bytes())}, c.tr, c.client, 1024)
		m, err := rx.Recv()
		if c.ok && (err != nil || string(m) != "to the server") {
			t.Errorf("%s: %q, %v", c.name, m, err)
		}
		if !c.ok && !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %q, %v; want ErrBadMessage", c.name, m, err)
		}
	}
}

// Cancelling Run's ctx closes the streams it handed out, so their
// handlers return and Run does.
func TestRunEndsStreamHandlers(t *testing.T) {
	got := make(chan []byte, 1)
	ended := make(chan error, 1)
	tn := newTestNet(t, func(i int, c *Config) {
		if i == 0 {
			c.OnStream = func(s *Stream) {
				m, err := s.Recv()
				if err == nil {
					got <- m
					_, err = s.Recv() // nothing more comes: only the close ends this
				}
				ended <- err
			}
		}
	})
	s := dialStream(t, tn.nodes[1].ch, 0)
	if err := s.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("handler received nothing")
	}
	stopped := make(chan struct{})
	go func() { tn.nodes[0].stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Error("Run did not return while a stream handler ran")
		s.Close() // let it out
		<-stopped
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Error("handler's Recv succeeded")
		}
	default:
		t.Fatal("Run returned before the handler")
	}
	var ne net.Error
	if _, err := s.Recv(); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("client end after the server's Run ended: %v, want closed", err)
	}
}

// Streams, either way, are not links: the links stay as they were, no
// frame is delivered, nothing is replaced or reset.
func TestStreamsLeaveTheLinksAlone(t *testing.T) {
	recs := []*recorder{newRecorder(), newRecorder()}
	tn := newTestNet(t, func(i int, c *Config) {
		c.IdleTimeout = 10 * time.Second // no heartbeats in this test: keep the links anyway
		c.OnStream = recs[i].onStream
	})
	a, b := tn.nodes[0], tn.nodes[1]
	waitFor(t, "links up", func() bool { return bothUp(a) && bothUp(b) })
	before := [][]ConnInfo{a.ch.Connections(), b.ch.Connections()}
	events := []map[string]uint64{a.ctr.ConnEvents(), b.ctr.ConnEvents()}

	var streams []*Stream
	for _, d := range []struct{ from, to int }{{1, 0}, {1, 0}, {0, 1}} {
		s := dialStream(t, tn.nodes[d.from].ch, llt.NodeID(d.to))
		for _, n := range []int{10, 1 << 20} {
			m := pattern(n, 5, byte(len(streams)))
			if err := s.Send(m); err != nil {
				t.Fatal(err)
			}
			if back, err := s.Recv(); err != nil || !bytes.Equal(back, m) {
				t.Fatalf("echo: %v", err)
			}
		}
		streams = append(streams, s)
	}
	check := func(when string) {
		t.Helper()
		for i, n := range tn.nodes {
			if got := n.ch.Connections(); !reflect.DeepEqual(got, before[i]) {
				t.Errorf("%s: node %d's links changed:\n%+v\n%+v", when, i, before[i], got)
			}
			ev := n.ctr.ConnEvents()
			for k, v := range ev {
				if k != "accepted" && v != events[i][k] {
					t.Errorf("%s: node %d counted %s %d times, %d before", when, i, k, v, events[i][k])
				}
			}
			select {
			case r := <-n.rx:
				t.Errorf("%s: node %d delivered a frame: %+v", when, i, r)
			default:
			}
		}
	}
	check("streams open")
	// The accepted ones count as accepted handshakes.
	if a.ctr.ConnEvents()["accepted"] != events[0]["accepted"]+2 || b.ctr.ConnEvents()["accepted"] != events[1]["accepted"]+1 {
		t.Errorf("accepted: %v, %v", a.ctr.ConnEvents(), b.ctr.ConnEvents())
	}
	for _, s := range streams {
		s.Close()
	}
	for range 2 {
		recs[0].end(t)
	}
	recs[1].end(t)
	check("streams closed")
}

// The receiving end of a stream against arbitrary bytes: no panic, and
// every message it returns is exactly what the key's holder sealed for
// that place in the stream; after an error, nothing more.
func FuzzStreamRecv(f *testing.F) {
	const limit = 64 << 10
	tr := fakeTranscript(f, "fuzz")
	sealed := func(msgs ...[]byte) []byte {
		var out bytes.Buffer
		tx := scriptStream(f, &scriptConn{in: bytes.NewReader(nil), out: &out}, tr, true, limit)
		for _, m := range msgs {
			if err := tx.Send(m); err != nil {
				f.Fatal(err)
			}
		}
		return out.Bytes()
	}
	valid := sealed([]byte("first"), pattern(1000, 6, 0), nil)
	first := sealed([]byte("first"))
	f.Add(valid)
	f.Add(append(bytes.Clone(first), first...)) // replayed
	flipped := bytes.Clone(valid)
	flipped[len(first)+10] ^= 1
	f.Add(flipped)
	f.Add(valid[:len(valid)-1])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, tagLen})
	f.Add(append([]byte{0, 0, 0, 0}, first...)) // an error, then a genuine message
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		rx := scriptStream(t, &scriptConn{in: bytes.NewReader(in)}, tr, false, limit)
		// The oracle seals what rx returns as the client would have, in
		// the same order: in must start with exactly that.
		var resealed bytes.Buffer
		oracle := scriptStream(t, &scriptConn{in: bytes.NewReader(nil), out: &resealed}, tr, true, limit)
		for i := 0; ; i++ {
			m, err := rx.Recv()
			if err != nil {
				if _, err := rx.Recv(); err == nil {
					t.Fatal("Recv succeeded after an error")
				}
				return
			}
			if err := oracle.Send(m); err != nil {
				t.Fatalf("message %d of %d bytes: %v", i, len(m), err)
			}
			if !bytes.HasPrefix(in, resealed.Bytes()) {
				t.Fatalf("message %d was not sealed by the key for its place", i)
			}
		}
	})
}

func BenchmarkStream1MiB(b *testing.B) {
	c, s := streamPair(b, DefaultStreamMaxMessage)
	msg := pattern(1<<20, 7, 0)
	n := b.N
	done := make(chan error, 1)
	go func() {
		for range n {
			if _, err := s.Recv(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range n {
		if err := c.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
