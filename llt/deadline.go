package llt

import "time"

// NextDeadline without a walk of every link on every call: the agent asks
// after every frame, and a walk costs O(peers × networks). The cache
// holds a lower bound of the next deadline, exact after a walk: a link's
// deadlines are added to it whenever the link is re-evaluated (evalLink)
// or a probe goes out, and a frame received only moves the deadlines of
// its link later, never earlier. A bound that turns out early costs one
// Advance with nothing to do; in a healthy cluster the next heartbeat
// comes first anyway, and each Advance walks the links and makes the
// bound exact again.
type deadlineCache struct {
	next  time.Time // zero: no deadline known
	valid bool      // false: walk at the next NextDeadline
}

// NextDeadline returns when Advance must next run: the earliest heartbeat,
// session expiry or trouble threshold that the last Advance has not
// handled yet. A result not after now means Advance is due now (it may
// find nothing to do: see deadlineCache).
func (m *Machine) NextDeadline(now time.Time) time.Time {
	if !m.dl.valid || !m.dl.next.After(m.advanced) {
		m.dl.next, m.dl.valid = m.walkDeadlines(), true
	}
	return m.dl.next
}

// invalidateDeadline makes the next NextDeadline walk every link.
func (m *Machine) invalidateDeadline() { m.dl.valid = false }

// consider lowers the cached deadline to t, if t is still to be handled.
func (m *Machine) consider(t time.Time) {
	if !m.dl.valid || !t.After(m.advanced) {
		return
	}
	if m.dl.next.IsZero() || t.Before(m.dl.next) {
		m.dl.next = t
	}
}

// walkDeadlines is the exact next deadline: every timer of every link.
func (m *Machine) walkDeadlines() time.Time {
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
	if m.claim.claiming {
		consider(m.claim.until)
	}
	for _, l := range m.links() {
		consider(m.linkDeadline(l))
	}
	return next
}

// considerLink lowers the cached deadline to l's next one.
func (m *Machine) considerLink(l *link) { m.consider(m.linkDeadline(l)) }

// linkDeadline is the earliest deadline of l still to be handled (zero:
// none).
func (m *Machine) linkDeadline(l *link) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(m.advanced) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	cls := m.nets[l.net].cls
	consider(l.flap.heldUntil())
	if s := l.sess[ChannelEther]; s != nil && s.state == SessionUp {
		consider(m.probeDeadline(l, s))
	}
	for s := range l.activeSessions() {
		trouble, inact := cls.effective(s.remoteHB)
		consider(s.lastRx.Add(inact))
		consider(s.lastRx.Add(trouble))
		if s.state == SessionInit {
			consider(s.since.Add(trouble))
		}
	}
	return next
}
