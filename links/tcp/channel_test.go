package tcp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/llt"
)

// freePort finds a port free on both loopback addresses the tests use.
func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

type node struct {
	ch   *Channel
	rx   chan links.Received
	ctr  *links.Counters
	stop func()
}

// testNet is nodes 0 and 1 on 127.0.0.1 and 127.0.0.2, both tcp.
type testNet struct {
	t     *testing.T
	port  uint16
	nodes []*node
}

func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}) }

func newTestNet(t *testing.T, tweak func(i int, c *Config)) *testNet {
	tn := &testNet{t: t, port: freePort(t)}
	for i := 0; i < 2; i++ {
		tn.nodes = append(tn.nodes, tn.start(i, tweak))
	}
	return tn
}

func (tn *testNet) config(i int) Config {
	var peers []Peer
	for j := 0; j < 2; j++ {
		if j != i {
			peers = append(peers, Peer{ID: llt.NodeID(j), Name: "node" + string(rune('0'+j)), Addr: netip.AddrPortFrom(addr(j), tn.port)})
		}
	}
	return Config{
		Network: 0, Name: "hb0", Cluster: 7, Self: llt.NodeID(i),
		Listen: netip.AddrPortFrom(addr(i), tn.port), Peers: peers, Names: []string{"hb0"},
		Keys: ring(tn.t, keyA), Counters: links.NewCounters(DropCauses, ConnCauses),
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		IdleTimeout: 500 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		HandshakeTimeout: 300 * time.Millisecond,
	}
}

