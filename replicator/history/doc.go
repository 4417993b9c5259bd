// Package history is the failover decision history: one record for every
// decision, taken or refused (DESIGN.md "Failover supervision"), kept in an
// append-only file of JSON lines under the replicator's directory, each
// appended and fsynced before the decision acts. A torn last line (a crash
// mid-append) is skipped and counted, never a reason to refuse the rest.
package history
