package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/links/tcp"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/testbed"
)

const tcpPort = 7947

// tcpNets is two networks carrying both channels.
var tcpNets = []testbed.NetworkSpec{
	{Name: "hb0", Channels: []string{"ether", "tcp"}},
	{Name: "hb1", Channels: []string{"ether", "tcp"}},
}

// channelIs matches node's link to peer on net by channel states and reason.
func channelIs(peer uint16, net, ether, tcp, reason string) func(*status.Status) bool {
	return func(st *status.Status) bool {
		l := testbed.FindLink(st, peer, net)
		return l != nil && l.Channels["ether"] == ether && l.Channels["tcp"] == tcp && l.Reason == reason
	}
}

func connection(st *status.Status, peer uint16, net, dir string) *status.Connection {
	for i, c := range st.Connections {
		if c.Peer == peer && c.Network == net && c.Direction == dir {
			return &st.Connections[i]
		}
	}
	return nil
}

func TestTCPPairsComeUp(t *testing.T) {
	b := newBed(t, testbed.Options{Networks: tcpNets})
	for i := 0; i < b.N(); i++ {
		st := b.WaitFor(i, "every channel up", upTimeout, func(st *status.Status) bool {
			for _, p := range peersOf(b, i) {
				for _, net := range []string{"hb0", "hb1"} {
					if !channelIs(uint16(p), net, "UP", "UP", "")(st) {
						return false
					}
				}
			}
			return len(st.Connections) == 8
		})
		for _, c := range st.Connections {
			if c.State != status.LinkUp || c.Session != "UP" || c.RTTMicros <= 0 || c.LastFrameMs > 1000 {
				t.Errorf("node%d: connection %+v", i, c)
			}
			want := b.IP(int(c.Peer), c.Network).String()
			if c.Direction == "to" {
				want += ":" + strconv.Itoa(tcpPort)
			}
			if !strings.HasPrefix(c.RemoteAddress, want) || !strings.HasPrefix(c.LocalAddress, b.IP(i, c.Network).String()+":") {
				t.Errorf("node%d: %s connection %s -> %s, want remote %s", i, c.Direction, c.LocalAddress, c.RemoteAddress, want)
			}
		}
	}
}

// TCP dropped by nftables on node 0's hb0 (both ways): tcp DOWN, ether
// UP, link UP with reason tcp-blocked on both ends; nothing else moves.
func TestTCPBlockedOnOneNetwork(t *testing.T) {
	b := newBed(t, testbed.Options{Networks: tcpNets})
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "tcp up", upTimeout, func(st *status.Status) bool { return allTCPUp(st) })
	}
	f := b.NFT(b.NodeNS(0), fmt.Sprintf(`table inet tb_tcpblock {
		chain in  { type filter hook input priority 0; policy accept; iifname "eth1" tcp dport %[1]d drop; iifname "eth1" tcp sport %[1]d drop; }
		chain out { type filter hook output priority 0; policy accept; oifname "eth1" tcp dport %[1]d drop; oifname "eth1" tcp sport %[1]d drop; }
	}`, tcpPort))
	for _, p := range peersOf(b, 0) {
		st := b.WaitFor(0, "node0: hb0 tcp DOWN, ether UP, tcp-blocked", peerInact+slack+heartbeat,
			channelIs(uint16(p), "hb0", "UP", "DOWN", "tcp-blocked"))
		l := testbed.FindLink(st, uint16(p), "hb0")
		if l.State != status.LinkUp || !strings.Contains(l.Detail, "TCP does not") {
			t.Errorf("node0 link to node%d: %s, detail %q", p, l.State, l.Detail)
		}
		b.WaitFor(p, "peer: hb0 tcp DOWN to node0", peerInact+slack+heartbeat, channelIs(0, "hb0", "UP", "DOWN", "tcp-blocked"))
	}
	// Nothing else disturbed: no link or node went down anywhere.
	for i := 0; i < b.N(); i++ {
		if ev := eventsBetween(b, i, f.At, time.Now(), "link.down", "node.state"); len(ev) != 0 {
			t.Errorf("node%d: %v", i, ev)
		}
		st, _ := b.Status(i)
		for _, n := range st.Nodes {
			if n.State != status.NodeOpen {
				t.Errorf("node%d sees node%d %s", i, n.ID, n.State)
			}
		}
		for _, p := range peersOf(b, i) {
			if l := testbed.FindLink(st, uint16(p), "hb1"); l.Reason != "" || l.Channels["tcp"] != "UP" {
				t.Errorf("node%d hb1 to node%d: %v %s", i, p, l.Channels, l.Reason)
			}
		}
	}
	f.Undo()
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "tcp back", upTimeout, func(st *status.Status) bool { return allTCPUp(st) })
	}
}