func (tn *testNet) start(i int, tweak func(i int, c *Config)) *node {
	tn.t.Helper()
	cfg := tn.config(i)
	if tweak != nil {
		tweak(i, &cfg)
	}
	ch, err := New(cfg)
	if err != nil {
		tn.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{ch: ch, rx: make(chan links.Received, 4096), ctr: cfg.Counters}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ch.Run(ctx, toChan(n.rx))
	}()
	n.stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	tn.t.Cleanup(n.stop)
	return n
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func connUp(n *node, dir string) bool {
	for _, c := range n.ch.Connections() {
		if c.Direction == dir {
			return c.Up
		}
	}
	return false
}

func bothUp(n *node) bool { return connUp(n, "to") && connUp(n, "from") }

// frame encodes a heartbeat from src to dst.
func frame(t testing.TB, kr *llt.Keyring, src, dst llt.NodeID, seq uint64) []byte {
	f := llt.Frame{Type: llt.FrameHeartbeat, State: llt.SessionDown, Cluster: 7, Src: src, Dst: dst, Network: "hb0",
		Incarnation: 99, Seq: seq, Heartbeat: 100 * time.Millisecond, PeerInact: 600 * time.Millisecond}
	b, err := llt.NewCodec(kr).Append(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func recv(t *testing.T, n *node) links.Received {
	t.Helper()
	select {
	case r := <-n.rx:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
		return links.Received{}
	}
}

func TestPairOfConnectionsCarryFramesBothWays(t *testing.T) {
	tn := newTestNet(t, nil)
	a, b := tn.nodes[0], tn.nodes[1]
	waitFor(t, "both connections up on both nodes", func() bool { return bothUp(a) && bothUp(b) })

	kr := ring(t, keyA)
	a.ch.Send(1, llt.ChannelTCPTo, frame(t, kr, 0, 1, 1))
	r := recv(t, b)
	if r.Channel != llt.ChannelTCPFrom || r.Frame.Src != 0 || r.Frame.Seq != 1 || !strings.HasPrefix(r.From, "127.0.0.1:") {
		t.Fatalf("frame on our outbound arrived as %+v", r)
	}
	a.ch.Send(1, llt.ChannelTCPFrom, frame(t, kr, 0, 1, 2))
	if r := recv(t, b); r.Channel != llt.ChannelTCPTo || r.Frame.Seq != 2 {
		t.Fatalf("frame on our inbound arrived as %+v", r)
	}
	// Listing: to and from, addresses, counters.
	waitFor(t, "write accounted", func() bool {
		c := a.ch.Connections()[0]
		return c.FramesOut == 1 && c.SendBufUsed == 0
	})
	conns := a.ch.Connections()
	if len(conns) != 2 || conns[0].Direction != "to" || conns[1].Direction != "from" {
		t.Fatalf("connections %+v", conns)
	}
	if conns[0].Remote != netip.AddrPortFrom(addr(1), tn.port).String() || !strings.HasPrefix(conns[0].Local, "127.0.0.1:") {
		t.Errorf("outbound %s -> %s", conns[0].Local, conns[0].Remote)
	}
	if conns[0].FramesOut != 1 || conns[0].Events != "r" || conns[0].Created.IsZero() {
		t.Errorf("outbound stats %+v", conns[0])
	}
	// A frame claiming another sender is dropped.
	a.ch.Send(1, llt.ChannelTCPTo, frame(t, kr, 5, 1, 3))
	waitFor(t, "wrong-sender drop", func() bool { return b.ctr.Dropped()["wrong-sender"] == 1 })
	if got := a.ctr.ConnEvents(); got["dialled"] != 1 || got["accepted"] != 1 {
		t.Errorf("conn events %v", got)
	}
	if n := a.ctr.TxFrames.Load(); n != 3 {
		t.Errorf("channel counted %d frames sent, want 3", n)
	}
}

// A peer that stops sending (frozen, blackholed) is noticed by the idle
// timeout and the connection is reset; the dialler reconnects once the
// peer is back.
func TestIdleConnectionIsResetAndRedialled(t *testing.T) {
	tn := newTestNet(t, nil)
	a, b := tn.nodes[0], tn.nodes[1]
	waitFor(t, "connections up", func() bool { return bothUp(a) && bothUp(b) })
	// Nobody sends heartbeats in this test: every connection goes idle.
	waitFor(t, "idle resets", func() bool { return a.ctr.ConnEvents()["reset-idle-timeout"] >= 2 })
	waitFor(t, "reconnected", func() bool { return a.ctr.ConnEvents()["dialled"] >= 2 && bothUp(a) })
}

// nonReadingPeer starts node 0 with the given send buffer limit and plays
// node 1 by hand: it connects to node 0, completes the handshake, and then
// reads nothing (a small receive buffer, so the kernel fills fast).
func nonReadingPeer(t *testing.T, limit int) (*node, *llt.Keyring) {
	t.Helper()
	tn := newTestNet(t, func(i int, c *Config) {
		c.SendBufLimit = limit
		c.IdleTimeout = 10 * time.Second
	})
	a := tn.nodes[0]
	tn.nodes[1].stop()
	if a.ch.Room(1, llt.ChannelTCPFrom, 100) {
		t.Fatal("Room says yes without a connection")
	}
	kr := ring(t, keyA)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: addr(1).AsSlice()}}
	nc, err := d.Dial("tcp", netip.AddrPortFrom(addr(0), tn.port).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.(*net.TCPConn).SetReadBuffer(4096)
	if err := clientHandshake(nc, identity{cluster: 7, self: 1, network: "hb0"}, kr, 0, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "inbound up", func() bool { return connUp(a, "from") })
	return a, kr
}

// A peer that completes the handshake, keeps sending, but never reads:
// our send buffer for it hits the limit and the connection is reset;
// memory never exceeds the limit.
func TestPeerThatDoesNotReadHitsTheSendBufferLimit(t *testing.T) {
	const limit = 16 << 10
	a, kr := nonReadingPeer(t, limit)

	big := make([]byte, 4000) // a large frame to fill buffers fast
	f := llt.Frame{Type: llt.FrameMessage, State: llt.SessionUp, Cluster: 7, Src: 0, Dst: 1, Network: "hb0",
		Incarnation: 1, Seq: 1, Payload: big}
	msg, _ := llt.NewCodec(kr).Append(nil, &f)
	maxUsed := 0
	for i := 0; i < 2000 && a.ctr.ConnEvents()["reset-sendbuf-limit"] == 0; i++ {
		a.ch.Send(1, llt.ChannelTCPFrom, msg)
		for _, c := range a.ch.Connections() {
			maxUsed = max(maxUsed, c.SendBufUsed)
		}
		time.Sleep(time.Millisecond)
	}
	if a.ctr.ConnEvents()["reset-sendbuf-limit"] != 1 {
		t.Fatalf("no reset after 2000 × 4 KB to a peer that does not read: %v", a.ctr.ConnEvents())
	}
	if maxUsed > limit {
		t.Fatalf("send buffer reached %d bytes, limit %d", maxUsed, limit)
	}
	waitFor(t, "inbound gone", func() bool { return !connUp(a, "from") })
}

// A sender that asks Room first (the message API) is pushed back at its
// share of the limit: the connection to a peer that does not read is not
// reset by messages, what it holds stays within the share, and a
// heartbeat still fits after the push-back.
func TestRoomPushesMessagesBackBeforeTheLimit(t *testing.T) {
	const limit = 64 << 10
	a, kr := nonReadingPeer(t, limit)

	f := llt.Frame{Type: llt.FrameMessage, State: llt.SessionUp, Cluster: 7, Src: 0, Dst: 1, Network: "hb0",
		Incarnation: 1, Seq: 1, Payload: make([]byte, 4000)}
	msg, _ := llt.NewCodec(kr).Append(nil, &f)
	pushedBack := false
	for i := 0; i < 20000 && !pushedBack; i++ {
		if !a.ch.Room(1, llt.ChannelTCPFrom, len(msg)) {
			pushedBack = true
			break
		}
		a.ch.Send(1, llt.ChannelTCPFrom, msg)
	}
	if !pushedBack {
		t.Fatal("Room never said no to a peer that does not read (80 MB sent)")
	}
	used := a.ch.Connections()[1].SendBufUsed
	if used > limit/MessageShare {
		t.Errorf("send buffer holds %d bytes at the push-back, share %d", used, limit/MessageShare)
	}
	a.ch.Send(1, llt.ChannelTCPFrom, frame(t, kr, 0, 1, 2)) // a heartbeat
	if ev := a.ctr.ConnEvents(); ev["reset-sendbuf-limit"] != 0 || !connUp(a, "from") {
		t.Fatalf("connection reset by messages that asked for room: %v", ev)
	}
}

func TestRefusals(t *testing.T) {
	tn := newTestNet(t, nil)
	a := tn.nodes[0]
	tn.nodes[1].stop()
	target := netip.AddrPortFrom(addr(0), tn.port).String()
	try := func(from netip.Addr, id identity, kr *llt.Keyring) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
		nc, err := d.Dial("tcp", target)
		if err != nil {
			return err
		}
		defer nc.Close()
		return clientHandshake(nc, id, kr, 0, time.Now().Add(time.Second))
	}
	node1 := identity{cluster: 7, self: 1, network: "hb0"}
	if err := try(addr(1), node1, ring(t, keyB)); err == nil {
		t.Fatal("wrong key accepted")
	}
	if err := try(addr(1), identity{cluster: 9, self: 1, network: "hb0"}, ring(t, keyA)); err == nil {
		t.Fatal("foreign cluster accepted")
	}
	// 127.0.0.3 is nobody's address: closed before any handshake.
	if err := try(addr(2), node1, ring(t, keyA)); err == nil {
		t.Fatal("unknown address accepted")
	}
	waitFor(t, "refusals counted", func() bool {
		ev := a.ctr.ConnEvents()
		return ev["refused-unknown-key"] == 1 && ev["refused-foreign-cluster"] == 1 && ev["refused-unknown-address"] == 1
	})
	for _, c := range a.ch.Connections() {
		if c.Direction == "from" && !strings.Contains(c.LastError, "foreign-cluster") {
			t.Errorf("inbound diagnosis %q, want the last refusal", c.LastError)
		}
	}
}

// Hundreds of bogus connections — from strangers and from a configured
// peer's address that never handshakes — leave the real pair up and
// frames flowing.
func TestConnectionFloodLeavesRealConnectionsUp(t *testing.T) {
	tn := newTestNet(t, nil)
	a, b := tn.nodes[0], tn.nodes[1]
	waitFor(t, "connections up", func() bool { return bothUp(a) && bothUp(b) })
	target := netip.AddrPortFrom(addr(0), tn.port).String()
	var bogus []net.Conn
	defer func() {
		for _, c := range bogus {
			c.Close()
		}
	}()
	strangers := 0
	for i := 0; i < 300; i++ {
		from := addr(2) // a stranger
		if i%3 == 0 {
			from = addr(1) // the configured peer's address, but silent
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Timeout: time.Second}
		if c, err := d.Dial("tcp", target); err == nil {
			bogus = append(bogus, c)
			if from == addr(2) {
				strangers++
			}
		}
	}
	kr := ring(t, keyA)
	for seq := uint64(1); seq <= 20; seq++ {
		b.ch.Send(0, llt.ChannelTCPTo, frame(t, kr, 1, 0, seq))
		if r := recv(t, a); r.Frame.Seq != seq {
			t.Fatalf("frame %d during the flood: %+v", seq, r)
		}
	}
	if !bothUp(a) {
		t.Fatal("real connections lost during the flood")
	}
	waitFor(t, "every stranger refused", func() bool {
		return a.ctr.ConnEvents()["refused-unknown-address"] >= uint64(strangers)
	})
	if strangers < 150 || a.ctr.ConnEvents()["refused-busy"] == 0 {
		t.Errorf("flood of %d strangers not refused as expected: %v", strangers, a.ctr.ConnEvents())
	}
	// The silent ones time out of their handshake slots.
	waitFor(t, "handshake timeouts", func() bool { return a.ctr.ConnEvents()["refused-timeout"] > 0 })
}

// A peer that is down is redialled with backoff; the listing says why the
// last attempt failed; the connection comes back when the peer does.
func TestRedialWithBackoffUntilPeerIsBack(t *testing.T) {
	tn := newTestNet(t, nil)
	a, b := tn.nodes[0], tn.nodes[1]
	waitFor(t, "up", func() bool { return bothUp(a) })
	b.stop()
	waitFor(t, "outbound down with a reason", func() bool {
		for _, c := range a.ch.Connections() {
			if c.Direction == "to" && !c.Up && strings.Contains(c.LastError, "connect") {
				return true
			}
		}
		return false
	})
	fails := a.ctr.ConnEvents()["dial-failed"]
	time.Sleep(500 * time.Millisecond) // let the backoff run
	n := a.ctr.ConnEvents()["dial-failed"] - fails
	// Backoff 10 ms doubling to 100 ms: about 5..10 attempts in 0.5 s,
	// not hundreds.
	if n < 2 || n > 15 {
		t.Errorf("%d dial attempts in 0.5 s", n)
	}
	tn.nodes[1] = tn.start(1, nil)
	waitFor(t, "reconnected", func() bool { return bothUp(a) && bothUp(tn.nodes[1]) })
}

// toChan delivers copies of received frames into c.
func toChan(c chan<- links.Received) links.Deliver {
	return func(r *links.Received) { c <- r.Clone() }
}
