package main

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tether-ha/tether/llt"
)

// cluster is N real llt engines on a simulated network, driven by a
// virtual clock: an event queue of frame deliveries, engine deadlines and
// link-table rounds, processed in time order (ties in the order queued),
// so a run is a function of its seed.
type cluster struct {
	now    time.Time
	nodes  []*node
	nets   []llt.NetworkConfig
	net    *network
	queue  eventQueue
	seq    uint64
	rng    *rand.Rand
	timers llt.Timers
	meter  meter
	// onEvent sees every state change of every engine.
	onEvent func(n *node, e llt.Event)
	// noCodec: frames are handed over as copies instead of being encoded,
	// signed, verified and decoded (half the simulator's time at scale;
	// the codec's cost per frame does not depend on the cluster).
	noCodec bool
	notUp   int // links (of every node) not UP, from the engines' events
}

type node struct {
	idx   int
	id    llt.NodeID
	m     *llt.Machine
	codec *llt.Codec
	timer time.Time // the deadline queued for it; zero: none
	// pausedUntil: the node does not run (SIGSTOP, a VM pause): its
	// frames wait in its socket and its timers do not fire.
	pausedUntil time.Time
	inbox       []*delivery // frames that arrived while paused
	macs        []string    // its NIC's address per network
	stats       nodeStats
	// tableSerial, tableAt: the table last sent to every peer (the
	// agent's schedule: the table when it changed, else its digest).
	tableSerial uint64
	tableAt     time.Time
}

// nodeStats are one node's counters since the last reset.
type nodeStats struct {
	engine      time.Duration // time spent in the engine's calls
	codec       time.Duration // encoding our frames, decoding the ones for us
	framesSent  uint64
	bytesSent   uint64
	framesRecv  uint64 // frames handed to the engine (broadcasts for others included)
	tables      uint64 // link-table messages sent
	tableBytes  uint64
	tablesRecv  uint64
	tableReject uint64
	advances    uint64 // timer calls that ran Advance
}

type eventKind uint8

const (
	evDeliver eventKind = iota
	evTimer
	evTables
	evResume
	evBroadcast // one frame for every NIC of the segment: one event, not one per receiver
)

type event struct {
	at   time.Time
	seq  uint64
	kind eventKind
	node int
	d    *delivery
}

