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

// sooner is the earlier of next and t, counting only deadlines still to
// be handled (after the last Advance); zero is none.
func (m *Machine) sooner(next, t time.Time) time.Time {
	if t.After(m.advanced) && (next.IsZero() || t.Before(next)) {
		return t
	}
	return next
}

// considerLink lowers the cached deadline to l's next one.
func (m *Machine) considerLink(l *link) {
	if m.dl.valid {
		m.dl.next = m.sooner(m.dl.next, m.linkDeadline(l))
	}
}

// walkDeadlines is the exact next deadline: every timer of every link.
func (m *Machine) walkDeadlines() time.Time {
	var next time.Time
	for c := range m.nextHB {
		if m.hasClass[c] {
			next = m.sooner(next, m.nextHB[c])
		}
	}
	if m.claim.claiming {
		next = m.sooner(next, m.claim.until)
	}
	for _, l := range m.links() {
		next = m.sooner(next, m.linkDeadline(l))
	}
	return next
}

// linkDeadline is the earliest deadline of l still to be handled (zero:
// none).
func (m *Machine) linkDeadline(l *link) time.Time {
	cls := m.nets[l.net].cls
	next := m.sooner(time.Time{}, l.flap.heldUntil())
	if s := l.sess[ChannelEther]; s != nil && s.state == SessionUp {
		next = m.sooner(next, m.probeDeadline(l, s))
	}
	for s := range l.activeSessions() {
		trouble, inact := cls.effective(s.remoteHB)
		next = m.sooner(next, s.lastRx.Add(inact))
		next = m.sooner(next, s.lastRx.Add(trouble))
		if s.state == SessionInit {
			next = m.sooner(next, s.since.Add(trouble))
		}
	}
	return next
}
