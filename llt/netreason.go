package llt

import (
	"slices"
	"time"
)

// Network-wide findings: things about one of our networks as a whole,
// shown per network (tetherstat -l, JSON) besides the links they affect.
//
//   - shared-segment: this network and another of ours are one broadcast
//     domain (segment.go);
//   - nic-silent: our NIC has carrier but passes nothing: no peer hears us
//     on it and we hear no one, while the peers hear each other there;
//   - foreign-cluster: frames of another cluster id arrive (counted; no
//     link changes);
//   - auth-failure: frames claiming our cluster fail authentication;
//   - duplicate-node-id: another node uses our id (claim.go), or two
//     nodes use a peer's id.

// netEvidence is what a network has seen.
type netEvidence struct {
	shared  [MaxVector]sharedMark
	foreign []foreignSeen
	auth    authSeen
	dup     []dupSeen
	silent  bool
	since   time.Time // silent since
	reasons []Reason  // as last reported, sorted
}

// foreignSeen is one foreign cluster seen on a network.
type foreignSeen struct {
	Cluster uint16
	Node    NodeID // the node id it claimed
	From    string // its address on the channel
	Count   uint64
	Last    time.Time
}

// authSeen counts frames that failed authentication on a network.
type authSeen struct {
	Count uint64
	Last  time.Time
	Node  NodeID // the node the last one claimed to be
	From  string
}

// dupSeen is one sender seen with a node id that is already taken.
type dupSeen struct {
	Node        NodeID // the id in dispute: ours, or a peer's
	From        string // the other sender's address
	Incarnation uint64
	Last        time.Time
	Count       uint64
}

// maxEvidence bounds the foreign clusters and duplicate senders kept per
// network: a flood of forged ids must not grow memory.
const maxEvidence = 8

// evidenceTTL is how long a sighting keeps a network-wide reason up.
func (m *Machine) evidenceTTL() time.Duration { return 3 * m.diag.BroadcastEvery }

// NoteForeign records a frame of another cluster on network (claimed ids
// when it could not be authenticated: another cluster has another key).
func (m *Machine) NoteForeign(now time.Time, network int, cluster uint16, node NodeID, from string) {
	m.enter()
	m.checkPause(now)
	if network < 0 || network >= len(m.nets) {
		return
	}
	m.noteForeign(now, network, cluster, node, from)
	m.evalNetworks(now)
}

func (m *Machine) noteForeign(now time.Time, network int, cluster uint16, node NodeID, from string) {
	ev := &m.nets[network].ev
	for i := range ev.foreign {
		if f := &ev.foreign[i]; f.Cluster == cluster {
			f.Node, f.From, f.Last = node, from, now
			f.Count++
			return
		}
	}
	fs := foreignSeen{Cluster: cluster, Node: node, From: from, Count: 1, Last: now}
	if len(ev.foreign) < maxEvidence {
		ev.foreign = append(ev.foreign, fs)
		return
	}
	ev.foreign[oldest(ev.foreign, func(f foreignSeen) time.Time { return f.Last })] = fs
}

func (m *Machine) noteDup(now time.Time, network int, node NodeID, from string, inc uint64) {
	ev := &m.nets[network].ev
	for i := range ev.dup {
		if d := &ev.dup[i]; d.Node == node && d.From == from {
			d.Incarnation, d.Last = inc, now
			d.Count++
			return
		}
	}
	ds := dupSeen{Node: node, From: from, Incarnation: inc, Last: now, Count: 1}
	if len(ev.dup) < maxEvidence {
		ev.dup = append(ev.dup, ds)
		return
	}
	ev.dup[oldest(ev.dup, func(d dupSeen) time.Time { return d.Last })] = ds
}

func oldest[T any](xs []T, at func(T) time.Time) int {
	o := 0
	for i := range xs {
		if at(xs[i]).Before(at(xs[o])) {
			o = i
		}
	}
	return o
}

// dupRecent reports whether a node with id node was seen recently on
// network beside the one we follow.
func (m *Machine) dupRecent(now time.Time, network int, node NodeID) bool {
	for _, d := range m.nets[network].ev.dup {
		if d.Node == node && now.Sub(d.Last) < m.evidenceTTL() {
			return true
		}
	}
	return false
}

