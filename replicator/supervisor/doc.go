// Package supervisor runs the failover rules (replicator/failover) for
// every resource of the cluster on this node: it hears the other nodes'
// views and composes its own, keeps the lease of each resource this node
// is primary of, decides failover of each it is mirror of, relays epochs
// (on a witness too), and writes every decision to the history before it
// acts. The agent feeds it the link layer's peer states ten times a
// second (Tick) and sends the view Tick returns to every peer; the
// resource itself is reached through a Target (the builtin replicator,
// or a back-end driver).
package supervisor
