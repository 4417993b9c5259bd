package logstore

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A segment is one .log file and its .index. Batches are back to back; the
// first has the segment's base offset and each next one starts where the
// previous ended.
type segment struct {
	base       uint64
	next       uint64 // offset after the last batch
	size       int64  // bytes of whole batches
	maxTs      int64  // largest batch max timestamp, math.MinInt64 if empty
	sinceIndex int64  // bytes appended since the last index entry
	log, idx   File
	logPath    string
	idxPath    string
	index      []indexEntry
}

const nameDigits = 20

func segmentName(base uint64) string { return fmt.Sprintf("%0*d", nameDigits, base) }

// parseSegmentName returns the base offset of "<20 digits>.log".
func parseSegmentName(name, ext string) (uint64, bool) {
	stem, ok := strings.CutSuffix(name, ext)
	if !ok || len(stem) != nameDigits {
		return 0, false
	}
	v, err := strconv.ParseUint(stem, 10, 64)
	return v, err == nil
}

func openSegment(fsys FS, dir string, base uint64, flag int) (*segment, error) {
	s := &segment{
		base:    base,
		next:    base,
		maxTs:   math.MinInt64,
		logPath: filepath.Join(dir, segmentName(base)+".log"),
		idxPath: filepath.Join(dir, segmentName(base)+".index"),
	}
	var err error
	if s.log, err = fsys.OpenFile(s.logPath, os.O_RDWR|flag, 0o644); err != nil {
		return nil, err
	}
	if s.idx, err = fsys.OpenFile(s.idxPath, os.O_RDWR|os.O_CREATE|flag, 0o644); err != nil {
		s.log.Close()
		return nil, err
	}
	return s, nil
}

func (s *segment) close() error {
	err := s.log.Close()
	if e := s.idx.Close(); err == nil {
		err = e
	}
	return err
}

// add records a batch just written at position pos.
func (s *segment) add(pos int64, b Batch, interval int64) {
	if b.MaxTimestamp > s.maxTs {
		s.maxTs = b.MaxTimestamp
	}
	if pos > 0 && s.sinceIndex >= interval {
		s.index = append(s.index, indexEntry{rel: uint32(b.BaseOffset - s.base), pos: uint32(pos), maxTs: s.maxTs})
		s.sinceIndex = 0
	}
	s.sinceIndex += int64(len(b.Raw))
	s.size = pos + int64(len(b.Raw))
	s.next = b.NextOffset()
}

// appendRaw writes a validated batch at the end; on a failed write it cuts
// the file back so the segment holds only whole batches.
func (s *segment) appendRaw(b Batch, interval int64) error {
	pos := s.size
	if _, err := s.log.WriteAt(b.Raw, pos); err != nil {
		if terr := s.log.Truncate(pos); terr != nil {
			return fmt.Errorf("%s: write at %d: %w (and cutting back: %v)", s.logPath, pos, err, terr)
		}
		return fmt.Errorf("%s: write at %d: %w", s.logPath, pos, err)
	}
	n := len(s.index)
	s.add(pos, b, interval)
	if len(s.index) > n {
		// The index is rebuilt on recovery, so it is synced only on roll.
		e := s.index[n]
		if _, err := s.idx.WriteAt(e.append(nil), int64(n*indexEntrySize)); err != nil {
			return fmt.Errorf("%s: %w", s.idxPath, err)
		}
	}
	return nil
}