// evalNetworks recomputes every network's reasons (nic-silent included),
// reports changes and re-evaluates the links when a network's reasons
// changed.
func (m *Machine) evalNetworks(now time.Time) {
	changed := false
	for i := range m.nets {
		ns := &m.nets[i]
		silent := m.nicSilent(now, i)
		if silent != ns.ev.silent {
			ns.ev.silent = silent
			if silent {
				ns.ev.since = now
			}
		}
		rs := m.netReasons(now, i)
		if !slices.Equal(rs, ns.ev.reasons) {
			m.emit(Event{Kind: EventNetwork, At: now, Network: i, NetReasons: rs, PrevNetReasons: ns.ev.reasons})
			ns.ev.reasons = rs
			changed = true
		}
	}
	if changed {
		for p, l := range m.links() {
			m.evalLink(now, p, l)
		}
		for _, p := range m.peers {
			m.evalPeer(now, p)
		}
		m.evalLocal(now)
	}
}

// netReasons lists the network-wide reasons of network i now, in the
// order of reasonRank.
func (m *Machine) netReasons(now time.Time, i int) []Reason {
	ns := &m.nets[i]
	ttl := m.evidenceTTL()
	var rs []Reason
	if !ns.carrier {
		rs = append(rs, ReasonCarrierLost)
	}
	if ns.ev.silent {
		rs = append(rs, ReasonNICSilent)
	}
	if m.sharedWith(now, i) != 0 {
		rs = append(rs, ReasonSharedSegment)
	}
	for _, d := range ns.ev.dup {
		if now.Sub(d.Last) < ttl {
			rs = append(rs, ReasonDuplicateNodeID)
			break
		}
	}
	if !ns.ev.auth.Last.IsZero() && now.Sub(ns.ev.auth.Last) < ttl {
		rs = append(rs, ReasonAuthFailure)
	}
	for _, f := range ns.ev.foreign {
		if now.Sub(f.Last) < ttl {
			rs = append(rs, ReasonForeignCluster)
			break
		}
	}
	return rs
}

// nicSilent applies the nic-silent rule to network i: carrier, nothing
// heard from any peer on it for peerinact, at least one peer saying over
// another network that it does not hear us there, and at least two other
// nodes hearing each other there (their link tables). With fewer than
// three nodes the rule cannot tell our NIC from the peer's: peer-silent.
// A NIC that receives frames of ours meant for another network (a shared
// segment, a peer's cross-connected frames) passes frames: what is wrong
// is where it is plugged, not the NIC.
func (m *Machine) nicSilent(now time.Time, i int) bool {
	ns := &m.nets[i]
	if !ns.carrier || len(m.peers) < 2 || ns.usable > 0 || m.sharedWith(now, i) != 0 {
		return false // (usable: the common case, decided without a walk of the peers)
	}
	ttl := m.crossTTL(ns)
	for _, p := range m.peers {
		if c := p.links[i].crossOut; !c.at.IsZero() && now.Sub(c.at) < ttl {
			return false
		}
	}
	deaf := false
	for _, p := range m.peers {
		l := p.links[i]
		if l.rawState.Usable() || m.hearingAny(now, l) {
			return false
		}
		if m.remoteFresh(now, l) && !l.remote.HearsYou {
			deaf = true
		}
	}
	return deaf && m.othersHearEachOther(now, i)
}

// hearingAny reports whether a session of l accepted a frame within
// peerinact.
func (m *Machine) hearingAny(now time.Time, l *link) bool {
	cls := m.nets[l.net].cls
	for s := range l.sessions() {
		if _, inact := cls.effective(s.remoteHB); s.hearing(now, inact) {
			return true
		}
	}
	return false
}

// remoteFresh reports whether the peer's view of l (its link vector) is
// recent enough to believe.
func (m *Machine) remoteFresh(now time.Time, l *link) bool {
	return !l.remoteAt.IsZero() && now.Sub(l.remoteAt) < m.vectorTTL
}
