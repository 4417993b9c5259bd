package logstore

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a Log; zero values take the defaults noted.
type Options struct {
	FS            FS     // OSFS{}
	SegmentBytes  int64  // roll the active segment beyond this size; 128 MiB
	IndexInterval int64  // bytes of log between index entries; 4096
	MaxBatchBytes int    // larger batches are refused and read as damage; DefaultMaxSize
	InitialOffset uint64 // base offset of a new, empty log

	// Sync policy, checked on each append: fsync when SyncEveryAppend, or
	// when SyncBytes are unsynced, or when SyncInterval passed since the last
	// sync. With none set only Sync (and rolls, and Close) fsync.
	SyncEveryAppend bool
	SyncBytes       int64
	SyncInterval    time.Duration

	// Retention, applied by ApplyRetention to whole segments other than the
	// active one: keep the log within RetentionBytes; drop segments whose
	// newest batch is older than RetentionAge. Zero disables either.
	RetentionBytes int64
	RetentionAge   time.Duration

	Now func() time.Time // time.Now
}

// Log is one topic's log in its own directory.
type Log struct {
	mu       sync.Mutex
	dir      string
	fs       FS
	opt      Options
	segs     []*segment // sorted by base; the last is active
	epochs   *epochCache
	durable  uint64 // offsets below are fsynced
	unsynced int64
	lastSync time.Time
	rec      Recovery
	failed   error // a failed write or fsync leaves the file state unknown
	closed   bool
}

// Open opens (creating if needed) the log in dir and recovers it.
func Open(dir string, opt Options) (*Log, error) {
	if opt.FS == nil {
		opt.FS = OSFS{}
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = 128 << 20
	}
	// Index positions are uint32.
	opt.SegmentBytes = min(opt.SegmentBytes, math.MaxUint32-DefaultMaxSize)
	if opt.IndexInterval <= 0 {
		opt.IndexInterval = 4096
	}
	if opt.MaxBatchBytes <= 0 || opt.MaxBatchBytes > DefaultMaxSize {
		opt.MaxBatchBytes = DefaultMaxSize
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	l := &Log{dir: dir, fs: opt.FS, opt: opt, lastSync: opt.Now()}
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	names, err := l.fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	var bases []uint64
	logs := map[uint64]bool{}
	for _, n := range names {
		if b, ok := parseSegmentName(n, ".log"); ok {
			bases = append(bases, b)
			logs[b] = true
		}
	}
	for _, n := range names {
		// Leftovers of an interrupted atomic write or segment delete.
		b, isIdx := parseSegmentName(n, ".index")
		if strings.HasSuffix(n, ".tmp") || (isIdx && !logs[b]) {
			if err := l.fs.Remove(filepath.Join(dir, n)); err != nil {
				return nil, fmt.Errorf("log %s: %w", dir, err)
			}
		}
	}
	slices.Sort(bases)
	if l.epochs, err = loadEpochs(l.fs, dir); err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	if err := l.recover(bases); err != nil {
		for _, s := range l.segs {
			s.close()
		}
		return nil, fmt.Errorf("log %s: recovery: %w", dir, err)
	}
	return l, nil
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Recovery reports what Open found.
func (l *Log) Recovery() Recovery { return l.rec }

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active().next
}

// LogStartOffset is the first offset still in the log.
func (l *Log) LogStartOffset() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.segs[0].base
}

// DurableOffset is the offset below which everything is fsynced.
func (l *Log) DurableOffset() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// Size is the total size of the segment files.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

func (l *Log) usable() error {
	if l.closed {
		return fmt.Errorf("log %s: %w", l.dir, ErrClosed)
	}
	if l.failed != nil {
		return fmt.Errorf("log %s: unusable after an earlier failure: %w", l.dir, l.failed)
	}
	return nil
}

// fail marks the log unusable: after a failed write or fsync the kernel's
// view of the file is unknown, so only a reopen (which recovers) is safe.
func (l *Log) fail(err error) error {
	l.failed = err
	return err
}

