package tcp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/llt"
)

// freePort finds a port free on 127.0.0.1, for the loopback addresses the
// tests use. Another process may take it on one of them before we bind:
// newTestNet then tries another.
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
	for try := 0; ; try++ {
		tn := &testNet{t: t, port: freePort(t)}
		var err error
		for i := 0; i < 2 && err == nil; i++ {
			var n *node
			if n, err = tn.tryStart(i, tweak); err == nil {
				tn.nodes = append(tn.nodes, n)
			}
		}
		if err == nil {
			return tn
		}
		for _, n := range tn.nodes {
			n.stop()
		}
		if !errors.Is(err, syscall.EADDRINUSE) || try == 10 {
			t.Fatal(err)
		}
	}
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
	n, err := tn.tryStart(i, tweak)
	if err != nil {
		tn.t.Fatal(err)
	}
	return n
}

func (tn *testNet) tryStart(i int, tweak func(i int, c *Config)) (*node, error) {
	cfg := tn.config(i)
	if tweak != nil {
		tweak(i, &cfg)
	}
	ch, err := New(cfg)
	if err != nil {
		return nil, err
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
	return n, nil
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

// dialAs plays a node by hand: it connects from from to node 0 of tn and
// runs the client handshake as id.
func dialAs(t *testing.T, tn *testNet, from netip.Addr, id identity, kr *llt.Keyring) error {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
	nc, err := d.Dial("tcp", netip.AddrPortFrom(addr(0), tn.port).String())
	if err != nil {
		return err
	}
	defer nc.Close()
	return clientHandshake(nc, id, kr, 0, time.Now().Add(time.Second))
}

func TestRefusals(t *testing.T) {
	tn := newTestNet(t, nil)
	a := tn.nodes[0]
	tn.nodes[1].stop()
	node1 := identity{cluster: 7, self: 1, network: "hb0"}
	err := dialAs(t, tn, addr(1), node1, ring(t, keyB))
	if got, byRemote := reason(err); got != RefusedBadProof || byRemote {
		t.Fatalf("wrong key: %v, want our own bad-proof verdict", err)
	}
	waitFor(t, "wrong key counted", func() bool { return a.ctr.ConnEvents()["refused-unknown-key"] == 1 })
	err = dialAs(t, tn, addr(1), identity{cluster: 9, self: 1, network: "hb0"}, ring(t, keyA))
	if got, byRemote := reason(err); got != RefusedForeignCluster || !byRemote || !strings.Contains(err.Error(), "reached node 0 of cluster 7 on hb0") {
		t.Fatalf("foreign cluster: %v, want refused by the peer, naming it", err)
	}
	// 127.0.0.3 is nobody's address: closed before any handshake.
	if err := dialAs(t, tn, addr(2), node1, ring(t, keyA)); err == nil {
		t.Fatal("unknown address accepted")
	}
	waitFor(t, "refusals counted", func() bool {
		ev := a.ctr.ConnEvents()
		return ev["refused-foreign-cluster"] == 1 && ev["refused-unknown-address"] == 1
	})
	for _, c := range a.ch.Connections() {
		if c.Direction == "from" && !strings.Contains(c.LastError, "foreign-cluster") {
			t.Errorf("inbound diagnosis %q, want the last refusal", c.LastError)
		}
	}
}

// authFailures records OnAuthFailure calls.
type authFailures chan llt.NodeID

func (c authFailures) report(peer llt.NodeID) {
	select {
	case c <- peer:
	default: // must not block: a full record is enough
	}
}

// none checks that nothing was reported (the channel reports before it
// counts, so a counted refusal has been reported if it ever will).
func (c authFailures) none(t *testing.T, what string) {
	t.Helper()
	select {
	case p := <-c:
		t.Fatalf("%s: auth failure reported for node %d", what, p)
	default:
	}
}

func (c authFailures) want(t *testing.T, what string, peer llt.NodeID) {
	t.Helper()
	select {
	case p := <-c:
		if p != peer {
			t.Fatalf("%s: auth failure reported for node %d, want %d", what, p, peer)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no auth failure reported", what)
	}
}

// The accepting side reports a configured peer that fails to authenticate
// from its own address under its own id, and nothing else.
func TestAuthFailureReportedByTheServer(t *testing.T) {
	failures := make(authFailures, 16)
	tn := newTestNet(t, func(i int, c *Config) {
		if i == 0 {
			c.OnAuthFailure = failures.report
		}
	})
	a := tn.nodes[0]
	tn.nodes[1].stop() // node 0's dials now fail to connect: no handshake, no report
	count := func(reason string) uint64 { return a.ctr.ConnEvents()["refused-"+reason] }

	// Authenticated refusals, and a wrong key under another id.
	_ = dialAs(t, tn, addr(1), identity{cluster: 9, self: 1, network: "hb0"}, ring(t, keyA))
	_ = dialAs(t, tn, addr(1), identity{cluster: 7, self: 1, network: "hb1"}, ring(t, keyA))
	_ = dialAs(t, tn, addr(1), identity{cluster: 7, self: 5, network: "hb0"}, ring(t, keyB))
	waitFor(t, "refusals counted", func() bool {
		return count(RefusedForeignCluster) == 1 && count(RefusedWrongNetwork) == 1 && count(RefusedUnknownKey) == 1
	})
	failures.none(t, "identity mismatches and a stranger's id")

	// Node 1's address and id, a key we do not hold.
	_ = dialAs(t, tn, addr(1), identity{cluster: 7, self: 1, network: "hb0"}, ring(t, keyB))
	failures.want(t, "unknown key", 1)

	// Node 1's address and id, our key's id but not the key: a bad AUTH.
	h := hello{cluster: 7, from: 1, to: 0, keyID: llt.KeyID(keyA), network: "hb0"}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: addr(1).AsSlice()}}
	nc, err := d.Dial("tcp", netip.AddrPortFrom(addr(0), tn.port).String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(2 * time.Second))
	if err := writeMsg(nc, h.marshal()); err != nil {
		t.Fatal(err)
	}
	if _, err := readMsg(nc); err != nil {
		t.Fatal(err)
	}
	if err := writeMsg(nc, shortMsg(msgAuth, make([]byte, proofLen)...)); err != nil {
		t.Fatal(err)
	}
	failures.want(t, "bad AUTH", 1)
	waitFor(t, "bad proof counted", func() bool { return count(RefusedBadProof) == 1 })
}

// fakeNode1 listens at node 1's address in place of its channel and runs
// the server handshake as *id with *kr, whatever they are at the time.
func fakeNode1(t *testing.T, tn *testNet, id *atomic.Pointer[identity], kr *atomic.Pointer[llt.Keyring]) {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr(1), tn.port).String())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			_, _, _, _ = serverHandshake(nc, *id.Load(), kr.Load(), func(llt.NodeID, netip.Addr) string { return "" }, false,
				addrOf(nc.RemoteAddr()), time.Now().Add(time.Second))
			nc.Close()
		}
	}()
}

// The dialling side reports a peer that does not prove the key, not one
// that proves it and refuses us.
func TestAuthFailureReportedByTheDialler(t *testing.T) {
	failures := make(authFailures, 16)
	tn := newTestNet(t, func(i int, c *Config) {
		if i == 0 {
			c.OnAuthFailure = failures.report
		}
	})
	a := tn.nodes[0]
	tn.nodes[1].stop()
	var id atomic.Pointer[identity]
	var kr atomic.Pointer[llt.Keyring]
	id.Store(&identity{cluster: 7, self: 3, network: "hb0"}) // node 3 answers at node 1's address
	kr.Store(ring(t, keyA))
	fakeNode1(t, tn, &id, &kr)
	failed := a.ctr.ConnEvents()["handshake-failed"]
	waitFor(t, "dials to the wrong node", func() bool { return a.ctr.ConnEvents()["handshake-failed"] >= failed+2 })
	failures.none(t, "wrong node with the key")

	id.Store(&identity{cluster: 7, self: 1, network: "hb0"})
	kr.Store(ring(t, keyB))
	failures.want(t, "wrong key", 1)
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
