package logstore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// EpochCheckpointFile holds the leader-epoch cache in Kafka's text format:
//
//	0                   version
//	<n>                 number of entries
//	<epoch> <offset>    n lines, epochs and start offsets strictly increasing
const EpochCheckpointFile = "leader-epoch-checkpoint"

// EpochEntry says that epoch's batches start at StartOffset.
type EpochEntry struct {
	Epoch       uint32
	StartOffset uint64
}

// epochCache is the list of epochs in the log, persisted after each change.
type epochCache struct {
	fsys    FS
	dir     string
	entries []EpochEntry
}

func loadEpochs(fsys FS, dir string) (*epochCache, error) {
	c := &epochCache{fsys: fsys, dir: dir}
	path := filepath.Join(dir, EpochCheckpointFile)
	data, err := ReadFile(fsys, path)
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if c.entries, err = parseEpochs(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func parseEpochs(data []byte) ([]EpochEntry, error) {
	lines := strings.Split(string(data), "\n")
	if len(lines) < 3 || lines[0] != "0" || lines[len(lines)-1] != "" {
		return nil, fmt.Errorf("not a version 0 epoch checkpoint")
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n < 0 || n != len(lines)-3 {
		return nil, fmt.Errorf("entry count %q does not match %d lines", lines[1], len(lines)-3)
	}
	es := make([]EpochEntry, n)
	for i := range es {
		f := strings.Fields(lines[2+i])
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: %q", i+3, lines[2+i])
		}
		e, err1 := strconv.ParseUint(f[0], 10, 32)
		o, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil || (i > 0 && (uint32(e) <= es[i-1].Epoch || o < es[i-1].StartOffset)) {
			return nil, fmt.Errorf("line %d: %q: bad or out of order", i+3, lines[2+i])
		}
		es[i] = EpochEntry{uint32(e), o}
	}
	return es, nil
}

func (c *epochCache) persist() error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	if err := WriteFileAtomic(c.fsys, c.dir, EpochCheckpointFile, b.Bytes()); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(c.dir, EpochCheckpointFile), err)
	}
	return nil
}

func (c *epochCache) latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign notes that epoch starts at offset if it is newer than the latest;
// it reports whether the cache changed.
func (c *epochCache) assign(epoch uint32, offset uint64) bool {
	if l, ok := c.latest(); ok && epoch <= l.Epoch {
		return false
	}
	c.entries = append(c.entries, EpochEntry{epoch, offset})
	return true
}

// truncateFromEnd removes the epochs starting at or after end (the new log
// end offset).
func (c *epochCache) truncateFromEnd(end uint64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= end {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops epochs wholly before start and moves the start of
// the one containing it to start, as Kafka does.
func (c *epochCache) truncateFromStart(start uint64) bool {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].StartOffset <= start {
		i++
	}
	changed := i > 0
	c.entries = c.entries[i:]
	if len(c.entries) > 0 && c.entries[0].StartOffset < start {
		c.entries[0].StartOffset = start
		changed = true
	}
	return changed
}

// endOffsetFor answers a follower's OffsetsForLeaderEpoch request (KIP-101,
// with KIP-279's returned epoch) as Kafka's LeaderEpochFileCache does: for
// the latest epoch, the log end; otherwise the start offset of the first
// higher epoch, with the largest epoch <= requested (or the requested epoch
// if the log has none below it). ok is false when no epoch is higher and the
// requested epoch is not the latest.
func (c *epochCache) endOffsetFor(epoch uint32, logEnd uint64) (uint32, uint64, bool) {
	l, ok := c.latest()
	if !ok {
		return 0, 0, false
	}
	if epoch == l.Epoch {
		return epoch, logEnd, true
	}
	for i, e := range c.entries {
		if e.Epoch > epoch {
			if i == 0 {
				return epoch, e.StartOffset, true
			}
			return c.entries[i-1].Epoch, e.StartOffset, true
		}
	}
	return 0, 0, false
}
