package builtin

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/topics"
)

// pipeStream frames messages over a net.Pipe: the unit tests' stand-in
// for links/tcp.Stream (the e2e tests use the real one).
type pipeStream struct {
	c       net.Conn
	noFetch *atomic.Bool // set: fetch requests fail to send (a stuck replicator)
}

func (p pipeStream) Send(msg []byte) error {
	if p.noFetch != nil && p.noFetch.Load() && len(msg) > 0 && msg[0] == kindFetch {
		return errors.New("test: fetches blocked")
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	_, err := p.c.Write(append(b, msg...))
	return err
}

func (p pipeStream) Recv() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(p.c, h[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(h[:]))
	_, err := io.ReadFull(p.c, b)
	return b, err
}

func (p pipeStream) SetDeadline(t time.Time) error { return p.c.SetDeadline(t) }
func (p pipeStream) Close() error                  { return p.c.Close() }

// net is two or more nodes whose managers reach each other through pipes;
// cut makes a node unreachable both ways.
type testNet struct {
	t     *testing.T
	ctx   context.Context
	mu    sync.Mutex
	nodes map[string]*node
	wg    sync.WaitGroup
	pipes []pipeEnds
}

type pipeEnds struct {
	a, b string
	c    net.Conn
}

type node struct {
	name    string
	dir     string
	store   *topics.Store
	m       *Manager
	cut     atomic.Bool
	noFetch atomic.Bool // its fetches fail
	cancel  context.CancelFunc
	done    chan struct{}
}

type dialer struct {
	n    *testNet
	from string
}

var errCut = errors.New("test: node unreachable")

func (d dialer) Dial(ctx context.Context, to string) (Stream, error) {
	d.n.mu.Lock()
	src, dst := d.n.nodes[d.from], d.n.nodes[to]
	d.n.mu.Unlock()
	if src == nil || dst == nil || dst.m == nil || src.cut.Load() || dst.cut.Load() {
		return nil, errCut
	}
	a, b := net.Pipe()
	d.n.mu.Lock()
	d.n.pipes = append(d.n.pipes, pipeEnds{d.from, to, a})
	d.n.mu.Unlock()
	d.n.wg.Add(1)
	go func() {
		defer d.n.wg.Done()
		dst.m.ServeStream(d.n.ctx, d.from, pipeStream{c: b})
	}()
	return pipeStream{c: a, noFetch: &src.noFetch}, nil
}

func newTestNet(t *testing.T) *testNet {
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNet{t: t, ctx: ctx, nodes: map[string]*node{}}
	t.Cleanup(func() {
		for _, nd := range n.nodes {
			nd.stop()
		}
		cancel()
		n.wg.Wait()
	})
	return n
}

func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("TETHER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// start opens (or reopens) node name with the resources rs.
func (n *testNet) start(name, dir string, rs ...ResourceConfig) *node {
	n.t.Helper()
	st, err := topics.Open(dir, topics.Options{})
	if err != nil {
		n.t.Fatal(err)
	}
	states, err := resource.Open(nil, dir)
	if err != nil {
		n.t.Fatal(err)
	}
	m, err := New(Config{Self: name, Resources: rs, Store: st, States: states, Dialer: dialer{n, name},
		Log: testLog(n.t).With("node", name), ViewEvery: 50 * time.Millisecond, MaxWait: 50 * time.Millisecond,
		RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		st.Close()
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(n.ctx)
	nd := &node{name: name, dir: dir, store: st, m: m, cancel: cancel, done: make(chan struct{})}
	n.mu.Lock()
	if old := n.nodes[name]; old != nil {
		nd.cut.Store(old.cut.Load())
	}
	n.nodes[name] = nd
	n.mu.Unlock()
	go func() {
		defer close(nd.done)
		m.Run(ctx)
	}()
	return nd
}

func (nd *node) stop() {
	if nd.cancel == nil {
		return
	}
	nd.cancel()
	<-nd.done
	nd.store.Close()
	nd.cancel = nil
}

func orders(acksMirror bool) ResourceConfig {
	return ResourceConfig{Name: "orders", Primary: "node0", Mirror: "node1", Topics: []string{"orders", "payments"},
		AcksMirror: acksMirror, AcksTimeout: 300 * time.Millisecond}
}

// eventually polls cond every 5ms for up to 10s (generous: the race
// detector and a loaded machine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func produce(t *testing.T, nd *node, topic string, vals ...string) (int64, error) {
	t.Helper()
	b := make([][]byte, len(vals))
	for i, v := range vals {
		b[i] = []byte(v)
	}
	return nd.store.Produce(context.Background(), topic, b)
}

func end(nd *node, topic string) int64 {
	info, err := nd.store.Describe(topic)
	if err != nil {
		return -1
	}
	return info.LogEndOffset
}

func topicStatus(t *testing.T, nd *node, res, topic string) TopicStatus {
	t.Helper()
	s, err := nd.m.StatusOf(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range s.Topics {
		if ts.Topic == topic {
			return ts
		}
	}
	t.Fatalf("no topic %s in %+v", topic, s)
	return TopicStatus{}
}

// rawLog is a topic's whole log, as its bytes.
func rawLog(t *testing.T, nd *node, topic string) []byte {
	t.Helper()
	l, err := nd.store.Log(topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for off := l.LogStartOffset(); off < l.DurableOffset(); {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
		next, err := lastNext(b)
		if err != nil {
			t.Fatal(err)
		}
		off = next
	}
	return out
}

// lastNext is the offset after the last whole batch of b.
func lastNext(b []byte) (uint64, error) {
	var next uint64
	for len(b) > 0 {
		bt, n, err := logstore.DecodeBatch(b, len(b))
		if err != nil {
			return 0, err
		}
		next, b = bt.NextOffset(), b[n:]
	}
	return next, nil
}

// isolate cuts node name off (or heals it): no dial succeeds and every
// stream it has fails at once, as when the agent sees its links go down.
func (n *testNet) isolate(name string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nodes[name].cut.Store(cut)
	if !cut {
		return
	}
	kept := n.pipes[:0]
	for _, p := range n.pipes {
		if p.a == name || p.b == name {
			p.c.Close()
			continue
		}
		kept = append(kept, p)
	}
	n.pipes = kept
}

// settled waits until no resource of nd is still starting.
func settled(t *testing.T, nd *node) {
	t.Helper()
	eventually(t, nd.name+" to finish its start check", func() bool {
		for _, r := range nd.m.Status() {
			if r.Starting {
				return false
			}
		}
		return true
	})
}
