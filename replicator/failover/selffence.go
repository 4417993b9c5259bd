package failover

import (
	"fmt"
	"time"
)

// FenceInputs is what the primary knows of itself, at Now.
type FenceInputs struct {
	Now       time.Time
	HasQuorum bool
	// QuorumLostAt is when it last went from quorum to none (zero: never).
	QuorumLostAt time.Time
	// PausedAt is when the agent last noticed its own pause (zero: never);
	// QuorumAt when quorum was last confirmed.
	PausedAt, QuorumAt time.Time
}

// SelfFence says whether the primary must refuse writes now. It fences
// halfway through selffence after losing quorum (half the budget is left
// for the agent's own delays), and at once after a pause of its own until
// quorum is confirmed after it: a paused primary cannot know what the
// others decided meanwhile.
func SelfFence(cfg Config, in FenceInputs) (bool, string) {
	if !in.PausedAt.IsZero() && !in.QuorumAt.After(in.PausedAt) {
		return true, fmt.Sprintf("this node was paused at %s: no writes until quorum is confirmed again", in.PausedAt.Format(time.RFC3339Nano))
	}
	if in.HasQuorum {
		return false, ""
	}
	if lost := in.Now.Sub(in.QuorumLostAt); in.QuorumLostAt.IsZero() || lost >= cfg.SelfFence/2 {
		return true, fmt.Sprintf("no quorum for %v (selffence %v): the other side may promote", lost.Round(time.Millisecond), cfg.SelfFence)
	}
	return false, ""
}
