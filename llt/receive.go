package llt

import "time"

// Receive processes an authenticated frame. Anything but Accepted means
// the frame changed no state.
//
// A frame must be fresh before it may change anything: of the peer's
// current incarnation and not seen before (the session's anti-replay
// window), or of a newer incarnation. A newer incarnation of a peer whose
// current one is confirmed (it proved it hears us) must itself prove it is
// live, by echoing our own incarnation, before it counts as a restart: a
// replayed frame of a peer that crashed can echo only incarnations of
// ours that are gone. An older incarnation is never fresh. These checks
// hold in every peer state, a silent or never-heard peer included.
func (m *Machine) Receive(now time.Time, in Inbound) Verdict {
	m.enter()
	m.checkPause(now)
	f := in.Frame
	if in.Network < 0 || in.Network >= len(m.nets) {
		return DropUnknownNetwork
	}
	ns := &m.nets[in.Network]
	if f.Cluster != m.cfg.Cluster {
		m.noteForeign(now, in.Network, f.Cluster, f.Src, in.From)
		m.evalNetworks(now)
		return DropForeignCluster
	}
	fnet, known := m.netIndex[f.Network]
	if !known {
		fnet = -1
	}
	if f.Src == m.cfg.Self {
		v := m.receiveSelf(now, in, fnet)
		m.flush(now)
		return v
	}
	if f.Dst != m.cfg.Self && f.Dst != Broadcast {
		return DropNotForUs
	}
	p := m.peerByID[f.Src]
	if p == nil {
		return DropUnknownNode
	}
	if fnet < 0 {
		return DropUnknownNetwork
	}
	if in.Channel >= NumChannels || !ns.hasCh[in.Channel] || p.links[fnet].sess[in.Channel] == nil {
		return DropNoChannel
	}
	if !ns.carrier && in.Channel == ChannelEther {
		return DropCarrierDown
	}
	if f.Type == FrameClaim {
		return DropClaim // a peer starting: nothing to do until it heartbeats
	}
	if fnet != in.Network {
		if f.Incarnation < p.inc {
			return DropStaleIncarnation
		}
		if in.Channel == ChannelEther {
			m.receiveCross(now, p, fnet, in.Network, f)
			m.flush(now)
		}
		return DropCrossConnected
	}
	if f.Flags&FlagProbe != 0 {
		m.noteProbe(p, p.links[fnet].sess[in.Channel], f)
	}
	if v := m.fresh(now, p, in, f); v != Accepted {
		if v == DropReplay && f.Flags&FlagCopy != 0 && f.Seq == p.links[fnet].sess[in.Channel].maxSeq {
			return DropProbeCopy // the heartbeat it copies, just before it, came first
		}
		if v == DropUnprovenIncarnation {
			m.challenge(now, p, p.links[fnet], p.links[fnet].sess[in.Channel])
		}
		m.flush(now)
		return v
	}
	l := p.links[in.Network]
	s := l.sess[in.Channel]
	if f.Incarnation != p.inc {
		m.restartPeer(now, p, f.Incarnation)
	}
	wasUp := s.state == SessionUp
	ok, gap := s.acceptSeq(f.Seq)
	if !ok {
		s.stats.replays++
		return DropReplay
	}
	if m.echoesUs(s, f) {
		p.confirmed = true
	}
	if f.Flags&FlagAfterProbe != 0 && gap > 0 && s.window&2 == 0 {
		// The frame just before this one was a padded probe, and it is
		// missing: a probe that did not fit, not loss of the link.
		gap--
		s.stats.lost--
	}
	if f.Flags&FlagCopy != 0 && gap >= 0 {
		// A copy accepted: the heartbeat it copies, sent just before it,
		// was lost.
		gap++
		s.stats.lost++
	}
	if wasUp || gap < 0 {
		s.loss.add(bucketOf(now, m.cfg.Epoch, m.diag.LossWindow), gap)
	} else {
		s.loss.add(bucketOf(now, m.cfg.Epoch, m.diag.LossWindow), 0)
	}
	if in.Channel == ChannelEther {
		mask, _ := p.seen[fnet].note(f.Seq, in.Network)
		m.noteSharedMask(now, mask, p.id)
	}
	m.noteProbeAck(now, l, s, f.ProbeAck)
	s.stats.received++
	s.addr = in.From
	if f.Type == FrameShutdown {
		m.peerShutdown(now, p)
		m.flush(now)
		return Accepted
	}
	l.stopped, l.stoppedUntil = false, time.Time{}
	s.lastRx, s.heardAt = now, now
	s.remoteHB = f.Heartbeat
	if f.Seq == s.maxSeq {
		s.echoSeq, s.echoTS, s.echoAt = f.Seq, f.Timestamp, now
	}
	m.noteEcho(now, ns, s, f)
	remote := f.State
	if !s.theyHear {
		remote = SessionDown
	}
	st, dg := step(s.state, remote, s.diag)
	m.setSession(now, p, l, s, st, dg)
	if f.Type == FrameMessage {
		m.out.Messages = append(m.out.Messages, Message{Peer: p.id, Network: in.Network, Channel: in.Channel, Payload: f.Payload})
	}
	m.noteVector(now, p, in.Network, f)
	for _, pl := range p.links {
		m.evalLink(now, p, pl)
	}
	m.evalPeer(now, p)
	m.flush(now)
	return Accepted
}

