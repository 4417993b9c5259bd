package llt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// NetworkConfig is one interconnect network.
type NetworkConfig struct {
	Name   string
	Lowpri bool
	Ether  bool // carried as raw Ethernet frames
	TCP    bool // carried by a pair of TCP connections per peer
	// MaxEtherPayload bounds a message sent as an Ethernet frame (from the
	// network's MTU); 0 means DefaultMaxEtherPayload.
	MaxEtherPayload int
}

// DefaultMaxEtherPayload fits a 1500-byte MTU with room for the header,
// eight link vector entries with long names and the tag.
const DefaultMaxEtherPayload = 1500 - MaxOverhead

// Config configures a Machine.
type Config struct {
	Cluster     uint16
	Self        NodeID
	Incarnation uint64    // this start's incarnation, never 0 (see NewIncarnation)
	Epoch       time.Time // frame timestamps count from here
	Networks    []NetworkConfig
	Peers       []NodeID // every other node of the cluster
	Timers      Timers
	Rand        *rand.Rand // heartbeat jitter; nil: seeded from Incarnation
}

// NewIncarnation makes an incarnation from the wall clock and 16 random
// bits. Incarnations grow from one start to the next, so a replayed frame
// of an older incarnation is told from a restart; the random bits keep two
// starts in the same millisecond apart.
func NewIncarnation(wall time.Time, random uint16) uint64 {
	inc := uint64(wall.UnixMilli())<<16 | uint64(random)
	if inc == 0 {
		inc = 1
	}
	return inc
}

// Machine is the heartbeat protocol state of one node: a session per
// (peer, network, channel), aggregated into links and peer node states.
// It is not safe for concurrent use; the agent drives it from one goroutine.
type Machine struct {
	cfg      Config
	nets     []netState
	netIndex map[string]int
	peers    []*peer
	peerByID map[NodeID]*peer
	rng      *rand.Rand

	nextHB     [2]time.Time // per class: 0 high priority, 1 lowpri
	hasClass   [2]bool
	vectorTTL  time.Duration // how long a peer's link vector stays believable
	redundancy int           // private links a peer needs to be OPEN rather than JEOPARDY
	resetAt    time.Time
	advanced   time.Time // when Advance last ran: timer points up to here are handled
	started    bool      // Advance has run once: heartbeats are owed from then on

	// Pause detection: Advance running more than pauseAfter past the
	// heartbeat it owed means this node did not run (process not
	// scheduled, VM paused, SIGSTOP, an engine held up).
	pauseAfter time.Duration
	pauseSeen  time.Time // the last pause detected ended here
	pauses     PauseStats
	recent     [8]pause // the latest pauses, to discount from echo ages
	nRecent    int
}

// pause is one interval during which this node did not run.
type pause struct{ start, end time.Time }

// pausedSince is how much of the time since t this node spent paused (of
// its last few pauses).
func (m *Machine) pausedSince(t time.Time) time.Duration {
	var d time.Duration
	for i := 0; i < min(m.nRecent, len(m.recent)); i++ {
		if p := m.recent[i]; !p.start.Before(t) {
			d += p.end.Sub(p.start)
		}
	}
	return d
}

// PauseStats count the pauses of this node's engine.
type PauseStats struct {
	Count   uint64
	Last    time.Duration
	LastAt  time.Time // when the engine ran again
	Longest time.Duration
}

type netState struct {
	cfg          NetworkConfig
	cls          class
	classIdx     int
	carrier      bool
	carrierSince time.Time
	hasCh        [NumChannels]bool
}

type peer struct {
	id       NodeID
	inc      uint64
	state    NodeState
	since    time.Time
	restarts uint64
	everOpen bool
	links    []*link
	vec      []VectorEntry // scratch for outgoing link vectors
}

type link struct {
	net          int
	sess         [NumChannels]*session
	state        LinkState
	reason       Reason
	remoteReason Reason
	since        time.Time
	downs        uint64

	remote     VectorEntry // the peer's view of this link
	remoteAt   time.Time
	remoteSent int64     // the peer's send timestamp of the frame that carried it
	crossAt    time.Time // the peer's frames for another network arrived here
	authFail   time.Time // frames claiming to be the peer failed authentication here
	stopped    bool      // the peer said it is shutting down
	// stoppedUntil: after the peer restarts, a stopped link keeps its
	// reason until it hears the new incarnation or this passes.
	stoppedUntil time.Time
}

