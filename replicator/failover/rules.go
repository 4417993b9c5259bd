package failover

import (
	"fmt"
	"time"
)

// Node states of the primary as llt names them (DESIGN.md "Node states").
const (
	NodeOpen        = "OPEN"
	NodeJeopardy    = "JEOPARDY"
	NodePartitioned = "PARTITIONED"
	NodeDown        = "DOWN"
	NodeConnWait    = "CONNWAIT"
)

// Reasons: stable ids of a decision, for the history, the log and alerts.
const (
	ReasonPromote          = "primary-dead"        // all five conditions hold: fail over
	ReasonAutoOff          = "auto-off"            // failover.auto is false
	ReasonNotMirror        = "not-mirror"          // this node is not the resource's mirror
	ReasonPrimaryUp        = "primary-up"          // the primary is OPEN: nothing to do
	ReasonJeopardy         = "primary-jeopardy"    // some links lost, not all: never act
	ReasonPartitioned      = "primary-partitioned" // private links lost, alive on the public channel: split-brain risk, never act
	ReasonOneWay           = "one-way"             // a link loses frames one way: never act
	ReasonFlapping         = "flapping"            // links flap: never act
	ReasonNeverSeen        = "primary-never-seen"  // CONNWAIT: no data about it, never act
	ReasonGrace            = "within-grace"        // DOWN, but not for grace yet
	ReasonNoQuorumPossible = "no-quorum-possible"  // too few voters: automatic failover is off
	ReasonNoQuorum         = "no-quorum"           // this node is not in a majority
	ReasonNotFenced        = "not-fenced"          // the old primary cannot be known fenced yet
	ReasonMirrorUnusable   = "mirror-unusable"     // the mirror's data is diverged, failed or paused
	ReasonLagStale         = "lag-stale"           // the last lag sample is too old to trust
	ReasonLagTooHigh       = "lag-above-max"       // an operator decides
	ReasonEpochChanged     = "epoch-changed"       // somebody else promoted
	// The primary node is up but its back end is not: after grace it
	// resigns (fenced for good at its epoch) and says so in its views.
	ReasonResigned = "primary-resigned" // the primary gave the resource up: fail over
)

// Primary is what this node knows of the resource's primary node.
type Primary struct {
	State string    // its llt node state (Node*)
	Since time.Time // when it entered State
	// OneWay and Flapping: a link to it loses frames one way, or flaps.
	OneWay, Flapping bool
	// LastHeard: when a frame of it last arrived on any private link
	// (zero: unknown). A primary that dies is PARTITIONED until the
	// public channel declares it dead too, then DOWN: its lag stops at
	// its last frame, not when it became DOWN.
	LastHeard time.Time
	// Resigned: a fresh view of the primary says it gave the resource up
	// at this epoch (it is fenced and stays so) because its back end has
	// not answered since BackendLost.
	Resigned    bool
	BackendLost time.Time
}

// Quorum is the votes this node can count now (itself included).
type Quorum struct {
	Voters int // nodes and witnesses that vote
	Votes  int // reachable voters, this node included (a witness's too)
	// Witness: a witness's vote is among Votes. A witness votes only on
	// its own evidence (it has seen the primary DOWN itself, Confirm), a
	// path independent of the links this node lost.
	Witness bool
}

// Possible: a majority can exist at all (two nodes need a witness).
func (q Quorum) Possible() bool { return q.Voters >= 3 }

// Has: this node is in a majority.
func (q Quorum) Has() bool {
	return q.Possible() && 2*q.Votes > q.Voters
}

// Mirror is the state of this node's copy.
type Mirror struct {
	Usable     bool      // not DIVERGED, FAILED or paused
	LagRecords uint64    // at the last sample
	SampledAt  time.Time // when the primary last answered a fetch
}

// Inputs is everything Decide needs, at Now.
type Inputs struct {
	Now       time.Time
	IsMirror  bool
	Epoch     uint32 // the resource's epoch this node holds
	EpochSeen uint32 // the highest epoch heard from anyone
	Primary   Primary
	Quorum    Quorum
	Mirror    Mirror
}

// Decision is the verdict of one evaluation.
type Decision struct {
	Promote bool
	Reason  string // Reason*
	Detail  string // for people
	// Alert: a state the operator must know about even though nothing is
	// done (partitions, one-way loss, flapping, no quorum, high lag).
	Alert bool
}

// lost is when the primary stopped being heard: its last frame, or when
// it became DOWN if that is not known.
func lost(p Primary) time.Time {
	if !p.LastHeard.IsZero() && p.LastHeard.Before(p.Since) {
		return p.LastHeard
	}
	return p.Since
}

