package ether

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/testbed"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

type node struct {
	ch    *Channel
	rx    chan links.Received
	codec *llt.Codec
}

// open starts a Channel on node i's eth1 in the bed; it stops at cleanup.
func open(t *testing.T, b *testbed.Bed, i int) *node {
	t.Helper()
	kr, err := llt.NewKeyring(testKey)
	if err != nil {
		t.Fatal(err)
	}
	var ch *Channel
	err = testbed.InNS(b.NodeNS(i), func() error {
		var err error
		ch, err = NewChannel(Config{Network: 0, Name: "hb0", Interface: "eth1", EtherType: testbed.EtherType,
			Names: []string{"hb0"}, Keys: kr, Counters: links.NewCounters(DropCauses, nil),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{ch: ch, rx: make(chan links.Received, 1024), codec: llt.NewCodec(kr, "hb0")}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ch.Run(ctx, toChan(n.rx))
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return n
}

func (n *node) send(t *testing.T, to string, seq uint64) {
	t.Helper()
	f := llt.Frame{Type: llt.FrameHeartbeat, State: llt.SessionDown, Cluster: 7, Src: 0, Dst: 1, Network: "hb0",
		Incarnation: 42, Seq: seq, Heartbeat: 100 * time.Millisecond, PeerInact: 600 * time.Millisecond}
	b, err := n.codec.Append(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	n.ch.Send(to, b)
}

func (n *node) recv(t *testing.T) links.Received {
	t.Helper()
	select {
	case r := <-n.rx:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no frame received")
		return links.Received{}
	}
}

func waitCount(t *testing.T, what string, get func() uint64, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for get() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want >= %d", what, get(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestChannelCarriesAuthenticatedFrames(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t, testbed.Options{Nodes: 2, Networks: []testbed.NetworkSpec{{Name: "hb0"}}})
	a, c := open(t, b, 0), open(t, b, 1)
	if got := a.ch.HardwareAddr().String(); got != b.MAC(0, "hb0").String() {
		t.Fatalf("MAC %s, want %s", got, b.MAC(0, "hb0"))
	}

	a.send(t, "", 1) // broadcast
	r := c.recv(t)
	if r.AuthFailure || r.Frame.Seq != 1 || r.Frame.Src != 0 || r.Channel != llt.ChannelEther {
		t.Fatalf("received %+v", r)
	}
	if r.From != string(b.MAC(0, "hb0")) {
		t.Fatalf("source %x, want node0's MAC", r.From)
	}
	a.send(t, string(b.MAC(1, "hb0")), 2) // unicast to the learned address
	if r := c.recv(t); r.Frame.Seq != 2 {
		t.Fatalf("unicast: %+v", r)
	}
	waitCount(t, "tx frames", a.ch.Counters().TxFrames.Load, 2)

	// A frame signed with another key reaches the agent as an auth failure
	// carrying the claimed sender, and is counted.
	other, _ := llt.NewKeyring([]byte("another-key-another-key-another!!"))
	f := llt.Frame{Type: llt.FrameHeartbeat, State: llt.SessionDown, Cluster: 7, Src: 0, Dst: 1, Network: "hb0", Incarnation: 9, Seq: 1}
	bad, _ := llt.NewCodec(other).Append(nil, &f)
	a.ch.Send("", bad)
	if r := c.recv(t); !r.AuthFailure || r.Frame.Src != 0 {
		t.Fatalf("auth failure delivered as %+v", r)
	}
	if n := c.ch.Counters().Dropped()["unknown-key"]; n != 1 {
		t.Fatalf("unknown-key drops %d, want 1", n)
	}
}

// Send errors are counted and tolerated; the channel keeps working when
// the fault goes. (An interface going down under a live tetherd is tested
// end to end: the channel's interface lookups must run in tetherd's own
// namespace, which a test goroutine cannot pin.)
func TestChannelToleratesSendErrorsAndInterfaceDown(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t, testbed.Options{Nodes: 2, Networks: []testbed.NetworkSpec{{Name: "hb0"}}})
	a, c := open(t, b, 0), open(t, b, 1)

	drop := b.EgressDrop(0, "hb0") // the kernel answers ENOBUFS
	for i := 0; i < 20; i++ {
		a.send(t, "", uint64(i+1))
	}
	waitCount(t, "tx errors under egress drop", a.ch.Counters().TxErrors.Load, 20)
	drop.Undo()
	a.send(t, "", 100)
	if r := c.recv(t); r.Frame.Seq != 100 {
		t.Fatalf("after the drop: %+v", r)
	}

}

// Send never blocks, even for a burst far beyond what the socket can
// queue: every frame is sent or counted as an error, at once.
func TestChannelSendNeverBlocks(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t, testbed.Options{Nodes: 2, Networks: []testbed.NetworkSpec{{Name: "hb0"}}})
	a := open(t, b, 0)
	const n = 50000
	start := time.Now()
	for i := 0; i < n; i++ {
		a.send(t, "", uint64(i+1))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Send blocked: %v for %d frames", d, n)
	}
	ctr := a.ch.Counters()
	if got := ctr.TxFrames.Load() + ctr.TxErrors.Load(); got != n {
		t.Fatalf("%d frames accounted for, want %d", got, n)
	}
}

// toChan delivers copies of received frames into c.
func toChan(c chan<- links.Received) links.Deliver {
	return func(r *links.Received) { c <- r.Clone() }
}

// The socket filter drops, in the kernel, frames of our cluster addressed
// to another node and not sent with our id; everything else reaches us:
// frames to us or to everyone, frames with our id as sender, frames of
// another cluster, and frames too short to tell.
func TestSocketFilter(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t, testbed.Options{Nodes: 2, Networks: []testbed.NetworkSpec{{Name: "hb0"}}})
	tx := open(t, b, 0)
	kr, _ := llt.NewKeyring(testKey)
	var rx *node
	err := testbed.InNS(b.NodeNS(1), func() error {
		ch, err := NewChannel(Config{Network: 0, Name: "hb0", Interface: "eth1", EtherType: testbed.EtherType,
			Names: []string{"hb0"}, Keys: kr, Counters: links.NewCounters(DropCauses, nil),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Filter: &Filter{Cluster: 7, Self: 1}})
		rx = &node{ch: ch, rx: make(chan links.Received, 64), codec: llt.NewCodec(kr, "hb0")}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); rx.ch.Run(ctx, toChan(rx.rx)) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	send := func(cluster uint16, src, dst llt.NodeID, seq uint64) {
		f := llt.Frame{Type: llt.FrameHeartbeat, State: llt.SessionDown, Cluster: cluster, Src: src, Dst: dst, Network: "hb0",
			Incarnation: 42, Seq: seq, Heartbeat: 100 * time.Millisecond, PeerInact: 600 * time.Millisecond}
		bs, err := tx.codec.Append(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		tx.ch.Send("", bs) // broadcast: the filter, not the NIC, decides
	}
	send(7, 0, 2, 1) // ours, to node 2: dropped
	send(7, 0, 1, 2) // to us
	send(7, 0, 2, 3) // dropped
	send(7, 0, llt.Broadcast, 4)
	send(8, 0, 2, 5)                // another cluster: passes, whoever it is for
	send(7, 1, 2, 6)                // from our id: passes
	tx.ch.Send("", []byte("short")) // too short to tell: passes, counted
	var got []uint64
	for range 4 {
		got = append(got, rx.recv(t).Frame.Seq)
	}
	if want := []uint64{2, 4, 5, 6}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %v, want %v (the frames to node 2 filtered out)", got, want)
	}
	waitCount(t, "the short frame counted", func() uint64 { return rx.ch.Counters().RxFrames.Load() }, 5)
	select {
	case r := <-rx.rx:
		t.Fatalf("an extra frame came through: %+v", r.Frame)
	default:
	}
}
