package llt

import (
	"math"
	"time"
)

// MTU probes. Every ProbeEvery-th heartbeat of an UP ether session is
// padded to the network's MTU (FlagProbe); the peer acknowledges the
// newest probe it received in the ProbeAck field of its frames. That costs
// no extra frame while probes pass. Once one is lost, the probes become
// separate frames: padded copies of the plain heartbeats they follow, with
// the same sequence number (if the heartbeat is lost the copy stands in
// for it), so that the link's liveness never depends on frames that may
// not fit. A probe
// not acknowledged within two of the peer's heartbeats is lost. After a
// lost probe every heartbeat is a probe until the question is settled:
// enough probes lost in a row, while the small heartbeats pass, is an MTU
// mismatch. "Enough" depends on the link's measured loss: K probes in a
// row are lost by chance with probability p^K, so K is the smallest with
// p^K below one in ten million (3 on a clean link, 14 at 30 % loss; a false
// mismatch lasts only until the next probe passes). The
// largest size that passes is then found by bisection between the
// heartbeat's own size (it passes) and the MTU, while every other probe
// keeps trying the MTU, whose first acknowledgement ends the mismatch.

// probeRec is one probe in flight.
type probeRec struct {
	seq  uint64
	size int
	at   time.Time
}

// probeState is the sending side of one session's MTU probes.
type probeState struct {
	n         uint64      // heartbeats sent while probing was possible
	out       [8]probeRec // probes in flight; seq 0 = free
	lostInRow int         // MTU-size probes lost since the last one acknowledged
	suspect   bool        // an MTU-size probe was lost: probe every heartbeat
	mismatch  bool
	since     time.Time // mismatch since
	lo, hi    int       // bisection: largest size that passed, smallest that failed
	hiLost    int       // losses in a row at the current bisection size
}

// resetProbes forgets the probes (the peer restarted, the link went down).
func (ps *probeState) reset() { *ps = probeState{} }

// probeSize decides whether the heartbeat about to be sent on s is
// probed, at what size (0: not), and whether the probe is a separate copy
// of it or the heartbeat itself padded. base is the frame's size without
// padding.
func (m *Machine) probeSize(now time.Time, l *link, s *session, base int) (size int, copy bool) {
	size = m.probeSizeOf(now, l, s, base)
	ps := &s.probe
	return size, ps.suspect || ps.mismatch
}

func (m *Machine) probeSizeOf(now time.Time, l *link, s *session, base int) int {
	ns := &m.nets[l.net]
	mtu := ns.cfg.MTU
	if m.diag.ProbeEvery < 0 || s.ch != ChannelEther || s.state != SessionUp || mtu <= base {
		return 0
	}
	ps := &s.probe
	m.expireProbes(now, l, s)
	ps.n++
	switch {
	case ps.mismatch:
		// A bisection probe every heartbeat, the MTU (which ends the
		// mismatch when it passes) every fourth, and every other once
		// the largest size is found.
		ps.lo = max(ps.lo, base)
		if ps.hi-ps.lo <= 8 {
			if ps.n%2 == 0 {
				return mtu
			}
			return 0
		}
		if ps.n%4 == 0 {
			return mtu
		}
		return (ps.lo + ps.hi + 1) / 2
	case ps.suspect || ps.n%uint64(m.diag.ProbeEvery) == 0:
		return mtu
	}
	return 0
}

// sentProbe records a probe of size sent with seq.
func (ps *probeState) sent(seq uint64, size int, now time.Time) {
	oldest := 0
	for i := range ps.out {
		if ps.out[i].seq == 0 {
			oldest = i
			break
		}
		if ps.out[i].at.Before(ps.out[oldest].at) {
			oldest = i
		}
	}
	ps.out[oldest] = probeRec{seq: seq, size: size, at: now}
}

// probeTimeout is how long the peer has to acknowledge a probe: one of its
// heartbeats (the acknowledgement rides its next frame, which comes within
// one) and a few round trips. A late acknowledgement only costs a probe
// counted lost: K of them in a row are needed.
func (m *Machine) probeTimeout(l *link, s *session) time.Duration {
	hb := max(s.remoteHB, m.nets[l.net].cls.heartbeat)
	return hb + 4*s.stats.rtt + 5*time.Millisecond
}