// New builds a Machine. Every link starts DOWN and every peer CONNWAIT.
func New(cfg Config) (*Machine, error) {
	if err := cfg.Timers.Validate(); err != nil {
		return nil, err
	}
	if cfg.Incarnation == 0 {
		return nil, errors.New("llt: incarnation must not be 0")
	}
	if len(cfg.Networks) == 0 || len(cfg.Networks) > MaxVector {
		return nil, fmt.Errorf("llt: need 1..%d networks, got %d", MaxVector, len(cfg.Networks))
	}
	m := &Machine{
		cfg:      cfg,
		netIndex: make(map[string]int, len(cfg.Networks)),
		peerByID: make(map[NodeID]*peer, len(cfg.Peers)),
		rng:      cfg.Rand,
		resetAt:  cfg.Epoch,
		advanced: cfg.Epoch.Add(-1),
	}
	if m.rng == nil {
		m.rng = rand.New(rand.NewPCG(cfg.Incarnation, uint64(cfg.Self)))
	}
	private := 0
	for i, n := range cfg.Networks {
		if !validName(n.Name) {
			return nil, fmt.Errorf("llt: bad network name %q", n.Name)
		}
		if _, dup := m.netIndex[n.Name]; dup {
			return nil, fmt.Errorf("llt: network %q configured twice", n.Name)
		}
		if !n.Ether && !n.TCP {
			return nil, fmt.Errorf("llt: network %q has no channel", n.Name)
		}
		m.netIndex[n.Name] = i
		ns := netState{cfg: n, cls: cfg.Timers.class(n.Lowpri), carrier: true, carrierSince: cfg.Epoch}
		if n.Lowpri {
			ns.classIdx = 1
		} else {
			private++
		}
		ns.hasCh[ChannelEther] = n.Ether
		ns.hasCh[ChannelTCPTo] = n.TCP
		ns.hasCh[ChannelTCPFrom] = n.TCP
		if ns.cfg.MaxEtherPayload == 0 {
			ns.cfg.MaxEtherPayload = DefaultMaxEtherPayload
		}
		if !m.hasClass[ns.classIdx] {
			pa := max((ns.cls.trouble-ns.cls.heartbeat)/2, time.Millisecond)
			if m.pauseAfter == 0 || pa < m.pauseAfter {
				m.pauseAfter = pa
			}
		}
		m.hasClass[ns.classIdx] = true
		m.nextHB[ns.classIdx] = cfg.Epoch
		m.vectorTTL = max(m.vectorTTL, ns.cls.inact)
		m.nets = append(m.nets, ns)
	}
	if private == 0 {
		return nil, errors.New("llt: at least one network must not be lowpri")
	}
	m.redundancy = min(2, private)
	ids := append([]NodeID(nil), cfg.Peers...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if id == cfg.Self || id > MaxNodeID {
			return nil, fmt.Errorf("llt: bad peer id %d", id)
		}
		if _, dup := m.peerByID[id]; dup {
			return nil, fmt.Errorf("llt: peer %d listed twice", id)
		}
		p := &peer{id: id, state: NodeConnWait, since: cfg.Epoch}
		for ni := range m.nets {
			l := &link{net: ni, state: LinkDown, reason: ReasonPeerSilent, since: cfg.Epoch}
			for c := Channel(0); c < NumChannels; c++ {
				if m.nets[ni].hasCh[c] {
					l.sess[c] = &session{ch: c, state: SessionDown, since: cfg.Epoch}
				}
			}
			p.links = append(p.links, l)
		}
		m.peers = append(m.peers, p)
		m.peerByID[id] = p
	}
	return m, nil
}

// Incarnation returns this node's incarnation.
func (m *Machine) Incarnation() uint64 { return m.cfg.Incarnation }

