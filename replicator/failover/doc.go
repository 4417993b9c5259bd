// Package failover holds the rules of automatic failover (DESIGN.md
// "Failover supervision"), as pure logic like llt/: it is fed what the
// agent knows (the primary's node state and since when, quorum, the
// mirror's lag sample, epochs) and the current time, and returns a
// decision with its reason. It does no I/O, reads no clock and starts no
// goroutine, so every timing rule is tested with a fake clock.
//
// Nodes tell each other their views (view.go) ten times a second. The
// primary writes only under a lease (Lease, votes.go): a majority of
// voters answered one of its recent views saying they see it alive and
// hold it as the primary; the lease lasts selffence/2 from the send time
// of the view they answered, so a pause, a partition or one-way loss ends
// it without any clock comparison between nodes. The mirror fails over
// only when all five conditions hold (Decide), its quorum counted from
// voters that confirm the primary DOWN for selffence + margin (Confirm).
// grace > selffence + margin makes the two meet: by the time the mirror
// acts, the old primary's lease has ended. sim_test.go runs the faults of
// the Jepsen suite against these rules with a fake clock.
package failover