// Decide applies the five conditions, in order, and says why it acts or
// does not. The order puts the states that must never cause a failover
// before the timers, so a PARTITIONED primary is reported as such.
func Decide(cfg Config, in Inputs) Decision {
	p := in.Primary
	down := in.Now.Sub(p.Since)
	switch {
	case !in.IsMirror:
		return Decision{Reason: ReasonNotMirror, Detail: "this node is not the resource's mirror"}
	case !cfg.Auto:
		return Decision{Reason: ReasonAutoOff, Detail: "automatic failover is off (failover.auto: false)"}
	case in.EpochSeen > in.Epoch:
		return Decision{Reason: ReasonEpochChanged, Alert: true,
			Detail: fmt.Sprintf("epoch %d was seen, this node holds %d: somebody else promoted", in.EpochSeen, in.Epoch)}
	case p.Resigned:
		return resigned(cfg, in)
	case p.OneWay:
		return Decision{Reason: ReasonOneWay, Alert: true, Detail: "a link to the primary loses frames one way: not a dead primary"}
	case p.Flapping:
		return Decision{Reason: ReasonFlapping, Alert: true, Detail: "links to the primary flap: not a dead primary"}
	}
	switch p.State {
	case NodeOpen:
		return Decision{Reason: ReasonPrimaryUp, Detail: "the primary is OPEN"}
	case NodeJeopardy:
		return Decision{Reason: ReasonJeopardy, Alert: true, Detail: "the primary is in JEOPARDY (some links lost): never a failover"}
	case NodePartitioned:
		return Decision{Reason: ReasonPartitioned, Alert: true,
			Detail: "the primary is PARTITIONED: every private link lost but alive on the public channel; failing over would make two primaries"}
	case NodeDown:
	default:
		return Decision{Reason: ReasonNeverSeen, Detail: fmt.Sprintf("the primary is %s: nothing is known of it", p.State)}
	}
	switch {
	case down < cfg.Grace:
		return Decision{Reason: ReasonGrace, Detail: fmt.Sprintf("the primary is DOWN for %v of grace %v", down.Round(time.Millisecond), cfg.Grace)}
	case !in.Quorum.Possible():
		return Decision{Reason: ReasonNoQuorumPossible, Alert: true,
			Detail: fmt.Sprintf("%d voters: a two-node cluster needs a witness; automatic failover is off", in.Quorum.Voters)}
	case !in.Quorum.Has():
		return Decision{Reason: ReasonNoQuorum, Alert: true,
			Detail: fmt.Sprintf("%d of %d votes: this node is not in a majority", in.Quorum.Votes, in.Quorum.Voters)}
	case down < cfg.SelfFence+cfg.Margin:
		// Unreachable with a valid config (grace > selffence + margin);
		// kept so that the rule stands on its own.
		return Decision{Reason: ReasonNotFenced, Detail: "the old primary may still be writing"}
	}
	if d, ok := usable(cfg, in.Mirror, lost(p)); !ok {
		return d
	}
	return Decision{Promote: true, Reason: ReasonPromote,
		Detail: fmt.Sprintf("the primary is DOWN for %v (grace %v), %d of %d votes, lag %d records",
			down.Round(time.Millisecond), cfg.Grace, in.Quorum.Votes, in.Quorum.Voters, in.Mirror.LagRecords)}
}

// usable checks the mirror's data and lag, sampled at most LagFresh
// before the primary was lost.
func usable(cfg Config, m Mirror, lost time.Time) (Decision, bool) {
	switch {
	case !m.Usable:
		return Decision{Reason: ReasonMirrorUnusable, Alert: true, Detail: "this mirror's data is not usable (diverged, failed or paused)"}, false
	case lost.Sub(m.SampledAt) > cfg.LagFresh:
		return Decision{Reason: ReasonLagStale, Alert: true,
			Detail: fmt.Sprintf("the last lag sample was taken %v before the primary was lost (at most %v): the mirror had stalled, the lag given up is unknown",
				lost.Sub(m.SampledAt).Round(time.Millisecond), cfg.LagFresh)}, false
	case m.LagRecords > cfg.MaxLag:
		return Decision{Reason: ReasonLagTooHigh, Alert: true,
			Detail: fmt.Sprintf("lag %d records is above max_lag %d: an operator decides (tetherctl mirror failover)", m.LagRecords, cfg.MaxLag)}, false
	}
	return Decision{}, true
}

// resigned decides on a primary that gave the resource up. It needs no
// confirmation that the primary is gone: the primary itself says, over
// the links, that it is fenced at this epoch for good; the rest of the
// conditions hold as for a dead primary.
func resigned(cfg Config, in Inputs) Decision {
	if !in.Quorum.Possible() {
		return Decision{Reason: ReasonNoQuorumPossible, Alert: true,
			Detail: fmt.Sprintf("the primary resigned (its back end is down) but there are %d voters: automatic failover is off", in.Quorum.Voters)}
	}
	if d, ok := usable(cfg, in.Mirror, in.Primary.BackendLost); !ok {
		d.Detail = "the primary resigned (its back end is down), but " + d.Detail
		return d
	}
	return Decision{Promote: true, Reason: ReasonResigned,
		Detail: fmt.Sprintf("the primary resigned: its back end has not answered for %v; lag %d",
			in.Now.Sub(in.Primary.BackendLost).Round(time.Millisecond), in.Mirror.LagRecords)}
}
