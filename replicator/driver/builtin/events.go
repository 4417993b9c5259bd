package builtin

// Log event ids of the builtin driver (docs/EVENTS.md).
const (
	EvMirrorStart = "mirror.start"     // this node started mirroring a resource
	EvMirrorError = "mirror.error"     // something failed that the driver retries or reports
	EvStreamError = "mirror.stream"    // a peer sent what this node cannot answer: stream closed
	EvPaused      = "mirror.paused"    // the operator paused mirror topics
	EvResumed     = "mirror.resumed"   // and resumed them
	EvPromoting   = "mirror.promoting" // a graceful promote began: the primary is asked to freeze
	EvPromoted    = "mirror.promoted"  // a graceful promote (or reverse-and-start) completed here
	EvFailedOver  = "mirror.failover"  // a forced failover made this node primary
	EvFrozen      = "mirror.frozen"    // the primary refuses writes for the mirror's promote
	EvUnfrozen    = "mirror.unfrozen"  // the promote gave up: writes resume
	EvStopped     = "mirror.stopped"   // this old primary was demoted by a graceful promote
	EvReversed    = "mirror.reversed"  // this old primary became the new primary's mirror
	EvDiverged    = "mirror.diverged"  // another node was promoted while this one was primary
	EvRestored    = "mirror.restored"  // truncate-and-restore completed
	EvEpoch       = "mirror.epoch"     // the resource's epoch or primary changed as seen from here
	EvSplitBrain  = "mirror.split_brain"
	EvStalePeer   = "mirror.stale_peer" // the other node still claims an older epoch
	EvTopicAdded  = "mirror.topic_added"
	EvUnconfirmed = "mirror.unconfirmed" // a primary started without hearing the other node
)
