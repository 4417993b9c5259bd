package llt

import "time"

// Advance runs the timers: sessions that heard nothing for peerinact go
// DOWN, links that heard nothing for peertrouble go TROUBLE, and due
// heartbeats are sent. It runs at least once a heartbeat (NextDeadline);
// see pause.go for what a late call means.
func (m *Machine) Advance(now time.Time) {
	m.enter()
	m.checkPause(now)
	m.started = true
	m.advanced = now
	m.endClaim(now)
	for _, p := range m.peers {
		for _, l := range p.links {
			cls := m.nets[l.net].cls
			for s := range l.activeSessions() {
				if _, inact := cls.effective(s.remoteHB); !s.hearing(now, inact) {
					s.theyHear = false
					m.setSession(now, p, l, s, SessionDown, DiagTimeExpired)
				}
			}
			if s := l.sess[ChannelEther]; s != nil && s.state == SessionUp {
				m.expireProbes(now, l, s)
			}
			m.evalLink(now, p, l)
		}
		m.evalPeer(now, p)
	}
	m.evalNetworks(now)
	m.evalLocal(now)
	for c := range m.nextHB {
		if !m.hasClass[c] || now.Before(m.nextHB[c]) {
			continue
		}
		if m.claim.claiming {
			if c == 0 && !m.claim.fatal {
				m.sendClaims(now)
			}
		} else {
			for _, l := range m.links() {
				if m.nets[l.net].classIdx == c {
					m.wantAll(l)
				}
			}
		}
		hb := m.nets[m.firstNetOfClass(c)].cls.heartbeat
		// Jitter each interval down to 75..100 % (RFC 5880 §6.8.7) so that
		// nodes do not synchronise.
		m.nextHB[c] = now.Add(hb - time.Duration(m.rng.Int64N(int64(hb/4)+1)))
	}
	m.invalidateDeadline() // the heartbeats moved: walk once for the exact deadline
	m.flush(now)
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

func (m *Machine) firstNetOfClass(c int) int {
	for i := range m.nets {
		if m.nets[i].classIdx == c {
			return i
		}
	}
	return 0
}
