package llt

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Message API errors.
var (
	ErrNoRoute  = errors.New("llt: no usable link to the peer")
	ErrTooLarge = errors.New("llt: message too large for any usable link")
)

// Route is the network and channel a message takes.
type Route struct {
	Network int
	Channel Channel
}

// freshWithin is how recently a session must have been heard to be
// preferred for messages: heartbeats arrive at most one interval apart
// (jittered down to 75 %), so a link not heard for a quarter interval more
// than that has most likely failed and is passed over for the next one,
// long before peertrouble. A sender thus fails over between a quarter and
// one and a quarter intervals after a fault (its last heartbeat may have
// come up to an interval before it); a merely late frame only moves
// messages to another link for a moment, which costs nothing.
func freshWithin(hb time.Duration) time.Duration { return hb + hb/4 }

// SendMessage sends payload to peer over the best usable link
// (MessageRoute) and returns the route it took.
//
// Delivery is at most once: no acknowledgement, no retransmission beyond
// what TCP itself does. Messages on one route arrive in order; a change of
// route can reorder or lose messages in flight.
func (m *Machine) SendMessage(now time.Time, peer NodeID, payload []byte) (Route, error) {
	r, err := m.MessageRoute(now, peer, len(payload))
	if err != nil {
		return r, err
	}
	return r, m.SendMessageVia(now, peer, r, payload)
}

// MessageRoute is the best usable link to peer for a message of size
// bytes: private networks first, in configuration order, then lowpri ones;
// on a network a TCP connection that is up (reliable, any size up to
// MaxPayload), else the ether channel if the payload fits its MTU. Links
// heard within one and a quarter heartbeats come first (freshWithin), so a
// sender fails over to the next link about one heartbeat after the best
// one falls silent, without waiting for peertrouble or peerinact.
// A caller that must check the route first (the agent checks that a TCP
// connection has room) sends with SendMessageVia.
func (m *Machine) MessageRoute(now time.Time, peer NodeID, size int) (Route, error) {
	p := m.peerByID[peer]
	if p == nil {
		return Route{}, fmt.Errorf("llt: unknown peer %d", peer)
	}
	if size > MaxPayload {
		return Route{}, ErrTooLarge
	}
	tooLarge := false
	for _, freshOnly := range []bool{true, false} {
		for _, lowpri := range []bool{false, true} {
			for _, l := range p.links {
				ns := &m.nets[l.net]
				if ns.cfg.Lowpri != lowpri || !l.state.Usable() || !ns.carrier {
					continue
				}
				for _, c := range [...]Channel{ChannelTCPTo, ChannelTCPFrom, ChannelEther} {
					s := l.sess[c]
					if s == nil || s.state != SessionUp {
						continue
					}
					if freshOnly && now.Sub(s.lastRx) >= freshWithin(ns.cls.heartbeat) {
						continue
					}
					if c == ChannelEther && size > m.maxEtherPayload(l) {
						tooLarge = true
						continue
					}
					return Route{Network: l.net, Channel: c}, nil
				}
			}
		}
	}
	if tooLarge {
		return Route{}, ErrTooLarge
	}
	return Route{}, ErrNoRoute
}

// SendMessageVia sends payload to peer on the given route, which must be
// up (probes use it to test one link).
func (m *Machine) SendMessageVia(now time.Time, peer NodeID, r Route, payload []byte) error {
	m.enter()
	p := m.peerByID[peer]
	if p == nil {
		return fmt.Errorf("llt: unknown peer %d", peer)
	}
	if r.Network < 0 || r.Network >= len(m.nets) || r.Channel >= NumChannels {
		return fmt.Errorf("llt: bad route %+v", r)
	}
	l := p.links[r.Network]
	s := l.sess[r.Channel]
	switch {
	case s == nil:
		return fmt.Errorf("llt: network %s has no %s channel", m.nets[r.Network].cfg.Name, r.Channel)
	case s.state != SessionUp:
		return ErrNoRoute
	case len(payload) > MaxPayload || r.Channel == ChannelEther && len(payload) > m.maxEtherPayload(l):
		return ErrTooLarge
	}
	m.send(now, p, l, s, FrameMessage, payload)
	return nil
}