// scanBatches validates the batches in r[start:end] that should begin at
// offset expect, calling fn for each (b.Raw is reused after fn returns). It
// returns the position after the last good batch, the offset after it, and
// the damage that stopped it (nil at a clean end).
func scanBatches(r io.ReaderAt, start, end int64, expect uint64, maxSize int, fn func(pos int64, b Batch)) (int64, uint64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, start, end-start), int(min(max(end-start, 16), 1<<20)))
	pos := start
	buf := make([]byte, HeaderSize, min(max(end-start, HeaderSize), 64<<10))
	for pos < end {
		if n, err := io.ReadFull(br, buf[:HeaderSize]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return pos, expect, errf(ErrTruncated, "%d of %d header bytes", n, HeaderSize)
			}
			return pos, expect, err
		}
		size, err := BatchSize(buf[:HeaderSize], maxSize)
		if err != nil {
			return pos, expect, err
		}
		if int64(size) > end-pos {
			return pos, expect, errf(ErrTruncated, "batch of %d bytes, %d left in the file", size, end-pos)
		}
		if cap(buf) < size {
			nb := make([]byte, size)
			copy(nb, buf[:HeaderSize])
			buf = nb
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf[HeaderSize:]); err != nil {
			return pos, expect, err
		}
		b, _, err := DecodeBatch(buf, maxSize)
		if err != nil {
			return pos, expect, err
		}
		if b.BaseOffset != expect {
			return pos, expect, errf(ErrBadOffset, "base offset %d, expected %d", b.BaseOffset, expect)
		}
		if fn != nil {
			fn(pos, b)
		}
		pos += int64(size)
		expect = b.NextOffset()
	}
	return pos, expect, nil
}

// header reads the base offset, size and count of the batch at pos. The data
// was validated when written or recovered, but bounds are still checked so a
// file changed under us gives an error, not a loop.
func (s *segment) header(pos int64, maxSize int) (base uint64, size int64, count uint32, err error) {
	var h [HeaderSize]byte
	if pos+HeaderSize > s.size {
		return 0, 0, 0, &CorruptError{File: s.logPath, Pos: pos, Err: errf(ErrTruncated, "header beyond the end")}
	}
	if _, err := s.log.ReadAt(h[:], pos); err != nil {
		return 0, 0, 0, fmt.Errorf("%s: read at %d: %w", s.logPath, pos, err)
	}
	n, err := BatchSize(h[:], maxSize)
	if err != nil || pos+int64(n) > s.size {
		return 0, 0, 0, &CorruptError{File: s.logPath, Pos: pos, Err: ErrBadLength}
	}
	return binary.BigEndian.Uint64(h[:]), int64(n), binary.BigEndian.Uint32(h[20:]), nil
}

// locate finds the batch containing offset (base <= offset < next) and
// returns its position and base offset.
func (s *segment) locate(offset uint64, maxSize int) (int64, uint64, error) {
	e := lookup(s.index, offset-s.base)
	pos := int64(e.pos)
	for pos < s.size {
		base, size, count, err := s.header(pos, maxSize)
		if err != nil {
			return 0, 0, err
		}
		if offset < base+uint64(count) {
			return pos, base, nil
		}
		pos += size
	}
	return 0, 0, fmt.Errorf("%s: offset %d: %w", s.logPath, offset, ErrOffsetOutOfRange)
}

// cut drops every batch at or after position pos (a batch boundary) and
// recomputes the tail state from the index and the bytes left.
func (s *segment) cut(pos int64, maxSize int, interval int64) error {
	if err := s.log.Truncate(pos); err != nil {
		return fmt.Errorf("%s: truncate to %d: %w", s.logPath, pos, err)
	}
	for len(s.index) > 0 && int64(s.index[len(s.index)-1].pos) >= pos {
		s.index = s.index[:len(s.index)-1]
	}
	if _, err := s.writeIndex(); err != nil {
		return fmt.Errorf("%s: %w", s.idxPath, err)
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("%s: sync: %w", s.logPath, err)
	}
	return s.rescanTail(pos, maxSize, interval)
}

// rescanTail recomputes next, maxTs, sinceIndex and the index after its
// last entry by scanning from that entry to size (which must hold whole
// valid batches); a missing or short index is thus completed.
func (s *segment) rescanTail(size int64, maxSize int, interval int64) error {
	from, expect := int64(0), s.base
	s.maxTs, s.sinceIndex = math.MinInt64, 0
	if n := len(s.index); n > 0 {
		e := s.index[n-1]
		from, expect = int64(e.pos), s.base+uint64(e.rel)
		s.index = s.index[:n-1]
		if n > 1 {
			s.maxTs = s.index[n-2].maxTs
		}
		s.sinceIndex = interval // re-adds the entry at from
	}
	end, next, err := scanBatches(s.log, from, size, expect, maxSize, func(pos int64, b Batch) {
		s.add(pos, b, interval)
	})
	s.size, s.next = end, next
	if err != nil {
		return &CorruptError{File: s.logPath, Pos: end, Offset: next, Err: err}
	}
	return nil
}
