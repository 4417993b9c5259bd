package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/llt"
)

func TestEchoBodyLayout(t *testing.T) {
	// Without flags: the id and zeros, as the bench sends.
	b := echoBody(echoHeader{id: 0x0102030405060708}, 64)
	if len(b) != 64 || !bytes.Equal(b[:8], []byte{1, 2, 3, 4, 5, 6, 7, 8}) || !bytes.Equal(b[8:], make([]byte, 56)) {
		t.Fatalf("plain body % x", b)
	}
	// With flags: [id][flags][frame length][filler], at least 11 bytes.
	b = echoBody(echoHeader{id: 9, flags: echoSameRoute | echoPadReply, frameLen: 9000}, 4)
	if len(b) != echoHeaderLen || b[8] != 0x03 || b[9] != 0x23 || b[10] != 0x28 {
		t.Fatalf("flagged body % x", b)
	}
	h, ok := parseEcho(b)
	if !ok || h != (echoHeader{id: 9, flags: 3, frameLen: 9000}) {
		t.Fatalf("parsed %+v %v", h, ok)
	}
	// Short bodies: no id, or an id without flags (an old sender's 8 bytes).
	if _, ok := parseEcho(make([]byte, 7)); ok {
		t.Error("a 7-byte body parsed")
	}
	if h, ok := parseEcho([]byte{0, 0, 0, 0, 0, 0, 0, 5}); !ok || h != (echoHeader{id: 5}) {
		t.Errorf("8-byte body: %+v", h)
	}
	if h, _ := parseEcho([]byte{0, 0, 0, 0, 0, 0, 0, 5, 1}); h.flags != 1 || h.frameLen != 0 {
		t.Errorf("9-byte body: %+v", h)
	}
}

func TestPlanEcho(t *testing.T) {
	in := llt.Message{Peer: 1, Network: 1, Channel: llt.ChannelTCPFrom}

	// Flags 0 (the bench): the body itself back over the best route.
	plain := echoBody(echoHeader{id: 1}, 64)
	p := planEcho(in, plain)
	if p.pinned || p.frameLen != 0 || &p.reply[0] != &plain[0] {
		t.Errorf("flags 0: %+v", p)
	}

	// Bit 0: back on the route it came in on; a request on our tcp-from
	// connection is answered on tcp-from, the same TCP connection.
	body := echoBody(echoHeader{id: 2, flags: echoSameRoute}, 64)
	p = planEcho(in, body)
	if !p.pinned || p.route != (llt.Route{Network: 1, Channel: llt.ChannelTCPFrom}) || p.frameLen != 0 {
		t.Errorf("same route: %+v", p)
	}
	if p.reply[8] != echoSameRoute|echoAnswered || body[8] != echoSameRoute || len(p.reply) != 64 {
		t.Errorf("reply flags %#x (request now %#x): the reply says it was answered as asked, the request is untouched", p.reply[8], body[8])
	}

	// Bit 1: padded to the length asked, over the route it came in on.
	p = planEcho(llt.Message{Network: 0, Channel: llt.ChannelEther}, echoBody(echoHeader{id: 3, flags: echoSameRoute | echoPadReply, frameLen: 1500}, 11))
	if !p.pinned || p.route.Channel != llt.ChannelEther || p.frameLen != 1500 {
		t.Errorf("padded: %+v", p)
	}
	// Bit 1 alone: padded, over the best route.
	p = planEcho(in, echoBody(echoHeader{id: 4, flags: echoPadReply, frameLen: 600}, 11))
	if p.pinned || p.frameLen != 600 {
		t.Errorf("padded, best route: %+v", p)
	}
}

