package llt

import "time"

// evalPeer recomputes a peer's node state and reports changes.
func (m *Machine) evalPeer(now time.Time, p *peer) {
	up, private := 0, 0
	for _, l := range p.links {
		if l.state.Usable() {
			up++
			if !m.nets[l.net].cfg.Lowpri {
				private++
			}
		}
	}
	var st NodeState
	switch {
	case up == 0 && !p.everOpen:
		st = NodeConnWait
	case up == 0:
		st = NodeDown
	case private >= m.redundancy:
		st = NodeOpen
	default:
		st = NodeJeopardy
	}
	if up > 0 {
		p.everOpen = true
	}
	if st == p.state {
		return
	}
	m.emit(Event{Kind: EventNode, At: now, Peer: p.id, Network: -1, PrevNode: p.state, Node: st})
	p.state, p.since = st, now
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
