package llt

import "time"

// Pause detection. The agent runs the Machine at least once a heartbeat
// (NextDeadline). When a call comes later than the heartbeat it owed by
// more than half the margin between heartbeat and peertrouble, this node
// itself did not run for a while (process not scheduled, VM paused,
// SIGSTOP, an engine held up): the silence it would now find is its own,
// and the frames its peers sent meanwhile are waiting in its sockets. It
// then reports an EventPause and does not count the pause as silence
// (every session's last-heard time moves forward by its length), as
// corosync does with "Process pause detected". A peer that really died
// during the pause is detected that much later.

// PauseStats count the pauses of this node's engine.
type PauseStats struct {
	Count   uint64
	Last    time.Duration
	LastAt  time.Time // when the engine ran again
	Longest time.Duration
}

// pauseState is the Machine's memory of its own pauses.
type pauseState struct {
	after   time.Duration // a call this late is a pause
	seen    time.Time     // the last pause detected ended here
	stats   PauseStats
	recent  [8]pauseSpan // the latest pauses, to discount from echo ages
	nRecent int
}

// pauseSpan is one interval during which this node did not run.
type pauseSpan struct{ start, end time.Time }

// threshold lowers the pause threshold to fit the timers of cls.
func (ps *pauseState) threshold(cls class) {
	pa := max((cls.trouble-cls.heartbeat)/2, time.Millisecond)
	if ps.after == 0 || pa < ps.after {
		ps.after = pa
	}
}

// pausedSince is how much of the time since t this node spent paused (of
// its last few pauses).
func (m *Machine) pausedSince(t time.Time) time.Duration {
	var d time.Duration
	ps := &m.pause
	for i := 0; i < min(ps.nRecent, len(ps.recent)); i++ {
		if p := ps.recent[i]; !p.start.Before(t) {
			d += p.end.Sub(p.start)
		}
	}
	return d
}

// checkPause detects a pause of this node at the start of every call that
// reads the clock: after a pause the first call may be a frame that waited
// in a socket, and it must not find its peers silent or its echo stale
// either.
func (m *Machine) checkPause(now time.Time) {
	due, ok := m.heartbeatDue()
	if !ok || !m.started {
		return
	}
	if m.pause.seen.After(due) {
		due = m.pause.seen // this pause is already accounted up to here
	}
	if d := now.Sub(due); d > m.pause.after {
		m.paused(now, d)
		m.pause.seen = now
	}
}

// paused discounts a pause of d that ended now from every session's
// silence and reports it.
func (m *Machine) paused(now time.Time, d time.Duration) {
	shift := func(t time.Time) time.Time {
		if t.IsZero() || !t.Add(d).Before(now) {
			return t
		}
		return t.Add(d)
	}
	for _, l := range m.links() {
		for s := range l.activeSessions() {
			s.lastRx = shift(s.lastRx)
			if s.state == SessionInit {
				s.since = shift(s.since)
			}
		}
	}
	ps := &m.pause
	ps.recent[ps.nRecent%len(ps.recent)] = pauseSpan{start: now.Add(-d), end: now}
	ps.nRecent++
	ps.stats.Count++
	ps.stats.Last, ps.stats.LastAt = d, now
	ps.stats.Longest = max(ps.stats.Longest, d)
	m.emit(Event{Kind: EventPause, At: now, Network: -1, Pause: d})
}

// Pauses returns the pauses counted since the counters were last reset.
func (m *Machine) Pauses() PauseStats { return m.pause.stats }
