// Package mirror is the fetch protocol between a topic's primary and its
// mirrors (Confluent Cluster Linking's model, Kafka's follower fetch with
// KIP-101/279 leader-epoch truncation), independent of the transport.
//
// The primary answers requests with Serve; the mirror's Fetcher builds
// requests and applies responses. The Fetcher is pure logic like llt/: it is
// fed responses, failures and the current time, reads no clock and starts no
// goroutine, so every timing rule is testable with a fake clock.
package mirror
