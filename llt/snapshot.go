package llt

import "time"

// Snapshot is a copy of the Machine's state for display.
type Snapshot struct {
	Self        NodeID
	Incarnation uint64
	CountersAt  time.Time // RTT extremes and the longest pause count from here (ResetExtremes)
	Local       LocalSnapshot
	Claiming    bool // still in the claim phase: no heartbeats yet
	Networks    []NetworkSnapshot
	Peers       []PeerSnapshot // sorted by id
	// Routes is the order in which messages try the networks (indexes):
	// private networks in configuration order, then lowpri ones. The
	// first is the primary heartbeat.
	Routes []int
}

// LocalSnapshot is this node's own state (its NICs).
type LocalSnapshot struct {
	State   NodeState
	Since   time.Time
	Working int // networks whose NIC works (carrier, not nic-silent)
}

// NetworkSnapshot is the Machine's view of one network.
type NetworkSnapshot struct {
	Name         string
	Lowpri       bool
	Carrier      bool
	CarrierSince time.Time
	Heartbeat    time.Duration
	PeerTrouble  time.Duration
	PeerInact    time.Duration
	MTU          int // the size MTU probes are padded to
	// Reasons are the network-wide reasons, in priority order, with
	// what was seen.
	Reasons     []Reason
	SilentSince time.Time     // nic-silent since
	SharedWith  []int         // networks on the same segment
	Foreign     []foreignSeen // other clusters seen
	Auth        authSeen      // frames that failed authentication
	Duplicates  []dupSeen     // senders of a node id that is taken
}

// Foreign, Auth and Duplicate evidence, exported for display.
type (
	ForeignSeen = foreignSeen
	AuthSeen    = authSeen
	DupSeen     = dupSeen
)

// PeerSnapshot is one peer node.
type PeerSnapshot struct {
	ID          NodeID
	State       NodeState
	Since       time.Time
	Incarnation uint64 // 0 until heard
	Restarts    uint64
	LinksUp     int
	Public      bool           // alive on the public channel, as last reported (SetPublic)
	Links       []LinkSnapshot // by network index
}

// LinkSnapshot is one (peer, network) link.
type LinkSnapshot struct {
	Network      int
	State        LinkState
	Reason       Reason
	RemoteReason Reason
	Since        time.Time
	Downs        uint64            // UP or TROUBLE -> DOWN, since start
	Transitions  uint64            // changes of state, since start
	FlapDowns    uint64            // downs that counted towards flap damping, since start
	Sessions     []SessionSnapshot // configured channels only
	// Diagnostics.
	RxLoss, TxLoss uint8     // percent lost each way over the loss window (LossUnknown)
	Flaps          int       // downs within the flap window
	HeldUntil      time.Time // flapping: held down until then (if it stays up underneath)
	MTUOK          int       // mtu-mismatch: the largest frame seen to pass
	CrossArrives   int       // cross-connected: our network the peer's frames for this one arrive on (-1 none)
	CrossFrom      int       // cross-connected: the peer's network whose frames arrive on this one (-1 none)
	// Aggregates over the sessions.
	PeerAddr            string // address on the freshest session
	Channel             Channel
	RTT, RTTMin, RTTMax time.Duration
	Sent, Received      uint64
	Lost, Replays       uint64
	LastRx              time.Time // zero: never heard
}

// SessionSnapshot is one channel of a link.
type SessionSnapshot struct {
	Channel             Channel
	State               SessionState
	Trouble             bool // Up, but nothing heard for peertrouble
	Diag                Diag
	Since               time.Time
	LastRx              time.Time
	Addr                string
	RTT, RTTMin, RTTMax time.Duration
	Sent, Received      uint64
	Lost, Replays       uint64
	// The RTT histogram since start: counts per bucket of RTTBuckets
	// (not cumulative), the last one +Inf; their sum and total.
	RTTHist    []uint64
	RTTSum     time.Duration
	RTTSamples uint64
}

