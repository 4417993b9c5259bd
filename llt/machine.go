package llt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// The Machine's concerns live one per file: receive.go (frames in),
// tick.go (timers, heartbeats), pause.go (this node not running),
// nodestate.go (peer node states), send.go (frames out, link vectors),
// diagnose.go (link states and reasons), message.go (the message API),
// snapshot.go (display), output.go (what a call produced), walk.go (the
// peers -> links -> sessions walk).

// NetworkConfig is one interconnect network.
type NetworkConfig struct {
	Name   string
	Lowpri bool
	Ether  bool // carried as raw Ethernet frames
	TCP    bool // carried by a pair of TCP connections per peer
	// MaxEtherPayload bounds a message sent as an Ethernet frame (from the
	// network's MTU); 0 means DefaultMaxEtherPayload.
	MaxEtherPayload int
	// MTU is the largest Ethernet payload the NIC sends (its MTU): MTU
	// probes are padded to it. 0: 1500.
	MTU int
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
	Diagnostics Diagnostics
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
// It is not safe for concurrent use; the agent drives it from one
// goroutine at a time.
type Machine struct {
	cfg      Config
	nets     []netState
	netIndex map[string]int
	peers    []*peer
	peerByID map[NodeID]*peer
	rng      *rand.Rand

	out  Output
	held bool // out is handed out by Ready and not yet released

	nextHB     [2]time.Time // per class: 0 high priority, 1 lowpri
	hasClass   [2]bool
	vectorTTL  time.Duration // how long a peer's link vector stays believable
	redundancy int           // private links a peer needs to be OPEN rather than JEOPARDY
	resetAt    time.Time
	advanced   time.Time // when Advance last ran: timer points up to here are handled
	started    bool      // Advance has run once: heartbeats are owed from then on

	diag        Diagnostics // with defaults
	pause       pauseState
	claim       claimState
	local       localState
	tables      map[NodeID]*peerTable // the peers' link tables (matrix.go)
	tableSerial uint64
	table       tableState // the last table built (tabledigest.go)
	// linkChangedAt is when a link last changed state: a peer's table
	// received before it predates what we know (Matrix.Settling).
	linkChangedAt time.Time

	due      []*session // sessions that asked for a frame (want), sent by flush
	dueSpare []*session
	dl       deadlineCache // NextDeadline without a walk of every link (deadline.go)
}

type netState struct {
	cfg          NetworkConfig
	cls          class
	classIdx     int
	carrier      bool
	carrierSince time.Time
	hasCh        [NumChannels]bool
	ev           netEvidence
	usable       int // links on it whose sessions make them usable (rawState)
}

type peer struct {
	id  NodeID
	inc uint64 // the peer's incarnation we follow; 0 until heard
	// confirmed: a frame of inc proved it hears us (it echoed our
	// incarnation). Until then inc is provisional: a frame of a newer
	// incarnation replaces it silently, as a replay of an old frame may
	// have set it; once confirmed, a newer incarnation must prove itself
	// the same way before it counts as a restart.
	confirmed bool
	state     NodeState
	since     time.Time
	restarts  uint64
	everOpen  bool
	public    bool // alive on the public channel (SetPublic)
	links     []*link
	seen      [MaxVector]seenFrames // where its recent frames arrived, per network they name (segment.go)
}

type link struct {
	peer         *peer
	net          int
	sess         [NumChannels]*session
	rawState     LinkState // from the sessions, before flap damping
	state        LinkState
	reason       Reason
	remoteReason Reason
	since        time.Time
	downs        uint64 // UP or TROUBLE -> DOWN
	transitions  uint64 // changes of state
	flapDowns    uint64 // downs that counted towards flap damping

	remote     VectorEntry // the peer's view of this link
	remoteAt   time.Time
	remoteSent int64     // the peer's send timestamp of the frame that carried it
	crossIn    crossMark // the peer's frames for this network arrived on another of ours
	crossOut   crossMark // the peer's frames for another network arrived on this one
	authFail   time.Time // frames claiming to be the peer failed authentication here
	flap       flapState
	stopped    bool      // the peer said it is shutting down
	stoppedAt  time.Time // when it said so
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
	if cfg.Diagnostics.FlapCount == 1 {
		return nil, errors.New("llt: a flap count of 1 would damp every link that ever goes down")
	}
	m := &Machine{
		cfg:      cfg,
		diag:     cfg.Diagnostics.withDefaults(cfg.Timers.Heartbeat),
		tables:   make(map[NodeID]*peerTable),
		netIndex: make(map[string]int, len(cfg.Networks)),
		peerByID: make(map[NodeID]*peer, len(cfg.Peers)),
		rng:      cfg.Rand,
		resetAt:  cfg.Epoch,
		advanced: cfg.Epoch.Add(-1),
	}
	if err := m.diag.Validate(); err != nil {
		return nil, err
	}
	if m.rng == nil {
		m.rng = rand.New(rand.NewPCG(cfg.Incarnation, uint64(cfg.Self)))
	}
	if m.diag.Claim > 0 {
		m.claim.until, m.claim.claiming = cfg.Epoch.Add(m.diag.Claim), true
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
		if ns.cfg.MTU == 0 {
			ns.cfg.MTU = 1500
		}
		if !m.hasClass[ns.classIdx] {
			m.pause.threshold(ns.cls)
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
			l := &link{peer: p, net: ni, rawState: LinkDown, state: LinkDown, reason: ReasonPeerSilent, since: cfg.Epoch}
			for c := Channel(0); c < NumChannels; c++ {
				if m.nets[ni].hasCh[c] {
					l.sess[c] = &session{link: l, ch: c, state: SessionDown, since: cfg.Epoch}
				}
			}
			p.links = append(p.links, l)
		}
		m.peers = append(m.peers, p)
		m.peerByID[id] = p
	}
	m.local = localState{state: NodeOpen, since: cfg.Epoch}
	m.evalLocal(cfg.Epoch)
	if len(m.out.Events) > 0 {
		m.out.Events = m.out.Events[:0] // the first state is not a change
	}
	return m, nil
}

// SetMTU reports a network's NIC MTU (it changed): MTU probes follow it.
func (m *Machine) SetMTU(now time.Time, network, mtu int) {
	m.enter()
	if network < 0 || network >= len(m.nets) || mtu <= 0 {
		return
	}
	ns := &m.nets[network]
	if ns.cfg.MTU == mtu {
		return
	}
	ns.cfg.MTU = mtu
	for p, l := range m.links() {
		if s := l.sess[ChannelEther]; s != nil {
			s.probe.reset()
		}
		if l.net == network {
			m.evalLink(now, p, l)
		}
	}
}

// Incarnation returns this node's incarnation.
func (m *Machine) Incarnation() uint64 { return m.cfg.Incarnation }

// NetworkIndex returns the index of the named network.
func (m *Machine) NetworkIndex(name string) (int, bool) {
	i, ok := m.netIndex[name]
	return i, ok
}

// Carrier reports what the Machine believes of a network's carrier.
func (m *Machine) Carrier(network int) bool { return m.nets[network].carrier }

// ResetExtremes restarts the RTT extremes and the longest pause from now
// (tetherstat -z). Counters are never reset: they are Prometheus counters,
// and the agent shows them from a baseline instead.
func (m *Machine) ResetExtremes(now time.Time) {
	m.enter()
	for _, l := range m.links() {
		for s := range l.sessions() {
			s.stats.rttMin, s.stats.rttMax = s.stats.rtt, s.stats.rtt
		}
	}
	m.resetAt = now
	m.pause.stats.Longest = 0
}

// SetCarrier reports the NIC carrier of a network. Losing it takes every
// link of that network DOWN at once (reason carrier-lost); when it returns
// the links come back only through the handshake.
func (m *Machine) SetCarrier(now time.Time, network int, up bool) {
	m.enter()
	m.checkPause(now)
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
				if ol.net != network {
					m.wantAll(ol)
				}
			}
		}
		l := p.links[network]
		for s := range l.sessions() {
			if !up {
				s.lastRx = time.Time{}
				s.theyHear = false
				m.setSession(now, p, l, s, SessionDown, DiagCarrierLost)
			} else {
				m.want(s)
			}
		}
		m.evalLink(now, p, l)
		m.evalPeer(now, p)
	}
	m.evalNetworks(now)
	m.evalLocal(now)
	m.flush(now)
}

