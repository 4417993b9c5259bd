// Package backend makes a back-end driver (redis, postgresql, exec hooks)
// a copy the failover supervisor can drive (supervisor.Target). It keeps
// the resource's epoch and primary in replicator/resource, like the
// builtin replicator, and reconciles the local back end with them: a
// primary's back end is writable while the supervisor's lease holds and
// fenced when it ends (at that instant, not at the next poll); a
// mirror's follows the primary; an old primary that learnt a higher
// epoch is fenced and made to follow the new primary (DIVERGED, with the
// command to run, when the driver cannot do it safely). Driver calls run
// on the reconciler's goroutine only, so the supervisor's tick never
// waits for a back end.
package backend
