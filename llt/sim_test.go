package llt

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// sim is a fake-clock cluster of Machines joined by an in-memory wire. Every
// frame goes through a real Codec (encode, sign, verify, decode).
type sim struct {
	t       testing.TB
	now     time.Time
	nodes   []*simNode
	nets    []NetworkConfig
	latency time.Duration
	// netLatency overrides latency per network (index), to reorder frames
	// across networks.
	netLatency map[int]time.Duration
	pending    []delivery
	// cut[src][dst][net]: ether frames from src to dst on net are dropped.
	cut map[[3]int]bool
	// tcpCut[src][dst][net]: tcp frames from src to dst on net are dropped.
	tcpCut map[[3]int]bool
	// noDial[dialer][acceptor][net]: that connection cannot be set up, so
	// nothing flows on it either way.
	noDial map[[3]int]bool
	// route maps (src, net) to the network index the frame arrives on
	// at the receivers (swapped cables); identity unless set. It moves
	// the NIC to that network's segment, like seg.
	route map[[2]int]int
	// seg maps (node, net) to the segment its NIC is plugged into; the
	// network's own unless set (a cable in the wrong switch or VLAN).
	seg map[[2]int]int
	// egressLoss[(node, net)]: percent of the NIC's ether frames lost.
	egressLoss map[[2]int]int
	// portMTU[(node, net)]: frames longer than this are dropped to and
	// from the NIC (the switch port's MTU); 0: no limit.
	portMTU map[[2]int]int
	rng     *rand.Rand
	seq     int
	// tap, when set, sees every encoded frame before delivery.
	tap func(src, dst, net int, b []byte)
	// tables: every node's link table goes to every peer it has a usable
	// link to, every tableEvery (the agent does it over the message API).
	tables    bool
	nextTable time.Time
}

const tableEvery = time.Second

// exchangeTables hands every node's link table to the peers it can reach
// (through the codec, as the agent does).
func (s *sim) exchangeTables() {
	for _, n := range s.nodes {
		if n.down || n.pausedUntil.After(s.now) {
			continue
		}
		snap := n.m.Snapshot(s.now)
		parts := n.m.LinkTable(s.now)
		for _, p := range snap.Peers {
			up := false
			for _, l := range p.Links {
				up = up || l.State.Usable()
			}
			dst := s.byID(p.ID)
			if !up || dst == nil || dst.down || dst.pausedUntil.After(s.now) {
				continue
			}
			for i := range parts {
				b, err := AppendLinkTable(nil, &parts[i])
				if err != nil {
					s.t.Fatal(err)
				}
				t, err := DecodeLinkTable(b)
				if err != nil {
					s.t.Fatal(err)
				}
				_ = dst.m.NoteLinkTable(s.now, n.id, t)
				s.collect(dst)
			}
		}
	}
}

// byID returns the live node with id (the first one, if two share it).
func (s *sim) byID(id NodeID) *simNode {
	for _, n := range s.nodes {
		if n.id == id && !n.down {
			return n
		}
	}
	return nil
}

type simNode struct {
	id      NodeID
	idx     int // index in sim.nodes: its place on the wire (addresses)
	m       *Machine
	codec   *Codec
	events  []Event
	verdict map[Verdict]int
	down    bool // stopped: sends and receives nothing
	// pausedUntil: the node does not run before this (SIGSTOP, a VM
	// pause): no Advance, and frames for it wait in its "socket" until it
	// resumes. Then the frames are read before its timers run, or after
	// them when timersFirst is set (both happen in the agent).
	pausedUntil time.Time
	timersFirst bool
	// messages received, in order
	messages []simMessage
	// sentTo records the address of every frame sent
	sentTo []sentTo
}

type sentTo struct {
	at time.Time
	to string
	ch Channel
}

type simMessage struct {
	at      time.Time
	msg     Message
	payload string
}

type delivery struct {
	at            time.Time
	order         int
	src, dst, net int
	ch            Channel
	from          string
	b             []byte
}

