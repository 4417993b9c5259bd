package llt

import "time"

// Where frames land. Every ether session broadcasts a heartbeat at least
// every BroadcastEvery, even to a peer whose address it knows, so that
// frames also reach NICs that are on the wrong segment:
//
//   - our own frame for network X arriving on our network Y, or one frame
//     of a peer arriving on two of our networks: X and Y are one
//     broadcast domain (shared-segment: one switch or VLAN for two
//     networks, so the redundancy is not real);
//   - a peer's frame for network X arriving on our Y: their X NIC and our
//     Y NIC are on one segment (cross-connected: swapped cables, a port
//     in the wrong VLAN). The mark goes on the peer's link X (their
//     frames for it land elsewhere) and on link Y (it hears the wrong
//     network); it names the reason of a link whose ether channel is not
//     up, whether the link is DOWN or UP by TCP.
//
// Like any other, such a frame counts only once it is checked fresh: of
// the peer's current (or first) incarnation, newer than what link X last
// accepted unless X still hears the peer (then the same broadcast arrives
// on both, which is the shared-segment case), and not seen on Y before.

// seenFrames remembers where recent frames of one peer network arrived.
type seenFrames struct {
	seq  [16]uint64
	mask [16]uint16 // bit i: arrived on our network i
	next int
}

// note records that frame seq arrived on network net and returns the
// networks it has arrived on so far, and whether it had already arrived on
// net (a duplicate).
func (sf *seenFrames) note(seq uint64, net int) (mask uint16, dup bool) {
	for i := range sf.seq {
		if sf.seq[i] == seq {
			dup = sf.mask[i]&(1<<net) != 0
			sf.mask[i] |= 1 << net
			return sf.mask[i], dup
		}
	}
	i := sf.next % len(sf.seq)
	sf.next++
	sf.seq[i], sf.mask[i] = seq, 1<<net
	return sf.mask[i], false
}

// crossMark is evidence of a cross-connection on a link.
type crossMark struct {
	at  time.Time
	net int // crossIn: the network of ours the frames arrived on; crossOut: the peer's network of the frames
}

// sharedMark is evidence that two of our networks are one segment.
type sharedMark struct {
	at   time.Time
	peer NodeID // whose frame showed it; our own id for our own frame
}

// crossTTL is how long cross-connection evidence lasts: the frames that
// carry it come every heartbeat while the link is down, but only every
// BroadcastEvery while it is up.
func (m *Machine) crossTTL(ns *netState) time.Duration {
	return max(ns.cls.inact, m.diag.BroadcastEvery*3/2)
}

// sharedTTL is how long shared-segment evidence lasts: three broadcasts.
func (m *Machine) sharedTTL() time.Duration { return 3 * m.diag.BroadcastEvery }

// broadcastPeers is how many of a network's peers get their periodic
// broadcast in each BroadcastEvery. Every node on the segment receives
// every broadcast, so one per peer per BroadcastEvery would cost each
// node O(peers²) frames a second; this many keeps it O(peers) (flat per
// link) and still brings each node a frame addressed to it by broadcast
// that often — from one peer or another, which is all the segment checks
// need. Up to broadcastPeers+1 nodes nothing changes.
const broadcastPeers = 8

// broadcastInterval is how often one session's heartbeat is broadcast
// although its peer's address is known: BroadcastEvery, stretched in
// clusters of more than broadcastPeers+1 nodes.
func (m *Machine) broadcastInterval() time.Duration {
	k := (len(m.peers) + broadcastPeers - 1) / broadcastPeers
	return m.diag.BroadcastEvery * time.Duration(max(k, 1))
}

// broadcastDue reports whether a frame on s should be broadcast although
// its peer's address is known, and notes the broadcast.
func (m *Machine) broadcastDue(now time.Time, s *session, unicast bool) bool {
	if s.ch != ChannelEther {
		return false
	}
	if !unicast || now.Sub(s.lastBroadcast) >= m.broadcastInterval() {
		s.lastBroadcast = now
		return unicast
	}
	return false
}

