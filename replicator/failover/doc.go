// Package failover holds the rules of automatic failover (DESIGN.md
// "Failover supervision"), as pure logic like llt/: it is fed what the
// agent knows (the primary's node state and since when, quorum, the
// mirror's lag sample, epochs) and the current time, and returns a
// decision with its reason. It does no I/O, reads no clock and starts no
// goroutine, so every timing rule is tested with a fake clock.
//
// The mirror side fails over only when all five conditions hold (Decide);
// the primary side stops writing when it may be fenced by the other side
// (SelfFence). grace > selffence + margin makes the two meet: by the time
// the mirror acts, the old primary has been refusing writes for at least
// margin.
package failover
