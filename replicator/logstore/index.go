package logstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
)

// Index entry layout (big-endian), 16 bytes, one per IndexInterval bytes of
// log; the batch at position 0 is implicit:
//
//	0  offset - segment base  uint32  base offset of the batch indexed
//	4  position               uint32  its byte position in the .log file
//	8  max timestamp          int64   largest batch max timestamp in the
//	                                  segment up to and including this batch
//
// The timestamp lets retention by age know a segment's newest record without
// scanning it.
const indexEntrySize = 16

type indexEntry struct {
	rel   uint32
	pos   uint32
	maxTs int64
}

func (e indexEntry) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, e.rel)
	b = binary.BigEndian.AppendUint32(b, e.pos)
	return binary.BigEndian.AppendUint64(b, uint64(e.maxTs))
}

func encodeIndex(es []indexEntry) []byte {
	b := make([]byte, 0, len(es)*indexEntrySize)
	for _, e := range es {
		b = e.append(b)
	}
	return b
}

// decodeIndex parses an index file and checks that it is plausible for a
// log file of logSize bytes: whole entries, strictly increasing.
func decodeIndex(b []byte, logSize int64) ([]indexEntry, error) {
	if len(b)%indexEntrySize != 0 {
		return nil, fmt.Errorf("index size %d is not a multiple of %d", len(b), indexEntrySize)
	}
	es := make([]indexEntry, len(b)/indexEntrySize)
	for i := range es {
		p := b[i*indexEntrySize:]
		e := indexEntry{
			rel:   binary.BigEndian.Uint32(p),
			pos:   binary.BigEndian.Uint32(p[4:]),
			maxTs: int64(binary.BigEndian.Uint64(p[8:])),
		}
		if e.pos == 0 || int64(e.pos) >= logSize || (i > 0 && (e.rel <= es[i-1].rel || e.pos <= es[i-1].pos)) {
			return nil, fmt.Errorf("index entry %d (offset +%d, position %d) out of order or beyond the log", i, e.rel, e.pos)
		}
		es[i] = e
	}
	return es, nil
}

// lookup returns the last entry at or before offset rel, or the implicit
// entry at position 0.
func lookup(es []indexEntry, rel uint64) indexEntry {
	i := sort.Search(len(es), func(i int) bool { return uint64(es[i].rel) > rel })
	if i == 0 {
		return indexEntry{}
	}
	return es[i-1]
}

// writeIndex replaces the index file's content with es unless it already
// holds exactly that; it reports whether it wrote.
func (s *segment) writeIndex() (bool, error) {
	want := encodeIndex(s.index)
	if n, err := s.idx.Size(); err == nil && n == int64(len(want)) {
		have := make([]byte, n)
		if _, err := s.idx.ReadAt(have, 0); err == nil && bytes.Equal(have, want) {
			return false, nil
		}
	}
	if _, err := s.idx.WriteAt(want, 0); err != nil {
		return true, err
	}
	if err := s.idx.Truncate(int64(len(want))); err != nil {
		return true, err
	}
	return true, s.idx.Sync()
}
