package topics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
)

// Record is one consumed record.
type Record struct {
	Offset    int64
	Timestamp time.Time // its batch's max timestamp (batches carry one)
	Value     []byte
}

// Fetch is the answer to a Consume.
type Fetch struct {
	Records       []Record
	NextOffset    int64 // where the next Consume should start
	HighWatermark int64 // the durable log end when the fetch was read
}

// Consume returns records from offset on, up to maxBytes of values but at
// least one record. At the high watermark it waits up to wait for a
// produce (or until ctx is done or the store closes) and may return no
// records. An offset outside [log start, high watermark] is an
// *OutOfRangeError.
func (s *Store) Consume(ctx context.Context, name string, offset int64, maxBytes int, wait time.Duration) (Fetch, error) {
	t, err := s.topic(name)
	if err != nil {
		return Fetch{}, err
	}
	var timeout <-chan time.Time
	if wait > 0 {
		tm := time.NewTimer(wait)
		defer tm.Stop()
		timeout = tm.C
	}
	for {
		changed := t.changed()
		f, err := s.read(t, offset, maxBytes)
		if err != nil || len(f.Records) > 0 || wait <= 0 {
			return f, err
		}
		select {
		case <-changed:
		case <-timeout:
			return f, nil
		case <-ctx.Done():
			return f, ctx.Err()
		case <-s.done:
			return f, ErrClosed
		}
	}
}

// read reads without waiting; only durable records are returned, so a
// consumer never sees a record that a crash could take back.
func (s *Store) read(t *topic, offset int64, maxBytes int) (Fetch, error) {
	start, hw := int64(t.log.LogStartOffset()), int64(t.log.DurableOffset())
	f := Fetch{NextOffset: offset, HighWatermark: hw}
	if offset < start || offset > hw {
		return f, &OutOfRangeError{Topic: t.name, Offset: offset, Start: start, End: hw}
	}
	if offset == hw {
		return f, nil
	}
	// logstore reads whole batches from one segment per call and counts
	// headers and skipped records; read on until maxBytes of values.
	size := 0
	for f.NextOffset < hw && (len(f.Records) == 0 || size < maxBytes) {
		n := len(f.Records)
		var err error
		if size, err = s.readBatches(t, &f, size, maxBytes); err != nil {
			return f, err
		}
		if len(f.Records) == n {
			break
		}
	}
	return f, nil
}

// readBatches appends to f the records of one logstore read from
// f.NextOffset, stopping at the high watermark or at maxBytes of values
// (size already taken); it returns the new size.
func (s *Store) readBatches(t *topic, f *Fetch, size, maxBytes int) (int, error) {
	offset, hw := f.NextOffset, f.HighWatermark
	raw, err := t.log.Read(uint64(offset), max(maxBytes-size, 1))
	if errors.Is(err, logstore.ErrOffsetOutOfRange) {
		// Retention moved the start between the check and the read.
		start, end := int64(t.log.LogStartOffset()), int64(t.log.DurableOffset())
		return size, &OutOfRangeError{Topic: t.name, Offset: offset, Start: start, End: end}
	}
	if err != nil {
		return size, fmt.Errorf("consume from topic %q: %w", t.name, err)
	}
	for len(raw) > 0 {
		b, n, err := logstore.DecodeBatch(raw, 0)
		if err != nil {
			return size, fmt.Errorf("consume from topic %q at %d: %w", t.name, offset, err)
		}
		raw = raw[n:]
		ts := time.UnixMilli(b.MaxTimestamp)
		for o, v := range b.Records() {
			if int64(o) < offset { // the first batch may start before offset
				continue
			}
			if int64(o) >= hw || (len(f.Records) > 0 && size+len(v) > maxBytes) {
				return size, nil
			}
			size += len(v)
			f.Records = append(f.Records, Record{Offset: int64(o), Timestamp: ts, Value: v})
			f.NextOffset = int64(o) + 1
		}
	}
	return size, nil
}