// SendPaddedVia sends payload to peer on the given route in a frame
// padded to frameLen bytes (the length of the encoded frame: an Ethernet
// payload on the ether channel), to test that frames of that size pass:
// ping at the MTU. On the ether channel frameLen may not exceed the
// network's MTU.
func (m *Machine) SendPaddedVia(now time.Time, peer NodeID, r Route, payload []byte, frameLen int) error {
	m.enter()
	p := m.peerByID[peer]
	if p == nil {
		return fmt.Errorf("llt: unknown peer %d", peer)
	}
	if r.Network < 0 || r.Network >= len(m.nets) || r.Channel >= NumChannels {
		return fmt.Errorf("llt: bad route %+v", r)
	}
	ns := &m.nets[r.Network]
	l := p.links[r.Network]
	s := l.sess[r.Channel]
	switch {
	case s == nil:
		return fmt.Errorf("llt: network %s has no %s channel", ns.cfg.Name, r.Channel)
	case s.state != SessionUp:
		return ErrNoRoute
	case len(payload) > MaxPayload || frameLen-len(payload) > MaxPad+MaxOverhead || (r.Channel == ChannelEther && frameLen > ns.cfg.MTU):
		return ErrTooLarge
	}
	m.sendPadded(now, p, l, s, FrameMessage, payload, frameLen)
	return nil
}

// maxEtherPayload is the largest message l's ether channel takes: what
// the network's MTU allows, less when an MTU mismatch was found on it:
// then what fits in the largest frame seen to pass, given the length of
// this peer's frames without payload (not the worst case MaxOverhead,
// which would leave nothing while the search starts low).
func (m *Machine) maxEtherPayload(l *link) int {
	limit := m.nets[l.net].cfg.MaxEtherPayload
	if bad, ok := m.mtuMismatch(l); bad {
		limit = min(limit, max(ok-m.frameOverhead(), 0))
	}
	return limit
}

// frameOverhead is the length of one of our frames without payload or
// padding: header, network name, a full link vector, key id and tag.
func (m *Machine) frameOverhead() int {
	n := headerLen + MaxNameLen + trailerLen
	for i := range m.nets {
		n += vectorFixedLen + len(m.nets[i].cfg.Name)
	}
	return n
}

// NetworkMTU returns the MTU network i's ether frames are sized to.
func (m *Machine) NetworkMTU(i int) int { return m.nets[i].cfg.MTU }

// routeOrder is the order in which MessageRoute tries the networks.
func (m *Machine) routeOrder() []int {
	var out []int
	for _, lowpri := range []bool{false, true} {
		for i := range m.nets {
			if m.nets[i].cfg.Lowpri == lowpri {
				out = append(out, i)
			}
		}
	}
	return out
}

// StreamNetworks lists the networks a dedicated TCP connection to peer
// (the replicator's streams) can ride now, best first, by MessageRoute's
// rules: private networks before lowpri ones, in configuration order,
// links heard within one and a quarter heartbeats first; a network counts
// only when its link is usable, its carrier up and one of its tcp
// sessions up (the peer's listener is reachable there).
func (m *Machine) StreamNetworks(now time.Time, peer NodeID) []int {
	p := m.peerByID[peer]
	if p == nil {
		return nil
	}
	var out []int
	for _, freshOnly := range []bool{true, false} {
		for _, lowpri := range []bool{false, true} {
			for _, l := range p.links {
				ns := &m.nets[l.net]
				if ns.cfg.Lowpri != lowpri || !l.state.Usable() || !ns.carrier || slices.Contains(out, l.net) {
					continue
				}
				for _, c := range [...]Channel{ChannelTCPTo, ChannelTCPFrom} {
					s := l.sess[c]
					if s == nil || s.state != SessionUp {
						continue
					}
					if freshOnly && now.Sub(s.lastRx) >= freshWithin(ns.cls.heartbeat) {
						continue
					}
					out = append(out, l.net)
					break
				}
			}
		}
	}
	return out
}
