package llt

import "time"

// evalPeer recomputes a peer's node state and reports changes.
func (m *Machine) evalPeer(now time.Time, p *peer) {
	up, private, stopped := 0, 0, false
	for _, l := range p.links {
		stopped = stopped || l.stopped
		if l.state.Usable() {
			up++
			if !m.nets[l.net].cfg.Lowpri {
				private++
			}
		}
	}
	if up > 0 {
		p.everOpen = true
	}
	var st NodeState
	switch {
	case private >= m.redundancy:
		st = NodeOpen
	case private > 0:
		st = NodeJeopardy
	case !p.everOpen:
		// Never heard since we started: the public channel alone does
		// not make it PARTITIONED, as it joins before the private links
		// have had time to come up.
		st = NodeConnWait
	case up > 0 || p.public && !stopped:
		// Every private link is lost but the node is alive (a lowpri
		// link, the public channel): the interconnect is broken, not
		// the node. Failover must not act on this. A peer that said it
		// is stopping is DOWN, though its public channel leaves later.
		st = NodePartitioned
	default:
		st = NodeDown
	}
	if st == p.state {
		return
	}
	m.emit(Event{Kind: EventNode, At: now, Peer: p.id, Network: -1, PrevNode: p.state, Node: st})
	p.state, p.since = st, now
}

// SetPublic reports whether a peer is alive on the public channel (the
// agent's memberlist): a peer whose private links are all lost is
// PARTITIONED while it is, DOWN only when it is gone there too.
func (m *Machine) SetPublic(now time.Time, id NodeID, alive bool) {
	m.enter()
	m.checkPause(now)
	p := m.peerByID[id]
	if p == nil || p.public == alive {
		return
	}
	p.public = alive
	m.evalPeer(now, p)
}

// localState is this node's own state: what its NICs allow. OPEN with at
// least as many working private networks as a peer needs to be OPEN,
// JEOPARDY with fewer, DOWN (cut off from the cluster) with none. A
// network works when its NIC has carrier and is not nic-silent.
type localState struct {
	state   NodeState
	since   time.Time
	working int // networks that work, lowpri ones included
}

// evalLocal recomputes this node's own state and reports changes.
func (m *Machine) evalLocal(now time.Time) {
	working, private := 0, 0
	for i := range m.nets {
		ns := &m.nets[i]
		if !ns.carrier || ns.ev.silent {
			continue
		}
		working++
		if !ns.cfg.Lowpri {
			private++
		}
	}
	st := NodeDown
	switch {
	case private >= m.redundancy:
		st = NodeOpen
	case working > 0:
		st = NodeJeopardy
	}
	m.local.working = working
	if st == m.local.state {
		return
	}
	m.emit(Event{Kind: EventLocal, At: now, Peer: m.cfg.Self, Network: -1, PrevNode: m.local.state, Node: st})
	m.local.state, m.local.since = st, now
}
