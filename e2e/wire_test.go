package e2e

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/links/ether"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/testbed"
)

// capture reads genuine frames from node `src` to node `dst` at src's
// switch port on network net.
func capture(t *testing.T, b *testbed.Bed, codec *llt.Codec, src, dst int, net string, n int) [][]byte {
	t.Helper()
	// ETH_P_ALL: on a bridge port the bridge takes frames before sockets
	// bound to one EtherType would see them.
	c, err := testbed.OpenPacket(b.SwitchNS(), b.Port(src, net), unix.ETH_P_ALL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out [][]byte
	buf := make([]byte, 9000)
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("captured only %d frames from node%d to node%d", len(out), src, dst)
		}
		c.SetReadDeadline(deadline)
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		var ef ethernet.Frame
		if err := ef.UnmarshalBinary(buf[:k]); err != nil || ef.EtherType != testbed.EtherType {
			continue
		}
		var f llt.Frame
		// Not the MTU probes: a padded copy of the newest heartbeat is not
		// a replay, whoever sends it.
		if codec.Decode(ef.Payload, &f) != nil || f.Src != llt.NodeID(src) || f.Dst != llt.NodeID(dst) || f.Flags&llt.FlagProbe != 0 {
			continue
		}
		out = append(out, bytes.Clone(ef.Payload))
	}
	return out
}

func dropped(t *testing.T, b *testbed.Bed, i int, net string) map[string]uint64 {
	t.Helper()
	st, err := b.Status(i)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Counters.Networks {
		if c.Network == net {
			return c.Dropped
		}
	}
	t.Fatalf("no counters for %s", net)
	return nil
}

