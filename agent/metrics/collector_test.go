package metrics

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/replicator/driver/builtin"
	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/mirror"
	"github.com/tether-ha/tether/replicator/resource"
)

// fixture is node0's snapshot of a 3-node cluster on hb0 and hb1 (ether
// and tcp) and pub (tcp, lowpri): node1 fine, node2's hb1 down with
// carrier-lost on its side, hb0 lossy.
func fixture() *Snapshot {
	nets := []struct {
		name string
		chs  []string
	}{{"hb0", []string{"ether", "tcp"}}, {"hb1", []string{"ether", "tcp"}}, {"pub", []string{"tcp"}}}
	st := &status.Status{LocalNode: 0, LocalName: "node0", StartedAt: time.Unix(1700000000, 0)}
	st.Counters.Pauses = status.Pauses{Count: 2, LastMs: 350}
	st.Counters.Messages.Sent = 10
	s := &Snapshot{Status: st, Channels: map[LinkKey][]Channel{},
		ScheduleDelay: Histogram{Bounds: []float64{1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
			Counts: []uint64{5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, Sum: 0.003}}
	local := status.Node{ID: 0, Name: "node0", Local: true, State: status.NodeOpen}
	st.Nodes = append(st.Nodes, local)
	for _, n := range nets {
		nd := status.Network{Name: n.name, Channels: n.chs, MTU: 1500, Carrier: true, Reasons: []status.NetworkReason{}}
		if n.name == "hb1" {
			nd.Reasons = append(nd.Reasons, status.NetworkReason{Reason: "auth-failure"})
			nd.AuthFailures = &status.AuthFailures{Count: 7}
		}
		st.Networks = append(st.Networks, nd)
		for _, ch := range n.chs {
			st.Counters.Networks = append(st.Counters.Networks, status.NetworkCounters{Network: n.name, Channel: ch,
				RxFrames: 100, Dropped: map[string]uint64{"truncated": 2, "bad-magic": 1, "foreign-cluster": 4}})
		}
	}
	for _, id := range []uint16{1, 2} {
		name := []string{"node0", "node1", "node2"}[id]
		node := status.Node{ID: id, Name: name, State: status.NodeOpen, LinksUp: 3, Restarts: 1}
		for _, n := range nets {
			l := status.Link{Network: n.name, State: status.LinkUp, RxLossPct: 0, TxLossPct: -1, Transitions: 2}
			if id == 2 && n.name == "hb1" {
				l.State, l.Reason, l.FlapDowns = status.LinkDown, "peer-silent", 1
				node.LinksUp, node.State = 2, status.NodeOpen
			}
			if id == 2 && n.name == "hb0" {
				l.Reason, l.RxLossPct = "lossy", 12
			}
			node.Links = append(node.Links, l)
			var chs []Channel
			for _, ch := range n.chs {
				chs = append(chs, Channel{Name: ch, Sent: 50, Received: 49, Lost: 1,
					RTT: rttFixture()})
				if ch == "tcp" {
					for _, dir := range []string{"to", "from"} {
						st.Connections = append(st.Connections, status.Connection{Direction: dir, Peer: id, PeerName: name,
							Network: n.name, State: status.LinkUp, SendBufferUsed: 10, SendBufferAllocated: 1 << 20})
					}
				}
			}
			s.Channels[LinkKey{id, n.name}] = chs
		}
		st.Nodes = append(st.Nodes, node)
	}
	st.Mirrors = mirrorsFixture()
	st.Failover = failoverFixture()
	s.Supervisor = &Supervisor{ViewsRejected: 4}
	return s
}

// failoverFixture is node0's failover supervisor in a cluster of three
// voters: it mirrors audit from node2, which is PARTITIONED, so it refuses
// to fail over; it is the primary of billing under a lease, and of orders
// since its own failover at epoch 2, now fenced (one vote of three); it
// holds no copy of cache (node1 and node2's, automatic failover off).
func failoverFixture() []status.Failover {
	return []status.Failover{
		{Resource: "audit", Role: status.RoleMirror, Epoch: 3, Primary: "node2", Auto: true, QuorumPossible: true,
			Voters: 3, Votes: 1, Reason: failover.ReasonPartitioned, Alert: true,
			Detail: "the primary is PARTITIONED: every private link lost but alive on the public channel"},
		{Resource: "billing", Role: status.RolePrimary, Epoch: 7, Primary: "node0", Auto: true, QuorumPossible: true,
			Voters: 3, Votes: 3, Quorum: true, LeaseLeft: 0.45},
		{Resource: "cache", Role: "none", Epoch: 5, Primary: "node1", QuorumPossible: true, Voters: 3},
		{Resource: "orders", Role: status.RolePrimary, Epoch: 2, Primary: "node0", Auto: true, QuorumPossible: true,
			Voters: 3, Votes: 1, Fenced: true, Failovers: 1, LastAt: time.Unix(1700000300, 5e8),
			Detail: "1 of 3 votes: no majority confirms this primary"},
	}
}

// mirrorsFixture is node0's builtin resources: orders, whose primary it
// is (topics orders and payments, mirrored to node1), and audit, which it
// mirrors from node2 (topic audit fetching, audit-old never answered).
func mirrorsFixture() []status.Mirror {
	return []status.Mirror{
		{Resource: "audit", Role: status.RoleMirror, Epoch: 3, Primary: "node2", Mirror: "node0", Peer: "node2", Acks: "local",
			Topics: []status.MirrorTopic{
				{Topic: "audit", State: status.TopicActive, LogEndOffset: 990, HighWatermark: 1000, LagRecords: 10, LagMs: 1500,
					SinceLastFetchMs: 12, Fetches: 300, FetchErrors: 2, Records: 990, Bytes: 123456},
				{Topic: "audit-old", State: status.TopicSourceUnavailable, SinceLastFetchMs: -1, FetchErrors: 7},
			}},
		{Resource: "orders", Role: status.RolePrimary, Epoch: 2, Primary: "node0", Mirror: "node1", Peer: "node1", Acks: "mirror",
			Topics: []status.MirrorTopic{
				{Topic: "orders", State: status.TopicPrimary, LogEndOffset: 1200, HighWatermark: 1200, LagRecords: 5,
					SinceLastFetchMs: -1, MirrorConfirmed: 1195},
				{Topic: "payments", State: status.TopicPrimary, LogEndOffset: 40, HighWatermark: 40, SinceLastFetchMs: -1,
					MirrorConfirmed: 40},
			}},
	}
}

// rttFixture is an RTT histogram of llt's buckets: 40 samples ≤ 100 µs,
// 9 more ≤ 1 ms.
func rttFixture() Histogram {
	h := Histogram{Counts: make([]uint64, len(llt.RTTBuckets())+1), Sum: 0.004}
	for i, b := range llt.RTTBuckets() {
		h.Bounds = append(h.Bounds, b.Seconds())
		switch b {
		case 100 * time.Microsecond:
			h.Counts[i] = 40
		case time.Millisecond:
			h.Counts[i] = 9
		}
	}
	return h
}

func registry(t *testing.T, s *Snapshot) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	src := func(context.Context) (*Snapshot, error) { return s, nil }
	reg.MustRegister(NewCollector(src, "v1.2.3", "node0"))
	return reg
}

// The metrics follow Prometheus's naming conventions (client_golang's
// linter, the one promtool check metrics runs).
func TestMetricsLint(t *testing.T) {
	s := fixture()
	c := NewCollector(func(context.Context) (*Snapshot, error) { return s, nil }, "v1", "node0")
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// The series of one agent number what docs/METRICS.md's formula says,
// whatever the traffic.
func TestSeriesCountFormula(t *testing.T) {
	s := fixture()
	n, err := testutil.GatherAndCount(registry(t, s))
	if err != nil {
		t.Fatal(err)
	}
	// GatherAndCount counts a histogram once; count its series.
	const P, W, E, T = 2, 3, 2, 3
	C := E + T
	D := 0 // the causes seen, per network channel
	for _, c := range s.Status.Counters.Networks {
		D += len(c.Dropped)
	}
	histograms := P*C + 1
	// R resources with M topics in all.
	R, M := len(s.Status.Mirrors), 0
	for _, m := range s.Status.Mirrors {
		M += len(m.Topics)
	}
	// F resources of the cluster as the failover supervisor sees them;
	// S = 1: this node runs one (views rejected). The formula's 34 holds
	// 18 decision reasons.
	F, S := len(s.Status.Failover), 1
	if n := len(failover.Reasons); n != 18 {
		t.Errorf("%d failover reasons: docs/METRICS.md's per-resource count (34, of which decision 18) is stale", n)
	}
	want := P*W*24 + P*C*19 + P*8 + 3 + W*10 + C*4 + D + 6*P*T + 28 + R*5 + M*17 + F*34 + S
	// Loss is emitted only when known: the fixture knows rx everywhere,
	// tx nowhere.
	want -= P * W
	// A topic has the time since its last fetch (a mirror that fetched)
	// or the offset the mirror confirmed (a primary), not both; audit-old
	// has neither.
	want--
	if got := seriesCount(t, registry(t, s)); got != want {
		t.Errorf("%d series, the formula says %d (%d families counted, %d histograms)", got, want, n, histograms)
	}
}

// seriesCount counts the series a scrape exposes (a histogram's buckets,
// +Inf, sum and count each one).
func seriesCount(t *testing.T, g prometheus.Gatherer) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			if h := m.Histogram; h != nil {
				n += len(h.Bucket) + 3
				continue
			}
			n++
		}
	}
	return n
}

