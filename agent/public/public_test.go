package public

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Handler that keeps what it was told.
type recorder struct {
	mu    sync.Mutex
	alive map[uint16]bool
	inc   map[uint16]uint64
	msgs  []string
}

func (r *recorder) Alive(peer uint16, alive bool, inc uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alive[peer], r.inc[peer] = alive, inc
}

func (r *recorder) Message(from uint16, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf("%d:%s", from, b))
}

func (r *recorder) is(peer uint16, alive bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.alive[peer] == alive
}

type node struct {
	ch     *Channel
	rec    *recorder
	logs   *logLines
	cancel context.CancelFunc
	done   chan struct{}
}

// freeAddrs returns n loopback IP:port pairs free a moment ago, on
// 127.0.0.1, .2, ... (memberlist binds UDP and TCP on the same port).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", i+1))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Addr().String())
		l.Close()
	}
	return out
}

func startNodes(t *testing.T, key []byte, cluster uint16, addrs []string, ids ...uint16) map[uint16]*node {
	t.Helper()
	return startJoining(t, key, cluster, addrs, addrs, ids...)
}

// startJoining starts nodes ids on addrs, each joining join.
func startJoining(t *testing.T, key []byte, cluster uint16, addrs, join []string, ids ...uint16) map[uint16]*node {
	t.Helper()
	names := map[string]uint16{}
	for id := range uint16(8) {
		names[fmt.Sprintf("node%d", id)] = id
	}
	out := map[uint16]*node{}
	for i, id := range ids {
		rec := &recorder{alive: map[uint16]bool{}, inc: map[uint16]uint64{}}
		logs := &logLines{}
		ch, err := Start(Config{Bind: addrs[i], Join: join, Cluster: cluster, Node: id, Name: fmt.Sprintf("node%d", id),
			Nodes: names, Keys: [][]byte{key}, Log: slog.New(slog.NewTextHandler(logs, nil)),
			RejoinEvery: time.Second}, 100+uint64(id), rec)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n := &node{ch: ch, rec: rec, logs: logs, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(n.done)
			ch.Run(ctx)
		}()
		t.Cleanup(n.stop)
		out[id] = n
	}
	return out
}

// logLines keeps what a channel logged.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

var key = []byte("0123456789abcdef0123456789abcdef")

