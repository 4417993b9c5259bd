package topics

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tether-ha/tether/replicator/logstore"
)

// groupFile is the content of <dir>/groups/<group>.json.
type groupFile struct {
	Version int              `json:"version"`
	Offsets map[string]int64 `json:"offsets"` // by topic
}

const groupFileVersion = 1

// groupOffsets holds every group's committed offsets. One mutex serialises
// commits so each file write carries the latest state of its group.
type groupOffsets struct {
	mu     sync.Mutex
	fs     logstore.FS
	dir    string
	groups map[string]map[string]int64 // group → topic → offset
}

func (g *groupOffsets) load(fsys logstore.FS, dir string) error {
	g.fs, g.dir, g.groups = fsys, dir, map[string]map[string]int64{}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		path := filepath.Join(dir, n)
		if strings.HasSuffix(n, ".tmp") { // an interrupted commit: the old file stands
			if err := fsys.Remove(path); err != nil {
				return err
			}
			continue
		}
		group, ok := strings.CutSuffix(n, ".json")
		if !ok || !ValidName(group) {
			return fmt.Errorf("%s: not a consumer group file", path)
		}
		data, err := logstore.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		var f groupFile
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("consumer group file %s: %w", path, err)
		}
		if f.Version != groupFileVersion {
			return fmt.Errorf("consumer group file %s: unknown version %d", path, f.Version)
		}
		if f.Offsets == nil {
			f.Offsets = map[string]int64{}
		}
		g.groups[group] = f.Offsets
	}
	return nil
}

// Commit records group's committed offset for topic, durably, replacing
// any earlier one (a consumer may rewind). offset must be in [0, high
// watermark].
func (s *Store) Commit(group, topicName string, offset int64) error {
	if err := checkName("consumer group", group); err != nil {
		return err
	}
	t, err := s.topic(topicName)
	if err != nil {
		return err
	}
	if hw := int64(t.log.DurableOffset()); offset < 0 || offset > hw {
		return fmt.Errorf("%w: cannot commit offset %d for topic %q: it must be between 0 and the log end offset %d", ErrInvalidOffset, offset, topicName, hw)
	}
	return s.groups.commit(group, topicName, offset)
}

func (g *groupOffsets) commit(group, topic string, offset int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	next := maps.Clone(g.groups[group])
	if next == nil {
		next = map[string]int64{}
	}
	next[topic] = offset
	data, err := json.Marshal(groupFile{Version: groupFileVersion, Offsets: next})
	if err != nil {
		return err
	}
	if err := logstore.WriteFileAtomic(g.fs, g.dir, group+".json", data); err != nil {
		return fmt.Errorf("commit offset of consumer group %q: %w", group, err)
	}
	// Memory changes only once the file did, so a failed commit is not seen.
	g.groups[group] = next
	return nil
}

// Committed returns group's committed offset for topic.
func (s *Store) Committed(group, topic string) (int64, bool) {
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	o, ok := s.groups.groups[group][topic]
	return o, ok
}

// forTopic returns every group's committed offset for topic.
func (g *groupOffsets) forTopic(topic string) map[string]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int64{}
	for group, offs := range g.groups {
		if o, ok := offs[topic]; ok {
			out[group] = o
		}
	}
	return out
}