// State sets emit every value, one at 1; the reason and node label what
// the operator needs.
func TestStateSetsAndLabels(t *testing.T) {
	reg := registry(t, fixture())
	want := `
# HELP tether_link_state The link's state: 1 for the current one of UP, TROUBLE, DOWN.
# TYPE tether_link_state gauge
tether_link_state{network="hb0",node="node0",peer="node1",state="DOWN"} 0
tether_link_state{network="hb0",node="node0",peer="node1",state="TROUBLE"} 0
tether_link_state{network="hb0",node="node0",peer="node1",state="UP"} 1
tether_link_state{network="hb0",node="node0",peer="node2",state="DOWN"} 0
tether_link_state{network="hb0",node="node0",peer="node2",state="TROUBLE"} 0
tether_link_state{network="hb0",node="node0",peer="node2",state="UP"} 1
tether_link_state{network="hb1",node="node0",peer="node1",state="DOWN"} 0
tether_link_state{network="hb1",node="node0",peer="node1",state="TROUBLE"} 0
tether_link_state{network="hb1",node="node0",peer="node1",state="UP"} 1
tether_link_state{network="hb1",node="node0",peer="node2",state="DOWN"} 1
tether_link_state{network="hb1",node="node0",peer="node2",state="TROUBLE"} 0
tether_link_state{network="hb1",node="node0",peer="node2",state="UP"} 0
tether_link_state{network="pub",node="node0",peer="node1",state="DOWN"} 0
tether_link_state{network="pub",node="node0",peer="node1",state="TROUBLE"} 0
tether_link_state{network="pub",node="node0",peer="node1",state="UP"} 1
tether_link_state{network="pub",node="node0",peer="node2",state="DOWN"} 0
tether_link_state{network="pub",node="node0",peer="node2",state="TROUBLE"} 0
tether_link_state{network="pub",node="node0",peer="node2",state="UP"} 1
# HELP tether_link_up 1 when the link to the peer on the network is usable (UP or TROUBLE).
# TYPE tether_link_up gauge
tether_link_up{network="hb0",node="node0",peer="node1"} 1
tether_link_up{network="hb0",node="node0",peer="node2"} 1
tether_link_up{network="hb1",node="node0",peer="node1"} 1
tether_link_up{network="hb1",node="node0",peer="node2"} 0
tether_link_up{network="pub",node="node0",peer="node1"} 1
tether_link_up{network="pub",node="node0",peer="node2"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), LinkState, LinkUp); err != nil {
		t.Error(err)
	}
	text := strings.Join(expose(t, reg), "\n")
	for _, w := range strings.Split(strings.TrimSpace(`tether_network_foreign_frames_total{network="hb0",node="node0"} 8
tether_network_foreign_frames_total{network="hb1",node="node0"} 8
tether_network_foreign_frames_total{network="pub",node="node0"} 4
tether_link_rtt_seconds_bucket{channel="ether",network="hb0",node="node0",peer="node1",le="0.0001"} 40
tether_link_rtt_seconds_bucket{channel="ether",network="hb0",node="node0",peer="node1",le="0.001"} 49
tether_link_rtt_seconds_bucket{channel="ether",network="hb0",node="node0",peer="node1",le="+Inf"} 49
tether_link_rtt_seconds_sum{channel="ether",network="hb0",node="node0",peer="node1"} 0.004
tether_link_rtt_seconds_count{channel="ether",network="hb0",node="node0",peer="node1"} 49
`), "\n") {
		if !strings.Contains(text, w) {
			t.Errorf("the scrape lacks %s", w)
		}
	}
	var reasons []string
	for _, l := range expose(t, reg) {
		if strings.HasPrefix(l, LinkReason+"{") {
			reasons = append(reasons, l)
		}
	}
	var on []string
	for _, l := range reasons {
		if strings.HasSuffix(l, " 1") {
			on = append(on, l)
		}
	}
	if len(reasons) != 6*llt.NumReasons || len(on) != 6 {
		t.Errorf("%d reason series with %d at 1, want %d with 6 (one per link):\n%s", len(reasons), len(on), 6*llt.NumReasons, strings.Join(on, "\n"))
	}
	for _, w := range []string{`network="hb1",node="node0",peer="node2",reason="peer-silent"} 1`,
		`network="hb0",node="node0",peer="node2",reason="lossy"} 1`, `network="pub",node="node0",peer="node1",reason="none"} 1`} {
		if !strings.Contains(strings.Join(on, "\n"), w) {
			t.Errorf("no %s among\n%s", w, strings.Join(on, "\n"))
		}
	}
}

// expose returns the lines of the text exposition of g.
func expose(t *testing.T, g prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Split(b.String(), "\n")
}

// A snapshot that fails (a wedged engine) fails the scrape.
func TestFailedSnapshotFailsScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func(context.Context) (*Snapshot, error) { return nil, errors.New("engine busy") }, "v1", "node0"))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "engine busy") {
		t.Errorf("gather with a failing snapshot: %v, want the error", err)
	}
}

// Two resources, one primary and one mirror: their series are named,
// labelled and valued as docs/METRICS.md says; the role and topic state
// sets emit every value, one at 1.
func TestMirrorSeries(t *testing.T) {
	reg := registry(t, fixture())
	want := `
