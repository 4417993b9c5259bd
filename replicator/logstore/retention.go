package logstore

import "fmt"

// ApplyRetention deletes whole segments from the start of the log, never the
// active one: while the log exceeds RetentionBytes by at least the oldest
// segment's size, and while the oldest segment's newest batch is older than
// RetentionAge. LogStartOffset moves to the first segment kept. It returns
// the number of segments deleted.
func (l *Log) ApplyRetention() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	cutoff := l.opt.Now().Add(-l.opt.RetentionAge).UnixMilli()
	n := 0
	for n < len(l.segs)-1 {
		s := l.segs[n]
		bySize := l.opt.RetentionBytes > 0 && total-s.size >= l.opt.RetentionBytes
		byAge := l.opt.RetentionAge > 0 && s.maxTs < cutoff
		if !bySize && !byAge {
			break
		}
		total -= s.size
		n++
	}
	if n == 0 {
		return 0, nil
	}
	// The recovery point moves first, so a crash midway never leaves it in
	// a deleted segment (which would make Open rescan the whole log). The
	// active segment's base is safe: earlier segments were fsynced on roll.
	start := l.segs[n].base
	if err := writeRecoveryPoint(l.fs, l.dir, l.active().base); err != nil {
		return 0, l.fail(fmt.Errorf("log %s: %w", l.dir, err))
	}
	old := make([]uint64, n)
	for i, s := range l.segs[:n] {
		old[i] = s.base
		s.close()
	}
	l.segs = l.segs[n:]
	// Oldest first here: a crash midway leaves a suffix, still contiguous.
	for _, b := range old {
		if err := l.dropFrom([]uint64{b}); err != nil {
			return 0, l.fail(fmt.Errorf("log %s: %w", l.dir, err))
		}
	}
	if l.epochs.truncateFromStart(start) {
		if err := l.epochs.persist(); err != nil {
			return n, l.fail(fmt.Errorf("log %s: %w", l.dir, err))
		}
	}
	return n, nil
}
