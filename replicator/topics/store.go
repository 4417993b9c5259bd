package topics

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
)

// Role is what a node's copy of a topic is: the writable primary, or a
// read-only mirror (gate.go).
type Role string

// RolePrimary is a writable topic.
const RolePrimary Role = "primary"

// Options configure a Store; zero values take the defaults noted.
type Options struct {
	// Log is the template for every topic's log (its FS is also used for
	// the group files). The store fsyncs each produce itself, so the
	// log's own sync policy only matters for data it never acknowledged.
	Log logstore.Options
	// Epoch is stamped on every produced batch of a topic without a gate
	// of its own (SetGate: a resource's epoch, owned by the replicator).
	// Appending with an epoch lower than a topic's latest fails with
	// logstore.ErrEpochRegression.
	Epoch uint32
	Now   func() time.Time // time.Now; batch timestamps
}

// Store is the topics and consumer groups of one directory.
type Store struct {
	dir  string
	fs   logstore.FS
	opt  Options
	done chan struct{} // closed by Close: wakes long-polls

	mu     sync.RWMutex // guards topics and closed; not held during I/O on a topic
	topics map[string]*topic
	closed bool

	groups groupOffsets
}

// topic is one open log plus the channel long-polls wait on.
type topic struct {
	name string
	log  *logstore.Log

	wmu  sync.Mutex // held from the gate check to the end of Append
	gate Gate

	mu     sync.Mutex
	notify chan struct{} // closed (and replaced) when the high watermark moves
}

// changed returns the channel closed at the next high-watermark move. Take
// it before reading the watermark, so no wake-up falls in between.
func (t *topic) changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.notify
}

func (t *topic) wake() {
	t.mu.Lock()
	defer t.mu.Unlock()
	close(t.notify)
	t.notify = make(chan struct{})
}

// Open opens (creating if needed) the store in dir and every topic in it.
func Open(dir string, opt Options) (*Store, error) {
	if opt.Log.FS == nil {
		opt.Log.FS = logstore.OSFS{}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Store{dir: dir, fs: opt.Log.FS, opt: opt, done: make(chan struct{}), topics: map[string]*topic{}}
	for _, d := range []string{s.topicsDir(), s.groupsDir()} {
		if err := s.fs.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("topic store %s: %w", dir, err)
		}
	}
	names, err := s.fs.ReadDir(s.topicsDir())
	if err != nil {
		return nil, fmt.Errorf("topic store %s: %w", dir, err)
	}
	slices.Sort(names)
	for _, n := range names {
		if !ValidName(n) {
			// Never created by us (Create validates): refuse rather than
			// guess, so a stray entry is noticed.
			s.closeLogs()
			return nil, fmt.Errorf("topic store %s: %q in %s is not a valid topic name", dir, n, s.topicsDir())
		}
		l, err := logstore.Open(filepath.Join(s.topicsDir(), n), opt.Log)
		if err != nil {
			s.closeLogs()
			return nil, fmt.Errorf("topic store %s: topic %q: %w", dir, n, err)
		}
		s.topics[n] = newTopic(n, l, opt.Epoch)
	}
	if err := s.groups.load(s.fs, s.groupsDir()); err != nil {
		s.closeLogs()
		return nil, fmt.Errorf("topic store %s: %w", dir, err)
	}
	return s, nil
}

func newTopic(name string, l *logstore.Log, epoch uint32) *topic {
	return &topic{name: name, log: l, notify: make(chan struct{}), gate: Gate{Role: RolePrimary, Epoch: epoch}}
}

func (s *Store) topicsDir() string { return filepath.Join(s.dir, "topics") }
func (s *Store) groupsDir() string { return filepath.Join(s.dir, "groups") }

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) closeLogs() error {
	var err error
	for _, t := range s.topics {
		err = errors.Join(err, t.log.Close())
	}
	return err
}

// Close wakes every long-poll and closes every topic's log. Calls after it
// fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	return s.closeLogs()
}

// topic returns the open topic name.
func (s *Store) topic(name string) (*topic, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	t, ok := s.topics[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	return t, nil
}

// Create creates an empty topic.
func (s *Store) Create(name string) error {
	if err := checkName("topic", name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.topics[name]; ok {
		return fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	l, err := logstore.Open(filepath.Join(s.topicsDir(), name), s.opt.Log)
	if err != nil {
		return fmt.Errorf("create topic %q: %w", name, err)
	}
	// The topic's directory entry must survive a crash like its data.
	if err := s.fs.SyncDir(s.topicsDir()); err != nil {
		l.Close()
		return fmt.Errorf("create topic %q: %w", name, err)
	}
	s.topics[name] = newTopic(name, l, s.opt.Epoch)
	return nil
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name           string
	Role           Role
	LogStartOffset int64
	LogEndOffset   int64 // the high watermark: everything below is fsynced
	SizeBytes      int64
	Segments       int
	Epoch          uint32           // of the latest batch; 0 for an empty log
	Groups         map[string]int64 // committed offset by consumer group
}

// List describes every topic, sorted by name.
func (s *Store) List() []TopicInfo {
	s.mu.RLock()
	ts := make([]*topic, 0, len(s.topics))
	for _, t := range s.topics {
		ts = append(ts, t)
	}
	s.mu.RUnlock()
	slices.SortFunc(ts, func(a, b *topic) int { return strings.Compare(a.name, b.name) })
	out := make([]TopicInfo, len(ts))
	for i, t := range ts {
		out[i] = s.describe(t)
	}
	return out
}

// Describe describes one topic.
func (s *Store) Describe(name string) (TopicInfo, error) {
	t, err := s.topic(name)
	if err != nil {
		return TopicInfo{}, err
	}
	return s.describe(t), nil
}

func (s *Store) describe(t *topic) TopicInfo {
	epoch, _ := t.log.LatestEpoch()
	t.wmu.Lock()
	role := t.gate.Role
	t.wmu.Unlock()
	info := TopicInfo{
		Name:           t.name,
		Role:           role,
		LogStartOffset: int64(t.log.LogStartOffset()),
		LogEndOffset:   int64(t.log.DurableOffset()),
		SizeBytes:      t.log.Size(),
		Epoch:          epoch,
		Groups:         s.groups.forTopic(t.name),
	}
	// logstore does not export its segment count; its files tell it.
	if names, err := s.fs.ReadDir(t.log.Dir()); err == nil {
		for _, n := range names {
			if strings.HasSuffix(n, ".log") {
				info.Segments++
			}
		}
	}
	return info
}
