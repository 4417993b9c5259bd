package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
)

// Role is what this node is for a resource.
type Role string

// Roles.
const (
	Primary Role = "primary" // writable
	Mirror  Role = "mirror"  // read-only, fetching from the primary
	// Stopped: the old primary after a graceful promote; read-only and
	// not mirroring until reverse-and-start or truncate-and-restore.
	Stopped Role = "stopped"
	// Diverged: the old primary learnt that another node was promoted at
	// a higher epoch; read-only until truncate-and-restore.
	Diverged Role = "diverged"
)

// FirstEpoch is a resource's epoch before any promotion.
const FirstEpoch = 1

const fileVersion = 1

// Divergence is how this node learnt it is no longer the primary.
type Divergence struct {
	Epoch   uint32    `json:"epoch"`   // the other primary's
	Primary string    `json:"primary"` // who it is
	At      time.Time `json:"at"`
}

// State is one resource as this node knows it.
type State struct {
	Version  int    `json:"version"`
	Resource string `json:"resource"`
	Epoch    uint32 `json:"epoch"`
	Primary  string `json:"primary"` // node name, primary at Epoch
	// Stopped marks the old primary after a graceful promote (it is not
	// the Primary any more, and does not mirror it yet).
	Stopped  bool        `json:"stopped,omitempty"`
	Diverged *Divergence `json:"diverged,omitempty"`
	Paused   []string    `json:"paused,omitempty"` // mirror topics paused by the operator
	Topics   []string    `json:"topics,omitempty"` // added at run time (mirror create), besides the configured ones
	Changed  time.Time   `json:"changed,omitzero"` // last change
	Why      string      `json:"why,omitempty"`    // of the last change, for describe
}

// RoleOf returns this node's role.
func (s State) RoleOf(self string) Role {
	switch {
	case s.Diverged != nil:
		return Diverged
	case s.Primary == self:
		return Primary
	case s.Stopped:
		return Stopped
	}
	return Mirror
}

// IsPaused reports whether topic is paused.
func (s State) IsPaused(topic string) bool { return slices.Contains(s.Paused, topic) }

// Store reads and writes the state files of one directory.
type Store struct {
	fs  logstore.FS
	dir string
}

// Open prepares <dir>/resources.
func Open(fsys logstore.FS, dir string) (*Store, error) {
	if fsys == nil {
		fsys = logstore.OSFS{}
	}
	d := filepath.Join(dir, "resources")
	if err := fsys.MkdirAll(d, 0o755); err != nil {
		return nil, fmt.Errorf("resource states: %w", err)
	}
	return &Store{fs: fsys, dir: d}, nil
}

// Load returns the saved state of name, or def (which it does not save)
// when there is none. A file that does not decode is an error: guessing a
// resource's epoch could make two primaries.
func (st *Store) Load(name string, def State) (State, error) {
	data, err := logstore.ReadFile(st.fs, filepath.Join(st.dir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		def.Version, def.Resource = fileVersion, name
		if def.Epoch == 0 {
			def.Epoch = FirstEpoch
		}
		return def, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("resource %q: %w", name, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("resource %q: state file %s does not decode (%v): restore it from a backup or the other node; tether will not guess an epoch",
			name, filepath.Join(st.dir, name+".json"), err)
	}
	switch {
	case s.Version != fileVersion:
		return State{}, fmt.Errorf("resource %q: state file version %d, want %d", name, s.Version, fileVersion)
	case s.Resource != name:
		return State{}, fmt.Errorf("resource %q: state file names resource %q", name, s.Resource)
	case s.Epoch == 0 || s.Primary == "":
		return State{}, fmt.Errorf("resource %q: state file has no epoch or primary", name)
	}
	return s, nil
}

// Save replaces the state of s.Resource durably. An epoch lower than the
// saved one is refused.
func (st *Store) Save(s State) error {
	s.Version = fileVersion
	if old, err := st.Load(s.Resource, State{}); err == nil && old.Primary != "" && s.Epoch < old.Epoch {
		return fmt.Errorf("resource %q: epoch %d is below the saved %d: %w", s.Resource, s.Epoch, old.Epoch, ErrEpochRegression)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := logstore.WriteFileAtomic(st.fs, st.dir, s.Resource+".json", append(data, '\n')); err != nil {
		return fmt.Errorf("resource %q: save state: %w", s.Resource, err)
	}
	return nil
}

// ErrEpochRegression: a lower epoch never wins.
var ErrEpochRegression = errors.New("epoch regression")