// NetworkIndex returns the index of the named network.
func (m *Machine) NetworkIndex(name string) (int, bool) {
	i, ok := m.netIndex[name]
	return i, ok
}

// Receive processes an authenticated frame. Anything but Accepted means
// the frame changed no state.
func (m *Machine) Receive(now time.Time, in Inbound, out *Output) Verdict {
	m.checkPause(now, out)
	f := in.Frame
	if in.Network < 0 || in.Network >= len(m.nets) {
		return DropUnknownNetwork
	}
	ns := &m.nets[in.Network]
	switch {
	case f.Cluster != m.cfg.Cluster:
		return DropForeignCluster
	case f.Src == m.cfg.Self && f.Incarnation == m.cfg.Incarnation:
		return DropSelf
	case f.Src == m.cfg.Self:
		return DropDuplicateNodeID
	case f.Dst != m.cfg.Self && f.Dst != Broadcast:
		return DropNotForUs
	}
	p := m.peerByID[f.Src]
	if p == nil {
		return DropUnknownNode
	}
	l := p.links[in.Network]
	if f.Network != ns.cfg.Name {
		if _, known := m.netIndex[f.Network]; known {
			l.crossAt = now
			m.evalLink(now, p, l, out)
			return DropCrossConnected
		}
		return DropUnknownNetwork
	}
	if in.Channel >= NumChannels || l.sess[in.Channel] == nil {
		return DropNoChannel
	}
	if !ns.carrier && in.Channel == ChannelEther {
		return DropCarrierDown
	}
	s := l.sess[in.Channel]

	if f.Incarnation != p.inc {
		if p.inc != 0 && f.Incarnation < p.inc && !m.peerSilent(now, p) {
			return DropStaleIncarnation
		}
		m.restartPeer(now, p, f.Incarnation, out)
	}
	if !s.acceptSeq(f.Seq) {
		s.stats.replays++
		return DropReplay
	}
	s.stats.received++
	s.addr = in.From
	if f.Type == FrameShutdown {
		m.peerShutdown(now, p, out)
		m.flush(now, out)
		return Accepted
	}
	l.stopped, l.stoppedUntil = false, time.Time{}
	s.lastRx, s.heardAt = now, now
	s.remoteHB = f.Heartbeat
	if f.Seq == s.maxSeq {
		s.echoSeq, s.echoTS, s.echoAt = f.Seq, f.Timestamp, now
	}

	// Does the peer prove it hears us? Only a fresh echo of one of our own
	// frames of this incarnation counts; a replayed or stale frame cannot
	// bring a session up.
	_, inact := ns.cls.effective(s.remoteHB)
	s.theyHear = false
	e := f.Echo
	if e.Incarnation == m.cfg.Incarnation && e.Seq >= 1 && e.Seq <= s.txSeq {
		sentAt := m.cfg.Epoch.Add(time.Duration(e.Timestamp))
		// Our own pauses since we sent it do not age the echo (Advance).
		paused := m.pausedSince(sentAt)
		if !sentAt.After(now) && now.Sub(sentAt)-paused < inact {
			s.theyHear = f.State != SessionDown
			if e.Seq > s.lastEchoed {
				s.lastEchoed = e.Seq
				if paused == 0 {
					s.noteRTT(now.Sub(sentAt) - e.Hold)
				}
			}
		}
	}
	remote := f.State
	if !s.theyHear {
		remote = SessionDown
	}
	st, dg := step(s.state, remote, s.diag)
	m.setSession(now, p, l, s, st, dg, out)
	if f.Type == FrameMessage {
		out.Messages = append(out.Messages, Message{Peer: p.id, Network: in.Network, Channel: in.Channel, Payload: f.Payload})
	}

	for i := range f.Vector {
		v := &f.Vector[i]
		ni, ok := m.netIndex[v.Network]
		if !ok {
			continue
		}
		pl := p.links[ni]
		if f.Timestamp < pl.remoteSent {
			// Frames on different networks are read by different
			// goroutines and can be processed out of order: never let an
			// older view replace a newer one.
			continue
		}
		pl.remote, pl.remoteAt, pl.remoteSent = *v, now, f.Timestamp
		if !v.Carrier && ni != in.Network && !carriedSince(pl, f.Timestamp) {
			// The peer says its NIC on that network has no carrier (a
			// pulled cable): no frame can pass there, so do not wait
			// peerinact to find out. Unless that link has since carried a
			// frame the peer sent after this report: then the report is
			// stale (the cable is back).
			for _, ps := range pl.sess {
				if ps != nil && ps.state != SessionDown {
					ps.lastRx, ps.theyHear = time.Time{}, false
					m.setSession(now, p, pl, ps, SessionDown, DiagPeerCarrierLost, out)
				}
			}
		}
	}
	for _, pl := range p.links {
		m.evalLink(now, p, pl, out)
	}
	m.evalPeer(now, p, out)
	m.flush(now, out)
	return Accepted
}

