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