// NoteAuthFailure records that a frame (or a TCP handshake) claiming to
// come from src of our cluster arrived on network but failed
// authentication, from address from. It changes no link or node state; it
// counts for the network (auth-failure) and lets a link that is already
// DOWN name auth-failure as its reason.
func (m *Machine) NoteAuthFailure(now time.Time, network int, src NodeID, from string) {
	m.enter()
	m.checkPause(now)
	if network < 0 || network >= len(m.nets) {
		return
	}
	p := m.peerByID[src]
	if p == nil {
		m.noteAuth(now, network, src, from)
		return
	}
	l := p.links[network]
	l.authFail = now
	m.noteAuth(now, network, src, from)
	m.evalLink(now, p, l)
}

// noteAuth counts a frame that failed authentication on network.
func (m *Machine) noteAuth(now time.Time, network int, src NodeID, from string) {
	a := &m.nets[network].ev.auth
	fresh := a.Last.IsZero() || now.Sub(a.Last) >= m.evidenceTTL()
	a.Count++
	a.Last, a.Node, a.From = now, src, from
	if fresh {
		m.evalNetworks(now)
	}
}

// want asks for a frame on s at the next flush.
func (m *Machine) want(s *session) {
	if s.sendNow {
		return
	}
	s.sendNow = true
	m.due = append(m.due, s)
}

// wantAll asks for a frame on every session of l.
func (m *Machine) wantAll(l *link) {
	for s := range l.sessions() {
		m.want(s)
	}
}
