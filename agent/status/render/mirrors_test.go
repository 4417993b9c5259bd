package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-ha/tether/agent/status"
)

// mirrorsFixture is fixture's node0 with four builtin resources: audit,
// a primary starting while node3 is not heard; billing,
// whose primary it is, frozen for node2's promote; ledger, diverged after
// node1 was promoted (node1 not answering since); orders, mirrored from
// node1: one topic fetching, one paused, one diverged waiting for its cut.
func mirrorsFixture() *status.Status {
	st := fixture()
	now := st.Now
	st.Mirrors = []status.Mirror{
		{Resource: "audit", Role: status.RolePrimary, Epoch: 1, Primary: "node0", Mirror: "node3", Peer: "node3", Acks: "local",
			Starting: true, PeerError: "node node3: no usable link",
			Topics: []status.MirrorTopic{
				{Topic: "audit", State: status.TopicPrimary, LogEndOffset: 10, HighWatermark: 10, SinceLastFetchMs: -1},
			}},
		{Resource: "billing", Role: status.RolePrimary, Epoch: 5, Primary: "node0", Mirror: "node2", Peer: "node2",
			Acks: "mirror", FrozenBy: "node2", PeerEpoch: 5, PeerRole: status.RoleMirror, PeerSeen: now.Add(-time.Second),
			Topics: []status.MirrorTopic{
				{Topic: "invoices", State: status.TopicPrimary, LogEndOffset: 900, HighWatermark: 900, LagRecords: 3,
					SinceLastFetchMs: -1, MirrorConfirmed: 897},
			}},
		{Resource: "ledger", Role: status.RoleDiverged, Epoch: 3, Primary: "node0", Mirror: "node1", Peer: "node1", Acks: "local",
			Diverged:  &status.MirrorDivergence{Epoch: 4, Primary: "node1", At: now.Add(-5 * time.Minute)},
			PeerError: "node node1: no usable link", PeerSeen: now.Add(-40 * time.Second),
			Topics: []status.MirrorTopic{
				{Topic: "ledger", State: status.TopicDiverged, LogEndOffset: 77, SinceLastFetchMs: -1},
			}},
		{Resource: "orders", Role: status.RoleMirror, Epoch: 2, Primary: "node1", Mirror: "node0", Peer: "node1", Acks: "mirror",
			Topics: []status.MirrorTopic{
				{Topic: "orders", State: status.TopicActive, LogEndOffset: 1200, HighWatermark: 1200, SinceLastFetchMs: 12,
					Fetches: 5000, Records: 1200, Bytes: 96000, Error: "mirror: fetch 17 unanswered after 10s"},
				{Topic: "payments", State: status.TopicPaused, LogEndOffset: 40, HighWatermark: 52, LagRecords: 12, LagMs: 3400,
					SinceLastFetchMs: 8200},
				{Topic: "refunds", State: status.TopicDiverged, LogEndOffset: 310, HighWatermark: 300, SinceLastFetchMs: 150,
					Error:   "mirror: the log diverges from the primary's at offset 300",
					Pending: &status.MirrorTruncation{At: now.Add(-time.Minute), From: 310, To: 300, AckedRecords: 0}},
			}},
	}
	return st
}

func TestMirrorsGolden(t *testing.T) {
	golden(t, "mirrors", []byte(renderString(t, Mirrors, mirrorsFixture())))
}

// Without resources the section is not there at all (the views that
// print it stay as they were).
func TestMirrorsAbsentWithoutResources(t *testing.T) {
	if got := renderString(t, Mirrors, fixture()); got != "" {
		t.Errorf("no mirrors, yet:\n%s", got)
	}
	if got := renderString(t, Mirrors, &status.Status{}); got != "" {
		t.Errorf("empty document, yet:\n%s", got)
	}
}