// carriedSince reports whether a session of l accepted a frame the peer
// sent after its timestamp ts.
func carriedSince(l *link, ts int64) bool {
	for _, s := range l.sess {
		if s != nil && s.echoSeq != 0 && s.echoTS > ts {
			return true
		}
	}
	return false
}

// NoteAuthFailure records that a frame claiming to come from src arrived on
// network but failed authentication. It changes no link or node state; it
// only lets a link that is already DOWN name auth-failure as its reason.
func (m *Machine) NoteAuthFailure(now time.Time, network int, src NodeID, out *Output) {
	m.checkPause(now, out)
	p := m.peerByID[src]
	if p == nil || network < 0 || network >= len(m.nets) {
		return
	}
	l := p.links[network]
	l.authFail = now
	m.evalLink(now, p, l, out)
}

// SetCarrier reports the NIC carrier of a network. Losing it takes every
// link of that network DOWN at once (reason carrier-lost); when it returns
// the links come back only through the handshake.
func (m *Machine) SetCarrier(now time.Time, network int, up bool, out *Output) {
	m.checkPause(now, out)
	if network < 0 || network >= len(m.nets) {
		return
	}
	ns := &m.nets[network]
	if ns.carrier == up {
		return
	}
	ns.carrier, ns.carrierSince = up, now
	for _, p := range m.peers {
		if !up {
			// Tell every peer at once, over the other networks, that this
			// one lost carrier (the link vector carries it).
			for _, ol := range p.links {
				if ol.net == network {
					continue
				}
				for _, s := range ol.sess {
					if s != nil {
						s.sendNow = true
					}
				}
			}
		}
		l := p.links[network]
		for _, s := range l.sess {
			if s == nil {
				continue
			}
			if !up {
				s.lastRx = time.Time{}
				s.theyHear = false
				m.setSession(now, p, l, s, SessionDown, DiagCarrierLost, out)
			} else {
				s.sendNow = true
			}
		}
		m.evalLink(now, p, l, out)
		m.evalPeer(now, p, out)
	}
	m.flush(now, out)
}

// Carrier reports what the Machine believes of a network's carrier.
func (m *Machine) Carrier(network int) bool { return m.nets[network].carrier }

// Advance runs the timers: sessions that heard nothing for peerinact go
// DOWN, links that heard nothing for peertrouble go TROUBLE, and due
// heartbeats are sent.
//
// Advance runs at least once a heartbeat (NextDeadline). When it (or any
// call before it) runs later than that by more than half the margin
// between heartbeat and peertrouble, this node itself did not run for a
// while: the silence it
// would now find is its own, and the frames its peers sent meanwhile are
// waiting in its sockets. It then reports an EventPause and does not count
// the pause as silence (every session's last-heard time moves forward by
// its length), as corosync does with "Process pause detected". A peer
// that really died during the pause is detected that much later.
func (m *Machine) Advance(now time.Time, out *Output) {
	m.checkPause(now, out)
	m.started = true
	m.advanced = now
	for _, p := range m.peers {
		for _, l := range p.links {
			cls := m.nets[l.net].cls
			for _, s := range l.sess {
				if s == nil || s.state == SessionDown {
					continue
				}
				if _, inact := cls.effective(s.remoteHB); !s.hearing(now, inact) {
					s.theyHear = false
					m.setSession(now, p, l, s, SessionDown, DiagTimeExpired, out)
				}
			}
			m.evalLink(now, p, l, out)
		}
		m.evalPeer(now, p, out)
	}
	for c := range m.nextHB {
		if !m.hasClass[c] || now.Before(m.nextHB[c]) {
			continue
		}
		for _, p := range m.peers {
			for _, l := range p.links {
				if m.nets[l.net].classIdx != c {
					continue
				}
				for _, s := range l.sess {
					if s != nil {
						s.sendNow = true
					}
				}
			}
		}
		hb := m.nets[m.firstNetOfClass(c)].cls.heartbeat
		// Jitter each interval down to 75..100 % (RFC 5880 §6.8.7) so that
		// nodes do not synchronise.
		m.nextHB[c] = now.Add(hb - time.Duration(m.rng.Int64N(int64(hb/4)+1)))
	}
	m.flush(now, out)
}

