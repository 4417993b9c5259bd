package llt

import (
	"fmt"
	"time"
)

// Timers are the heartbeat timers (DESIGN.md). The lowpri set applies to
// networks marked lowpri.
type Timers struct {
	Heartbeat     time.Duration // send interval (frames are jittered to 75..100 % of it)
	PeerTrouble   time.Duration // nothing heard this long: link TROUBLE, still up
	PeerInact     time.Duration // nothing heard this long: link DOWN
	HeartbeatLo   time.Duration
	PeerTroubleLo time.Duration
	PeerInactLo   time.Duration
}

// DefaultTimers returns DESIGN.md's defaults.
func DefaultTimers() Timers {
	return Timers{
		Heartbeat:     100 * time.Millisecond,
		PeerTrouble:   300 * time.Millisecond,
		PeerInact:     600 * time.Millisecond,
		HeartbeatLo:   500 * time.Millisecond,
		PeerTroubleLo: 2000 * time.Millisecond,
		PeerInactLo:   3000 * time.Millisecond,
	}
}

// Validate checks 0 < heartbeat < peertrouble < peerinact for both sets.
func (t Timers) Validate() error {
	if !(0 < t.Heartbeat && t.Heartbeat < t.PeerTrouble && t.PeerTrouble < t.PeerInact) {
		return fmt.Errorf("llt: timers must satisfy 0 < heartbeat (%v) < peertrouble (%v) < peerinact (%v)", t.Heartbeat, t.PeerTrouble, t.PeerInact)
	}
	if !(0 < t.HeartbeatLo && t.HeartbeatLo < t.PeerTroubleLo && t.PeerTroubleLo < t.PeerInactLo) {
		return fmt.Errorf("llt: timers must satisfy 0 < heartbeatlo (%v) < peertroublelo (%v) < peerinactlo (%v)", t.HeartbeatLo, t.PeerTroubleLo, t.PeerInactLo)
	}
	return nil
}

// class is the timer set of one priority class.
type class struct {
	heartbeat, trouble, inact time.Duration
}

func (t Timers) class(lowpri bool) class {
	if lowpri {
		return class{t.HeartbeatLo, t.PeerTroubleLo, t.PeerInactLo}
	}
	return class{t.Heartbeat, t.PeerTrouble, t.PeerInact}
}

// effective returns the detection timers of a session given what the peer
// advertises: a peer that sends more slowly than our timers assume would
// otherwise flap forever, so we never expect more than about three frames
// per peerinact or two per peertrouble from it (BFD does the same: the
// detection time follows the remote transmit interval).
func (c class) effective(remoteHeartbeat time.Duration) (trouble, inact time.Duration) {
	trouble, inact = c.trouble, c.inact
	if min := 2 * remoteHeartbeat; trouble < min {
		trouble = min
	}
	if min := 3 * remoteHeartbeat; inact < min {
		inact = min
	}
	if inact <= trouble {
		inact = trouble + remoteHeartbeat
	}
	return trouble, inact
}
