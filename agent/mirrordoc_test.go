package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/replicator/driver/builtin"
	"github.com/tether-ha/tether/replicator/mirror"
	"github.com/tether-ha/tether/replicator/resource"
)

// mirrorFixture is what the replicator reports for a node that mirrors
// orders from node1 and has a diverged resource.
func mirrorFixture() []builtin.ResourceStatus {
	at := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	return []builtin.ResourceStatus{
		{Name: "ledger", Role: string(resource.Diverged), Epoch: 2, Primary: "node0", Mirror: "node1", Peer: "node1",
			Acks: "mirror", Diverged: &resource.Divergence{Epoch: 3, Primary: "node1", At: at},
			PeerEpoch: 3, PeerRole: "primary", PeerSeen: at, Why: "node1 was promoted at epoch 3",
			Topics: []builtin.TopicStatus{{Topic: "ledger", State: builtin.StateDiverged, LogEndOffset: 77, SinceLastFetchMs: -1}}},
		{Name: "orders", Role: string(resource.Mirror), Epoch: 2, Primary: "node1", Mirror: "node0", Peer: "node1", Acks: "local",
			PeerError: "node node1: no route", Changed: at, Starting: true,
			Topics: []builtin.TopicStatus{{Topic: "orders", State: mirror.Diverged.String(), LogEndOffset: 1200, HighWatermark: 1190,
				LagRecords: 0, LagMs: 0, SinceLastFetchMs: 12, Fetches: 9, FetchErrors: 1, Records: 1200, Bytes: 5000,
				Error: "diverged at 1190", Pending: &mirror.Truncation{At: at, From: 1200, To: 1190, AckedRecords: 4}}}},
	}
}

// newUnrunAgent returns node0's agent of a loopback pair, not running:
// the status document needs no run loop.
func newUnrunAgent(t *testing.T) *Agent {
	t.Helper()
	path, _ := loConfig(t)
	cfg, keys, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// withoutEngineLock returns a mirrorStatus that fails the test when it is
// called with the engine's lock held (the replicator's locks must never
// nest inside it), and counts its calls.
func withoutEngineLock(t *testing.T, a *Agent, calls *int) func() []builtin.ResourceStatus {
	return func() []builtin.ResourceStatus {
		*calls++
		free := make(chan struct{})
		go func() {
			a.mu.Lock()
			close(free)
			a.mu.Unlock()
		}()
		select {
		case <-free:
		case <-time.After(10 * time.Second):
			t.Error("mirrorStatus was called with the engine's lock held")
		}
		return mirrorFixture()
	}
}

// The status document and the metrics snapshot carry the replicator's
// resources, asked for after the engine's lock is released.
func TestStatusCarriesMirrors(t *testing.T) {
	a := newUnrunAgent(t)
	st, err := a.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mirrors != nil {
		t.Errorf("no builtin resources, yet mirrors %+v", st.Mirrors)
	}

	var calls int
	a.mirrorStatus = withoutEngineLock(t, a, &calls)
	done := make(chan struct{})
	var snap *status.Status
	go func() {
		defer close(done)
		if st, err = a.Status(context.Background()); err != nil {
			t.Error(err)
		}
		ms, err := a.MetricsSnapshot(context.Background())
		if err != nil {
			t.Error(err)
			return
		}
		snap = ms.Status
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Status or MetricsSnapshot deadlocked: mirrorStatus called under the engine's lock")
	}
	if t.Failed() {
		return
	}
	if calls != 2 {
		t.Errorf("mirrorStatus called %d times for one status and one scrape, want 2", calls)
	}
	at := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	want := []status.Mirror{
		{Resource: "ledger", Role: status.RoleDiverged, Epoch: 2, Primary: "node0", Mirror: "node1", Peer: "node1",
			Acks: "mirror", Diverged: &status.MirrorDivergence{Epoch: 3, Primary: "node1", At: at},
			PeerEpoch: 3, PeerRole: "primary", PeerSeen: at, Why: "node1 was promoted at epoch 3",
			Topics: []status.MirrorTopic{{Topic: "ledger", State: status.TopicDiverged, LogEndOffset: 77, SinceLastFetchMs: -1}}},
		{Resource: "orders", Role: status.RoleMirror, Epoch: 2, Primary: "node1", Mirror: "node0", Peer: "node1", Acks: "local",
			PeerError: "node node1: no route", Changed: at, Starting: true,
			Topics: []status.MirrorTopic{{Topic: "orders", State: status.TopicDiverged, LogEndOffset: 1200, HighWatermark: 1190,
				SinceLastFetchMs: 12, Fetches: 9, FetchErrors: 1, Records: 1200, Bytes: 5000,
				Error: "diverged at 1190", Pending: &status.MirrorTruncation{At: at, From: 1200, To: 1190, AckedRecords: 4}}}},
	}
	if diff := cmp.Diff(want, st.Mirrors); diff != "" {
		t.Errorf("status mirrors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, snap.Mirrors); diff != "" {
		t.Errorf("metrics snapshot mirrors (-want +got):\n%s", diff)
	}
}

// The status document's role and state names are the replicator's.
func TestMirrorNamesAreTheReplicators(t *testing.T) {
	for got, want := range map[string]string{
		status.RolePrimary: string(resource.Primary), status.RoleMirror: string(resource.Mirror),
		status.RoleStopped: string(resource.Stopped), status.RoleDiverged: string(resource.Diverged),
		status.TopicActive: mirror.Active.String(), status.TopicPaused: mirror.Paused.String(),
		status.TopicSourceUnavailable: mirror.SourceUnavailable.String(), status.TopicDiverged: mirror.Diverged.String(),
		status.TopicFailed: mirror.Failed.String(), status.TopicPrimary: builtin.StatePrimary,
		status.TopicPendingStopped: builtin.StatePendingStopped, status.TopicStopped: builtin.StateStopped,
	} {
		if got != want {
			t.Errorf("status has %q, the replicator %q", got, want)
		}
	}
	if builtin.StateDiverged != status.TopicDiverged {
		t.Errorf("status has %q, builtin %q", status.TopicDiverged, builtin.StateDiverged)
	}
}