// heartbeatDue is when the earliest heartbeat is due.
func (m *Machine) heartbeatDue() (time.Time, bool) {
	var due time.Time
	for c := range m.nextHB {
		if m.hasClass[c] && (due.IsZero() || m.nextHB[c].Before(due)) {
			due = m.nextHB[c]
		}
	}
	return due, !due.IsZero()
}

// checkPause detects a pause of this node (see Advance) at the start of
// every call that reads the clock: after a pause the first call may be a
// frame that waited in a socket, and it must not find its peers silent or
// its echo stale either.
func (m *Machine) checkPause(now time.Time, out *Output) {
	due, ok := m.heartbeatDue()
	if !ok || !m.started {
		return
	}
	if m.pauseSeen.After(due) {
		due = m.pauseSeen // this pause is already accounted up to here
	}
	if d := now.Sub(due); d > m.pauseAfter {
		m.paused(now, d, out)
		m.pauseSeen = now
	}
}

// paused discounts a pause of d that ended now from every session's
// silence and reports it.
func (m *Machine) paused(now time.Time, d time.Duration, out *Output) {
	shift := func(t time.Time) time.Time {
		if t.IsZero() || !t.Add(d).Before(now) {
			return t
		}
		return t.Add(d)
	}
	for _, p := range m.peers {
		for _, l := range p.links {
			for _, s := range l.sess {
				if s == nil || s.state == SessionDown {
					continue
				}
				s.lastRx = shift(s.lastRx)
				if s.state == SessionInit {
					s.since = shift(s.since)
				}
			}
		}
	}
	m.recent[m.nRecent%len(m.recent)] = pause{start: now.Add(-d), end: now}
	m.nRecent++
	m.pauses.Count++
	m.pauses.Last, m.pauses.LastAt = d, now
	m.pauses.Longest = max(m.pauses.Longest, d)
	out.Events = append(out.Events, Event{Kind: EventPause, At: now, Network: -1, Pause: d})
}

// Pauses returns the pauses counted since the counters were last reset.
func (m *Machine) Pauses() PauseStats { return m.pauses }

func (m *Machine) firstNetOfClass(c int) int {
	for i := range m.nets {
		if m.nets[i].classIdx == c {
			return i
		}
	}
	return 0
}

// NextDeadline returns when Advance must next run: the earliest heartbeat,
// session expiry or trouble threshold that the last Advance has not
// handled yet. A result not after now means Advance is due now.
func (m *Machine) NextDeadline(now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(m.advanced) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for c := range m.nextHB {
		if m.hasClass[c] {
			consider(m.nextHB[c])
		}
	}
	for _, p := range m.peers {
		for _, l := range p.links {
			cls := m.nets[l.net].cls
			for _, s := range l.sess {
				if s == nil || s.state == SessionDown {
					continue
				}
				trouble, inact := cls.effective(s.remoteHB)
				consider(s.lastRx.Add(inact))
				consider(s.lastRx.Add(trouble))
				if s.state == SessionInit {
					consider(s.since.Add(trouble))
				}
			}
		}
	}
	return next
}