func allTCPUp(st *status.Status) bool {
	for _, n := range st.Nodes {
		if n.Local {
			continue
		}
		for _, l := range n.Links {
			if l.Channels["tcp"] != "UP" || !l.Healthy() {
				return false
			}
		}
	}
	return true
}

// Inbound connections blocked on node 0 only: node 0 can dial its peers,
// they cannot dial it. Each side reports the direction that fails.
func TestTCPInboundBlockedReportsDirection(t *testing.T) {
	b := newBed(t, testbed.Options{Networks: tcpNets})
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "tcp up", upTimeout, func(st *status.Status) bool { return allTCPUp(st) })
	}
	// New connections to node 0's listener on hb0 are dropped; established
	// ones are reset so the peers must dial again.
	f := b.NFT(b.NodeNS(0), fmt.Sprintf(`table inet tb_tcpin {
		chain in { type filter hook input priority 0; policy accept; iifname "eth1" tcp dport %d drop; }
	}`, tcpPort))
	for _, p := range peersOf(b, 0) {
		st := b.WaitFor(0, "node0: only our outbound works", peerInact+slack+heartbeat, channelIs(uint16(p), "hb0", "UP", "TO-ONLY", "tcp-blocked"))
		l := testbed.FindLink(st, uint16(p), "hb0")
		if !strings.Contains(l.Detail, "it cannot connect to us") {
			t.Errorf("node0 detail %q", l.Detail)
		}
		// The connection is recycled a heartbeat after its session is
		// declared down, so the listing may lag the link by that much.
		b.WaitFor(0, "node0 -L: inbound from the peer down", upTimeout, func(st *status.Status) bool {
			c := connection(st, uint16(p), "hb0", "from")
			return c != nil && c.State == status.LinkDown
		})
		st = b.WaitFor(p, "peer: only the inbound works", peerInact+slack+heartbeat, channelIs(0, "hb0", "UP", "FROM-ONLY", "tcp-blocked"))
		l = testbed.FindLink(st, 0, "hb0")
		if !strings.Contains(l.Detail, "we cannot connect to it") {
			t.Errorf("node%d detail %q", p, l.Detail)
		}
		b.WaitFor(p, "peer -L: outbound to node0 down with the error", upTimeout, func(st *status.Status) bool {
			c := connection(st, 0, "hb0", "to")
			return c != nil && c.State == status.LinkDown && c.LastError != ""
		})
	}
	f.Undo()
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "tcp back", upTimeout, func(st *status.Status) bool { return allTCPUp(st) })
	}
}

