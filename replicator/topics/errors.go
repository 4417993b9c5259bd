package topics

import (
	"errors"
	"fmt"

	"github.com/tether-ha/tether/replicator/logstore"
)

// Errors of the store; test with errors.Is.
var (
	ErrInvalidName   = errors.New("invalid name")
	ErrTopicExists   = errors.New("topic already exists")
	ErrUnknownTopic  = errors.New("no such topic")
	ErrNoRecords     = errors.New("no records to produce")
	ErrInvalidOffset = errors.New("invalid offset")
	ErrClosed        = errors.New("topic store closed")
	// ErrNotWritable is the kind of every refusal to produce on this node
	// (a mirror, a primary frozen for a promote, stopped or diverged).
	ErrNotWritable = errors.New("topic is not writable on this node")
	// ErrNotAcknowledged: the records are durable on this node but what
	// the resource's acks ask for (the mirror's copy) did not come.
	ErrNotAcknowledged = errors.New("not acknowledged")
	// ErrOffsetOutOfRange is logstore's, so either layer's error matches.
	ErrOffsetOutOfRange = logstore.ErrOffsetOutOfRange
)

// OutOfRangeError is a consume from outside [Start, End]; it carries the
// bounds so a consumer can reset to one of them.
type OutOfRangeError struct {
	Topic      string
	Offset     int64
	Start, End int64
}

func (e *OutOfRangeError) Error() string {
	return fmt.Sprintf("offset %d is out of range for topic %q: valid offsets are %d to %d", e.Offset, e.Topic, e.Start, e.End)
}

func (e *OutOfRangeError) Unwrap() error { return ErrOffsetOutOfRange }
