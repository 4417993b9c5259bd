// Package logstore is a Kafka-style append-only log for one topic: record
// batches in segment files, a sparse offset index per segment, a leader-epoch
// checkpoint and a recovery point. A mirror appends the primary's batches as
// raw bytes, unchanged, at the same offsets.
//
// On-disk layout of a topic directory:
//
//	<20-digit base offset>.log    batches, back to back (see batch.go)
//	<20-digit base offset>.index  16-byte entries (see index.go)
//	leader-epoch-checkpoint       "0\n<n>\n<epoch> <start offset>\n"... (epoch.go)
//	recovery-point                8-byte offset + CRC32C (recovery.go)
//
// All integers are big-endian. Metadata files are replaced atomically (tmp,
// fsync, rename, fsync directory). A Log is safe for concurrent use; it starts
// no goroutines: syncing by time and retention happen on calls.
package logstore
