package logstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// RecoveryPointFile holds the offset below which every segment was fsynced
// (8 bytes big-endian) and a CRC32C of those 8 bytes. On Open, segments
// wholly below it are trusted; the one containing it and later ones are
// scanned and validated.
const RecoveryPointFile = "recovery-point"

func readRecoveryPoint(fsys FS, dir string) (uint64, error) {
	path := filepath.Join(dir, RecoveryPointFile)
	b, err := ReadFile(fsys, path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) != 12 || crc32.Checksum(b[:8], castagnoli) != binary.BigEndian.Uint32(b[8:]) {
		// Written atomically, so this is damage: scanning everything is safe.
		return 0, nil
	}
	return binary.BigEndian.Uint64(b), nil
}

func writeRecoveryPoint(fsys FS, dir string, offset uint64) error {
	b := binary.BigEndian.AppendUint64(nil, offset)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if err := WriteFileAtomic(fsys, dir, RecoveryPointFile, b); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, RecoveryPointFile), err)
	}
	return nil
}

// Recovery says what Open found and did.
type Recovery struct {
	RecoveryPoint   uint64 // offset read from RecoveryPointFile
	ScannedFrom     uint64 // base offset of the first segment validated
	Cut             error  // the damage the log was cut at (*CorruptError), nil if none
	CutAt           uint64 // log end offset after the cut
	SegmentsDeleted int    // segments removed after the cut
	IndexesRebuilt  int    // index files rewritten
}

// recover loads the segments found in the directory (sorted bases): it
// trusts those wholly below the recovery point (loading their index and
// checking their tail), validates the others batch by batch, and cuts the
// log at the first damage.
func (l *Log) recover(bases []uint64) error {
	rp, err := readRecoveryPoint(l.fs, l.dir)
	if err != nil {
		return err
	}
	l.rec.RecoveryPoint = rp
	first := 0 // first segment to validate: the one containing rp
	for i, b := range bases {
		if b <= rp {
			first = i
		}
	}
	if len(bases) > 0 {
		l.rec.ScannedFrom = bases[first]
	}
	type epochStart struct {
		epoch uint32
		start uint64
	}
	var seen []epochStart
	for i, base := range bases {
		s, err := openSegment(l.fs, l.dir, base, 0)
		if err != nil {
			return err
		}
		if n := len(l.segs); n > 0 && l.segs[n-1].next != base {
			s.close()
			l.rec.Cut = &CorruptError{File: s.logPath, Offset: l.segs[n-1].next,
				Err: errf(ErrBadOffset, "segment base %d, previous segment ends at %d", base, l.segs[n-1].next)}
			l.rec.SegmentsDeleted += len(bases) - i
			if err := l.dropFrom(bases[i:]); err != nil {
				return err
			}
			break
		}
		l.segs = append(l.segs, s)
		size, err := s.log.Size()
		if err != nil {
			return fmt.Errorf("%s: %w", s.logPath, err)
		}
		var damage error
		if i < first && l.loadIndex(s, size) == nil {
			damage = s.rescanTail(size, l.opt.MaxBatchBytes, l.opt.IndexInterval)
			if wrote, err := s.writeIndex(); err != nil {
				return fmt.Errorf("%s: %w", s.idxPath, err)
			} else if wrote {
				l.rec.IndexesRebuilt++
			}
		} else {
			s.index, s.sinceIndex = nil, 0
			end, next, err := scanBatches(s.log, 0, size, base, l.opt.MaxBatchBytes, func(pos int64, b Batch) {
				s.add(pos, b, l.opt.IndexInterval)
				if len(seen) == 0 || b.Epoch > seen[len(seen)-1].epoch {
					seen = append(seen, epochStart{b.Epoch, b.BaseOffset})
				}
			})
			s.size, s.next = end, next
			if err != nil {
				damage = &CorruptError{File: s.logPath, Pos: end, Offset: next, Err: err}
			}
			if wrote, err := s.writeIndex(); err != nil {
				return fmt.Errorf("%s: %w", s.idxPath, err)
			} else if wrote {
				l.rec.IndexesRebuilt++
			}
		}
		if damage != nil || s.size != size {
			l.rec.Cut = damage
			if err := s.cut(s.size, l.opt.MaxBatchBytes, l.opt.IndexInterval); err != nil {
				return err
			}
			l.rec.SegmentsDeleted += len(bases) - i - 1
			if err := l.dropFrom(bases[i+1:]); err != nil {
				return err
			}
			break
		}
	}
	if len(l.segs) == 0 {
		if err := l.createSegment(l.opt.InitialOffset); err != nil {
			return err
		}
	}
	end := l.segs[len(l.segs)-1].next
	l.rec.CutAt = end
	changed := l.epochs.truncateFromEnd(end)
	for _, e := range seen {
		if e.start < end && l.epochs.assign(e.epoch, e.start) {
			changed = true
		}
	}
	if l.epochs.truncateFromStart(l.segs[0].base) {
		changed = true
	}
	if changed {
		if err := l.epochs.persist(); err != nil {
			return err
		}
	}
	// What was read back may sit only in the page cache (a killed process):
	// make it durable so the whole log counts as flushed.
	if err := l.active().log.Sync(); err != nil {
		return fmt.Errorf("%s: sync: %w", l.active().logPath, err)
	}
	l.durable = end
	if rp > end || rp < l.segs[0].base {
		return writeRecoveryPoint(l.fs, l.dir, l.active().base)
	}
	return nil
}

// loadIndex reads a trusted segment's index and checks it against the file.
func (l *Log) loadIndex(s *segment, size int64) error {
	b, err := ReadFile(l.fs, s.idxPath)
	if err != nil {
		return err
	}
	es, err := decodeIndex(b, size)
	if err != nil {
		return err
	}
	if n := len(es); n > 0 {
		s.size = size
		base, _, _, err := s.header(int64(es[n-1].pos), l.opt.MaxBatchBytes)
		if err != nil || base != s.base+uint64(es[n-1].rel) {
			return fmt.Errorf("last index entry does not point at its batch")
		}
	}
	s.index = es
	return nil
}

// dropFrom deletes the segments with these bases (newest first, so a crash
// midway leaves a contiguous log).
func (l *Log) dropFrom(bases []uint64) error {
	for i := len(bases) - 1; i >= 0; i-- {
		for _, ext := range []string{".log", ".index"} {
			p := filepath.Join(l.dir, segmentName(bases[i])+ext)
			if err := l.fs.Remove(p); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	if len(bases) == 0 {
		return nil
	}
	return l.fs.SyncDir(l.dir)
}
