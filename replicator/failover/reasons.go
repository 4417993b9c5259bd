package failover

// Reasons lists every decision reason id (the Reason* constants), in the
// order Decide tries them: the values of the tether_failover_decision
// state set, which emits every one on every scrape. A reason added to
// rules.go must be added here (reasons_test.go checks it).
var Reasons = []string{
	ReasonNotMirror,
	ReasonAutoOff,
	ReasonEpochChanged,
	ReasonResigned,
	ReasonOneWay,
	ReasonFlapping,
	ReasonPrimaryUp,
	ReasonJeopardy,
	ReasonPartitioned,
	ReasonNeverSeen,
	ReasonGrace,
	ReasonNoQuorumPossible,
	ReasonNoQuorum,
	ReasonNotFenced,
	ReasonMirrorUnusable,
	ReasonLagStale,
	ReasonLagTooHigh,
	ReasonPromote,
}