// A reply to a pinned request that lacks the answered bit came from an
// agent that ignored the flags (over its best route): the ping is told so
// (zero time), it is not counted as a reply of the pinned path.
func TestEchoReplyTellsUnpinnedReplies(t *testing.T) {
	a := &Agent{echoWaiters: map[uint64]chan time.Time{}}
	deliver := func(h echoHeader) time.Time {
		ch := make(chan time.Time, 1)
		a.echoWaiters[h.id] = ch
		a.echoReply(echoBody(h, 64))
		select {
		case at := <-ch:
			return at
		default:
			t.Fatalf("reply %+v not handed over", h)
		}
		return time.Time{}
	}
	if at := deliver(echoHeader{id: 1}); at.IsZero() {
		t.Error("plain reply marked unpinned")
	}
	if at := deliver(echoHeader{id: 2, flags: echoSameRoute | echoAnswered}); at.IsZero() {
		t.Error("answered pinned reply marked unpinned")
	}
	if at := deliver(echoHeader{id: 3, flags: echoSameRoute}); !at.IsZero() {
		t.Error("pinned reply without the answered bit counted as a reply")
	}
	// Unknown ids and short bodies are dropped without blocking.
	a.echoReply(echoBody(echoHeader{id: 99}, 64))
	a.echoReply([]byte{1, 2})
	if len(a.echoWaiters) != 0 {
		t.Errorf("waiters left: %v", a.echoWaiters)
	}
}

// loPair runs two agents in this process on the loopback interface, tcp
// channel only (no raw sockets, no root): node0 on 127.0.0.1, node1 on
// 127.0.0.2. It returns them with every tcp connection up, and a function
// that stops node1.
func loPair(t *testing.T) (a0, a1 *Agent, stop1 func()) {
	t.Helper()
	return loPairWith(t, nil)
}

