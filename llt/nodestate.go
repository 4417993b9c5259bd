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
