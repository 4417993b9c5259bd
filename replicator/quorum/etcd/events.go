package etcd

// Log events (docs/EVENTS.md).
const (
	EvUnreachable = "quorum.etcd_unreachable" // etcd did not answer: its vote lapses
	EvReachable   = "quorum.etcd_reachable"   // etcd answers again
	EvKeyTaken    = "quorum.etcd_key_taken"   // this node holds a resource's key at an epoch
	EvKeyLost     = "quorum.etcd_key_lost"    // this node no longer holds a key it held
)