// Every value starts under its header (numbers end under theirs), a
// never-fetched topic shows "-", and the notes name what needs an
// operator.
func TestMirrorsAligned(t *testing.T) {
	out := renderString(t, Mirrors, mirrorsFixture())
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if lines[0] != "tether mirror information:" {
		t.Fatalf("first line %q", lines[0])
	}
	header := lines[1]
	cols := []string{"Resource", "Role", "Epoch", "Peer", "Topic", "State", "LogEnd", "SourceHW", "Lag", "LagMs", "SinceFetchMs"}
	starts := columnStarts(t, header, cols...)
	right := map[string]bool{"Epoch": true, "LogEnd": true, "SourceHW": true, "Lag": true, "LagMs": true, "SinceFetchMs": true}
	rows := 0
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != len(cols) {
			continue // a note
		}
		rows++
		pos := 0
		for i, c := range f {
			at := strings.Index(l[pos:], c) + pos
			pos = at + len(c)
			if right[cols[i]] {
				if end := starts[i] + len(cols[i]); pos != end {
					t.Errorf("%q: %s %q ends at %d, its header at %d", l, cols[i], c, pos, end)
				}
			} else if at != starts[i] {
				t.Errorf("%q: %s %q starts at %d, its header at %d", l, cols[i], c, at, starts[i])
			}
		}
	}
	if rows != 6 {
		t.Errorf("%d topic rows, want 6:\n%s", rows, out)
	}
	for _, w := range []string{
		"    ledger: DIVERGED: node1 was promoted at epoch 4 (2025-06-01T10:25:05Z, 5m0s ago)",
		"    ledger: peer node1 not answering: node node1: no usable link (last heard 40s ago)",
		"    billing: writes frozen: node2 is being promoted",
		"    audit: starting: checking with node3 before it takes writes",
		"    audit: peer node3 not answering: node node3: no usable link (never heard)",
		"    orders: topic refunds: diverged: waits to cut its log from 310 back to 300",
		"    orders: topic refunds: DIVERGED: mirror: the log diverges from the primary's at offset 300",
	} {
		if !strings.Contains(out, "\n"+w) {
			t.Errorf("no line starting %q in\n%s", w, out)
		}
	}
	// An ACTIVE topic's last failure is history, not news.
	if strings.Contains(out, "unanswered") {
		t.Errorf("the ACTIVE topic's old error is shown:\n%s", out)
	}
	if !strings.Contains(out, "\n    billing   primary       5  node2  invoices  PRIMARY      900       900    3      0             -\n") {
		t.Errorf("the primary's row (SinceFetchMs -) is not as expected:\n%s", out)
	}
}

// The mirrors survive --json unchanged, and a document without them has
// no "mirrors" key (the JSON of a node without resources is as before).
func TestMirrorsJSON(t *testing.T) {
	st := mirrorsFixture()
	var got status.Status
	if err := json.Unmarshal([]byte(renderString(t, JSON, st)), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, &got); diff != "" {
		t.Errorf("JSON round trip differs (-want +got):\n%s", diff)
	}
	for _, key := range []string{`"mirrors": [`, `"dest_log_end_offset": 310`, `"last_fetch_source_high_watermark": 300`,
		`"time_since_last_fetch_ms": -1`, `"pending_truncation": {`, `"mirror_confirmed": 897`, `"frozen_by": "node2"`} {
		if !strings.Contains(renderString(t, JSON, st), key) {
			t.Errorf("--json lacks %s", key)
		}
	}
	if strings.Contains(renderString(t, JSON, fixture()), `"mirrors"`) {
		t.Error("a document without resources has a mirrors key")
	}
}

func TestMirrorsWriteError(t *testing.T) {
	if err := Mirrors(failWriter{}, mirrorsFixture()); err == nil {
		t.Error("Mirrors ignored a write error")
	}
	var b bytes.Buffer
	if err := Mirrors(&b, fixture()); err != nil || b.Len() != 0 {
		t.Errorf("no mirrors: %v, %q", err, b.String())
	}
}

func TestFailoverGolden(t *testing.T) {
	st := fixture()
	st.Failover = []status.Failover{
		{Resource: "audit", Role: status.RolePrimary, Epoch: 1, Primary: "node0", Auto: true, QuorumPossible: true, Voters: 3, Votes: 3,
			Quorum: true, LeaseLeft: 0.45},
		{Resource: "billing", Role: status.RolePrimary, Epoch: 5, Primary: "node0", Auto: true, QuorumPossible: true, Voters: 3, Votes: 1,
			Fenced: true, Detail: "1 of 3 votes (node2: not heard; w: it sees this node DOWN)"},
		{Resource: "orders", Role: status.RoleMirror, Epoch: 2, Primary: "node1", Auto: true, QuorumPossible: true, Voters: 3, Votes: 1,
			Reason: "primary-partitioned", Alert: true, Detail: "the primary is PARTITIONED: every private link lost but alive on the public channel",
			Witness: "w: sees node1 OPEN"},
		{Resource: "pair", Role: "none", Epoch: 1, Primary: "node2", Auto: true, Voters: 2},
	}
	golden(t, "failover", []byte(renderString(t, Failover, st)))
	if got := renderString(t, Failover, fixture()); got != "" {
		t.Errorf("failover section without resources:\n%s", got)
	}
}