// receiveOwn handles one of our own frames that came back to us: sent on
// network fnet, it arrived on network arrived.
func (m *Machine) receiveOwn(now time.Time, f *Frame, fnet, arrived int) {
	if fnet == arrived {
		return
	}
	// Our own frame is fresh if we sent it lately (we know when).
	sentAt := m.cfg.Epoch.Add(time.Duration(f.Timestamp))
	if sentAt.After(now) || now.Sub(sentAt) > m.diag.BroadcastEvery {
		return
	}
	m.noteShared(now, fnet, arrived, m.cfg.Self)
}

// noteShared records that our networks a and b are one segment.
func (m *Machine) noteShared(now time.Time, a, b int, via NodeID) {
	fresh := now.Sub(m.nets[a].ev.shared[b].at) >= m.sharedTTL()
	m.nets[a].ev.shared[b] = sharedMark{at: now, peer: via}
	m.nets[b].ev.shared[a] = sharedMark{at: now, peer: via}
	if fresh {
		m.evalNetworks(now)
	}
}

// sharedWith returns the networks of ours that share a segment with net
// now, as a bit mask.
func (m *Machine) sharedWith(now time.Time, net int) uint16 {
	var mask uint16
	for i, sm := range m.nets[net].ev.shared {
		if i < len(m.nets) && !sm.at.IsZero() && now.Sub(sm.at) < m.sharedTTL() {
			mask |= 1 << i
		}
	}
	return mask
}

// crossFresh applies the freshness rule for a frame of p for network fnet
// that arrived on another network.
func (m *Machine) crossFresh(now time.Time, p *peer, fnet int, f *Frame) bool {
	if f.Incarnation != p.inc && p.inc != 0 {
		return false
	}
	x := p.links[fnet].sess[ChannelEther]
	if x == nil || f.Seq == 0 {
		return false
	}
	if f.Seq > x.maxSeq {
		return true
	}
	// Not newer than what link X accepted: fresh only if X still hears
	// the peer and the frame is recent there.
	_, inact := m.nets[fnet].cls.effective(x.remoteHB)
	return f.Incarnation == p.inc && x.hearing(now, inact) && x.maxSeq-f.Seq < replayWindow
}

// receiveCross handles a checked-fresh frame of p for network fnet that
// arrived on our network arrived: it marks both links and, if the same
// frame arrived on another of our networks too, the shared segment.
func (m *Machine) receiveCross(now time.Time, p *peer, fnet, arrived int, f *Frame) {
	if !m.crossFresh(now, p, fnet, f) {
		return
	}
	mask, dup := p.seen[fnet].note(f.Seq, arrived)
	if dup {
		return
	}
	m.noteSharedMask(now, mask, p.id)
	p.links[fnet].crossIn = crossMark{at: now, net: arrived}
	p.links[arrived].crossOut = crossMark{at: now, net: fnet}
	m.evalLink(now, p, p.links[fnet])
	m.evalLink(now, p, p.links[arrived])
}

// noteSharedMask records the segments a frame that arrived on every
// network of mask shows to be shared.
func (m *Machine) noteSharedMask(now time.Time, mask uint16, via NodeID) {
	if mask&(mask-1) == 0 {
		return // one network only
	}
	first := -1
	for i := range m.nets {
		if mask&(1<<i) == 0 {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		m.noteShared(now, first, i, via)
	}
}

// crossConnected reports whether l carries recent cross-connection
// evidence and its ether channel does not work.
func (m *Machine) crossConnected(now time.Time, l *link) bool {
	s := l.sess[ChannelEther]
	if s == nil || s.state == SessionUp {
		return false
	}
	ttl := m.crossTTL(&m.nets[l.net])
	recent := func(c crossMark) bool { return !c.at.IsZero() && now.Sub(c.at) < ttl }
	return recent(l.crossIn) || recent(l.crossOut)
}
