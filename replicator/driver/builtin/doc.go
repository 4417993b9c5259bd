// Package builtin is the builtin driver: it runs the mirror replicator's
// resources on this node. On a resource's primary it serves the mirror's
// fetches (long-poll) and, with acks: mirror, holds each produce until the
// mirror has the batch durably; on the mirror it fetches every topic into
// read-only mirror topics. Promote, failover, reverse-and-start and
// truncate-and-restore move the primary between the two nodes, bumping the
// resource's persisted epoch.
//
// Nodes talk over streams: authenticated, encrypted TCP connections the
// agent opens on the best link to the peer (links/tcp.Stream), one request
// and one answer at a time per stream. A request is a mirror fetch (the
// replicator/mirror codec, first byte 'T') or a control message (first
// byte 'C', then JSON: views, freeze, unfreeze, demote, add-topic).
package builtin