# HELP tether_resource_role This node's role for the resource, 1 for the current one of primary, mirror, stopped, diverged; peer is the other node of the pair.
# TYPE tether_resource_role gauge
tether_resource_role{node="node0",peer="node1",resource="orders",role="diverged"} 0
tether_resource_role{node="node0",peer="node1",resource="orders",role="mirror"} 0
tether_resource_role{node="node0",peer="node1",resource="orders",role="primary"} 1
tether_resource_role{node="node0",peer="node1",resource="orders",role="stopped"} 0
tether_resource_role{node="node0",peer="node2",resource="audit",role="diverged"} 0
tether_resource_role{node="node0",peer="node2",resource="audit",role="mirror"} 1
tether_resource_role{node="node0",peer="node2",resource="audit",role="primary"} 0
tether_resource_role{node="node0",peer="node2",resource="audit",role="stopped"} 0
# HELP tether_resource_epoch The resource's epoch as this node knows it (bumped by every promotion).
# TYPE tether_resource_epoch gauge
tether_resource_epoch{node="node0",resource="audit"} 3
tether_resource_epoch{node="node0",resource="orders"} 2
# HELP tether_mirror_topic_state The topic's state on this node: 1 for the current one.
# TYPE tether_mirror_topic_state gauge
tether_mirror_topic_state{node="node0",resource="audit",state="ACTIVE",topic="audit"} 1
tether_mirror_topic_state{node="node0",resource="audit",state="ACTIVE",topic="audit-old"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="DIVERGED",topic="audit"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="DIVERGED",topic="audit-old"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="FAILED",topic="audit"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="FAILED",topic="audit-old"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="PAUSED",topic="audit"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="PAUSED",topic="audit-old"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="PENDING_STOPPED",topic="audit"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="PENDING_STOPPED",topic="audit-old"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="PRIMARY",topic="audit"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="PRIMARY",topic="audit-old"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="SOURCE_UNAVAILABLE",topic="audit"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="SOURCE_UNAVAILABLE",topic="audit-old"} 1
tether_mirror_topic_state{node="node0",resource="audit",state="STOPPED",topic="audit"} 0
tether_mirror_topic_state{node="node0",resource="audit",state="STOPPED",topic="audit-old"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="ACTIVE",topic="orders"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="ACTIVE",topic="payments"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="DIVERGED",topic="orders"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="DIVERGED",topic="payments"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="FAILED",topic="orders"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="FAILED",topic="payments"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="PAUSED",topic="orders"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="PAUSED",topic="payments"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="PENDING_STOPPED",topic="orders"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="PENDING_STOPPED",topic="payments"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="PRIMARY",topic="orders"} 1
tether_mirror_topic_state{node="node0",resource="orders",state="PRIMARY",topic="payments"} 1
tether_mirror_topic_state{node="node0",resource="orders",state="SOURCE_UNAVAILABLE",topic="orders"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="SOURCE_UNAVAILABLE",topic="payments"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="STOPPED",topic="orders"} 0
tether_mirror_topic_state{node="node0",resource="orders",state="STOPPED",topic="payments"} 0
# HELP tether_mirror_lag_seconds On a mirror, the age of the oldest record not mirrored yet (0 when none).
# TYPE tether_mirror_lag_seconds gauge
tether_mirror_lag_seconds{node="node0",resource="audit",topic="audit"} 1.5
tether_mirror_lag_seconds{node="node0",resource="audit",topic="audit-old"} 0
tether_mirror_lag_seconds{node="node0",resource="orders",topic="orders"} 0
tether_mirror_lag_seconds{node="node0",resource="orders",topic="payments"} 0
# HELP tether_mirror_lag_records Records behind: on a mirror the primary's high watermark (last seen) minus the log end; on the primary the records the mirror has not confirmed.
# TYPE tether_mirror_lag_records gauge
tether_mirror_lag_records{node="node0",resource="audit",topic="audit"} 10
tether_mirror_lag_records{node="node0",resource="audit",topic="audit-old"} 0
tether_mirror_lag_records{node="node0",resource="orders",topic="orders"} 5
tether_mirror_lag_records{node="node0",resource="orders",topic="payments"} 0
# HELP tether_mirror_since_last_fetch_seconds On a mirror, the time since the last fetch answered; absent before the first and on the primary.
# TYPE tether_mirror_since_last_fetch_seconds gauge
tether_mirror_since_last_fetch_seconds{node="node0",resource="audit",topic="audit"} 0.012
# HELP tether_mirror_confirmed_offset On the primary, the offset up to which the mirror confirmed it has the topic's records.
# TYPE tether_mirror_confirmed_offset gauge
tether_mirror_confirmed_offset{node="node0",resource="orders",topic="orders"} 1195
tether_mirror_confirmed_offset{node="node0",resource="orders",topic="payments"} 40
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), ResourceRole, ResourceEpoch, MirrorTopicState,
		MirrorLagSeconds, MirrorLagRecords, MirrorSinceFetch, MirrorConfirmed); err != nil {
		t.Error(err)
	}
	text := strings.Join(expose(t, reg), "\n")
	for _, w := range []string{
		`tether_mirror_log_end_offset{node="node0",resource="audit",topic="audit"} 990`,
		`tether_mirror_source_high_watermark{node="node0",resource="audit",topic="audit"} 1000`,
		`tether_mirror_source_high_watermark{node="node0",resource="orders",topic="orders"} 1200`,
		`tether_mirror_records_total{node="node0",resource="audit",topic="audit"} 990`,
		`tether_mirror_bytes_total{node="node0",resource="audit",topic="audit"} 123456`,
		`tether_mirror_fetches_total{node="node0",resource="audit",topic="audit"} 300`,
		`tether_mirror_fetch_errors_total{node="node0",resource="audit",topic="audit-old"} 7`,
		`tether_mirror_fetches_total{node="node0",resource="orders",topic="payments"} 0`,
		"# TYPE tether_mirror_records_total counter",
		"# TYPE tether_mirror_fetch_errors_total counter",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("the scrape lacks %s", w)
		}
	}
}

