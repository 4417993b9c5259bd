// Package topics is the set of topics a node holds under one directory, with
// produce, long-poll consume and consumer-group offsets on top of logstore.
//
// Layout:
//
//	<dir>/topics/<name>/   one logstore.Log per topic
//	<dir>/groups/<g>.json  committed offsets of consumer group g, by topic
//
// Group files are replaced atomically (tmp, fsync, rename, fsync directory).
// A Store is safe for concurrent use and starts no goroutines.
package topics