// fresh applies the incarnation and sequence checks to a frame of p that
// arrived on the session of its own network and channel, without changing
// any state. A frame of an older incarnation that echoes a recent frame of
// ours is no replay but a second live node with p's id: that is noted for
// the network (duplicate-node-id), and the frame still changes nothing.
func (m *Machine) fresh(now time.Time, p *peer, in Inbound, f *Frame) Verdict {
	s := p.links[in.Network].sess[in.Channel]
	switch {
	case f.Incarnation < p.inc:
		if m.echoesUs(s, f) && m.echoRecent(now, in.Network, s, f) {
			m.noteDup(now, in.Network, p.id, in.From, f.Incarnation)
			m.evalNetworks(now)
		}
		return DropStaleIncarnation
	case f.Incarnation > p.inc && p.inc != 0 && p.confirmed && !m.echoesUs(s, f):
		return DropUnprovenIncarnation
	case f.Incarnation == p.inc && !s.wouldAccept(f.Seq):
		return DropReplay
	}
	return Accepted
}

// noteProbe takes an MTU probe of the peer's: a padded copy of one of its
// heartbeats of the current incarnation, newer than the last probe it
// acknowledges and within the replay window. Its only effect is that our
// frames acknowledge it.
func (m *Machine) noteProbe(p *peer, s *session, f *Frame) {
	if f.Incarnation != p.inc || f.Seq <= s.probeAck || f.Seq+replayWindow <= s.maxSeq {
		return
	}
	s.probeAck = f.Seq
}

// challenge answers a frame of an unproven newer incarnation (a peer that
// restarted, or a replay) with a heartbeat at once, so that a live peer
// hears us and proves itself in one round trip rather than at our next
// heartbeat. Nothing else changes; at most one answer per quarter
// heartbeat, so replays cannot make us send more than that.
func (m *Machine) challenge(now time.Time, p *peer, l *link, s *session) {
	if !s.challengedAt.IsZero() && now.Sub(s.challengedAt) < m.nets[l.net].cls.heartbeat/4 {
		return
	}
	s.challengedAt = now
	m.send(now, p, l, s, FrameHeartbeat, nil)
}

// echoRecent reports whether f's echo of our frame is younger than
// peerinact.
func (m *Machine) echoRecent(now time.Time, net int, s *session, f *Frame) bool {
	sentAt := m.cfg.Epoch.Add(time.Duration(f.Echo.Timestamp))
	_, inact := m.nets[net].cls.effective(s.remoteHB)
	return !sentAt.After(now) && now.Sub(sentAt) < inact
}