// Shutdown returns shutdown frames for every session so peers take this
// node's links down at once instead of waiting for peerinact.
func (m *Machine) Shutdown(now time.Time, out *Output) {
	for _, p := range m.peers {
		for _, l := range p.links {
			if !m.nets[l.net].carrier {
				continue
			}
			for _, s := range l.sess {
				if s != nil {
					m.send(now, p, l, s, FrameShutdown, nil, out)
				}
			}
		}
	}
}

// ResetCounters zeroes the per-session counters and RTT extremes.
func (m *Machine) ResetCounters(now time.Time) {
	for _, p := range m.peers {
		for _, l := range p.links {
			for _, s := range l.sess {
				if s != nil {
					rtt := s.stats.rtt
					s.stats = sessionStats{rtt: rtt}
				}
			}
		}
	}
	m.resetAt = now
	m.pauses = PauseStats{}
}

func (m *Machine) peerSilent(now time.Time, p *peer) bool {
	for _, l := range p.links {
		cls := m.nets[l.net].cls
		for _, s := range l.sess {
			if s == nil {
				continue
			}
			if _, inact := cls.effective(s.remoteHB); s.hearing(now, inact) {
				return false
			}
		}
	}
	return true
}

// restartPeer forgets the peer's previous incarnation. The caller
// evaluates the links afterwards.
func (m *Machine) restartPeer(now time.Time, p *peer, inc uint64, out *Output) {
	prev := p.inc
	p.inc = inc
	if prev == 0 {
		return
	}
	p.restarts++
	out.Events = append(out.Events, Event{Kind: EventPeerRestart, At: now, Peer: p.id, Network: -1,
		PrevIncarnation: prev, Incarnation: inc})
	for _, l := range p.links {
		if l.stopped {
			l.stoppedUntil = now.Add(m.nets[l.net].cls.inact)
		}
		l.remoteAt, l.remoteSent = time.Time{}, 0 // the old incarnation's view of the links
		for _, s := range l.sess {
			if s == nil {
				continue
			}
			s.resetPeer()
			m.setSession(now, p, l, s, SessionDown, DiagPeerRestart, out)
		}
	}
}

func (m *Machine) peerShutdown(now time.Time, p *peer, out *Output) {
	for _, l := range p.links {
		l.stopped, l.stoppedUntil = true, time.Time{}
		l.remoteAt, l.remoteSent = time.Time{}, 0
		for _, s := range l.sess {
			if s == nil {
				continue
			}
			s.lastRx = time.Time{}
			s.theyHear = false
			m.setSession(now, p, l, s, SessionDown, DiagPeerShutdown, out)
		}
		m.evalLink(now, p, l, out)
	}
	m.evalPeer(now, p, out)
}

// setSession changes a session's state. Callers re-evaluate the link once
// they are done, so one call reports one link transition, not its steps.
func (m *Machine) setSession(now time.Time, p *peer, l *link, s *session, st SessionState, dg Diag, out *Output) {
	s.diag = dg
	if s.state == st {
		return
	}
	out.Events = append(out.Events, Event{Kind: EventSession, At: now, Peer: p.id, Network: l.net,
		Channel: s.ch, PrevSession: s.state, Session: st, Diag: dg})
	s.state, s.since = st, now
	s.sendNow = true // tell the peer at once: the handshake takes one round trip, not two heartbeats
}