var simEpoch = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func testKeyring(t testing.TB) *Keyring {
	kr, err := NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newSim(t testing.TB, n int, nets []NetworkConfig, timers Timers) *sim {
	t.Helper()
	s := &sim{t: t, now: simEpoch, nets: nets, latency: 50 * time.Microsecond,
		cut: map[[3]int]bool{}, netLatency: map[int]time.Duration{}, tcpCut: map[[3]int]bool{}, noDial: map[[3]int]bool{}, route: map[[2]int]int{},
		seg: map[[2]int]int{}, egressLoss: map[[2]int]int{}, portMTU: map[[2]int]int{}, rng: rand.New(rand.NewPCG(7, 7))}
	kr := testKeyring(t)
	names := make([]string, len(nets))
	for i, nc := range nets {
		names[i] = nc.Name
	}
	for i := 0; i < n; i++ {
		var peers []NodeID
		for j := 0; j < n; j++ {
			if j != i {
				peers = append(peers, NodeID(j))
			}
		}
		m, err := New(Config{
			Cluster: 7, Self: NodeID(i), Incarnation: NewIncarnation(s.now, uint16(i+1)), Epoch: s.now,
			Networks: nets, Peers: peers, Timers: timers, Diagnostics: simDiag, Rand: rand.New(rand.NewPCG(uint64(i), 42)),
		})
		if err != nil {
			t.Fatal(err)
		}
		s.nodes = append(s.nodes, &simNode{id: NodeID(i), idx: i, m: m, codec: NewCodec(kr, names...), verdict: map[Verdict]int{}})
	}
	return s
}

func etherTCP(names ...string) []NetworkConfig {
	var out []NetworkConfig
	for _, n := range names {
		out = append(out, NetworkConfig{Name: n, Ether: true, TCP: true})
	}
	return out
}

func ether(names ...string) []NetworkConfig {
	var out []NetworkConfig
	for _, n := range names {
		out = append(out, NetworkConfig{Name: n, Ether: true})
	}
	return out
}

func addr(node, net int) string { return fmt.Sprintf("mac-%d-%d", node, net) }

// collect moves a node's output onto the wire and its events into the log.
func (s *sim) collect(n *simNode) {
	src := n.idx
	out := n.m.Ready()
	defer n.m.Release(out)
	for _, msg := range out.Messages {
		n.messages = append(n.messages, simMessage{at: s.now, msg: msg, payload: string(msg.Payload)})
	}
	for _, o := range out.Frames {
		n.sentTo = append(n.sentTo, sentTo{at: s.now, to: o.To, ch: o.Channel})
		b, err := n.codec.Append(nil, &o.Frame)
		if err != nil {
			s.t.Fatalf("node %d: encode: %v", src, err)
		}
		if n.down {
			continue
		}
		if o.Channel == ChannelEther {
			s.sendEther(src, o, b)
			continue
		}
		for dst := range s.nodes {
			if dst == src {
				continue
			}
			if o.To != "" && o.To != addr(dst, o.Network) {
				continue
			}
			if s.tcpCut[[3]int{src, dst, o.Network}] {
				continue
			}
			// The connection this frame rides: dialled by src (tcp-to) or by dst.
			if (o.Channel == ChannelTCPTo && s.noDial[[3]int{src, dst, o.Network}]) ||
				(o.Channel == ChannelTCPFrom && s.noDial[[3]int{dst, src, o.Network}]) {
				continue
			}
			if s.tap != nil {
				s.tap(src, dst, o.Network, b)
			}
			// Our connection to them is their connection from us.
			ch := ChannelTCPFrom
			if o.Channel == ChannelTCPFrom {
				ch = ChannelTCPTo
			}
			s.queue(src, dst, o.Network, ch, addr(src, o.Network), b)
		}
	}
	n.events = append(n.events, out.Events...)
}

// segOf is the segment (switch, VLAN) node's NIC on net is plugged into:
// the network's own unless a test moved it.
func (s *sim) segOf(node, net int) int {
	if v, ok := s.seg[[2]int{node, net}]; ok {
		return v
	}
	if v, ok := s.route[[2]int{node, net}]; ok {
		return v
	}
	return net
}

// sendEther puts an ether frame of node src on its segment: every NIC
// plugged into that segment gets a broadcast, and a unicast when it owns
// the address or when no NIC there does (a switch floods unknown
// unicast); the sender's own NICs on the segment get it too. Egress loss
// and port MTUs apply.
func (s *sim) sendEther(src int, o Outgoing, b []byte) {
	if pct := s.egressLoss[[2]int{src, o.Network}]; pct > 0 && s.rng.IntN(100) < pct {
		return
	}
	if mtu := s.portMTU[[2]int{src, o.Network}]; mtu > 0 && len(b) > mtu {
		return
	}
	seg := s.segOf(src, o.Network)
	owner := false
	for dst := range s.nodes {
		for k := range s.nets {
			if s.segOf(dst, k) == seg && o.To != "" && o.To == addr(dst, k) {
				owner = true
			}
		}
	}
	for dst := range s.nodes {
		for k := range s.nets {
			if (dst == src && k == o.Network) || s.segOf(dst, k) != seg {
				continue
			}
			if o.To != "" && owner && o.To != addr(dst, k) {
				continue
			}
			if s.cut[[3]int{src, dst, o.Network}] {
				continue
			}
			if mtu := s.portMTU[[2]int{dst, k}]; mtu > 0 && len(b) > mtu {
				continue
			}
			if s.tap != nil && dst != src {
				s.tap(src, dst, o.Network, b)
			}
			s.queue(src, dst, k, ChannelEther, addr(src, o.Network), b)
		}
	}
}

// queue schedules the delivery of b to dst's NIC on net.
func (s *sim) queue(src, dst, net int, ch Channel, from string, b []byte) {
	s.seq++
	lat := s.latency
	if l, ok := s.netLatency[net]; ok {
		lat = l
	}
	s.pending = append(s.pending, delivery{at: s.now.Add(lat), order: s.seq, src: src, dst: dst,
		net: net, ch: ch, from: from, b: b})
}

// drain takes a node's output off the machine without sending it and
// returns its events.
func (n *simNode) drain() []Event {
	out := n.m.Ready()
	defer n.m.Release(out)
	return append([]Event(nil), out.Events...)
}

func (s *sim) deliver(d delivery) {
	n := s.nodes[d.dst]
	if n.down {
		return
	}
	resume := n.pausedUntil
	if n.timersFirst {
		resume = resume.Add(time.Nanosecond)
	}
	if s.now.Before(resume) {
		d.at = resume
		s.pending = append(s.pending, d)
		return
	}
	var f Frame
	if err := n.codec.Decode(d.b, &f); err != nil {
		s.t.Fatalf("node %d: decode: %v", d.dst, err)
	}
	v := n.m.Receive(s.now, Inbound{Network: d.net, Channel: d.ch, From: d.from, Frame: &f})
	n.verdict[v]++
	s.collect(n)
}

// run advances the fake clock by d, processing every deadline and delivery.
func (s *sim) run(d time.Duration) {
	s.runUntil(s.now.Add(d))
}

func (s *sim) runUntil(end time.Time) {
	for iter := 0; ; iter++ {
		if iter > 10_000_000 {
			s.t.Fatal("simulation does not progress")
		}
		next := end
		for _, n := range s.nodes {
			if n.down {
				continue
			}
			dl := n.m.NextDeadline(s.now)
			if n.pausedUntil.After(s.now) {
				dl = n.pausedUntil
			}
			if !dl.IsZero() && dl.Before(next) {
				next = dl
			}
		}
		for _, p := range s.pending {
			if p.at.Before(next) {
				next = p.at
			}
		}
		if s.tables && s.nextTable.IsZero() {
			s.nextTable = s.now
		}
		if s.tables && s.nextTable.Before(next) {
			next = s.nextTable
		}
		s.now = next
		if s.tables && !s.nextTable.After(s.now) {
			s.exchangeTables()
			s.nextTable = s.now.Add(tableEvery)
		}
		sort.Slice(s.pending, func(i, j int) bool {
			if !s.pending[i].at.Equal(s.pending[j].at) {
				return s.pending[i].at.Before(s.pending[j].at)
			}
			return s.pending[i].order < s.pending[j].order
		})
		for len(s.pending) > 0 && !s.pending[0].at.After(s.now) {
			d := s.pending[0]
			s.pending = s.pending[1:]
			s.deliver(d)
		}
		for _, n := range s.nodes {
			if n.down || n.pausedUntil.After(s.now) {
				continue
			}
			if dl := n.m.NextDeadline(s.now); !dl.After(s.now) {
				n.m.Advance(s.now)
				s.collect(n)
			}
		}
		if !s.now.Before(end) {
			return
		}
	}
}

// cutLink drops frames of every channel both ways between a and b on net.
func (s *sim) cutLink(a, b, net int, cut bool) {
	s.cut[[3]int{a, b, net}] = cut
	s.cut[[3]int{b, a, net}] = cut
	s.cutTCP(a, b, net, cut)
}

// cutTCP drops the TCP channel's frames both ways between a and b on net.
func (s *sim) cutTCP(a, b, net int, cut bool) {
	s.tcpCut[[3]int{a, b, net}] = cut
	s.tcpCut[[3]int{b, a, net}] = cut
}

// isolate drops every frame to and from node a on net (a switch port blackhole).
func (s *sim) isolate(a, net int, cut bool) {
	for b := range s.nodes {
		if b != a {
			s.cutLink(a, b, net, cut)
		}
	}
}

func (s *sim) peer(node int, peer NodeID) PeerSnapshot {
	snap := s.nodes[node].m.Snapshot(s.now)
	for _, p := range snap.Peers {
		if p.ID == peer {
			return p
		}
	}
	s.t.Fatalf("node %d has no peer %d", node, peer)
	return PeerSnapshot{}
}

func (s *sim) link(node int, peer NodeID, net int) LinkSnapshot {
	return s.peer(node, peer).Links[net]
}

// linkEvents returns node's link events for (peer, net) after t.
func (s *sim) linkEvents(node int, peer NodeID, net int, after time.Time) []Event {
	var out []Event
	for _, e := range s.nodes[node].events {
		if e.Kind == EventLink && e.Peer == peer && e.Network == net && !e.At.Before(after) {
			out = append(out, e)
		}
	}
	return out
}

func (s *sim) nodeEvents(node int, peer NodeID, after time.Time) []Event {
	var out []Event
	for _, e := range s.nodes[node].events {
		if (e.Kind == EventNode || e.Kind == EventPeerRestart) && e.Peer == peer && !e.At.Before(after) {
			out = append(out, e)
		}
	}
	return out
}

// firstLinkState returns the first link event into state after t.
func (s *sim) firstLinkState(node int, peer NodeID, net int, after time.Time, st LinkState) (Event, bool) {
	for _, e := range s.linkEvents(node, peer, net, after) {
		if e.Link == st && e.PrevLink != st {
			return e, true
		}
	}
	return Event{}, false
}

// lastHeard returns when node last accepted a frame from peer on net.
func (s *sim) lastHeard(node int, peer NodeID, net int) time.Time {
	return s.link(node, peer, net).LastRx
}

func (s *sim) assertAllOpen() {
	s.t.Helper()
	for i, n := range s.nodes {
		if n.down {
			continue
		}
		for _, p := range n.m.Snapshot(s.now).Peers {
			if s.nodes[p.ID].down {
				continue
			}
			if p.State != NodeOpen {
				s.t.Fatalf("t=%v node %d sees node %d %v, want OPEN", s.now.Sub(simEpoch), i, p.ID, p.State)
			}
			for _, l := range p.Links {
				if l.State != LinkUp || l.Reason != ReasonNone {
					s.t.Fatalf("t=%v node %d link to %d on %s: %v %v, want UP", s.now.Sub(simEpoch), i, p.ID, s.nets[l.Network].Name, l.State, l.Reason)
				}
			}
		}
	}
}

// simDiag are the diagnostics of simulated nodes: no claim phase (the
// tests of the claim phase ask for it), the rest as configured by default.
var simDiag = Diagnostics{Claim: -1}

// stateChanges returns the events that change a link, session, peer or
// this node's state (not network-wide findings or pauses).
func stateChanges(evs []Event) []Event {
	var out []Event
	for _, e := range evs {
		switch e.Kind {
		case EventLink, EventSession, EventNode, EventPeerRestart, EventLocal:
			out = append(out, e)
		}
	}
	return out
}

// netReasons returns node's network-wide reasons of network net.
func (s *sim) netReasons(node, net int) []Reason {
	return s.nodes[node].m.Snapshot(s.now).Networks[net].Reasons
}
