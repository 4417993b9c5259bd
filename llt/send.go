package llt

import (
	"cmp"
	"slices"
	"time"
)

// flush sends a frame on every session that asked for one. While our own
// frames are being lost on the way to the peer (it reports loss of them),
// an ether heartbeat goes out twice: at 30 % loss one is lost in three,
// both only one in eleven, so a lossy link is named lossy instead of
// going down every few minutes.
//
// Only the sessions that asked (want) are visited, in the order of the
// walk (peer, network, channel), so a frame received costs the same in a
// cluster of 3 nodes as in one of 256.
func (m *Machine) flush(now time.Time) {
	if len(m.due) == 0 {
		return
	}
	due := m.due
	m.due = m.dueSpare[:0]
	slices.SortFunc(due, walkOrder)
	for _, s := range due {
		l := s.link
		p := l.peer
		switch {
		case !s.sendNow:
			// Sent since it asked (a challenge, a message).
		case !m.nets[l.net].carrier || m.claim.claiming:
			s.sendNow = false
		default:
			m.send(now, p, l, s, FrameHeartbeat, nil)
			if s.ch == ChannelEther && m.txLossy(now, l) {
				s.noProbe = true // the second copy is no probe: one probe per heartbeat
				m.send(now, p, l, s, FrameHeartbeat, nil)
				s.noProbe = false
			}
		}
	}
	clear(due)
	m.dueSpare = due[:0]
}

// walkOrder orders sessions as the walk does: by peer id, network,
// channel.
func walkOrder(a, b *session) int {
	if c := cmp.Compare(a.link.peer.id, b.link.peer.id); c != 0 {
		return c
	}
	if c := cmp.Compare(a.link.net, b.link.net); c != 0 {
		return c
	}
	return cmp.Compare(a.ch, b.ch)
}

// txLossy reports whether the peer says it lost some of our frames on l
// lately.
func (m *Machine) txLossy(now time.Time, l *link) bool {
	return m.remoteFresh(now, l) && l.remote.Loss != LossUnknown && l.remote.Loss > 0
}

// Shutdown sends shutdown frames on every session so peers take this
// node's links down at once instead of waiting for peerinact.
func (m *Machine) Shutdown(now time.Time) {
	m.enter()
	if m.claim.claiming {
		return // we never spoke: nothing to take down
	}
	for _, p := range m.peers {
		for _, l := range p.links {
			if !m.nets[l.net].carrier {
				continue
			}
			for s := range l.sessions() {
				m.send(now, p, l, s, FrameShutdown, nil)
			}
		}
	}
}

func (m *Machine) send(now time.Time, p *peer, l *link, s *session, typ FrameType, payload []byte) {
	m.sendPadded(now, p, l, s, typ, payload, 0)
}

// sendPadded sends a frame padded to frameLen bytes (0: no padding).
func (m *Machine) sendPadded(now time.Time, p *peer, l *link, s *session, typ FrameType, payload []byte, frameLen int) {
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
	if m.broadcastDue(now, s, o.To != "") {
		o.To = "" // the periodic broadcast (segment.go)
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
	o.Frame.ProbeAck = s.probeAck
	if n := o.Frame.EncodedLen(); frameLen > n {
		o.Frame.Pad = frameLen - n
	}
	if s.paddedSeq != 0 && s.paddedSeq == s.txSeq-1 {
		o.Frame.Flags |= FlagAfterProbe
	}
	if typ == FrameHeartbeat && !s.noProbe {
		// An MTU probe: the heartbeat itself padded, or once a probe was
		// lost a padded copy after it with the same sequence number
		// (mtu.go).
		base := o.Frame.EncodedLen()
		if size, copy := m.probeSize(now, l, s, base); size > base {
			s.probe.sent(s.txSeq, size, now)
			m.considerLink(l)
			if copy {
				m.out.Frames = append(m.out.Frames, o)
				o.Frame.Flags |= FlagCopy
			} else {
				s.paddedSeq = s.txSeq
			}
			o.Frame.Flags |= FlagProbe
			o.Frame.Pad = size - base
		}
	}
	m.out.Frames = append(m.out.Frames, o)
}

// vector builds our view of every link to p, in the Output's storage: it
// lives until Release, whatever the Machine is asked next.
func (m *Machine) vector(now time.Time, p *peer) []VectorEntry {
	start := len(m.out.vecs)
	for _, l := range p.links {
		ns := &m.nets[l.net]
		// "Hears you": a frame within one and a quarter heartbeats
		// (freshWithin), so the claim dies quickly when the link does (see
		// oneWayInAfter).
		hears := false
		for s := range l.sessions() {
			if s.hearing(now, freshWithin(ns.cls.heartbeat)) {
				hears = true
			}
		}
		rx := LossUnknown
		if s := l.sess[ChannelEther]; s != nil {
			rx, _ = s.loss.percent(bucketOf(now, m.cfg.Epoch, m.diag.LossWindow))
		}
		m.out.vecs = append(m.out.vecs, VectorEntry{Network: ns.cfg.Name, State: l.state, Reason: l.reason,
			HearsYou: hears, Carrier: ns.carrier, Loss: rx})
	}
	return m.out.vecs[start:len(m.out.vecs):len(m.out.vecs)]
}