// Snapshot returns a copy of the current state.
func (m *Machine) Snapshot(now time.Time) Snapshot {
	snap := Snapshot{Self: m.cfg.Self, Incarnation: m.cfg.Incarnation, CountersAt: m.resetAt,
		Local:    LocalSnapshot{State: m.local.state, Since: m.local.since, Working: m.local.working},
		Claiming: m.claim.claiming, Routes: m.routeOrder()}
	for i := range m.nets {
		ns := &m.nets[i]
		n := NetworkSnapshot{
			Name: ns.cfg.Name, Lowpri: ns.cfg.Lowpri, Carrier: ns.carrier, CarrierSince: ns.carrierSince,
			Heartbeat: ns.cls.heartbeat, PeerTrouble: ns.cls.trouble, PeerInact: ns.cls.inact, MTU: ns.cfg.MTU,
			Reasons: append([]Reason(nil), ns.ev.reasons...), Auth: ns.ev.auth,
		}
		if ns.ev.silent {
			n.SilentSince = ns.ev.since
		}
		mask := m.sharedWith(now, i)
		for j := range m.nets {
			if mask&(1<<j) != 0 {
				n.SharedWith = append(n.SharedWith, j)
			}
		}
		ttl := m.evidenceTTL()
		for _, f := range ns.ev.foreign {
			if now.Sub(f.Last) < ttl {
				n.Foreign = append(n.Foreign, f)
			}
		}
		for _, d := range ns.ev.dup {
			if now.Sub(d.Last) < ttl {
				n.Duplicates = append(n.Duplicates, d)
			}
		}
		snap.Networks = append(snap.Networks, n)
	}
	for _, p := range m.peers {
		ps := PeerSnapshot{ID: p.id, State: p.state, Since: p.since, Incarnation: p.inc, Restarts: p.restarts, Public: p.public}
		for _, l := range p.links {
			if l.state.Usable() {
				ps.LinksUp++
			}
			ps.Links = append(ps.Links, m.linkSnapshot(now, l))
		}
		snap.Peers = append(snap.Peers, ps)
	}
	return snap
}

func (m *Machine) linkSnapshot(now time.Time, l *link) LinkSnapshot {
	ls := LinkSnapshot{Network: l.net, State: l.state, Reason: l.reason, RemoteReason: l.remoteReason,
		Since: l.since, Downs: l.downs, Transitions: l.transitions, FlapDowns: l.flapDowns, Flaps: l.flap.count(now, m.diag.FlapWindow), CrossArrives: -1, CrossFrom: -1}
	ls.RxLoss, ls.TxLoss, _ = m.lossOf(now, l)
	if l.flap.held(now) {
		ls.HeldUntil = l.flap.heldUntil()
	}
	if bad, ok := m.mtuMismatch(l); bad {
		ls.MTUOK = ok
	}
	ttl := m.crossTTL(&m.nets[l.net])
	if c := l.crossIn; !c.at.IsZero() && now.Sub(c.at) < ttl {
		ls.CrossArrives = c.net
	}
	if c := l.crossOut; !c.at.IsZero() && now.Sub(c.at) < ttl {
		ls.CrossFrom = c.net
	}
	cls := m.nets[l.net].cls
	for _, s := range l.sess {
		if s == nil {
			continue
		}
		trouble, _ := cls.effective(s.remoteHB)
		ss := SessionSnapshot{
			Channel: s.ch, State: s.state, Diag: s.diag, Since: s.since, LastRx: s.heardAt, Addr: s.addr,
			Trouble: s.state == SessionUp && now.Sub(s.lastRx) >= trouble,
			RTT:     s.stats.rtt, RTTMin: s.stats.rttMin, RTTMax: s.stats.rttMax,
			Sent: s.stats.sent, Received: s.stats.received, Lost: s.stats.lost, Replays: s.stats.replays,
			RTTHist: append([]uint64(nil), s.stats.rttHist[:]...), RTTSum: s.stats.rttSum, RTTSamples: s.stats.rttSamples,
		}
		ls.Sessions = append(ls.Sessions, ss)
		ls.Sent += ss.Sent
		ls.Received += ss.Received
		ls.Lost += ss.Lost
		ls.Replays += ss.Replays
		if ss.Addr != "" && (ls.PeerAddr == "" || ss.LastRx.After(ls.LastRx)) {
			ls.PeerAddr, ls.Channel = ss.Addr, ss.Channel
			ls.RTT, ls.RTTMin, ls.RTTMax = ss.RTT, ss.RTTMin, ss.RTTMax
		}
		if ss.LastRx.After(ls.LastRx) {
			ls.LastRx = ss.LastRx
		}
	}
	return ls
}