// Forged, truncated, replayed and garbage frames injected on the wire by a
// rogue host are counted by cause and change nothing: no link or node
// transition, no event, the learned peer address stays.
func TestInjectedFramesAreCountedAndChangeNothing(t *testing.T) {
	b := newBed(t, testbed.Options{})
	keys, err := config.LoadKeys(b.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := llt.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	codec := llt.NewCodec(kr, "hb0", "hb1")
	genuine := capture(t, b, codec, 1, 0, "hb0", 20)

	inj := newInjector(t, b)
	send := func(payload []byte) {
		t.Helper()
		if err := inj.send(inj.frame(payload)); err != nil {
			t.Fatal(err)
		}
	}

	// A frame signed with another key, claiming to be node1 with a newer
	// incarnation: it must not pass for a restart.
	otherKey, _ := llt.NewKeyring([]byte("not-the-cluster-key-0123456789ab"))
	other := llt.NewCodec(otherKey)
	fake := llt.Frame{Type: llt.FrameHeartbeat, State: llt.SessionUp, Cluster: testbed.DefaultClusterID, Src: 1, Dst: 0,
		Network: "hb0", Incarnation: 1 << 62, Seq: 1, Heartbeat: 100 * time.Millisecond, PeerInact: 600 * time.Millisecond}
	wrongKey, err := other.Append(nil, &fake)
	if err != nil {
		t.Fatal(err)
	}

	before, err := b.Status(0)
	if err != nil {
		t.Fatal(err)
	}
	d0 := dropped(t, b, 0, "hb0")
	t0 := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	const rounds = 10
	for r := 0; r < rounds; r++ {
		// Pace the rounds: this test is about what each bad frame does,
		// not about floods (a loaded machine would overrun the socket).
		time.Sleep(5 * time.Millisecond)
		for _, g := range genuine {
			send(g) // replay
			forged := bytes.Clone(g)
			forged[len(forged)-1] ^= 0x5a // tag no longer matches
			send(forged)
			send(g[:40]) // truncated
		}
		send(wrongKey)
		garbage := make([]byte, 200)
		for i := range garbage {
			garbage[i] = byte(rng.Uint32())
		}
		copy(garbage, "TH\x01")
		send(garbage)
	}

	want := map[string]uint64{
		"replay":      uint64(rounds * len(genuine)),
		"bad-tag":     uint64(rounds * len(genuine)),
		"truncated":   uint64(rounds * len(genuine)),
		"unknown-key": rounds,
	}
	total := uint64(rounds * (3*len(genuine) + 2))
	sum := func(m map[string]uint64) (n uint64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	var got map[string]uint64
	st := b.WaitFor(0, "every injected frame counted", 10*time.Second, func(*status.Status) bool {
		got = dropped(t, b, 0, "hb0")
		return sum(got)-sum(d0) >= total
	})
	// Frames the kernel dropped (receive buffer overrun on a loaded
	// machine) never reached the decoder; the rest are counted by cause.
	overrun := got[ether.KernelDropCause] - d0[ether.KernelDropCause]
	for cause, n := range want {
		if got[cause]-d0[cause]+overrun < n {
			t.Errorf("%s: %d counted, want %d (kernel overruns: %d)\n%s", cause, got[cause]-d0[cause], n, overrun, testbed.Summary(st))
		}
	}
	t.Logf("node0 hb0 drops: %v", got)

	// Let a heartbeat or two pass over the aftermath, then check nothing moved.
	time.Sleep(2 * heartbeat)
	after, err := b.Status(0)
	if err != nil {
		t.Fatal(err)
	}
	if !testbed.AllLinksUp(after, 2) {
		t.Fatalf("links not all up after injection:\n%s", testbed.Summary(after))
	}
	for _, n := range after.Nodes {
		if n.Local {
			continue
		}
		prev := testbed.FindNode(before, n.ID)
		if n.Restarts != prev.Restarts || n.Incarnation != prev.Incarnation {
			t.Errorf("node%d: restarts %d->%d, incarnation %s->%s", n.ID, prev.Restarts, n.Restarts, prev.Incarnation, n.Incarnation)
		}
		for _, l := range n.Links {
			if want := b.MAC(int(n.ID), l.Network).String(); l.PeerAddress != want {
				t.Errorf("node%d %s: peer address moved to %s, want %s", n.ID, l.Network, l.PeerAddress, want)
			}
		}
	}
	if ev := eventsBetween(b, 0, t0, time.Now(), "link.up", "link.down", "link.trouble", "link.reason", "node.state", "peer.restart"); len(ev) != 0 {
		t.Fatalf("injection caused events: %v", ev)
	}
	if ev := eventsBetween(b, 0, t0, time.Now(), "frame.rejected"); len(ev) == 0 || len(ev) > 20 {
		t.Errorf("%d frame.rejected log lines for %d bad frames: want a few, rate-limited", len(ev), rounds*len(genuine)*2)
	}
}

// A flood of forged frames, as fast as a rogue host can send them, is
// counted and dropped and costs no link its state: the agent's readers
// yield to its timers even with a single P. Whether genuine frames survive
// a flood depends on how fast the agent decodes, so this test runs the
// production build, not the race detector's (ten times slower, it drops
// genuine frames with the forged ones in the kernel and its links go down,
// named auth-failure).
func TestFloodOfForgedFrames(t *testing.T) {
	b := newBed(t, testbed.Options{BinDir: perfBinDir})
	keys, err := config.LoadKeys(b.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := llt.NewKeyring(keys...)
	forged, err := llt.NewCodec(kr).Append(nil, &llt.Frame{Type: llt.FrameHeartbeat, State: llt.SessionUp,
		Cluster: testbed.DefaultClusterID, Src: 1, Dst: 0, Network: "hb0", Incarnation: 1 << 60, Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	forged[len(forged)-1] ^= 1 // the tag no longer matches: HMAC work for every frame
	inj := newInjector(t, b)
	raw := inj.frame(forged)

	d0 := dropped(t, b, 0, "hb0")
	start := time.Now()
	var sent int
	for time.Since(start) < 5*time.Second {
		for i := 0; i < 256; i++ {
			if inj.send(raw) == nil {
				sent++
			}
		}
	}
	time.Sleep(2 * heartbeat)
	got := dropped(t, b, 0, "hb0")
	counted := got["bad-tag"] - d0["bad-tag"] + got["kernel-rx-overflow"] - d0["kernel-rx-overflow"]
	t.Logf("flood: %d frames in 5 s (%.0f/s); node0 counted %d bad-tag, %d kernel overruns",
		sent, float64(sent)/5, got["bad-tag"]-d0["bad-tag"], got["kernel-rx-overflow"]-d0["kernel-rx-overflow"])
	if sent < 10000 {
		t.Fatalf("only %d frames sent: not a flood", sent)
	}
	if counted < uint64(sent)*9/10 {
		t.Errorf("%d of %d flood frames counted", counted, sent)
	}
	for i := 0; i < b.N(); i++ {
		if ev := eventsBetween(b, i, start, time.Now(), "link.down", "link.trouble", "node.state", "peer.restart"); len(ev) != 0 {
			t.Errorf("node%d during the flood: %v", i, ev)
		}
	}
	if st := mustStatus(t, b, 0); !testbed.AllLinksUp(st, 2) {
		t.Fatalf("after the flood:\n%s", testbed.Summary(st))
	}
}

// injector is a rogue host on hb0 that sends raw Ethernet frames (our
// EtherType) to node 0.
type injector struct {
	t        *testing.T
	conn     *packet.Conn
	src, dst net.HardwareAddr
}

func newInjector(t *testing.T, b *testbed.Bed) *injector {
	t.Helper()
	rogue := b.AddHost("rogue", "hb0")
	c, err := testbed.OpenPacket(rogue.NS, rogue.Iface("hb0"), testbed.EtherType)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &injector{t: t, conn: c, src: rogue.MAC("hb0"), dst: b.MAC(0, "hb0")}
}

// frame wraps payload in an Ethernet frame to node 0.
func (in *injector) frame(payload []byte) []byte {
	raw, err := (&ethernet.Frame{Destination: in.dst, Source: in.src, EtherType: testbed.EtherType, Payload: payload}).MarshalBinary()
	if err != nil {
		in.t.Fatal(err)
	}
	return raw
}

func (in *injector) send(raw []byte) error {
	_, err := in.conn.WriteTo(raw, &packet.Addr{HardwareAddr: in.dst})
	return err
}
