package llt

import "iter"

// The one walk over the Machine's state: peers, their links (one per
// network), and the links' sessions (one per configured channel).

// links yields every (peer, link) pair, peers by id, links by network.
func (m *Machine) links() iter.Seq2[*peer, *link] {
	return func(yield func(*peer, *link) bool) {
		for _, p := range m.peers {
			for _, l := range p.links {
				if !yield(p, l) {
					return
				}
			}
		}
	}
}

// sessions yields the configured sessions of l.
func (l *link) sessions() iter.Seq[*session] {
	return func(yield func(*session) bool) {
		for _, s := range l.sess {
			if s != nil && !yield(s) {
				return
			}
		}
	}
}

// activeSessions yields the sessions of l that are not Down.
func (l *link) activeSessions() iter.Seq[*session] {
	return func(yield func(*session) bool) {
		for _, s := range l.sess {
			if s != nil && s.state != SessionDown && !yield(s) {
				return
			}
		}
	}
}
