package llt

import "time"

// setSession changes a session's state. Callers re-evaluate the link once
// they are done, so one call reports one link transition, not its steps.
func (m *Machine) setSession(now time.Time, p *peer, l *link, s *session, st SessionState, dg Diag) {
	s.diag = dg
	if s.state == st {
		return
	}
	m.emit(Event{Kind: EventSession, At: now, Peer: p.id, Network: l.net,
		Channel: s.ch, PrevSession: s.state, Session: st, Diag: dg})
	s.state, s.since = st, now
	s.sendNow = true // tell the peer at once: the handshake takes one round trip, not two heartbeats
}

// evalLink recomputes a link's state and reason and reports changes.
func (m *Machine) evalLink(now time.Time, p *peer, l *link) {
	ns := &m.nets[l.net]
	state := LinkDown
	up, troubled := false, true
	for s := range l.sessions() {
		if s.state != SessionUp {
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
	m.emit(ev)
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
	for s := range l.sessions() {
		if s.heardAt.After(t) {
			t = s.heardAt
		}
	}
	return t
}