// Three nodes find each other, exchange messages, and a node that stops
// is gone at once (it leaves), one that dies within seconds.
func TestPublicChannelMembership(t *testing.T) {
	addrs := freeAddrs(t, 3)
	nodes := startNodes(t, key, 7, addrs, 0, 1, 2)
	waitFor(t, "every node alive at every other", 10*time.Second, func() bool {
		return nodes[0].rec.is(1, true) && nodes[0].rec.is(2, true) && nodes[1].rec.is(0, true) && nodes[2].rec.is(0, true)
	})
	if inc := nodes[0].rec.inc[1]; inc != 101 {
		t.Errorf("node1's incarnation from its meta: %d, want 101", inc)
	}
	big := make([]byte, 4000) // over UDP's size: a TCP stream
	for i := range big {
		big[i] = 'x'
	}
	if err := nodes[2].ch.Send(0, big); err != nil {
		t.Fatal(err)
	}
	has := func(m string) bool {
		nodes[0].rec.mu.Lock()
		defer nodes[0].rec.mu.Unlock()
		return slices.Contains(nodes[0].rec.msgs, m)
	}
	waitFor(t, "node0 gets the TCP message", 5*time.Second, func() bool { return has("2:" + string(big)) })
	// Best effort is UDP: send until one arrives.
	waitFor(t, "node0 gets the UDP message", 5*time.Second, func() bool {
		if !has("1:table") {
			if err := nodes[1].ch.Send(0, []byte("table")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return has("1:table")
	})
	nodes[2].stop() // leaves
	d := waitFor(t, "node2 gone after a clean stop", 3*time.Second, func() bool { return nodes[0].rec.is(2, false) })
	t.Logf("clean stop seen after %v", d)
	// A node killed (no leave): declared dead by probes and suspicion.
	nodes[1].ch.crash()
	d = waitFor(t, "node1 declared dead", 15*time.Second, func() bool { return nodes[0].rec.is(1, false) })
	t.Logf("kill seen after %v", d)
	if err := nodes[0].ch.Send(1, []byte("x")); err == nil {
		t.Error("Send to a dead node succeeded")
	}
}

// Another key, or another cluster id, never joins.
func TestPublicChannelIsolatesClusters(t *testing.T) {
	addrs := freeAddrs(t, 3)
	ours := startNodes(t, key, 7, addrs[:2], 0, 1)
	waitFor(t, "node0 and node1 join", 10*time.Second, func() bool { return ours[0].rec.is(1, true) })
	wrongKey := startNodes(t, []byte("fedcba9876543210fedcba9876543210"), 7, []string{addrs[2], addrs[0]}, 2)
	otherCluster := startNodes(t, key, 8, []string{freeAddrs(t, 4)[3], addrs[0]}, 3)
	// Both have tried: node0 refused a stream of the other key and one of
	// the other label (memberlist's own errors, logged as public.log).
	waitFor(t, "node0 refuses both outsiders", 15*time.Second, func() bool {
		return ours[0].logs.has("no installed keys could decrypt") && ours[0].logs.has("unacceptable label")
	})
	for _, id := range []uint16{2, 3} {
		if !ours[0].rec.is(id, false) {
			t.Errorf("node %d of another key or cluster is alive at node0", id)
		}
	}
	if wrongKey[2].rec.is(0, true) || otherCluster[3].rec.is(0, true) {
		t.Error("an outsider sees node0")
	}
}

func TestDeriveKeyDependsOnCluster(t *testing.T) {
	a, _ := DeriveKey(key, 7)
	b, _ := DeriveKey(key, 8)
	if len(a) != 32 || string(a) == string(b) || string(a) == string(key) {
		t.Errorf("derived keys %x %x", a, b)
	}
}

// A configured peer that comes back is joined again by the node that
// lists it, though the peer itself joins no one (memberlist alone never
// re-joins a node it declared dead).
func TestPublicChannelRejoinsConfiguredPeers(t *testing.T) {
	addrs := freeAddrs(t, 2)
	a := startJoining(t, key, 7, addrs[:1], addrs, 0)
	b := startJoining(t, key, 7, addrs[1:], nil, 1)
	waitFor(t, "node0 joins node1", 10*time.Second, func() bool { return a[0].rec.is(1, true) && b[1].rec.is(0, true) })
	b[1].ch.crash()
	waitFor(t, "node1 dead at node0", 15*time.Second, func() bool { return a[0].rec.is(1, false) })
	b2 := startJoining(t, key, 7, addrs[1:], nil, 1) // same address, joins no one
	waitFor(t, "node0 re-joins node1", 10*time.Second, func() bool { return a[0].rec.is(1, true) && b2[1].rec.is(0, true) })
}

// Key rotation: nodes that take the new key (second, then first) stay
// members throughout.
func TestPublicChannelKeyRotation(t *testing.T) {
	addrs := freeAddrs(t, 2)
	nodes := startNodes(t, key, 7, addrs, 0, 1)
	waitFor(t, "joined", 10*time.Second, func() bool { return nodes[0].rec.is(1, true) && nodes[1].rec.is(0, true) })
	next := []byte("fedcba9876543210fedcba9876543210")
	for step, keys := range [][][]byte{{key, next}, {next, key}, {next}} {
		for _, id := range []uint16{0, 1} {
			if err := nodes[id].ch.SetKeys(keys); err != nil {
				t.Fatal(err)
			}
		}
		// Best effort is UDP: send until one arrives under these keys.
		want := fmt.Sprintf("1:after rotation %d", step)
		waitFor(t, "a message under keys step "+fmt.Sprint(step), 10*time.Second, func() bool {
			nodes[0].rec.mu.Lock()
			seen := slices.Contains(nodes[0].rec.msgs, want)
			nodes[0].rec.mu.Unlock()
			if !seen {
				_ = nodes[1].ch.Send(0, []byte(want[2:]))
				time.Sleep(100 * time.Millisecond)
			}
			return seen
		})
	}
	if got := len(nodes[0].ch.kr.GetKeys()); got != 1 {
		t.Errorf("%d keys installed after the rotation, want 1", got)
	}
	if !nodes[0].rec.is(1, true) {
		t.Error("node1 lost during the rotation")
	}
}