// A frozen agent (SIGSTOP) keeps its TCP connections open in the kernel;
// its peers still declare it down within peerinact, by heartbeats. After
// SIGCONT it recovers.
func TestFrozenPeerIsDetectedDespiteOpenConnections(t *testing.T) {
	b := newBed(t, testbed.Options{Networks: tcpNets})
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "tcp up", upTimeout, func(st *status.Status) bool { return allTCPUp(st) })
	}
	stop := time.Now()
	b.Signal(2, syscall.SIGSTOP)
	for _, p := range peersOf(b, 2) {
		e := b.WaitEvent(p, "node2 DOWN while frozen", peerInact+slack, func(e testbed.Event) bool {
			return eventAfter(stop, "node.state", 2, "")(e) && e.Str("state") == status.NodeDown
		})
		if d := e.Time.Sub(stop); d > peerInact+slack {
			t.Errorf("node%d: frozen peer detected after %v", p, d)
		}
	}
	cont := time.Now()
	b.Signal(2, syscall.SIGCONT)
	// Node 2 itself notices that it did not run, and says so.
	e := b.WaitEvent(2, "agent.paused on node2", 5*time.Second, func(e testbed.Event) bool {
		return e.ID == "agent.paused" && !e.Time.Before(cont)
	})
	if ms, _ := e.Float("pause_ms"); ms < float64((cont.Sub(stop)-heartbeat)/time.Millisecond) {
		t.Errorf("node2 reported a pause of %.1f ms; it was stopped for %v", ms, cont.Sub(stop))
	}
	b.WaitAllUp(upTimeout)
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "tcp back after SIGCONT", upTimeout, func(st *status.Status) bool { return allTCPUp(st) })
	}
}

