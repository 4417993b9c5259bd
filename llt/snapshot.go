package llt

import "time"

// Snapshot is a copy of the Machine's state for display.
type Snapshot struct {
	Self        NodeID
	Incarnation uint64
	CountersAt  time.Time // counters count from here
	Networks    []NetworkSnapshot
	Peers       []PeerSnapshot // sorted by id
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
}

// PeerSnapshot is one peer node.
type PeerSnapshot struct {
	ID          NodeID
	State       NodeState
	Since       time.Time
	Incarnation uint64 // 0 until heard
	Restarts    uint64
	LinksUp     int
	Links       []LinkSnapshot // by network index
}

// LinkSnapshot is one (peer, network) link.
type LinkSnapshot struct {
	Network      int
	State        LinkState
	Reason       Reason
	RemoteReason Reason
	Since        time.Time
	Downs        uint64
	Sessions     []SessionSnapshot // configured channels only
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
}

// Snapshot returns a copy of the current state.
func (m *Machine) Snapshot(now time.Time) Snapshot {
	snap := Snapshot{Self: m.cfg.Self, Incarnation: m.cfg.Incarnation, CountersAt: m.resetAt}
	for _, ns := range m.nets {
		snap.Networks = append(snap.Networks, NetworkSnapshot{
			Name: ns.cfg.Name, Lowpri: ns.cfg.Lowpri, Carrier: ns.carrier, CarrierSince: ns.carrierSince,
			Heartbeat: ns.cls.heartbeat, PeerTrouble: ns.cls.trouble, PeerInact: ns.cls.inact,
		})
	}
	for _, p := range m.peers {
		ps := PeerSnapshot{ID: p.id, State: p.state, Since: p.since, Incarnation: p.inc, Restarts: p.restarts}
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
		Since: l.since, Downs: l.downs}
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