// evalLink recomputes a link's state and reason and reports changes.
func (m *Machine) evalLink(now time.Time, p *peer, l *link, out *Output) {
	ns := &m.nets[l.net]
	state := LinkDown
	up, troubled := false, true
	for _, s := range l.sess {
		if s == nil || s.state != SessionUp {
			continue
		}
		up = true
		if trouble, _ := ns.cls.effective(s.remoteHB); now.Sub(s.lastRx) < trouble {
			troubled = false
		}
	}
	var reason Reason
	switch {
	case up && !troubled:
		state = LinkUp
		if m.tcpBlocked(now, l) {
			reason = ReasonTCPBlocked
		}
	case up:
		state, reason = LinkTrouble, ReasonPeerSilent
	default:
		reason = m.downReason(now, l)
	}
	remoteReason := ReasonNone
	if state != LinkUp && !l.remoteAt.IsZero() && now.Sub(l.remoteAt) < m.vectorTTL && l.remote.State != LinkUp {
		remoteReason = l.remote.Reason
	}
	if state == l.state && reason == l.reason && remoteReason == l.remoteReason {
		return
	}
	ev := Event{Kind: EventLink, At: now, Peer: p.id, Network: l.net,
		PrevLink: l.state, Link: state, PrevReason: l.reason, Reason: reason,
		PrevRemoteReason: l.remoteReason, RemoteReason: remoteReason}
	if state != l.state {
		if l.state.Usable() && state == LinkDown {
			l.downs++
		}
		l.since = now
	}
	l.state, l.reason, l.remoteReason = state, reason, remoteReason
	out.Events = append(out.Events, ev)
}

// tcpBlocked reports whether a TCP connection of an UP link is not up:
// it died (its heartbeats timed out, or the peer stopped hearing them), or
// it has not come up within peerinact (connecting, handshaking, or after a
// restart). The grace keeps reconnects from flashing the reason.
func (m *Machine) tcpBlocked(now time.Time, l *link) bool {
	inact := m.nets[l.net].cls.inact
	for _, c := range [...]Channel{ChannelTCPTo, ChannelTCPFrom} {
		s := l.sess[c]
		if s == nil || s.state == SessionUp {
			continue
		}
		if s.diag == DiagTimeExpired || s.diag == DiagNeighborDown || now.Sub(s.since) >= inact {
			return true
		}
	}
	return false
}

// downReason names why a link that is not up is down.
func (m *Machine) downReason(now time.Time, l *link) Reason {
	ns := &m.nets[l.net]
	if !ns.carrier {
		return ReasonCarrierLost
	}
	if l.reason == ReasonCarrierLost && now.Sub(ns.carrierSince) < ns.cls.inact {
		// Carrier is back and the handshake gets peerinact to succeed
		// before the link is called anything else.
		return ReasonCarrierLost
	}
	if l.stopped && (l.stoppedUntil.IsZero() || now.Before(l.stoppedUntil)) {
		return ReasonPeerStopped
	}
	remoteFresh := !l.remoteAt.IsZero() && now.Sub(l.remoteAt) < m.vectorTTL
	hearing, oneWayOut := false, false
	for _, s := range l.sess {
		if s == nil {
			continue
		}
		trouble, inact := ns.cls.effective(s.remoteHB)
		if !s.hearing(now, inact) {
			continue
		}
		hearing = true
		if s.diag == DiagNeighborDown || (s.state == SessionInit && now.Sub(s.since) >= trouble) {
			oneWayOut = true
		}
	}
	if hearing {
		// The peer's vector is not used here: the frame that ends a
		// blackhole carries a vector written before the peer heard us
		// again, and would flash one-way-out on every recovery.
		if oneWayOut {
			return ReasonOneWayOut
		}
		if l.reason != ReasonNone {
			return l.reason // a handshake in progress keeps the reason it had
		}
		return ReasonPeerSilent
	}
	recent := func(t time.Time) bool { return !t.IsZero() && now.Sub(t) < ns.cls.inact }
	switch {
	case recent(l.crossAt):
		return ReasonCrossConnected
	case recent(l.authFail):
		return ReasonAuthFailure
	case remoteFresh && l.remote.HearsYou && l.remoteAt.Sub(m.lastHeard(l)) >= oneWayInAfter(ns.cls.heartbeat):
		return ReasonOneWayIn
	}
	return ReasonPeerSilent
}

// oneWayInAfter is how long after we last heard the peer its claim to
// hear us must have arrived to count. When both directions die at once,
// our last frame from the peer may predate the fault by a heartbeat and
// the peer may have heard us up to the fault, so a claim lasting 1.5
// heartbeats could be honest until 2.5 heartbeats after our last frame;
// three heartbeats leave no room for a blackhole to pass for
// one-way loss (the claim now lasts 1.25 heartbeats: more margin still).
// The price: with very short timers a real one-way-in may be named a
// heartbeat after the link went down, not at the same moment.
func oneWayInAfter(hb time.Duration) time.Duration { return 3 * hb }