// A client with the wrong key, from a configured peer's address, is
// refused and counted; so is a stranger's address.
func TestTCPWrongKeyAndStrangersRefused(t *testing.T) {
	testbed.RequireRoot(t)
	// Node 2 is configured but never started: the test plays it.
	b := testbed.New(t, testbed.Options{BinDir: binDir, Networks: tcpNets})
	b.Start(0)
	b.Start(1)
	b.WaitFor(0, "node1 up", upTimeout, nodeIs(1, status.NodeOpen))

	dial := func(ns string, from net.IP) {
		t.Helper()
		err := testbed.InNS(ns, func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 2 * time.Second}
			c, err := d.Dial("tcp", netip.AddrPortFrom(b.IP(0, "hb0"), tcpPort).String())
			if err != nil {
				return err
			}
			defer c.Close()
			// A HELLO that claims node2 but names a key nobody has: the
			// answer is a CHALLENGE like any other (nothing says why it
			// will fail), and after our AUTH the connection is closed
			// without a word.
			hello := []byte("THTC\x02\x01\x00\x07\x00\x02\x00\x00\xde\xad\xbe\xef")
			hello = append(hello, make([]byte, 32)...)
			hello = append(hello, 3, 'h', 'b', '0')
			msg := append([]byte{0, byte(len(hello))}, hello...)
			if _, err := c.Write(msg); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			chal := make([]byte, 2+70)
			if _, err := io.ReadFull(c, chal); err != nil || binary.BigEndian.Uint16(chal) != 70 || chal[2+5] != 2 {
				return fmt.Errorf("no CHALLENGE of 70 bytes: % x (%v)", chal, err)
			}
			auth := append([]byte{0, 38}, []byte("THTC\x02\x03")...)
			auth = append(auth, make([]byte, 32)...)
			if _, err := c.Write(auth); err != nil {
				return err
			}
			if n, err := c.Read(make([]byte, 64)); n != 0 || err == nil {
				return fmt.Errorf("the server answered a client without the key: %d bytes (%v)", n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dial(b.NodeNS(2), net.IP(b.IP(2, "hb0").AsSlice()))
	// A wrong key from node2's own address names the reason of node2's
	// (down) link on node0.
	b.WaitFor(0, "node2's hb0 link auth-failure", 2*time.Second, linkIs(2, "hb0", status.LinkDown, "auth-failure"))
	rogue := b.AddHost("rogue", "hb0")
	err := testbed.InNS(rogue.NS, func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(b.IP(0, "hb0"), tcpPort).String(), 2*time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
			if err == nil {
				return fmt.Errorf("a stranger's connection was not closed")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.WaitFor(0, "refusals counted", 5*time.Second, func(st *status.Status) bool {
		for _, c := range st.Counters.Networks {
			if c.Network == "hb0" && c.Channel == "tcp" {
				return c.Connections["refused-unknown-key"] >= 1 && c.Connections["refused-unknown-address"] >= 1
			}
		}
		return false
	})
	if ev := b.WaitEvent(0, "refusal logged", 2*time.Second, func(e testbed.Event) bool {
		return e.ID == "tcp.refused" && e.Str("reason") == "unknown-key"
	}); ev.Str("remote") == "" {
		t.Errorf("refusal log without the remote address: %v", ev)
	}
}

// Hundreds of bogus connections (a stranger's, and a configured peer's
// address that never completes a handshake) leave the real links up.
func TestTCPConnectionFlood(t *testing.T) {
	b := newBed(t, testbed.Options{Networks: tcpNets})
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "tcp up", upTimeout, func(st *status.Status) bool { return allTCPUp(st) })
	}
	flood := time.Now()
	rogue := b.AddHost("rogue", "hb0")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	err := testbed.InNS(rogue.NS, func() error {
		for i := 0; i < 300; i++ {
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(b.IP(0, "hb0"), tcpPort).String(), time.Second)
			if err == nil {
				conns = append(conns, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Keep the flood up for a few heartbeat detection periods.
	deadline := time.Now().Add(3 * peerInact)
	for time.Now().Before(deadline) {
		st, err := b.Status(0)
		if err != nil {
			t.Fatal(err)
		}
		if !allTCPUp(st) {
			t.Fatalf("links disturbed by the flood:\n%s", testbed.Summary(st))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; i < b.N(); i++ {
		if ev := eventsBetween(b, i, flood, time.Now(), "link.down", "link.reason", "node.state"); len(ev) != 0 {
			t.Errorf("node%d: %v", i, ev)
		}
	}
	st, _ := b.Status(0)
	for _, c := range st.Counters.Networks {
		if c.Network == "hb0" && c.Channel == "tcp" && c.Connections["refused-unknown-address"] < 250 {
			t.Errorf("refusals %v", c.Connections)
		}
	}
}

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// fakePeer plays a cluster node over one TCP connection with a real
// llt.Machine (the protocol is pure, so a test can drive it), and can stop
// reading on command.
type fakePeer struct {
	t       *testing.T
	nc      *net.TCPConn
	codec   *llt.Codec
	mu      sync.Mutex
	m       *llt.Machine
	reading atomic.Bool
	done    chan struct{}
	wg      sync.WaitGroup
}

// startFakePeer dials node `to` on hb0 from node `self`'s namespace, runs
// the handshake and heartbeats until the test ends.
func startFakePeer(t *testing.T, b *testbed.Bed, self, to int, rcvbuf int) *fakePeer {
	t.Helper()
	keys, err := config.LoadKeys(b.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := llt.NewKeyring(keys...)
	now := time.Now()
	var peers []llt.NodeID
	for i := 0; i < b.N(); i++ {
		if i != self {
			peers = append(peers, llt.NodeID(i))
		}
	}
	m, err := llt.New(llt.Config{Cluster: testbed.DefaultClusterID, Self: llt.NodeID(self), Incarnation: llt.NewIncarnation(now, 1),
		Epoch: now, Networks: []llt.NetworkConfig{{Name: "hb0", TCP: true}}, Peers: peers, Timers: llt.DefaultTimers(),
		Diagnostics: llt.Diagnostics{Claim: -1}})
	if err != nil {
		t.Fatal(err)
	}
	fp := &fakePeer{t: t, codec: llt.NewCodec(kr, "hb0"), m: m, done: make(chan struct{})}
	fp.reading.Store(true)
	err = testbed.InNS(b.NodeNS(self), func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: b.IP(self, "hb0").AsSlice()}, Timeout: 2 * time.Second,
			Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
			}}
		c, err := d.Dial("tcp", netip.AddrPortFrom(b.IP(to, "hb0"), tcpPort).String())
		if err != nil {
			return err
		}
		fp.nc = c.(*net.TCPConn)
		return tcp.ClientHandshake(fp.nc, testbed.DefaultClusterID, llt.NodeID(self), "hb0", kr, llt.NodeID(to), time.Now().Add(2*time.Second))
	})
	if err != nil {
		t.Fatal(err)
	}
	fp.wg.Add(2)
	go fp.readLoop()
	go fp.tickLoop()
	t.Cleanup(func() { close(fp.done); fp.nc.Close(); fp.wg.Wait() })
	return fp
}

// flush writes the machine's frames for the connection (locked).
func (fp *fakePeer) flush() {
	out := fp.m.Ready()
	defer fp.m.Release(out)
	for _, o := range out.Frames {
		if o.Channel != llt.ChannelTCPTo {
			continue
		}
		b, err := fp.codec.Append(nil, &o.Frame)
		if err != nil {
			continue
		}
		hdr := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
		fp.nc.SetWriteDeadline(time.Now().Add(time.Second))
		fp.nc.Write(append(hdr, b...))
	}
}

func (fp *fakePeer) tickLoop() {
	defer fp.wg.Done()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-fp.done:
			return
		case <-t.C:
		}
		fp.mu.Lock()
		now := time.Now()
		if !fp.m.NextDeadline(now).After(now) {
			fp.m.Advance(now)
			fp.flush()
		}
		fp.mu.Unlock()
	}
}

func (fp *fakePeer) readLoop() {
	defer fp.wg.Done()
	var hdr [4]byte
	for fp.reading.Load() {
		if _, err := io.ReadFull(fp.nc, hdr[:]); err != nil {
			return
		}
		b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(fp.nc, b); err != nil {
			return
		}
		var f llt.Frame
		if fp.codec.Decode(b, &f) != nil {
			continue
		}
		fp.mu.Lock()
		fp.m.Receive(time.Now(), llt.Inbound{Network: 0, Channel: llt.ChannelTCPTo, From: "x", Frame: &f})
		fp.flush()
		fp.mu.Unlock()
	}
}

// A peer that authenticates, heartbeats, and then stops reading while
// node 0 sends it large messages: node 0's send buffer for it fills to the
// messages' share of the configured limit, further messages are pushed
// back (ErrBusy), the stalled connection is reset and counted (its writer
// times out, or heartbeats reach the limit), and node 0's memory stays
// bounded.
func TestTCPPeerThatDoesNotReadHitsTheSendBufferLimit(t *testing.T) {
	testbed.RequireRoot(t)
	const limit = 64 << 10
	b := testbed.New(t, testbed.Options{BinDir: binDir, Networks: []testbed.NetworkSpec{{Name: "hb0", Channels: []string{"tcp"}}},
		EditConfig: func(i int, doc map[string]any) { doc["tcp"] = map[string]any{"sendbuf_limit": limit} }})
	b.Start(0)
	b.Start(1)
	b.WaitFor(0, "node1 up", upTimeout, nodeIs(1, status.NodeOpen))
	fp := startFakePeer(t, b, 2, 0, 4096)
	b.WaitFor(0, "node0 hears the fake node2", upTimeout, linkIs(2, "hb0", status.LinkUp, "tcp-blocked"))
	rss0 := rssKiB(t, b.Pid(0))

	fp.reading.Store(false)   // it keeps heartbeating, but reads nothing more
	time.Sleep(2 * heartbeat) // let the reader notice: it stops after its current frame
	res, err := status.NewClient(b.Socket(0)).Ping(context.Background(), status.PingRequest{
		Peer: 2, Count: 300, Size: 30000, Window: 300, TimeoutMs: 300})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ping: sent %d, routes %v, errors %v, pushed back %d", res.Sent, res.Routes, res.SendErrors, res.Busy)
	if res.Busy+res.SendErrors["busy"] == 0 {
		t.Errorf("300 × 30 kB to a peer that does not read were never pushed back: %+v", res)
	}
	resets := func(c status.NetworkCounters) uint64 {
		return c.Connections["reset-sendbuf-limit"] + c.Connections["reset-write-timeout"]
	}
	st := b.WaitFor(0, "the stalled connection reset", peerInact+heartbeat+slack, func(st *status.Status) bool {
		for _, c := range st.Counters.Networks {
			if c.Network == "hb0" && c.Channel == "tcp" {
				return resets(c) >= 1
			}
		}
		return false
	})
	if c := connection(st, 2, "hb0", "from"); c != nil && c.SendBufferUsed > limit {
		t.Errorf("send buffer %d bytes after the reset, limit %d", c.SendBufferUsed, limit)
	}
	if rss := rssKiB(t, b.Pid(0)); rss > rss0+32<<10 {
		t.Errorf("RSS grew from %d to %d KiB sending 9 MB to a peer that does not read", rss0, rss)
	}
	b.WaitEvent(0, "reset logged", 2*time.Second, func(e testbed.Event) bool {
		r := e.Str("reason")
		return e.ID == "tcp.down" && (r == "sendbuf-limit" || r == "write-timeout") && e.Str("peer") == "node2"
	})
}

// A burst of messages far larger than the send buffer limit, to a peer
// that reads: the sender is pushed back (ErrBusy) instead of the
// connection being reset, and no link or channel changes state.
func TestMessageBurstIsPushedBackNotReset(t *testing.T) {
	testbed.RequireRoot(t)
	const limit = 64 << 10
	b := testbed.New(t, testbed.Options{BinDir: binDir, Networks: tcpNets,
		EditConfig: func(i int, doc map[string]any) { doc["tcp"] = map[string]any{"sendbuf_limit": limit} }})
	b.StartAll()
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "tcp up", upTimeout, func(st *status.Status) bool { return allTCPUp(st) })
	}
	start := time.Now()
	res, err := status.NewClient(b.Socket(0)).Ping(context.Background(), status.PingRequest{
		Peer: 1, Count: 2000, Size: 16384, Window: 1000, TimeoutMs: 500})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("burst: %+v", res)
	if res.Busy == 0 {
		t.Errorf("1000 × 16 kB in flight against a 64 kB limit were never pushed back: %+v", res)
	}
	// All sent, none refused: the echo replies queued behind each other can
	// delay the peer's heartbeats on one connection past the freshness a
	// message route asks for, and a few messages then take another TCP
	// connection (hb0's other one, or hb1's on a loaded machine), which is
	// as good; what matters is that pushback slowed the sender down and
	// nothing was given up.
	routed := 0
	for _, n := range res.Routes {
		routed += n
	}
	if res.Sent != 2000 || res.Received == 0 || routed != 2000 || len(res.SendErrors) > 0 || res.Routes["hb0/tcp-to"]+res.Routes["hb0/tcp-from"] < 1000 {
		t.Errorf("burst: sent %d, received %d, routes %v, send errors %v; want all 2000 sent, most over hb0's TCP pair", res.Sent, res.Received, res.Routes, res.SendErrors)
	}
	// Nothing is lost unaccounted: every echo came back, or node 1's echo
	// service counted its reply as shed (refused busy, not queued).
	st1 := mustStatus(t, b, 1)
	if got := uint64(res.Received) + st1.Counters.Messages.EchoShed; got != uint64(res.Sent) || res.Received == 0 {
		t.Errorf("%d echoes came back and node1 shed %d replies, of %d sent", res.Received, st1.Counters.Messages.EchoShed, res.Sent)
	}
	if m := st1.Counters.Messages; m.Received != uint64(res.Sent) {
		t.Errorf("node1 received %d messages, node0 sent %d", m.Received, res.Sent)
	}
	for i := 0; i < b.N(); i++ {
		if evs := eventsBetween(b, i, start, time.Now(), "tcp.down", "tcp.reset", "link.down", "link.trouble", "node.state"); len(evs) > 0 {
			t.Errorf("node%d: %d state changes during the burst, first %v", i, len(evs), evs[0])
			for _, e := range b.Events(i) {
				if !e.Time.Before(start) {
					t.Logf("  %v", e)
				}
			}
		}
	}
}

// Application messages take the best link and fail over to the next one
// within about a heartbeat when it falls silent.
func TestMessagesFailOver(t *testing.T) {
	b := newBed(t, testbed.Options{Networks: tcpNets})
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "tcp up", upTimeout, func(st *status.Status) bool { return allTCPUp(st) })
	}
	client := status.NewClient(b.Socket(0))
	res, err := client.Ping(context.Background(), status.PingRequest{Peer: 1, Count: 50, Size: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 50 || res.Routes["hb0/tcp-to"] != 50 || res.RTTP50Micros <= 0 {
		t.Fatalf("healthy cluster: %+v", res)
	}
	// 150 messages 20 ms apart; hb0 goes dark a second in.
	done := make(chan *status.PingResult, 1)
	go func() {
		r, err := client.Ping(context.Background(), status.PingRequest{Peer: 1, Count: 150, Size: 200, IntervalMs: 20, TimeoutMs: 300})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	time.Sleep(time.Second)
	f := b.Blackhole(1, "hb0")
	res = <-done
	f.Undo()
	t.Logf("failover: %+v", res)
	if res.Routes["hb0/tcp-to"] == 0 || res.Routes["hb1/tcp-to"] == 0 {
		t.Fatalf("routes %v: want both hb0 and hb1", res.Routes)
	}
	// Lost: those in flight while hb0 had just died — up to 1.25 heartbeats
	// of messages each way, at one per ~20 ms plus its round trip.
	if lost := res.Sent - res.Received; lost > 25 {
		t.Errorf("%d of %d messages lost in the failover", lost, res.Sent)
	}
}

// A lowpri public network carried by the tcp channel alone, beside a
// private ether network: it comes up over TCP, and when the private
// network is lost the peer stays reachable over it: PARTITIONED (alive,
// its interconnect broken), not DOWN.
func TestTCPOnlyLowpriNetwork(t *testing.T) {
	b := newBed(t, testbed.Options{Networks: []testbed.NetworkSpec{
		{Name: "hb0", Channels: []string{"ether"}},
		{Name: "pub", Channels: []string{"tcp"}, Lowpri: true},
	}})
	st := b.WaitFor(0, "pub up over tcp", upTimeout, channelIs(1, "pub", "", "UP", ""))
	if l := testbed.FindLink(st, 1, "pub"); l.State != status.LinkUp || len(l.Channels) != 1 || l.PeerAddress != b.IP(1, "pub").String() {
		t.Fatalf("pub link %+v", l)
	}
	f := b.Blackhole(1, "hb0")
	b.WaitFor(0, "node1 PARTITIONED, alive over pub", peerInact+slack, nodeIs(1, status.NodePartitioned))
	f.Undo()
	b.WaitAllUp(upTimeout)
	// The lowpri network goes down after peerinactlo (3 s), not peerinact.
	fpub := b.Blackhole(1, "pub")
	time.Sleep(2 * peerInact) // nothing may happen within the private timers
	if l := testbed.FindLink(mustStatus(t, b, 0), 1, "pub"); l.State == status.LinkDown {
		t.Fatal("lowpri link down within the private peerinact")
	}
	e := b.WaitEvent(0, "pub down", 3*time.Second+slack, eventAfter(fpub.At, "link.down", 1, "pub"))
	if d := e.Time.Sub(fpub.At); d < 2500*time.Millisecond {
		t.Errorf("lowpri link down after %v, want about peerinactlo (3s)", d)
	}
	fpub.Undo()
}

func mustStatus(t *testing.T, b *testbed.Bed, i int) *status.Status {
	t.Helper()
	st, err := b.Status(i)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
