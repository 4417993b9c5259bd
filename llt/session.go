package llt

import "time"

// replayWindow is the width of the sliding anti-replay window (like IPsec's).
const replayWindow = 64

// session is the state of one channel of one link: a BFD-style three-way
// handshake, an anti-replay window over the peer's sequence numbers, the
// echo we owe the peer, and RTT and counters.
type session struct {
	link  *link
	ch    Channel
	state SessionState
	diag  Diag
	since time.Time

	// Receive side, for the peer's current incarnation.
	maxSeq   uint64        // highest sequence accepted; 0 = none yet
	window   uint64        // bit i set: maxSeq-i was accepted
	lastRx   time.Time     // last accepted frame; zeroed when we stop believing we hear the peer
	heardAt  time.Time     // last accepted frame, for display only
	remoteHB time.Duration // peer's advertised heartbeat interval
	addr     string        // peer's address on this channel, learned from accepted frames

	// What we echo back: the newest frame accepted from the peer.
	echoSeq uint64
	echoTS  int64
	echoAt  time.Time

	// Whether the peer proved it hears us (a fresh echo of our frames and
	// a state other than Down), as of lastRx.
	theyHear   bool
	lastEchoed uint64 // highest of our sequence numbers the peer echoed

	// Send side.
	txSeq         uint64
	sendNow       bool
	challengedAt  time.Time // last answer to an unproven incarnation (Receive)
	lastBroadcast time.Time // last frame sent to the broadcast address (segment.go)

	loss      lossWindow // the peer's frames accepted and lost (loss.go)
	probe     probeState // our MTU probes (mtu.go)
	probeAck  uint64     // the newest MTU probe of the peer's we accepted
	paddedSeq uint64     // our last heartbeat padded as a probe (FlagAfterProbe on the next)
	noProbe   bool       // the frame being sent must not be a probe

	stats sessionStats
}

type sessionStats struct {
	sent, received, lost, replays uint64
	rtt, rttMin, rttMax           time.Duration // rtt: smoothed (EWMA 1/8)
	rttSamples                    uint64
	rttSum                        time.Duration
	rttHist                       [len(rttBuckets) + 1]uint64 // per bucket of rttBuckets, the last +Inf
}

// rttBuckets are the upper bounds of the RTT histogram (Prometheus's
// tether_link_rtt_seconds): 50 µs, a veth, to 500 ms, far past peerinact.
var rttBuckets = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond,
}

// RTTBuckets returns the upper bounds of the RTT histogram's buckets
// (SessionSnapshot.RTTHist has one more, +Inf).
func RTTBuckets() []time.Duration { return append([]time.Duration(nil), rttBuckets[:]...) }

// acceptSeq applies the anti-replay check and updates loss counters. It
// reports false for a replayed or too-old sequence number, and how many
// frames the accepted one shows lost (-1: it was counted lost and only
// came late).
func (s *session) acceptSeq(seq uint64) (bool, int) {
	if seq == 0 {
		return false, 0
	}
	if s.maxSeq == 0 {
		s.maxSeq, s.window = seq, 1
		return true, 0
	}
	if seq > s.maxSeq {
		d := seq - s.maxSeq
		if d >= replayWindow {
			s.window = 1
		} else {
			s.window = s.window<<d | 1
		}
		s.stats.lost += d - 1
		s.maxSeq = seq
		return true, int(min(d-1, 1<<20))
	}
	d := s.maxSeq - seq
	if d >= replayWindow {
		return false, 0
	}
	bit := uint64(1) << d
	if s.window&bit != 0 {
		return false, 0
	}
	s.window |= bit
	if s.stats.lost > 0 {
		s.stats.lost-- // it was counted lost, it only came late
	}
	return true, -1
}

// wouldAccept reports whether acceptSeq would accept seq, without
// changing anything.
func (s *session) wouldAccept(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if s.maxSeq == 0 || seq > s.maxSeq {
		return true
	}
	d := s.maxSeq - seq
	return d < replayWindow && s.window&(uint64(1)<<d) == 0
}

// resetPeer forgets everything learned from the peer's previous
// incarnation.
func (s *session) resetPeer() {
	s.maxSeq, s.window = 0, 0
	s.lastRx = time.Time{}
	s.echoSeq, s.echoTS, s.echoAt = 0, 0, time.Time{}
	s.theyHear = false
	s.lastEchoed = 0
	s.loss.reset()
	s.probe.reset()
	s.probeAck = 0
}

// hearing reports whether a frame was accepted within inact.
func (s *session) hearing(now time.Time, inact time.Duration) bool {
	return !s.lastRx.IsZero() && now.Sub(s.lastRx) < inact
}

func (s *session) noteRTT(rtt time.Duration) {
	st := &s.stats
	if rtt < 0 {
		rtt = 0
	}
	if st.rttSamples == 0 {
		st.rtt, st.rttMin, st.rttMax = rtt, rtt, rtt
	} else {
		st.rtt += (rtt - st.rtt) / 8
		st.rttMin = min(st.rttMin, rtt)
		st.rttMax = max(st.rttMax, rtt)
	}
	st.rttSamples++
	st.rttSum += rtt
	b := 0
	for b < len(rttBuckets) && rtt > rttBuckets[b] {
		b++
	}
	st.rttHist[b]++
}

// step runs the BFD receive state machine (RFC 5880 §6.8.6) with remote,
// the peer's state as far as it is proven: Init or Up count only with a
// fresh echo of our own frames, otherwise the peer is taken as Down. It
// returns the new state and diagnostic.
func step(local, remote SessionState, diag Diag) (SessionState, Diag) {
	switch local {
	case SessionDown:
		switch remote {
		case SessionDown:
			return SessionInit, diag
		case SessionInit:
			return SessionUp, DiagNone
		}
	case SessionInit:
		if remote == SessionInit || remote == SessionUp {
			return SessionUp, DiagNone
		}
	case SessionUp:
		if remote == SessionDown {
			return SessionDown, DiagNeighborDown
		}
	}
	return local, diag
}
