package llt

import "time"

// Every link that is not healthy has one primary reason. When several
// apply, the first of this order wins (a cause before its symptoms, our
// side before the peer's):
//
//	DOWN (or TROUBLE)              UP
//	1  carrier-lost                 shared-segment
//	2  nic-silent                   cross-connected (ether broken, TCP up)
//	3  peer-stopped                 duplicate-node-id
//	4  shared-segment               mtu-mismatch
//	5  cross-connected              tcp-blocked
//	6  duplicate-node-id            lossy
//	7  flapping (held down)
//	8  auth-failure
//	9  one-way-out, one-way-in
//	10 peer-silent (TROUBLE: lossy if the link is lossy)
//
// foreign-cluster never names a link: another cluster on the wire changes
// nothing of ours; it shows on the network (netreason.go).

// setSession changes a session's state. Callers re-evaluate the link once
// they are done, so one call reports one link transition, not its steps.
func (m *Machine) setSession(now time.Time, p *peer, l *link, s *session, st SessionState, dg Diag) {
	s.diag = dg
	if s.state == st {
		return
	}
	m.emit(Event{Kind: EventSession, At: now, Peer: p.id, Network: l.net,
		Channel: s.ch, PrevSession: s.state, Session: st, Diag: dg})
	if s.state == SessionUp {
		s.probe.reset() // a link that comes back is probed afresh
	}
	s.state, s.since = st, now
	m.want(s) // tell the peer at once: the handshake takes one round trip, not two heartbeats
}

// rawLinkState is the link state its sessions give: UP when one is up and
// heard within peertrouble, TROUBLE when one is up but none heard that
// recently, else DOWN.
func (m *Machine) rawLinkState(now time.Time, l *link) LinkState {
	ns := &m.nets[l.net]
	st := LinkDown
	for s := range l.sessions() {
		if s.state != SessionUp {
			continue
		}
		if trouble, _ := ns.cls.effective(s.remoteHB); now.Sub(s.lastRx) < trouble {
			return LinkUp
		}
		st = LinkTrouble
	}
	return st
}

// evalLink recomputes a link's state and reason and reports changes.
func (m *Machine) evalLink(now time.Time, p *peer, l *link) {
	defer m.considerLink(l)
	raw := m.rawLinkState(now, l)
	if raw.Usable() != l.rawState.Usable() {
		if raw.Usable() {
			m.nets[l.net].usable++
		} else {
			m.nets[l.net].usable--
		}
	}
	if l.rawState.Usable() && !raw.Usable() && m.countsAsFlap(l) {
		l.flap.noteDown(now, &m.diag)
		l.flapDowns++
	}
	if raw.Usable() {
		l.flap.noteUp(now)
	} else {
		l.flap.upSince = time.Time{}
	}
	l.rawState = raw
	state := raw
	held := raw.Usable() && l.flap.held(now)
	if held {
		state = LinkDown
	}
	var reason Reason
	switch state {
	case LinkUp:
		reason = m.reasonUp(now, p, l)
	case LinkTrouble:
		if reason = m.reasonUp(now, p, l); reason == ReasonNone || reason == ReasonTCPBlocked || reason == ReasonMTUMismatch {
			reason = ReasonPeerSilent
			if m.lossy(now, l) {
				reason = ReasonLossy
			}
		}
	default:
		reason = m.reasonDown(now, p, l, held)
	}
	remoteReason := ReasonNone
	if state != LinkUp && m.remoteFresh(now, l) && l.remote.State != LinkUp {
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
		l.transitions++
		l.since = now
		m.linkChangedAt = now
	}
	l.state, l.reason, l.remoteReason = state, reason, remoteReason
	m.emit(ev)
}

// countsAsFlap reports whether a link going down now is a flap: not when
// the peer stopped or restarted (the link did nothing wrong).
func (m *Machine) countsAsFlap(l *link) bool {
	if l.stopped {
		return false
	}
	for s := range l.sessions() {
		if s.diag == DiagPeerShutdown || s.diag == DiagPeerRestart {
			return false
		}
	}
	return true
}

// reasonUp names what is wrong with a link that is up ("" when nothing).
func (m *Machine) reasonUp(now time.Time, p *peer, l *link) Reason {
	switch {
	case m.sharedWith(now, l.net) != 0:
		return ReasonSharedSegment
	case m.crossConnected(now, l):
		return ReasonCrossConnected
	case m.dupRecent(now, l.net, p.id):
		return ReasonDuplicateNodeID
	}
	if bad, _ := m.mtuMismatch(l); bad {
		return ReasonMTUMismatch
	}
	switch {
	case m.tcpBlocked(now, l):
		return ReasonTCPBlocked
	case m.lossy(now, l):
		return ReasonLossy
	}
	return ReasonNone
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

// reasonDown names why a link that is not up is down.
func (m *Machine) reasonDown(now time.Time, p *peer, l *link, held bool) Reason {
	ns := &m.nets[l.net]
	switch {
	case !ns.carrier:
		return ReasonCarrierLost
	case l.reason == ReasonCarrierLost && now.Sub(ns.carrierSince) < ns.cls.inact:
		// Carrier is back and the handshake gets peerinact to succeed
		// before the link is called anything else.
		return ReasonCarrierLost
	case ns.ev.silent:
		return ReasonNICSilent
	case l.stopped && (l.stoppedUntil.IsZero() || now.Before(l.stoppedUntil)) && !m.authFailedSince(now, l, l.stoppedAt):
		// (A peer that stopped and came back with a wrong key is an
		// auth-failure from then on.)
		return ReasonPeerStopped
	case m.sharedWith(now, l.net) != 0:
		return ReasonSharedSegment
	case m.crossConnected(now, l):
		return ReasonCrossConnected
	case m.dupRecent(now, l.net, p.id):
		return ReasonDuplicateNodeID
	case held || l.flap.flapping(now, &m.diag):
		return ReasonFlapping
	}
	return m.silenceReason(now, l)
}

// authFailedSince reports whether frames claiming to be l's peer failed
// authentication recently, after t.
func (m *Machine) authFailedSince(now time.Time, l *link, t time.Time) bool {
	return l.authFail.After(t) && now.Sub(l.authFail) < m.evidenceTTL()
}

// silenceReason names why a link hears too little: one way or the other,
// forged frames in place of the peer's, or nothing at all.
func (m *Machine) silenceReason(now time.Time, l *link) Reason {
	ns := &m.nets[l.net]
	hearing, oneWayOut := false, false
	for s := range l.sessions() {
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
		switch l.reason {
		case ReasonPeerSilent, ReasonOneWayIn, ReasonOneWayOut, ReasonAuthFailure:
			return l.reason // a handshake in progress keeps the reason it had
		}
		return ReasonPeerSilent
	}
	switch {
	case !l.authFail.IsZero() && now.Sub(l.authFail) < m.evidenceTTL():
		return ReasonAuthFailure
	case m.remoteFresh(now, l) && l.remote.HearsYou && l.remoteAt.Sub(m.lastHeard(l)) >= oneWayInAfter(ns.cls.heartbeat):
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
	for s := range l.sessions() {
		if s.heardAt.After(t) {
			t = s.heardAt
		}
	}
	return t
}