// Append writes records as one batch at the log end and returns its base
// offset. It is durable once DurableOffset passes it (see the sync policy).
func (l *Log) Append(records [][]byte, epoch uint32, maxTimestamp int64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	base := l.active().next
	raw, err := EncodeBatch(base, epoch, maxTimestamp, records)
	if err != nil {
		return 0, fmt.Errorf("log %s: %w", l.dir, err)
	}
	if len(raw) > l.opt.MaxBatchBytes {
		return 0, fmt.Errorf("log %s: %w: %d bytes, limit %d", l.dir, ErrTooLarge, len(raw), l.opt.MaxBatchBytes)
	}
	b, _, err := DecodeBatch(raw, l.opt.MaxBatchBytes)
	if err != nil {
		return 0, err
	}
	return base, l.append(b)
}

// AppendBatch appends one batch received as raw bytes (the mirror's path),
// unchanged, after checking its CRC and that it starts at the log end.
func (l *Log) AppendBatch(raw []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	b, n, err := DecodeBatch(raw, l.opt.MaxBatchBytes)
	if err != nil {
		return fmt.Errorf("log %s: append at %d: %w", l.dir, l.active().next, err)
	}
	if n != len(raw) {
		return fmt.Errorf("log %s: append: %w", l.dir, errf(ErrBadLength, "%d bytes after the batch", len(raw)-n))
	}
	if b.BaseOffset != l.active().next {
		return fmt.Errorf("log %s: append: %w", l.dir, errf(ErrBadOffset, "batch base offset %d, log end offset %d", b.BaseOffset, l.active().next))
	}
	return l.append(b)
}

func (l *Log) append(b Batch) error {
	if e, ok := l.epochs.latest(); ok && b.Epoch < e.Epoch {
		return fmt.Errorf("log %s: %w: batch epoch %d, latest %d", l.dir, ErrEpochRegression, b.Epoch, e.Epoch)
	}
	s := l.active()
	if s.size > 0 && (s.size+int64(len(b.Raw)) > l.opt.SegmentBytes || b.NextOffset()-s.base > math.MaxUint32) {
		if err := l.roll(); err != nil {
			return l.fail(err)
		}
		s = l.active()
	}
	// The epoch is recorded before its first batch, so the checkpoint never
	// misses an epoch in the log (recovery drops entries past the end).
	if l.epochs.assign(b.Epoch, b.BaseOffset) {
		if err := l.epochs.persist(); err != nil {
			return l.fail(fmt.Errorf("log %s: %w", l.dir, err))
		}
	}
	if err := s.appendRaw(b, l.opt.IndexInterval); err != nil {
		return l.fail(fmt.Errorf("log %s: %w", l.dir, err))
	}
	l.unsynced += int64(len(b.Raw))
	o := l.opt
	if o.SyncEveryAppend || (o.SyncBytes > 0 && l.unsynced >= o.SyncBytes) ||
		(o.SyncInterval > 0 && o.Now().Sub(l.lastSync) >= o.SyncInterval) {
		return l.sync()
	}
	return nil
}

// Sync fsyncs the active segment: everything appended so far is durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.sync()
}

func (l *Log) sync() error {
	s := l.active()
	if l.durable == s.next {
		return nil
	}
	if err := s.log.Sync(); err != nil {
		return l.fail(fmt.Errorf("log %s: %s: sync: %w", l.dir, s.logPath, err))
	}
	l.durable, l.unsynced, l.lastSync = s.next, 0, l.opt.Now()
	return nil
}

// roll makes the active segment durable (log and index), starts a new one
// and moves the recovery point to it.
func (l *Log) roll() error {
	s := l.active()
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("log %s: %s: sync: %w", l.dir, s.logPath, err)
	}
	if err := s.idx.Sync(); err != nil {
		return fmt.Errorf("log %s: %s: sync: %w", l.dir, s.idxPath, err)
	}
	l.durable, l.unsynced, l.lastSync = s.next, 0, l.opt.Now()
	if err := l.createSegment(s.next); err != nil {
		return err
	}
	return writeRecoveryPoint(l.fs, l.dir, s.next)
}