// probeDeadline is when the earliest probe in flight on s times out (zero:
// none): Advance must run then to count it lost.
func (m *Machine) probeDeadline(l *link, s *session) time.Time {
	var first time.Time
	for _, r := range s.probe.out {
		if r.seq != 0 && (first.IsZero() || r.at.Before(first)) {
			first = r.at
		}
	}
	if first.IsZero() {
		return first
	}
	// expireProbes counts a probe older than the timeout.
	return first.Add(m.probeTimeout(l, s) + time.Nanosecond)
}

// expireProbes counts probes not acknowledged in time as lost.
func (m *Machine) expireProbes(now time.Time, l *link, s *session) {
	ps := &s.probe
	to := m.probeTimeout(l, s)
	for i := range ps.out {
		r := ps.out[i]
		if r.seq != 0 && now.Sub(r.at) > to {
			ps.out[i] = probeRec{}
			m.probeResult(now, l, s, r.size, false)
		}
	}
}

// noteProbeAck takes the peer's acknowledgement of our probe seq. The
// peer acknowledges only the newest probe it got, so the probes in flight
// no larger than that one are settled with it: they fit too, whether they
// arrived or were lost by chance.
func (m *Machine) noteProbeAck(now time.Time, l *link, s *session, seq uint64) {
	if seq == 0 {
		return
	}
	ps := &s.probe
	size := -1
	for i := range ps.out {
		if r := ps.out[i]; r.seq == seq {
			size = r.size
			ps.out[i] = probeRec{}
		}
	}
	if size < 0 {
		return
	}
	for i := range ps.out {
		if r := ps.out[i]; r.seq != 0 && r.seq < seq && r.size <= size {
			ps.out[i] = probeRec{}
		}
	}
	m.probeResult(now, l, s, size, true)
}

// probeResult applies one probe's fate.
func (m *Machine) probeResult(now time.Time, l *link, s *session, size int, ok bool) {
	ps := &s.probe
	mtu := m.nets[l.net].cfg.MTU
	switch {
	case size >= mtu && ok:
		ps.lostInRow, ps.suspect, ps.mismatch = 0, false, false
		ps.lo, ps.hi, ps.hiLost = 0, 0, 0
	case size >= mtu:
		ps.lostInRow++
		ps.suspect = true
		if !ps.mismatch && ps.lostInRow >= m.probesToConvince(now, l) {
			ps.mismatch, ps.since = true, now
			ps.hi, ps.hiLost = mtu, 0
		} else if !ps.mismatch {
			// Ask again at once (a heartbeat and its probe copy) rather
			// than at the next heartbeat: the answer comes in round trips.
			m.want(s)
		}
	case ok:
		ps.lo = max(ps.lo, size)
		ps.hiLost = 0
		if ps.hi <= ps.lo {
			ps.hi = mtu
		}
	default:
		// A lost bisection probe: once on a clean link, twice on one that
		// loses frames anyway.
		ps.hiLost++
		need := 1
		if rx, tx, _ := m.lossOf(now, l); (rx != LossUnknown && rx > 0) || (tx != LossUnknown && tx > 0) {
			need = 2
		}
		if ps.hiLost >= need {
			ps.hi, ps.hiLost = size, 0
		}
	}
}

// probesToConvince is K, the MTU probes that must be lost in a row for an
// MTU mismatch on l given its loss (see the comment at the top).
func (m *Machine) probesToConvince(now time.Time, l *link) int {
	rx, tx, _ := m.lossOf(now, l)
	p := 0.5
	for _, v := range []uint8{rx, tx} {
		if v != LossUnknown {
			p = max(p, float64(v))
		}
	}
	if p >= 100 {
		return math.MaxInt
	}
	k := int(math.Ceil(math.Log(1e-7) / math.Log(p/100)))
	return min(max(k, 3), 30)
}

// mtuMismatch reports whether l's ether session found an MTU mismatch,
// and the largest frame it saw pass (at least the heartbeat's size).
func (m *Machine) mtuMismatch(l *link) (bool, int) {
	s := l.sess[ChannelEther]
	if s == nil || !s.probe.mismatch {
		return false, 0
	}
	return true, s.probe.lo
}
