package builtin

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/tether-ha/tether/replicator/mirror"
	"github.com/tether-ha/tether/replicator/resource"
)

// Cut is what truncate-and-restore removed from one topic.
type Cut struct {
	Topic   string `json:"topic"`
	From    uint64 `json:"from"` // log end before
	To      uint64 `json:"to"`   // cut to: the first offset the new primary does not share
	Records uint64 `json:"records"`
	File    string `json:"export_file,omitempty"` // the records cut, one JSON object a line
}

// RestoreResult reports a truncate-and-restore.
type RestoreResult struct {
	Resource string `json:"resource"`
	Primary  string `json:"primary"`
	Epoch    uint32 `json:"epoch"`
	Cuts     []Cut  `json:"cuts"` // one per topic, Records 0 where nothing diverged
}

// TruncateAndRestore makes a stopped or diverged old primary the mirror of
// the new one: each topic fetches from the new primary with its own
// epochs; where it diverged, the records beyond the divergence point are
// exported to exportDir and cut; then it mirrors as usual. Nothing is
// cut before it is exported and synced.
func (m *Manager) TruncateAndRestore(ctx context.Context, name, exportDir string, timeout time.Duration) (RestoreResult, error) {
	r, err := m.resource(name)
	if err != nil {
		return RestoreResult{}, err
	}
	r.mu.Lock()
	role := r.st.RoleOf(m.cfg.Self)
	if (role != resource.Diverged && role != resource.Stopped) || r.restoring != nil {
		r.mu.Unlock()
		return RestoreResult{}, fmt.Errorf("%w: node %s is %s of resource %q: truncate-and-restore is for an old primary that is stopped or diverged",
			ErrWrongRole, m.cfg.Self, role, name)
	}
	primary, epoch := r.st.Primary, r.st.Epoch
	if d := r.st.Diverged; d != nil {
		primary, epoch = d.Primary, d.Epoch
	}
	r.restoring = map[string]uint64{}
	for _, t := range r.topics {
		if l, err := m.cfg.Store.Log(t); err == nil {
			r.restoring[t] = l.LogEndOffset()
		}
	}
	r.mu.Unlock()
	res := RestoreResult{Resource: name, Primary: primary, Epoch: epoch}
	fail := func(err error) (RestoreResult, error) {
		r.stopMirror()
		r.mu.Lock()
		r.restoring = nil
		r.mu.Unlock()
		r.regate()
		r.poke()
		return res, fmt.Errorf("%w: %w", ErrRestore, err)
	}
	if err := r.regate(); err != nil { // read-only mirror topics from here on
		return fail(err)
	}
	// Starts the Runner, for as long as the manager runs: not for this
	// request's ctx, which ends when the operator's command returns.
	r.sync(r.m.life)
	cuts, err := r.restoreTopics(ctx, exportDir, timeout)
	res.Cuts = cuts
	if err != nil {
		return fail(err)
	}
	r.mu.Lock()
	st := r.st
	st.Epoch, st.Primary, st.Stopped, st.Diverged, st.Paused = epoch, primary, false, nil, nil
	err = r.saveLocked(st, fmt.Sprintf("truncated and restored as the mirror of %s", primary))
	if err == nil {
		r.restoring = nil
	}
	r.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	r.regate()
	var n uint64
	for _, c := range cuts {
		n += c.Records
	}
	m.cfg.Log.Warn("truncated and restored: mirroring the new primary", "event", EvRestored, "resource", name,
		"primary", primary, "epoch", epoch, "records_cut", n)
	return res, nil
}

// restoreTopics drives each topic until it mirrors without a pending cut,
// exporting and applying every cut on the way (KIP-279 may take several).
func (r *res) restoreTopics(ctx context.Context, exportDir string, timeout time.Duration) ([]Cut, error) {
	deadline := time.Now().Add(timeout)
	r.mu.Lock()
	rm := r.runner
	r.mu.Unlock()
	if rm == nil {
		return nil, errors.New("the mirror did not start")
	}
	cuts := map[string]*Cut{}
	settledAt := map[string]uint64{} // topic -> fetches count after its last cut
	for _, t := range r.topicList() {
		cuts[t] = &Cut{Topic: t}
		settledAt[t] = 0
	}
	for {
		done := true
		for _, s := range rm.r.Status() {
			c := cuts[s.Topic]
			switch {
			case s.State == mirror.Diverged && s.Pending != nil:
				p := *s.Pending
				file, err := r.export(ctx, exportDir, s.Topic, p.To, p.From)
				if err != nil {
					return r.cutList(cuts), err
				}
				if err := rm.r.Restore(s.Topic); err != nil {
					return r.cutList(cuts), err
				}
				if c.From == 0 {
					c.From = p.From
				}
				c.To, c.Records = p.To, c.From-p.To
				c.File = file
				settledAt[s.Topic] = s.Fetches + 1
				done = false
			case s.State == mirror.Failed:
				return r.cutList(cuts), fmt.Errorf("topic %q: %v", s.Topic, s.Err)
			case s.State != mirror.Active || s.Fetches < max(1, settledAt[s.Topic]):
				done = false
			}
		}
		if done {
			return r.cutList(cuts), nil
		}
		if time.Now().After(deadline) {
			return r.cutList(cuts), fmt.Errorf("not settled within %v: is %s reachable? (tetherctl mirror describe shows each topic)", timeout, r.peer)
		}
		select {
		case <-ctx.Done():
			return r.cutList(cuts), ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r *res) cutList(cuts map[string]*Cut) []Cut {
	var out []Cut
	for _, t := range r.topicList() {
		if c := cuts[t]; c != nil {
			out = append(out, *c)
		}
	}
	return out
}

// exported is one line of an export file.
type exported struct {
	Offset      int64     `json:"offset"`
	Timestamp   time.Time `json:"timestamp"`
	Value       *string   `json:"value,omitempty"`        // when it is UTF-8
	ValueBase64 string    `json:"value_base64,omitempty"` // when it is not
}

// export writes records [from, to) of topic to a new file in dir, synced.
// With several cuts of one topic, each gets its own file.
func (r *res) export(ctx context.Context, dir, topic string, from, to uint64) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	name := filepath.Join(dir, fmt.Sprintf("%s.%s.%d-%d.%s.jsonl", r.cfg.Name, topic, from, to, r.m.cfg.Now().UTC().Format("20060102T150405Z")))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for off := int64(from); off < int64(to); {
		fe, err := r.m.cfg.Store.Consume(ctx, topic, off, 1<<20, 0)
		if err != nil {
			return "", fmt.Errorf("export %s from %d: %w", topic, off, err)
		}
		if len(fe.Records) == 0 {
			return "", fmt.Errorf("export %s: nothing readable at %d below %d", topic, off, to)
		}
		for _, rec := range fe.Records {
			if rec.Offset >= int64(to) {
				break
			}
			e := exported{Offset: rec.Offset, Timestamp: rec.Timestamp}
			if utf8.Valid(rec.Value) {
				v := string(rec.Value)
				e.Value = &v
			} else {
				e.ValueBase64 = base64.StdEncoding.EncodeToString(rec.Value)
			}
			if err := enc.Encode(e); err != nil {
				return "", err
			}
		}
		off = fe.NextOffset
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return name, f.Close()
}