type delivery struct {
	net    int
	from   string
	frame  *llt.Frame // decoded once, shared by every receiver of a broadcast
	table  *llt.LinkTable
	digest *llt.TableDigest
	pull   bool // src asks the receiver for its link table
	src    int
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// tableEvery is how often a node sends its link table to every peer, as
// the agent does (agent/linktables.go).
const tableEvery = time.Second

func newCluster(n, m int, seed uint64, timers llt.Timers, nw netParams) (*cluster, error) {
	c := &cluster{now: epoch, rng: rand.New(rand.NewPCG(seed, 0x7e7e)), timers: timers, notUp: n * (n - 1) * m}
	for k := range m {
		c.nets = append(c.nets, llt.NetworkConfig{Name: fmt.Sprintf("hb%d", k), Ether: true})
	}
	c.net = newNetwork(n, m, nw, rand.New(rand.NewPCG(seed, 0x6e6e)))
	kr, err := llt.NewKeyring([]byte("tether-simulator-key-0123456789abcdef"))
	if err != nil {
		return nil, err
	}
	names := make([]string, m)
	for k := range c.nets {
		names[k] = c.nets[k].Name
	}
	for i := range n {
		var peers []llt.NodeID
		for j := range n {
			if j != i {
				peers = append(peers, llt.NodeID(j))
			}
		}
		mc, err := llt.New(llt.Config{
			Cluster: 7, Self: llt.NodeID(i), Incarnation: seed<<20 | uint64(i+1), Epoch: epoch,
			Networks: c.nets, Peers: peers, Timers: timers,
			Rand: rand.New(rand.NewPCG(seed, uint64(i))),
		})
		if err != nil {
			return nil, err
		}
		nd := &node{idx: i, id: llt.NodeID(i), m: mc, codec: llt.NewCodec(kr, names...)}
		for k := range m {
			nd.macs = append(nd.macs, macOf(i, k))
		}
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes {
		c.call(nd, func() { nd.m.Advance(c.now) })
	}
	c.push(event{at: c.now.Add(time.Duration(c.rng.Int64N(int64(tableEvery)))), kind: evTables})
	return c, nil
}

func (c *cluster) push(e event) {
	c.seq++
	e.seq = c.seq
	heap.Push(&c.queue, e)
}

// run processes every event up to end.
func (c *cluster) run(d time.Duration) {
	end := c.now.Add(d)
	for len(c.queue) > 0 && !c.queue[0].at.After(end) {
		e := heap.Pop(&c.queue).(event)
		c.now = e.at
		switch e.kind {
		case evDeliver:
			c.deliver(c.nodes[e.node], e.d)
		case evTimer:
			nd := c.nodes[e.node]
			if !nd.timer.Equal(e.at) || nd.paused(c.now) {
				continue // superseded
			}
			nd.timer = time.Time{}
			c.call(nd, func() {
				if !nd.m.NextDeadline(c.now).After(c.now) {
					nd.m.Advance(c.now)
					nd.stats.advances++
				}
			})
		case evTables:
			c.sendTables()
			c.push(event{at: c.now.Add(tableEvery), kind: evTables})
		case evResume:
			c.resume(c.nodes[e.node])
		case evBroadcast:
			for dst, nd := range c.nodes {
				if dst != e.d.src && c.net.drop(e.d.src, dst, e.d.net) == nil {
					c.deliver(nd, e.d)
				}
			}
		}
	}
	c.now = end
}

// call runs fn on nd's engine, timing it, then sends what it produced and
// re-arms its timer.
func (c *cluster) call(nd *node, fn func()) {
	t0 := time.Now()
	fn()
	out := nd.m.Ready()
	dl := nd.m.NextDeadline(c.now)
	nd.stats.engine += c.meter.since(t0)
	for _, e := range out.Events {
		if e.Kind == llt.EventLink && (e.PrevLink == llt.LinkUp) != (e.Link == llt.LinkUp) {
			if e.Link == llt.LinkUp {
				c.notUp--
			} else {
				c.notUp++
			}
		}
		if c.onEvent != nil {
			c.onEvent(nd, e)
		}
	}
	for i := range out.Frames {
		c.send(nd, &out.Frames[i])
	}
	nd.m.Release(out)
	if !dl.IsZero() && !dl.Equal(nd.timer) {
		nd.timer = dl
		c.push(event{at: dl, kind: evTimer, node: nd.idx})
	}
}

// send encodes a frame as the agent does and puts it on the wire: to
// its destination's NIC (unicast) or to every NIC of the segment
// (broadcast).
func (c *cluster) send(nd *node, o *llt.Outgoing) {
	var f llt.Frame
	if c.noCodec {
		f = o.Frame
		f.Vector = slices.Clone(o.Frame.Vector) // it lives in the engine's Output
		f.Payload = slices.Clone(o.Frame.Payload)
		nd.stats.bytesSent += uint64(f.EncodedLen())
	} else {
		t0 := time.Now()
		b, err := nd.codec.Append(nil, &o.Frame)
		if err != nil {
			panic(fmt.Sprintf("node %d: encode: %v", nd.idx, err))
		}
		if err := nd.codec.Decode(b, &f); err != nil {
			panic(fmt.Sprintf("node %d: decode: %v", nd.idx, err))
		}
		nd.stats.codec += c.meter.since(t0) // (the receiver's decode, counted once per frame)
		nd.stats.bytesSent += uint64(len(b))
	}
	nd.stats.framesSent++
	d := &delivery{net: o.Network, from: nd.macs[o.Network], frame: &f, src: nd.idx}
	if o.To != "" {
		dst := int(o.Peer)
		if o.Peer == llt.Broadcast || dst >= len(c.nodes) {
			return
		}
		if at, ok := c.net.pass(c.now, nd.idx, dst, o.Network); ok {
			c.push(event{at: at, kind: evDeliver, node: dst, d: d})
		}
		return
	}
	c.push(event{at: c.net.arrival(c.now), kind: evBroadcast, d: d})
}

func (c *cluster) deliver(nd *node, d *delivery) {
	if nd.paused(c.now) {
		nd.inbox = append(nd.inbox, d)
		return
	}
	if d.digest != nil {
		pull := false
		c.call(nd, func() {
			var err error
			if pull, err = nd.m.NoteTableDigest(c.now, llt.NodeID(d.src), *d.digest); err != nil {
				nd.stats.tableReject++
			}
		})
		nd.stats.tablesRecv++
		if pull {
			c.message(nd.idx, d.src, &delivery{pull: true, src: nd.idx}, pullLen)
		}
		return
	}
	if d.pull {
		var parts []llt.LinkTable
		c.call(nd, func() { parts = nd.m.LinkTable(c.now) })
		c.sendTableTo(nd, parts, []int{d.src})
		return
	}
	if d.table != nil {
		c.call(nd, func() {
			if nd.m.NoteLinkTable(c.now, llt.NodeID(d.src), *d.table) != nil {
				nd.stats.tableReject++
			}
		})
		nd.stats.tablesRecv++
		return
	}
	nd.stats.framesRecv++
	c.call(nd, func() {
		nd.m.Receive(c.now, llt.Inbound{Network: d.net, Channel: llt.ChannelEther, From: d.from, Frame: d.frame})
	})
}

// sendTables: every running node sends each peer it can reach (the
// agent's message API) its link table if it changed since it last sent
// it, or every tableRefresh, else its digest (agent/linktables.go).
func (c *cluster) sendTables() {
	for _, nd := range c.nodes {
		if nd.paused(c.now) || nd.m.Claiming() {
			continue
		}
		var d llt.TableDigest
		var parts []llt.LinkTable
		c.call(nd, func() {
			parts = nd.m.LinkTable(c.now)
			d = nd.m.TableDigest()
		})
		var all []int
		for dst := range c.nodes {
			if dst != nd.idx {
				all = append(all, dst)
			}
		}
		if d.Serial != nd.tableSerial || c.now.Sub(nd.tableAt) >= tableRefresh {
			nd.tableSerial, nd.tableAt = d.Serial, c.now
			c.sendTableTo(nd, parts, all)
			continue
		}
		for _, dst := range all {
			if c.message(nd.idx, dst, &delivery{digest: &d, src: nd.idx}, digestLen) {
				nd.stats.tables++
				nd.stats.tableBytes += digestLen
			}
		}
	}
}

// Sizes of the link-table messages that carry no table (topic byte
// included).
const (
	digestLen    = 23
	pullLen      = 1
	tableRefresh = 30 * time.Second
)

// sendTableTo sends the link table parts of nd to the nodes in to.
func (c *cluster) sendTableTo(nd *node, parts []llt.LinkTable, to []int) {
	size := 0
	for i := range parts {
		b, err := llt.AppendLinkTable([]byte{0}, &parts[i])
		if err != nil {
			panic(err)
		}
		size += len(b)
	}
	for _, dst := range to {
		for i := range parts {
			if c.message(nd.idx, dst, &delivery{table: &parts[i], src: nd.idx}, 0) {
				nd.stats.tables++
			}
		}
		nd.stats.tableBytes += uint64(size)
	}
}

// message sends a message-API message from src to dst over the first
// network that passes; false: none does.
func (c *cluster) message(src, dst int, d *delivery, size int) bool {
	net, ok := c.net.route(src, dst)
	if !ok {
		return false
	}
	at, ok := c.net.pass(c.now, src, dst, net)
	if !ok {
		return false
	}
	c.push(event{at: at, kind: evDeliver, node: dst, d: d})
	return true
}

// pause stops nd for d: it runs nothing, and what arrives waits.
func (c *cluster) pause(nd *node, d time.Duration) {
	nd.pausedUntil = c.now.Add(d)
	c.push(event{at: nd.pausedUntil, kind: evResume, node: nd.idx})
}

// resume reads what waited in the node's socket, then runs its timers
// (the agent's order after a SIGCONT).
func (c *cluster) resume(nd *node) {
	if nd.paused(c.now) {
		return
	}
	in := nd.inbox
	nd.inbox = nil
	for _, d := range in {
		c.deliver(nd, d)
	}
	nd.timer = time.Time{}
	c.call(nd, func() { nd.m.Advance(c.now) })
}

func (nd *node) paused(now time.Time) bool { return now.Before(nd.pausedUntil) }

func macOf(node, net int) string {
	return fmt.Sprintf("02:74:68:%02x:%02x:%02x", net+1, node>>8, node&0xff)
}

// resetStats zeroes every node's counters (the start of a measurement).
func (c *cluster) resetStats() {
	for _, nd := range c.nodes {
		nd.stats = nodeStats{}
	}
}