// loPairWith is loPair with setup(i, agent) called on each agent before it
// runs (handlers are registered then).
func loPairWith(t *testing.T, setup func(i int, a *Agent)) (a0, a1 *Agent, stop1 func()) {
	t.Helper()
	paths, _ := loConfigs(t, 2)
	var agents [2]*Agent
	var stops [2]func()
	for i, path := range paths {
		cfg, keys, err := Check(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(cfg, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if setup != nil {
			setup(i, a)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		stopped := false
		stops[i] = func() {
			if !stopped {
				stopped = true
				cancel()
				if err := <-done; err != nil {
					t.Errorf("node%d: %v", i, err)
				}
			}
		}
		t.Cleanup(stops[i])
		agents[i] = a
	}
	waitStatus(t, agents[0], "both tcp connections to node1 up", func(st *status.Status) bool {
		l := findLink(st, 1, "lo")
		return l != nil && l.State == status.LinkUp && l.Channels["tcp"] == status.ChannelUp
	})
	waitStatus(t, agents[1], "both tcp connections to node0 up", func(st *status.Status) bool {
		l := findLink(st, 0, "lo")
		return l != nil && l.State == status.LinkUp && l.Channels["tcp"] == status.ChannelUp
	})
	return agents[0], agents[1], stops[1]
}

func findLink(st *status.Status, peer uint16, net string) *status.Link {
	for _, n := range st.Nodes {
		if n.ID != peer {
			continue
		}
		for i, l := range n.Links {
			if l.Network == net {
				return &n.Links[i]
			}
		}
	}
	return nil
}

func waitStatus(t *testing.T, a *Agent, what string, ok func(*status.Status) bool) *status.Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := a.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func connBytesOut(st *status.Status, dir string) uint64 {
	for _, c := range st.Connections {
		if c.Direction == dir {
			return c.BytesOut
		}
	}
	return 0
}

func TestPingPinnedOverLoopback(t *testing.T) {
	a0, a1, stop1 := loPair(t)
	ctx := context.Background()
	ping := func(req status.PingRequest) *status.PingResult {
		t.Helper()
		req.Peer, req.Replies = 1, true
		if req.Count == 0 {
			req.Count = 3
		}
		res, err := a0.Ping(ctx, req)
		if err != nil {
			t.Fatalf("ping %+v: %v", req, err)
		}
		return res
	}
	routes := func(res *status.PingResult) string {
		var out []string
		for _, r := range res.Replies {
			out = append(out, r.Route()+" "+r.Status)
		}
		return strings.Join(out, ", ")
	}

	res := ping(status.PingRequest{})
	if res.Received != 3 || len(res.Replies) != 3 || res.Replies[0].Status != status.EchoOK || res.RTTAvgMicros <= 0 {
		t.Fatalf("best route: %+v", res)
	}
	res = ping(status.PingRequest{Network: "lo", Channel: "tcp"})
	if res.Received != 3 || routes(res) != "lo/tcp-to ok, lo/tcp-to ok, lo/tcp-to ok" {
		t.Fatalf("pinned tcp: %s", routes(res))
	}
	res = ping(status.PingRequest{Channel: "tcp-from"})
	if res.Received != 3 || res.Replies[2].Route() != "lo/tcp-from" {
		t.Fatalf("pinned tcp-from: %s", routes(res))
	}

	// Pinned to our tcp-to connection, padded to 20000-byte frames: node1
	// answers on its tcp-from connection (the same one), padded too, not
	// over its best route (its own tcp-to).
	st1 := waitStatus(t, a1, "status", func(*status.Status) bool { return true })
	from0, to0 := connBytesOut(st1, "from"), connBytesOut(st1, "to")
	res = ping(status.PingRequest{Channel: "tcp-to", FrameLen: 20000, Count: 5})
	if res.Received != 5 || !res.Replies[0].Padded || res.Replies[0].Bytes != 20000 {
		t.Fatalf("padded: %+v", res)
	}
	st1 = waitStatus(t, a1, "status", func(*status.Status) bool { return true })
	from, to := connBytesOut(st1, "from")-from0, connBytesOut(st1, "to")-to0
	if from < 5*20000 || to >= 5*20000 {
		t.Errorf("node1 sent %d bytes on its tcp-from and %d on its tcp-to: want the padded replies on tcp-from", from, to)
	}

	// MTU on tcp: a message of the MTU (lo's is larger than a message can
	// be: the largest message).
	res = ping(status.PingRequest{Network: "lo", MTU: true, Count: 2})
	if res.Received != 2 || res.Replies[0].Bytes != llt.MaxPayload-1 || res.Replies[0].Padded {
		t.Fatalf("mtu: %+v", res.Replies)
	}
	if m := waitStatus(t, a1, "status", func(*status.Status) bool { return true }).Counters.Messages; m.EchoShed != 0 {
		t.Errorf("node1 shed %d replies", m.EchoShed)
	}

	// Requests the agent cannot run as asked.
	for _, req := range []status.PingRequest{
		{Peer: 1, Network: "hb9"},
		{Peer: 1, Network: "lo", Channel: "ether"},
		{Peer: 1, Channel: "udp"},
		{Peer: 0},
		{Peer: 5},
		{Peer: 1, FrameLen: 70000},
		{Peer: 1, FrameLen: 100, MTU: true},
	} {
		if _, err := a0.Ping(ctx, req); !status.IsBadRequest(err) {
			t.Errorf("%+v: %v, want a bad request", req, err)
		}
	}

	// node1 stops: a pinned ping fails at once with what is down, every
	// echo counted, no waiting for timeouts.
	stop1()
	waitStatus(t, a0, "node1 down", func(st *status.Status) bool {
		l := findLink(st, 1, "lo")
		return l != nil && l.State == status.LinkDown
	})
	start := time.Now()
	res = ping(status.PingRequest{Network: "lo", Channel: "tcp", Count: 3, TimeoutMs: 5000})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("pinned ping to a down link took %v", d)
	}
	want := "no route on lo/tcp: the link is DOWN (peer-stopped)"
	if res.Sent != 3 || res.Received != 0 || res.SendErrors["no-route"] != 3 || res.Replies[0].Status != status.EchoNoRoute || res.Replies[0].Error != want {
		t.Errorf("ping to a stopped peer: %+v, replies %+v; want error %q", res, res.Replies, want)
	}
}

func TestPingClusterOverLoopback(t *testing.T) {
	a0, _, stop1 := loPair(t)
	ctx := context.Background()
	res, err := a0.PingCluster(ctx, status.PingClusterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Paths) != 1 || res.LocalName != "node0" || len(res.Peers) != 1 || res.Count != 3 {
		t.Fatalf("%+v", res)
	}
	p := res.Paths[0]
	if !p.OK() || p.Network != "lo" || p.PeerName != "node1" || p.Channel != "tcp" || p.LinkState != status.LinkUp || len(p.Tests) != 3 {
		t.Fatalf("healthy path: %+v", p)
	}
	if b := p.Test(status.TestBasic); b.Bytes != 64 || b.Received != 3 {
		t.Errorf("basic: %+v", b)
	}
	if m := p.Test(status.TestMTU); m.Result != status.TestOK || m.Bytes != llt.MaxPayload-1 {
		t.Errorf("mtu: %+v", m)
	}
	if l := p.Test(status.TestLarger); l.Result != status.TestOK || l.Bytes != llt.MaxPayload-1 {
		t.Errorf("larger: %+v", l)
	}

	stop1()
	waitStatus(t, a0, "node1 down", func(st *status.Status) bool {
		l := findLink(st, 1, "lo")
		return l != nil && l.State == status.LinkDown
	})
	start := time.Now()
	res, err = a0.PingCluster(ctx, status.PingClusterRequest{TimeoutMs: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ping-cluster with every path down took %v", d)
	}
	p = res.Paths[0]
	b := p.Test(status.TestBasic)
	if p.OK() || b.Result != status.TestFailed || b.NoRoute != 3 || !strings.Contains(b.Error, "the link is DOWN") ||
		p.Test(status.TestMTU).Result != status.TestSkipped || p.Reason != "peer-stopped" {
		t.Errorf("down path: %+v", p)
	}
	if _, err := a0.PingCluster(ctx, status.PingClusterRequest{Count: 1000}); !status.IsBadRequest(err) {
		t.Errorf("count 1000: %v", err)
	}
}

// A message handler runs after the engine's lock is released: one that
// takes seconds (or sends itself) holds up only the reader that delivered
// the message. The engine keeps heartbeating and answering, and the link
// stays up on the other connection of the pair. (Handlers used to run
// under the lock: a slow one stopped every heartbeat, one that sent
// deadlocked.)
func TestSlowHandlerDoesNotStopTheEngine(t *testing.T) {
	var a0, a1 *Agent
	inHandler := make(chan struct{}, 1)
	release := make(chan struct{})
	replied := make(chan struct{}, 1)
	a0, a1, _ = loPairWith(t, func(i int, a *Agent) {
		switch i {
		case 1:
			_ = a.Handle(FirstAppTopic, func(from uint16, body []byte) {
				inHandler <- struct{}{}
				<-release
				// Sending from a handler is allowed now.
				if _, err := a.Send(context.Background(), from, FirstAppTopic+1, []byte("done")); err != nil {
					t.Errorf("Send from a handler: %v", err)
				}
			})
		case 0:
			_ = a.Handle(FirstAppTopic+1, func(uint16, []byte) { replied <- struct{}{} })
		}
	})
	if _, err := a0.Send(context.Background(), 1, FirstAppTopic, []byte("work")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inHandler:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not called")
	}
	// For longer than peerinact: node1 answers its status and both ends
	// keep the link up.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := a1.Status(ctx)
		cancel()
		if err != nil {
			close(release)
			t.Fatalf("node1's status with a handler running: %v", err)
		}
		if l := findLink(st, 0, "lo"); l == nil || l.State == status.LinkDown {
			close(release)
			t.Fatalf("node1's link to node0 went down with a handler running: %+v", l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(release)
	select {
	case <-replied:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's reply never came")
	}
}

// An echo refused busy with nothing in flight is retried with growing
// pauses for up to the limit, then given up; a cancelled context stops it.
func TestBusyBackoffRetriesUntilTheLimit(t *testing.T) {
	var b busyBackoff
	start := time.Now()
	tries := 0
	for b.wait(context.Background(), 30*time.Millisecond) {
		tries++
		if tries > 100 {
			t.Fatal("busy backoff never gives up")
		}
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("gave up after %v, before the 30 ms limit", d)
	}
	if tries < 3 {
		t.Errorf("%d retries in 30 ms; want the first ones quick (1, 2, 4 ms...)", tries)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b.wait(ctx, time.Second) {
		t.Error("retry after the context was cancelled")
	}
}
