package failover

import (
	"fmt"
	"time"
)

// Config is a resource's failover: section.
type Config struct {
	Auto bool
	// Grace: how long the primary must be DOWN before the mirror acts.
	Grace time.Duration
	// SelfFence: how soon after losing quorum (or noticing its own
	// pause) the primary stops taking writes.
	SelfFence time.Duration
	// MaxLag: above this many records of lag an operator decides.
	MaxLag uint64
	// Margin between the old primary's fence and the mirror's promotion,
	// for clocks, scheduling and the last write in flight.
	Margin time.Duration
	// LagFresh: how long before the primary was declared DOWN the
	// mirror's last lag sample may have been taken. A sample comes with
	// every answer of the primary, so it stops at the failure; one much
	// older means the mirror had stalled before, and the lag it shows is
	// not what a failover gives up.
	LagFresh time.Duration
}

// Defaults (DESIGN.md's example).
const (
	DefaultGrace     = 3 * time.Second
	DefaultSelfFence = time.Second
	DefaultMaxLag    = 1000
	DefaultMargin    = 500 * time.Millisecond
	DefaultLagFresh  = 2 * time.Second
)

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.SelfFence == 0 {
		c.SelfFence = DefaultSelfFence
	}
	if c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.Margin == 0 {
		c.Margin = DefaultMargin
	}
	if c.LagFresh == 0 {
		c.LagFresh = DefaultLagFresh
	}
	return c
}

// Validate checks grace > selffence + margin: otherwise the mirror could
// promote while the old primary still takes writes.
func (c Config) Validate() error {
	switch {
	case c.Grace <= 0 || c.SelfFence <= 0 || c.Margin < 0:
		return fmt.Errorf("failover: grace (%v) and selffence (%v) must be positive", c.Grace, c.SelfFence)
	case c.Grace <= c.SelfFence+c.Margin:
		return fmt.Errorf("failover: grace (%v) must be more than selffence (%v) + margin (%v): "+
			"the mirror must not promote before the old primary has stopped writing", c.Grace, c.SelfFence, c.Margin)
	case c.LagFresh <= 0:
		return fmt.Errorf("failover: the lag sample's freshness (%v) must be positive", c.LagFresh)
	}
	return nil
}
