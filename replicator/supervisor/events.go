package supervisor

// Event ids of the failover supervisor (docs/EVENTS.md).
const (
	EvDecision      = "failover.decision"       // the mirror's decision changed (nothing to alert on)
	EvRefused       = "failover.refused"        // no failover, for a reason the operator must know (partition, one-way, flapping, no quorum, lag)
	EvPromote       = "failover.promote"        // all five conditions hold: failing over
	EvPromoted      = "failover.promoted"       // the failover is done: this node is the primary
	EvPromoteFailed = "failover.promote_failed" // the failover did not complete
	EvFenced        = "failover.fenced"         // this primary takes no writes: no quorum, or a pause of its own
	EvUnfenced      = "failover.unfenced"       // quorum confirmed: this primary takes writes
	EvEpochLearned  = "failover.epoch_learned"  // a higher epoch was heard: this copy follows the new primary
	EvHistoryError  = "failover.history_error"  // the history could not be written: the decision is not acted on
	EvError         = "failover.error"          // the copy refused a supervisor's request
	EvResigned      = "failover.resigned"       // this primary's back end is down: it gives the resource up
	EvResumed       = "failover.resumed"        // the back end answers again and the mirror did not take over
)
