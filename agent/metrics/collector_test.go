package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/llt"
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
	return s
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
	want := P*W*24 + P*C*19 + P*8 + 3 + W*10 + C*4 + D + 6*P*T + 28
	// Loss is emitted only when known: the fixture knows rx everywhere,
	// tx nowhere.
	want -= P * W
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
