package llt

import (
	"fmt"
	"time"
)

// Diagnostics tunes the rules that name what is wrong with a link beyond
// up and down (DESIGN.md "reasons"). The zero value of a field takes its
// default (DefaultDiagnostics).
type Diagnostics struct {
	// BroadcastEvery: a heartbeat otherwise unicast to a peer is broadcast
	// at least this often, so that frames reach NICs on the wrong segment
	// (cross-connected cables, two networks on one switch, a duplicate
	// node id) and say so.
	BroadcastEvery time.Duration
	// LossWindow and LossThreshold: a link that loses more than
	// LossThreshold percent of its frames (either way) over LossWindow is
	// lossy; it stays UP.
	LossWindow    time.Duration
	LossThreshold int
	// FlapCount downs within FlapWindow make a link flapping: once back,
	// it is held DOWN until it has been up for a hold that starts at
	// FlapHold and doubles with every further down, up to FlapHoldMax
	// (kronosnet-style backoff). The hold returns to FlapHold after a
	// FlapWindow without a down.
	FlapCount   int
	FlapWindow  time.Duration
	FlapHold    time.Duration
	FlapHoldMax time.Duration
	// ProbeEvery: every ProbeEvery-th heartbeat of an UP ether link is
	// followed by a copy padded to the network's MTU, to prove that frames
	// of that size pass (mtu-mismatch otherwise). Negative disables the
	// probes.
	ProbeEvery int
	// Claim: for this long after start the node only asks, by broadcast,
	// whether another node already uses its id, and sends no heartbeat
	// (lltconfig -c does the same). Zero: DefaultClaimHeartbeats
	// heartbeats; negative: no claim phase.
	Claim time.Duration
	// TableTTL: a peer's link table older than this no longer counts.
	TableTTL time.Duration
}

// Defaults of Diagnostics.
const (
	DefaultBroadcastEvery  = time.Second
	DefaultLossWindow      = 10 * time.Second
	DefaultLossThreshold   = 5 // percent
	DefaultFlapCount       = 3
	DefaultFlapWindow      = 10 * time.Second
	DefaultFlapHold        = 2 * time.Second
	DefaultFlapHoldMax     = 30 * time.Second
	DefaultProbeEvery      = 5
	DefaultClaimHeartbeats = 3
	DefaultTableTTL        = 3 * time.Second
)

// withDefaults fills zero fields; hb is the heartbeat interval.
func (d Diagnostics) withDefaults(hb time.Duration) Diagnostics {
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&d.BroadcastEvery, DefaultBroadcastEvery)
	set(&d.LossWindow, DefaultLossWindow)
	set(&d.FlapWindow, DefaultFlapWindow)
	set(&d.FlapHold, DefaultFlapHold)
	set(&d.FlapHoldMax, DefaultFlapHoldMax)
	set(&d.Claim, DefaultClaimHeartbeats*hb)
	set(&d.TableTTL, DefaultTableTTL)
	if d.LossThreshold == 0 {
		d.LossThreshold = DefaultLossThreshold
	}
	if d.FlapCount == 0 {
		d.FlapCount = DefaultFlapCount
	}
	if d.ProbeEvery == 0 {
		d.ProbeEvery = DefaultProbeEvery
	}
	return d
}

// Validate checks the values (after defaults).
func (d Diagnostics) Validate() error {
	switch {
	case d.BroadcastEvery < 0 || d.LossWindow < 0 || d.FlapWindow < 0 || d.FlapHold < 0 || d.FlapHoldMax < 0 || d.TableTTL < 0:
		return fmt.Errorf("llt: diagnostics durations must not be negative")
	case d.LossThreshold < 0 || d.LossThreshold > 100:
		return fmt.Errorf("llt: loss threshold %d%%: want 1..100", d.LossThreshold)
	case d.FlapCount < 0:
		return fmt.Errorf("llt: flap count %d: want at least 2", d.FlapCount)
	case d.FlapHoldMax != 0 && d.FlapHold > d.FlapHoldMax:
		return fmt.Errorf("llt: flap hold %v above its maximum %v", d.FlapHold, d.FlapHoldMax)
	}
	return nil
}
