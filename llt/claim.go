package llt

import "time"

// Node ids are claimed, not assumed. For Diagnostics.Claim after start
// (three heartbeats by default) the Machine sends no heartbeat: on every
// ether network it broadcasts a claim frame every heartbeat, asking
// whether another node already uses its id, as lltconfig -c listens
// before it starts LLT. A node that holds the id answers with a claim
// frame that echoes the claimant's incarnation (so no replay can pass for
// an answer), and reports the newcomer (duplicate-node-id on that
// network). The newcomer that gets an answer reports a fatal
// EventDuplicateID: the agent refuses to start. Peers ignore claims.
//
// After the claim phase, any fresh frame with our id from another
// incarnation is reported as duplicate-node-id on its network: a newer
// one (a node started after us with our id), or an older one that echoes
// a peer's current incarnation (it is alive now). Frames of a peer's id
// from an older incarnation that echo our own are the same for that peer:
// two nodes use its id.

// claimState is the Machine's claim phase.
type claimState struct {
	until    time.Time // the claim phase ends here; zero: no claim phase
	claiming bool
	seq      uint64
	answered [MaxVector]time.Time // last answer to a claimant, per network
	fatal    bool                 // a duplicate was found while claiming
}

// Claiming reports whether the Machine is still in its claim phase.
func (m *Machine) Claiming() bool { return m.claim.claiming }

// sendClaims broadcasts a claim on every ether network with carrier.
func (m *Machine) sendClaims(now time.Time) {
	for i := range m.nets {
		ns := &m.nets[i]
		if !ns.cfg.Ether || !ns.carrier {
			continue
		}
		m.claim.seq++
		m.out.Frames = append(m.out.Frames, Outgoing{Network: i, Channel: ChannelEther, Peer: Broadcast,
			Frame: m.claimFrame(now, ns, m.claim.seq, Echo{})})
	}
}

func (m *Machine) claimFrame(now time.Time, ns *netState, seq uint64, e Echo) Frame {
	return Frame{Type: FrameClaim, State: SessionDown, Cluster: m.cfg.Cluster, Src: m.cfg.Self, Dst: Broadcast,
		Heartbeat: ns.cls.heartbeat, PeerInact: ns.cls.inact, Network: ns.cfg.Name,
		Incarnation: m.cfg.Incarnation, Seq: seq, Timestamp: int64(max(now.Sub(m.cfg.Epoch), 0)), Echo: e}
}

// endClaim ends the claim phase when it is over: heartbeats start.
func (m *Machine) endClaim(now time.Time) {
	if !m.claim.claiming || m.claim.fatal || now.Before(m.claim.until) {
		return
	}
	m.claim.claiming = false
	m.emit(Event{Kind: EventClaimed, At: now, Network: -1})
	for _, l := range m.links() {
		m.wantAll(l)
	}
}

// receiveSelf handles an authenticated frame that carries our node id,
// on network arrived (fnet: the network it names, -1 if unknown).
func (m *Machine) receiveSelf(now time.Time, in Inbound, fnet int) Verdict {
	f := in.Frame
	if f.Incarnation == m.cfg.Incarnation {
		if f.Type != FrameClaim && fnet >= 0 {
			m.receiveOwn(now, f, fnet, in.Network)
		} else if fnet >= 0 && fnet != in.Network {
			m.noteShared(now, fnet, in.Network, m.cfg.Self) // our own claim came back on another network
		}
		return DropSelf
	}
	switch {
	case f.Type == FrameClaim && f.Echo.Incarnation == m.cfg.Incarnation:
		// The answer of a node that holds our id.
		m.duplicate(now, in, true)
	case f.Type == FrameClaim:
		// Another node claims our id. While we claim too, neither may
		// start; once running, we hold it: answer and report.
		if m.claim.claiming {
			m.duplicate(now, in, true)
			break
		}
		m.noteDup(now, in.Network, m.cfg.Self, in.From, f.Incarnation)
		m.answerClaim(now, in.Network, f)
		m.evalNetworks(now)
	case f.Incarnation > m.cfg.Incarnation || m.echoesLivePeer(f, fnet):
		m.noteDup(now, in.Network, m.cfg.Self, in.From, f.Incarnation)
		m.evalNetworks(now)
	}
	return DropDuplicateNodeID
}

// duplicate reports a node that holds our id; fatal while claiming.
func (m *Machine) duplicate(now time.Time, in Inbound, fromClaim bool) {
	m.noteDup(now, in.Network, m.cfg.Self, in.From, in.Frame.Incarnation)
	fatal := m.claim.claiming && fromClaim
	if fatal {
		m.claim.fatal = true
	}
	m.emit(Event{Kind: EventDuplicateID, At: now, Peer: m.cfg.Self, Network: in.Network, Fatal: fatal,
		Incarnation: in.Frame.Incarnation, Addr: in.From})
	m.evalNetworks(now)
}

// answerClaim answers a claim for our id on network i, at most once a
// quarter heartbeat (replayed claims cannot make us send more).
func (m *Machine) answerClaim(now time.Time, i int, f *Frame) {
	ns := &m.nets[i]
	if last := m.claim.answered[i]; !last.IsZero() && now.Sub(last) < ns.cls.heartbeat/4 {
		return
	}
	m.claim.answered[i] = now
	m.claim.seq++
	e := Echo{Incarnation: f.Incarnation, Seq: f.Seq, Timestamp: f.Timestamp}
	m.out.Frames = append(m.out.Frames, Outgoing{Network: i, Channel: ChannelEther, Peer: Broadcast,
		Frame: m.claimFrame(now, ns, m.claim.seq, e)})
}

// echoesLivePeer reports whether f, sent with our id, echoes a recent
// frame of the current incarnation of the peer it is addressed to: its
// sender hears that peer now, so it is alive, not a replay (a replay of
// our own earlier run echoes the peer's frames of back then).
func (m *Machine) echoesLivePeer(f *Frame, fnet int) bool {
	p := m.peerByID[f.Dst]
	if p == nil || !p.confirmed || f.Echo.Incarnation != p.inc || fnet < 0 {
		return false
	}
	l := p.links[fnet]
	for s := range l.sessions() {
		if s.echoSeq != 0 && f.Echo.Timestamp > s.echoTS-int64(m.nets[fnet].cls.inact) {
			return true
		}
	}
	return false
}