func (l *Log) createSegment(base uint64) error {
	s, err := openSegment(l.fs, l.dir, base, os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("log %s: new segment %d: %w", l.dir, base, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		s.close()
		return fmt.Errorf("log %s: %w", l.dir, err)
	}
	l.segs = append(l.segs, s)
	return nil
}

// segmentFor returns the index of the segment that holds offset.
func (l *Log) segmentFor(offset uint64) int {
	i, _ := slices.BinarySearchFunc(l.segs, offset, func(s *segment, o uint64) int {
		if s.base <= o {
			return -1
		}
		return 1
	})
	return i - 1
}

// Read returns whole raw batches starting with the one that contains offset,
// up to maxBytes (but always at least one batch), from a single segment.
// At the log end it returns nothing; outside the log ErrOffsetOutOfRange.
func (l *Log) Read(offset uint64, maxBytes int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return nil, err
	}
	end := l.active().next
	if offset == end {
		return nil, nil
	}
	if offset < l.segs[0].base || offset > end {
		return nil, fmt.Errorf("log %s: read %d, log is [%d, %d): %w", l.dir, offset, l.segs[0].base, end, ErrOffsetOutOfRange)
	}
	s := l.segs[l.segmentFor(offset)]
	if offset >= s.next { // an empty segment left by a truncation
		return nil, nil
	}
	start, _, err := s.locate(offset, l.opt.MaxBatchBytes)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", l.dir, err)
	}
	pos := start
	for pos < s.size {
		_, size, _, err := s.header(pos, l.opt.MaxBatchBytes)
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", l.dir, err)
		}
		if pos > start && pos+size-start > int64(maxBytes) {
			break
		}
		pos += size
	}
	buf := make([]byte, pos-start)
	if _, err := s.log.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("log %s: %s: read at %d: %w", l.dir, s.logPath, start, err)
	}
	return buf, nil
}

// Truncate removes every batch at or after offset, which must be a batch
// boundary within [LogStartOffset, LogEndOffset]. Epochs starting at or
// after it are forgotten.
func (l *Log) Truncate(offset uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	end := l.active().next
	if offset == end {
		return nil
	}
	if offset < l.segs[0].base || offset > end {
		return fmt.Errorf("log %s: truncate to %d, log is [%d, %d): %w", l.dir, offset, l.segs[0].base, end, ErrOffsetOutOfRange)
	}
	i := l.segmentFor(offset)
	s := l.segs[i]
	pos, base, err := s.locate(offset, l.opt.MaxBatchBytes)
	if err != nil {
		return fmt.Errorf("log %s: %w", l.dir, err)
	}
	if base != offset {
		return fmt.Errorf("log %s: truncate to %d: %w (batch %d contains it)", l.dir, offset, ErrNotBoundary, base)
	}
	var later []uint64
	for _, t := range l.segs[i+1:] {
		t.close()
		later = append(later, t.base)
	}
	l.segs = l.segs[:i+1]
	if err := l.dropFrom(later); err != nil {
		return l.fail(fmt.Errorf("log %s: %w", l.dir, err))
	}
	if err := s.cut(pos, l.opt.MaxBatchBytes, l.opt.IndexInterval); err != nil {
		return l.fail(fmt.Errorf("log %s: %w", l.dir, err))
	}
	l.durable, l.unsynced = offset, 0
	if l.epochs.truncateFromEnd(offset) {
		if err := l.epochs.persist(); err != nil {
			return l.fail(fmt.Errorf("log %s: %w", l.dir, err))
		}
	}
	if err := writeRecoveryPoint(l.fs, l.dir, s.base); err != nil {
		return l.fail(fmt.Errorf("log %s: %w", l.dir, err))
	}
	return nil
}

// EndOffsetFor answers a follower's leader-epoch query (KIP-101/279): the
// largest epoch <= epoch this log has and the offset where it ends here.
func (l *Log) EndOffsetFor(epoch uint32) (uint32, uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epochs.endOffsetFor(epoch, l.active().next)
}

// LatestEpoch is the epoch of the last batch (ok false for an empty log).
func (l *Log) LatestEpoch() (uint32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.epochs.latest()
	return e.Epoch, ok
}

// Epochs returns a copy of the epoch cache.
func (l *Log) Epochs() []EpochEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.epochs.entries)
}

// Close syncs the log, records the recovery point and closes the files.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	var err error
	if l.failed == nil {
		err = l.sync()
		if err == nil {
			err = l.active().idx.Sync()
		}
		if err == nil {
			err = writeRecoveryPoint(l.fs, l.dir, l.active().next)
		}
	}
	for _, s := range l.segs {
		err = errors.Join(err, s.close())
	}
	l.closed = true
	return err
}