// echoesUs reports whether f echoes a frame this incarnation of ours sent
// on session s: proof that f was sent after we started.
func (m *Machine) echoesUs(s *session, f *Frame) bool {
	e := f.Echo
	return e.Incarnation == m.cfg.Incarnation && e.Seq >= 1 && e.Seq <= s.txSeq
}

// noteEcho works out from f's echo whether the peer proves it hears us on
// s, and takes an RTT sample. Only a fresh echo of one of our own frames
// of this incarnation counts; a replayed or stale frame cannot bring a
// session up.
func (m *Machine) noteEcho(now time.Time, ns *netState, s *session, f *Frame) {
	_, inact := ns.cls.effective(s.remoteHB)
	s.theyHear = false
	if !m.echoesUs(s, f) {
		return
	}
	e := f.Echo
	sentAt := m.cfg.Epoch.Add(time.Duration(e.Timestamp))
	// Our own pauses since we sent it do not age the echo (pause.go).
	paused := m.pausedSince(sentAt)
	if sentAt.After(now) || now.Sub(sentAt)-paused >= inact {
		return
	}
	s.theyHear = f.State != SessionDown
	if e.Seq > s.lastEchoed {
		s.lastEchoed = e.Seq
		if paused == 0 {
			s.noteRTT(now.Sub(sentAt) - e.Hold)
		}
	}
}

// noteVector takes in the peer's view of its links to us, carried by a
// frame that arrived on network arrived.
func (m *Machine) noteVector(now time.Time, p *peer, arrived int, f *Frame) {
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
		if !v.Carrier && ni != arrived && !carriedSince(pl, f.Timestamp) {
			// The peer says its NIC on that network has no carrier (a
			// pulled cable): no frame can pass there, so do not wait
			// peerinact to find out. Unless that link has since carried a
			// frame the peer sent after this report: then the report is
			// stale (the cable is back).
			for ps := range pl.activeSessions() {
				ps.lastRx, ps.theyHear = time.Time{}, false
				m.setSession(now, p, pl, ps, SessionDown, DiagPeerCarrierLost)
			}
		}
	}
}

// carriedSince reports whether a session of l accepted a frame the peer
// sent after its timestamp ts.
func carriedSince(l *link, ts int64) bool {
	for s := range l.sessions() {
		if s.echoSeq != 0 && s.echoTS > ts {
			return true
		}
	}
	return false
}

// restartPeer moves p to a newer incarnation inc. The caller evaluates the
// links afterwards.
func (m *Machine) restartPeer(now time.Time, p *peer, inc uint64) {
	prev, wasConfirmed := p.inc, p.confirmed
	p.inc, p.confirmed = inc, false
	if prev == 0 {
		return // first contact
	}
	for _, l := range p.links {
		for s := range l.sessions() {
			s.resetPeer()
		}
	}
	if !wasConfirmed {
		// The previous incarnation never proved it was live (it may have
		// been a replay): replace it without calling it a restart. Its
		// sessions got no further than Init.
		return
	}
	p.restarts++
	m.emit(Event{Kind: EventPeerRestart, At: now, Peer: p.id, Network: -1, PrevIncarnation: prev, Incarnation: inc})
	for _, l := range p.links {
		if l.stopped {
			l.stoppedUntil = now.Add(m.nets[l.net].cls.inact)
		}
		l.remoteAt, l.remoteSent = time.Time{}, 0 // the old incarnation's view of the links
		for s := range l.sessions() {
			m.setSession(now, p, l, s, SessionDown, DiagPeerRestart)
		}
	}
}

func (m *Machine) peerShutdown(now time.Time, p *peer) {
	for _, l := range p.links {
		l.stopped, l.stoppedUntil, l.stoppedAt = true, time.Time{}, now
		l.remoteAt, l.remoteSent = time.Time{}, 0
		for s := range l.sessions() {
			s.lastRx = time.Time{}
			s.theyHear = false
			m.setSession(now, p, l, s, SessionDown, DiagPeerShutdown)
		}
		m.evalLink(now, p, l)
	}
	m.evalPeer(now, p)
}