// A node without builtin resources exports no tether_resource_ or
// tether_mirror_ series.
func TestNoMirrorsNoSeries(t *testing.T) {
	s := fixture()
	s.Status.Mirrors = nil
	for _, l := range expose(t, registry(t, s)) {
		if strings.HasPrefix(l, "tether_resource_") || strings.HasPrefix(l, "tether_mirror_") {
			t.Errorf("without resources: %s", l)
		}
	}
}

// The role and topic state sets hold every value the replicator has
// (replicator/resource's roles, replicator/mirror's states, builtin's
// own), and the status document's names are the replicator's.
func TestMirrorStateSetsComplete(t *testing.T) {
	roles := []resource.Role{resource.Primary, resource.Mirror, resource.Stopped, resource.Diverged}
	for _, r := range roles {
		if !slices.Contains(resourceRoles, string(r)) {
			t.Errorf("role %q is not in the tether_resource_role set %v", r, resourceRoles)
		}
	}
	if len(resourceRoles) != len(roles) {
		t.Errorf("tether_resource_role set %v, the replicator's roles %v", resourceRoles, roles)
	}
	want := []string{builtin.StatePrimary, builtin.StatePendingStopped, builtin.StateStopped, builtin.StateDiverged}
	// mirror.State has no count: its String says when a value is none.
	for st := mirror.State(0); !strings.HasPrefix(st.String(), "State("); st++ {
		want = append(want, st.String())
	}
	slices.Sort(want)
	want = slices.Compact(want)
	got := slices.Sorted(slices.Values(topicStates))
	if !slices.Equal(got, want) {
		t.Errorf("tether_mirror_topic_state set %v, the replicator's states %v", got, want)
	}
}

