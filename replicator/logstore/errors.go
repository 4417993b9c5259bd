package logstore

import (
	"errors"
	"fmt"
)

// Kinds of damage a batch can show; test with errors.Is.
var (
	ErrTruncated  = errors.New("batch truncated")
	ErrBadLength  = errors.New("bad batch length")
	ErrBadCRC     = errors.New("batch CRC mismatch")
	ErrBadRecords = errors.New("bad records in batch")
	ErrBadOffset  = errors.New("unexpected batch base offset")
)

// Errors of the log API.
var (
	ErrOffsetOutOfRange = errors.New("offset out of range")
	ErrNotBoundary      = errors.New("offset is not a batch boundary")
	ErrEpochRegression  = errors.New("epoch lower than the log's latest epoch")
	ErrClosed           = errors.New("log closed")
	ErrEmptyBatch       = errors.New("batch has no records")
	ErrTooLarge         = errors.New("batch too large")
)

// CorruptError locates damage found in a segment file.
type CorruptError struct {
	File   string // path of the segment file
	Pos    int64  // byte position of the bad batch in the file
	Offset uint64 // offset the batch was expected to start at
	Err    error  // one of ErrTruncated, ErrBadLength, ErrBadCRC, ...
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: position %d (offset %d): %v", e.File, e.Pos, e.Offset, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// batchError adds a detail to a sentinel while keeping errors.Is working.
type batchError struct {
	kind   error
	detail string
}

func (e *batchError) Error() string { return e.kind.Error() + ": " + e.detail }
func (e *batchError) Unwrap() error { return e.kind }

func errf(kind error, format string, args ...any) error {
	return &batchError{kind: kind, detail: fmt.Sprintf(format, args...)}
}