// lastHeard is when any session of l last accepted a frame.
func (m *Machine) lastHeard(l *link) time.Time {
	var t time.Time
	for _, s := range l.sess {
		if s != nil && s.heardAt.After(t) {
			t = s.heardAt
		}
	}
	return t
}

// evalPeer recomputes a peer's node state and reports changes.
func (m *Machine) evalPeer(now time.Time, p *peer, out *Output) {
	up, private := 0, 0
	for _, l := range p.links {
		if l.state.Usable() {
			up++
			if !m.nets[l.net].cfg.Lowpri {
				private++
			}
		}
	}
	var st NodeState
	switch {
	case up == 0 && !p.everOpen:
		st = NodeConnWait
	case up == 0:
		st = NodeDown
	case private >= m.redundancy:
		st = NodeOpen
	default:
		st = NodeJeopardy
	}
	if up > 0 {
		p.everOpen = true
	}
	if st == p.state {
		return
	}
	out.Events = append(out.Events, Event{Kind: EventNode, At: now, Peer: p.id, Network: -1, PrevNode: p.state, Node: st})
	p.state, p.since = st, now
}

// flush sends a frame on every session that asked for one.
func (m *Machine) flush(now time.Time, out *Output) {
	for _, p := range m.peers {
		for _, l := range p.links {
			if !m.nets[l.net].carrier {
				for _, s := range l.sess {
					if s != nil {
						s.sendNow = false
					}
				}
				continue
			}
			for _, s := range l.sess {
				if s != nil && s.sendNow {
					m.send(now, p, l, s, FrameHeartbeat, nil, out)
				}
			}
		}
	}
}

func (m *Machine) send(now time.Time, p *peer, l *link, s *session, typ FrameType, payload []byte, out *Output) {
	s.sendNow = false
	ns := &m.nets[l.net]
	s.txSeq++
	s.stats.sent++
	state, diag := s.state, s.diag
	if typ == FrameShutdown {
		state, diag = SessionDown, DiagAdminDown
	}
	o := Outgoing{Network: l.net, Channel: s.ch, Peer: p.id}
	_, inact := ns.cls.effective(s.remoteHB)
	if s.hearing(now, inact) {
		o.To = s.addr // unicast to the learned address while we hear the peer; else broadcast
	}
	o.Frame = Frame{
		Type:        typ,
		State:       state,
		Diag:        diag,
		Cluster:     m.cfg.Cluster,
		Src:         m.cfg.Self,
		Dst:         p.id,
		Heartbeat:   ns.cls.heartbeat,
		PeerInact:   ns.cls.inact,
		Network:     ns.cfg.Name,
		Incarnation: m.cfg.Incarnation,
		Seq:         s.txSeq,
		Timestamp:   int64(max(now.Sub(m.cfg.Epoch), 0)),
		Vector:      m.vector(now, p),
		Payload:     payload,
	}
	if s.echoSeq != 0 {
		o.Frame.Echo = Echo{Incarnation: p.inc, Seq: s.echoSeq, Timestamp: s.echoTS, Hold: now.Sub(s.echoAt)}
	}
	out.Frames = append(out.Frames, o)
}

// vector builds our view of every link to p. It reuses p's scratch slice:
// the frames of one call share it, which is fine as they all go to p.
func (m *Machine) vector(now time.Time, p *peer) []VectorEntry {
	p.vec = p.vec[:0]
	for _, l := range p.links {
		ns := &m.nets[l.net]
		// "Hears you": a frame within one and a quarter heartbeats
		// (freshWithin), so the claim dies quickly when the link does (see
		// oneWayInAfter).
		hears := false
		for _, s := range l.sess {
			if s != nil && s.hearing(now, freshWithin(ns.cls.heartbeat)) {
				hears = true
			}
		}
		p.vec = append(p.vec, VectorEntry{Network: ns.cfg.Name, State: l.state, Reason: l.reason,
			HearsYou: hears, Carrier: ns.carrier})
	}
	return p.vec
}