// The failover supervisor's series of node0 (failoverFixture): every
// resource of the cluster, the one it has no copy of included; the role
// and decision state sets emit every value; the fenced primary shows
// fenced with no lease and its failover, the primary under a lease its
// lease, the mirror refusing a partitioned primary that decision and an
// alert; nothing of a decision on the nodes that are not the mirror.
func TestFailoverSeries(t *testing.T) {
	reg := registry(t, fixture())
	want := `
# HELP tether_failover_role This node's copy of the resource as the failover supervisor sees it, 1 for the current one of primary, mirror, stopped, diverged, none (no copy: a witness, a third node).
# TYPE tether_failover_role gauge
tether_failover_role{node="node0",resource="audit",role="diverged"} 0
tether_failover_role{node="node0",resource="audit",role="mirror"} 1
tether_failover_role{node="node0",resource="audit",role="none"} 0
tether_failover_role{node="node0",resource="audit",role="primary"} 0
tether_failover_role{node="node0",resource="audit",role="stopped"} 0
tether_failover_role{node="node0",resource="billing",role="diverged"} 0
tether_failover_role{node="node0",resource="billing",role="mirror"} 0
tether_failover_role{node="node0",resource="billing",role="none"} 0
tether_failover_role{node="node0",resource="billing",role="primary"} 1
tether_failover_role{node="node0",resource="billing",role="stopped"} 0
tether_failover_role{node="node0",resource="cache",role="diverged"} 0
tether_failover_role{node="node0",resource="cache",role="mirror"} 0
tether_failover_role{node="node0",resource="cache",role="none"} 1
tether_failover_role{node="node0",resource="cache",role="primary"} 0
tether_failover_role{node="node0",resource="cache",role="stopped"} 0
tether_failover_role{node="node0",resource="orders",role="diverged"} 0
tether_failover_role{node="node0",resource="orders",role="mirror"} 0
tether_failover_role{node="node0",resource="orders",role="none"} 0
tether_failover_role{node="node0",resource="orders",role="primary"} 1
tether_failover_role{node="node0",resource="orders",role="stopped"} 0
# HELP tether_failover_epoch The highest epoch of the resource this node knows.
# TYPE tether_failover_epoch gauge
tether_failover_epoch{node="node0",resource="audit"} 3
tether_failover_epoch{node="node0",resource="billing"} 7
tether_failover_epoch{node="node0",resource="cache"} 5
tether_failover_epoch{node="node0",resource="orders"} 2
# HELP tether_failover_auto 1 when automatic failover is configured for the resource (failover.auto).
# TYPE tether_failover_auto gauge
tether_failover_auto{node="node0",resource="audit"} 1
tether_failover_auto{node="node0",resource="billing"} 1
tether_failover_auto{node="node0",resource="cache"} 0
tether_failover_auto{node="node0",resource="orders"} 1
# HELP tether_failover_quorum_possible 1 when a majority can exist: three voters or more (a two-node cluster needs a witness or quorum.etcd).
# TYPE tether_failover_quorum_possible gauge
tether_failover_quorum_possible{node="node0",resource="audit"} 1
tether_failover_quorum_possible{node="node0",resource="billing"} 1
tether_failover_quorum_possible{node="node0",resource="cache"} 1
tether_failover_quorum_possible{node="node0",resource="orders"} 1
# HELP tether_failover_quorum 1 when this node counted a majority in its last count (the primary's lease, or the mirror's confirmations that the primary is gone).
# TYPE tether_failover_quorum gauge
tether_failover_quorum{node="node0",resource="audit"} 0
tether_failover_quorum{node="node0",resource="billing"} 1
tether_failover_quorum{node="node0",resource="cache"} 0
tether_failover_quorum{node="node0",resource="orders"} 0
# HELP tether_failover_votes The votes of this node's last count, itself included.
# TYPE tether_failover_votes gauge
tether_failover_votes{node="node0",resource="audit"} 1
tether_failover_votes{node="node0",resource="billing"} 3
tether_failover_votes{node="node0",resource="cache"} 0
tether_failover_votes{node="node0",resource="orders"} 1
# HELP tether_failover_voters The voters of the cluster: nodes and witnesses.
# TYPE tether_failover_voters gauge
tether_failover_voters{node="node0",resource="audit"} 3
tether_failover_voters{node="node0",resource="billing"} 3
tether_failover_voters{node="node0",resource="cache"} 3
tether_failover_voters{node="node0",resource="orders"} 3
# HELP tether_failover_fenced 1 when this node is the resource's primary and holds no lease: it refuses writes.
# TYPE tether_failover_fenced gauge
tether_failover_fenced{node="node0",resource="audit"} 0
tether_failover_fenced{node="node0",resource="billing"} 0
tether_failover_fenced{node="node0",resource="cache"} 0
tether_failover_fenced{node="node0",resource="orders"} 1
# HELP tether_failover_lease_seconds The lease left to this node as the resource's primary (0 otherwise).
# TYPE tether_failover_lease_seconds gauge
tether_failover_lease_seconds{node="node0",resource="audit"} 0
tether_failover_lease_seconds{node="node0",resource="billing"} 0.45
tether_failover_lease_seconds{node="node0",resource="cache"} 0
tether_failover_lease_seconds{node="node0",resource="orders"} 0
# HELP tether_failover_decision The mirror's last failover decision, 1 for its reason; all 0 on a node that is not the mirror.
# TYPE tether_failover_decision gauge
tether_failover_decision{node="node0",reason="auto-off",resource="audit"} 0
tether_failover_decision{node="node0",reason="epoch-changed",resource="audit"} 0
tether_failover_decision{node="node0",reason="flapping",resource="audit"} 0
tether_failover_decision{node="node0",reason="lag-above-max",resource="audit"} 0
tether_failover_decision{node="node0",reason="lag-stale",resource="audit"} 0
tether_failover_decision{node="node0",reason="mirror-unusable",resource="audit"} 0
tether_failover_decision{node="node0",reason="no-quorum",resource="audit"} 0
tether_failover_decision{node="node0",reason="no-quorum-possible",resource="audit"} 0
tether_failover_decision{node="node0",reason="not-fenced",resource="audit"} 0
tether_failover_decision{node="node0",reason="not-mirror",resource="audit"} 0
tether_failover_decision{node="node0",reason="one-way",resource="audit"} 0
tether_failover_decision{node="node0",reason="primary-dead",resource="audit"} 0
tether_failover_decision{node="node0",reason="primary-jeopardy",resource="audit"} 0
tether_failover_decision{node="node0",reason="primary-never-seen",resource="audit"} 0
tether_failover_decision{node="node0",reason="primary-partitioned",resource="audit"} 1
tether_failover_decision{node="node0",reason="primary-resigned",resource="audit"} 0
tether_failover_decision{node="node0",reason="primary-up",resource="audit"} 0
tether_failover_decision{node="node0",reason="within-grace",resource="audit"} 0
tether_failover_decision{node="node0",reason="auto-off",resource="billing"} 0
tether_failover_decision{node="node0",reason="epoch-changed",resource="billing"} 0
tether_failover_decision{node="node0",reason="flapping",resource="billing"} 0
tether_failover_decision{node="node0",reason="lag-above-max",resource="billing"} 0
tether_failover_decision{node="node0",reason="lag-stale",resource="billing"} 0
tether_failover_decision{node="node0",reason="mirror-unusable",resource="billing"} 0
tether_failover_decision{node="node0",reason="no-quorum",resource="billing"} 0
tether_failover_decision{node="node0",reason="no-quorum-possible",resource="billing"} 0
tether_failover_decision{node="node0",reason="not-fenced",resource="billing"} 0
tether_failover_decision{node="node0",reason="not-mirror",resource="billing"} 0
tether_failover_decision{node="node0",reason="one-way",resource="billing"} 0
tether_failover_decision{node="node0",reason="primary-dead",resource="billing"} 0
tether_failover_decision{node="node0",reason="primary-jeopardy",resource="billing"} 0
tether_failover_decision{node="node0",reason="primary-never-seen",resource="billing"} 0
tether_failover_decision{node="node0",reason="primary-partitioned",resource="billing"} 0
tether_failover_decision{node="node0",reason="primary-resigned",resource="billing"} 0
tether_failover_decision{node="node0",reason="primary-up",resource="billing"} 0
tether_failover_decision{node="node0",reason="within-grace",resource="billing"} 0
tether_failover_decision{node="node0",reason="auto-off",resource="cache"} 0
tether_failover_decision{node="node0",reason="epoch-changed",resource="cache"} 0
tether_failover_decision{node="node0",reason="flapping",resource="cache"} 0
tether_failover_decision{node="node0",reason="lag-above-max",resource="cache"} 0
tether_failover_decision{node="node0",reason="lag-stale",resource="cache"} 0
tether_failover_decision{node="node0",reason="mirror-unusable",resource="cache"} 0
tether_failover_decision{node="node0",reason="no-quorum",resource="cache"} 0
tether_failover_decision{node="node0",reason="no-quorum-possible",resource="cache"} 0
tether_failover_decision{node="node0",reason="not-fenced",resource="cache"} 0
tether_failover_decision{node="node0",reason="not-mirror",resource="cache"} 0
tether_failover_decision{node="node0",reason="one-way",resource="cache"} 0
tether_failover_decision{node="node0",reason="primary-dead",resource="cache"} 0
tether_failover_decision{node="node0",reason="primary-jeopardy",resource="cache"} 0
tether_failover_decision{node="node0",reason="primary-never-seen",resource="cache"} 0
tether_failover_decision{node="node0",reason="primary-partitioned",resource="cache"} 0
tether_failover_decision{node="node0",reason="primary-resigned",resource="cache"} 0
tether_failover_decision{node="node0",reason="primary-up",resource="cache"} 0
tether_failover_decision{node="node0",reason="within-grace",resource="cache"} 0
tether_failover_decision{node="node0",reason="auto-off",resource="orders"} 0
tether_failover_decision{node="node0",reason="epoch-changed",resource="orders"} 0
tether_failover_decision{node="node0",reason="flapping",resource="orders"} 0
tether_failover_decision{node="node0",reason="lag-above-max",resource="orders"} 0
tether_failover_decision{node="node0",reason="lag-stale",resource="orders"} 0
tether_failover_decision{node="node0",reason="mirror-unusable",resource="orders"} 0
tether_failover_decision{node="node0",reason="no-quorum",resource="orders"} 0
tether_failover_decision{node="node0",reason="no-quorum-possible",resource="orders"} 0
tether_failover_decision{node="node0",reason="not-fenced",resource="orders"} 0
tether_failover_decision{node="node0",reason="not-mirror",resource="orders"} 0
tether_failover_decision{node="node0",reason="one-way",resource="orders"} 0
tether_failover_decision{node="node0",reason="primary-dead",resource="orders"} 0
tether_failover_decision{node="node0",reason="primary-jeopardy",resource="orders"} 0
tether_failover_decision{node="node0",reason="primary-never-seen",resource="orders"} 0
tether_failover_decision{node="node0",reason="primary-partitioned",resource="orders"} 0
tether_failover_decision{node="node0",reason="primary-resigned",resource="orders"} 0
tether_failover_decision{node="node0",reason="primary-up",resource="orders"} 0
tether_failover_decision{node="node0",reason="within-grace",resource="orders"} 0
# HELP tether_failover_alert 1 when the mirror's last decision is one the operator must know about (partition, one-way loss, flapping, no quorum, lag, epoch changed).
# TYPE tether_failover_alert gauge
tether_failover_alert{node="node0",resource="audit"} 1
tether_failover_alert{node="node0",resource="billing"} 0
tether_failover_alert{node="node0",resource="cache"} 0
tether_failover_alert{node="node0",resource="orders"} 0
# HELP tether_failovers_total Automatic failovers of the resource made by this node since it started.
# TYPE tether_failovers_total counter
tether_failovers_total{node="node0",resource="audit"} 0
tether_failovers_total{node="node0",resource="billing"} 0
tether_failovers_total{node="node0",resource="cache"} 0
tether_failovers_total{node="node0",resource="orders"} 1
# HELP tether_failover_last_timestamp_seconds When this node last failed the resource over automatically, in seconds since the Unix epoch (0: never since start).
# TYPE tether_failover_last_timestamp_seconds gauge
tether_failover_last_timestamp_seconds{node="node0",resource="audit"} 0
tether_failover_last_timestamp_seconds{node="node0",resource="billing"} 0
tether_failover_last_timestamp_seconds{node="node0",resource="cache"} 0
tether_failover_last_timestamp_seconds{node="node0",resource="orders"} 1.7000003005e+09
# HELP tether_failover_views_rejected_total Peers' failover views rejected: they did not decode or came from a node that is not a peer.
# TYPE tether_failover_views_rejected_total counter
tether_failover_views_rejected_total{node="node0"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), FailoverRole, FailoverEpoch, FailoverAuto,
		FailoverQuorumPossible, FailoverQuorum, FailoverVotes, FailoverVoters, FailoverFenced, FailoverLease,
		FailoverDecision, FailoverAlert, Failovers, FailoverLast, FailoverViewsRejected); err != nil {
		t.Error(err)
	}
}

// Only the mirror's decision is exported: a reason or an alert on a
// copy that is not the mirror shows all 0, and so does a mirror before
// its first decision; a fenced flag or a lease left on a node that is no
// primary is no fence and no lease.
func TestFailoverDecisionOnlyOnTheMirror(t *testing.T) {
	s := fixture()
	s.Status.Failover = []status.Failover{
		{Resource: "a", Role: status.RoleDiverged, Reason: failover.ReasonEpochChanged, Alert: true, Fenced: true, LeaseLeft: 1},
		{Resource: "b", Role: status.RoleMirror},
		{Resource: "c", Role: status.RoleMirror, Reason: failover.ReasonPrimaryUp},
	}
	reg := registry(t, s)
	on := map[string][]string{}
	for _, l := range expose(t, reg) {
		if strings.HasPrefix(l, "tether_failover_") && strings.HasSuffix(l, " 1") {
			name, _, _ := strings.Cut(l, "{")
			on[name] = append(on[name], l)
		}
	}
	want := map[string][]string{
		FailoverRole: {
			`tether_failover_role{node="node0",resource="a",role="diverged"} 1`,
			`tether_failover_role{node="node0",resource="b",role="mirror"} 1`,
			`tether_failover_role{node="node0",resource="c",role="mirror"} 1`,
		},
		FailoverDecision: {`tether_failover_decision{node="node0",reason="primary-up",resource="c"} 1`},
	}
	for _, name := range []string{FailoverRole, FailoverDecision, FailoverAlert, FailoverFenced, FailoverLease} {
		if !slices.Equal(on[name], want[name]) {
			t.Errorf("%s at 1: %q, want %q", name, on[name], want[name])
		}
	}
}

// A node without a supervisor (no resources) exports no failover series.
func TestNoSupervisorNoFailoverSeries(t *testing.T) {
	s := fixture()
	s.Status.Failover, s.Supervisor = nil, nil
	for _, l := range expose(t, registry(t, s)) {
		if strings.HasPrefix(l, "tether_failover") {
			t.Errorf("without a supervisor: %s", l)
		}
	}
}

// The failover state sets hold every value: the replicator's roles and
// none; every decision reason of the failover rules.
func TestFailoverStateSetsComplete(t *testing.T) {
	want := []string{string(resource.Primary), string(resource.Mirror), string(resource.Stopped), string(resource.Diverged), "none"}
	if !slices.Equal(failoverRoles, want) {
		t.Errorf("tether_failover_role set %v, want %v", failoverRoles, want)
	}
	reg := registry(t, fixture())
	var reasons []string
	for _, l := range expose(t, reg) {
		if v, ok := strings.CutPrefix(l, FailoverDecision+`{node="node0",reason="`); ok && strings.Contains(v, `resource="audit"`) {
			r, _, _ := strings.Cut(v, `"`)
			reasons = append(reasons, r)
		}
	}
	if got := slices.Sorted(slices.Values(reasons)); !slices.Equal(got, slices.Sorted(slices.Values(failover.Reasons))) || len(got) != 18 {
		t.Errorf("tether_failover_decision reasons %v, the failover rules' %v", got, failover.Reasons)
	}
}
