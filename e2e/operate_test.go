package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/links/ether"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/testbed"
)

// publicBed is a 3-node cluster on two private networks (hb0, hb1: ether
// and tcp) with a public network, pub, that carries no tether link: only
// the public channel (memberlist) and the metrics, which a real
// Prometheus on a host of pub scrapes every second with the shipped rules.
func publicBed(t *testing.T) (*testbed.Bed, *testbed.Prometheus) {
	t.Helper()
	testbed.RequireRoot(t)
	o := testbed.Options{BinDir: binDir, Networks: []testbed.NetworkSpec{
		{Name: "hb0", Channels: []string{"ether", "tcp"}},
		{Name: "hb1", Channels: []string{"ether", "tcp"}},
		{Name: "pub", Channels: []string{"tcp"}},
	}}
	o.EditConfig = func(i int, doc map[string]any) {
		ip := publicOnly(i, doc, true)
		doc["metrics"] = map[string]any{"listen": fmt.Sprintf("%s:9187", ip)}
	}
	b := testbed.New(t, o)
	b.StartAll()
	b.WaitAllUp(upTimeout)
	var targets []string
	for i := range b.N() {
		targets = append(targets, b.IP(i, "pub").String()+":9187")
	}
	p := b.StartPrometheus(testbed.PrometheusOptions{Targets: targets, Rules: []string{rulesFile(t)}})
	p.WaitTargetsUp(30 * time.Second)
	return b, p
}

// publicOnly makes network pub of a bed's config the public channel's
// only (no tether link on it; with public false, nothing at all) and
// returns node i's address there.
func publicOnly(i int, doc map[string]any, public bool) any {
	var nets []any
	for _, n := range doc["networks"].([]any) {
		if n.(map[string]any)["name"] != "pub" {
			nets = append(nets, n)
		}
	}
	doc["networks"] = nets
	var join []any
	var ip any
	for j, n := range doc["nodes"].([]any) {
		addrs := n.(map[string]any)["addresses"].(map[string]any)
		join = append(join, fmt.Sprintf("%s:7946", addrs["pub"]))
		if j == i {
			ip = addrs["pub"]
		}
		delete(addrs, "pub")
	}
	if public {
		doc["public"] = map[string]any{"bind": fmt.Sprintf("%s:7946", ip), "join": join}
	}
	return ip
}

// rulesFile is the shipped alert rules.
func rulesFile(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "contrib", "prometheus", "tether.rules.yml")
}

// nodeState returns node i's view of peer's state.
func nodeState(st *status.Status, peer uint16) string {
	if n := testbed.FindNode(st, peer); n != nil {
		return n.State
	}
	return ""
}

// Prometheus, scraping three agents with the shipped rules, fires
// TetherLinkDown for the right peer and network after a cable pull and
// resolves it after the restore. With every private network of node2
// blackholed and the public network working, the others show node2
// PARTITIONED (never DOWN), the matrix still holds node2's view, and
// TetherInterconnectPartitioned fires; node2 killed: DOWN and
// TetherPeerDown; node2 back: OPEN, in the matrix again, alerts resolved.
func TestPrometheusAlertsAndPartition(t *testing.T) {
	b, p := publicBed(t)
	for i := range b.N() {
		b.WaitFor(i, "peers alive on the public channel", upTimeout, func(st *status.Status) bool {
			for _, n := range st.Nodes {
				if !n.Local && n.Public != "alive" {
					return false
				}
			}
			return true
		})
	}

	// A cable pull: node2's hb1.
	pull := b.CablePull(2, "hb1")
	a := p.WaitAlert("TetherLinkDown", map[string]string{"node": "node0", "peer": "node2", "network": "hb1"}, "firing", 30*time.Second)
	if a.Labels["reason"] != "peer-silent" {
		t.Errorf("TetherLinkDown at node0: reason %q, want peer-silent (its peer's cable)", a.Labels["reason"])
	}
	p.WaitAlert("TetherLinkDown", map[string]string{"node": "node2", "peer": "node0", "network": "hb1", "reason": "carrier-lost"}, "firing", 30*time.Second)
	pull.Undo()
	b.WaitAllUp(upTimeout)
	p.WaitNoAlert("TetherLinkDown", map[string]string{"network": "hb1"}, 30*time.Second)

	// Every private network of node2 blackholed; pub stays.
	cut := time.Now()
	h0 := b.Blackhole(2, "hb0")
	h1 := b.Blackhole(2, "hb1")
	for _, i := range []int{0, 1} {
		b.WaitFor(i, "node2 PARTITIONED", 10*time.Second, func(st *status.Status) bool { return nodeState(st, 2) == status.NodePartitioned })
	}
	p.WaitAlert("TetherInterconnectPartitioned", map[string]string{"node": "node0", "peer": "node2"}, "firing", 30*time.Second)
	st := b.WaitFor(0, "node2's link table over the public channel", 10*time.Second, func(st *status.Status) bool {
		for _, n := range st.Matrix.Nodes {
			if n.ID == 2 {
				return n.Known && n.AgeMs < 3000
			}
		}
		return false
	})
	if st.Counters.LinkTables.Public == 0 {
		t.Errorf("node0 sent no link table over the public channel while node2 was cut off")
	}
	for _, i := range []int{0, 1} {
		for _, e := range eventsBetween(b, i, cut, time.Now(), "node.state") {
			if e.Str("peer") == "node2" && e.Str("state") == status.NodeDown {
				t.Errorf("node%d took node2 DOWN while it was alive on the public channel: %v", i, e)
			}
		}
	}
	if alerts, err := p.Alerts(t.Context()); err == nil {
		for _, a := range alerts {
			if a.Labels["alertname"] == "TetherPeerDown" {
				t.Errorf("TetherPeerDown while node2 is only partitioned: %v", a)
			}
		}
	}

	// node2 dies (SIGKILL: it tells no one).
	killed := time.Now()
	b.Kill(2)
	for _, i := range []int{0, 1} {
		b.WaitFor(i, "node2 DOWN", 15*time.Second, func(st *status.Status) bool { return nodeState(st, 2) == status.NodeDown })
	}
	t.Logf("node2 DOWN at node0 %v after the kill", time.Since(killed).Round(time.Millisecond))
	p.WaitAlert("TetherPeerDown", map[string]string{"node": "node0", "peer": "node2"}, "firing", 30*time.Second)
	p.WaitAlert("TetherAgentDown", map[string]string{"instance": b.IP(2, "pub").String() + ":9187"}, "", 30*time.Second)
	p.WaitNoAlert("TetherInterconnectPartitioned", map[string]string{"peer": "node2"}, 30*time.Second)

	// Back: the interconnect mended, node2 restarted.
	h1.Undo()
	h0.Undo()
	b.Start(2)
	b.WaitAllUp(upTimeout)
	b.WaitFor(0, "node2 in the matrix again", upTimeout, func(st *status.Status) bool {
		for _, l := range st.Matrix.Links {
			if l.From == 2 && l.To == 0 && l.Network == "hb0" {
				return l.State == status.LinkUp
			}
		}
		return false
	})
	if st := mustStatus(t, b, 0); nodeState(st, 2) != status.NodeOpen {
		t.Errorf("node2 back: %s at node0, want OPEN", nodeState(st, 2))
	}
	p.WaitNoAlert("TetherPeerDown", map[string]string{"peer": "node2"}, 30*time.Second)
}

// scrapeNS GETs an agent's /metrics from inside its namespace and returns
// its families.
func scrapeNS(t *testing.T, ns, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := testbed.HTTPClient(ns).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v", resp.Status, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// series counts the tether_ series of a scrape (a histogram: its
// buckets, sum and count) but the drops by cause, and lists the label
// values seen; drops returns the causes of those.
func series(mfs map[string]*dto.MetricFamily) (int, []string) {
	n := 0
	var values []string
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "tether_") || name == "tether_network_frames_dropped_total" {
			continue
		}
		for _, m := range mf.Metric {
			n++
			if m.Histogram != nil {
				n += len(m.Histogram.Bucket) + 2
			}
			for _, lp := range m.Label {
				if !slices.Contains(values, lp.GetValue()) {
					values = append(values, lp.GetValue())
				}
			}
		}
	}
	return n, values
}

// A flood of forged and foreign frames — other clusters, unknown and
// taken node ids, random source addresses, garbage — is counted, and adds
// no series to /metrics and no label value: what arrives on the wire
// never becomes a label.
func TestMetricsBoundedUnderFlood(t *testing.T) {
	b := newBed(t, testbed.Options{BinDir: perfBinDir})
	ns, addr := b.NodeNS(0), "127.0.0.1:9187"
	before, values := series(scrapeNS(t, ns, addr))
	known := links.NewCounters(ether.DropCauses, nil).Causes() // the fixed list of the ether channel's causes
	keys, err := config.LoadKeys(b.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := llt.NewKeyring(keys...)
	theirs, _ := llt.NewKeyring([]byte("a foreign cluster's key, 32 byte"))
	inj := newInjector(t, b)
	rng := rand.New(rand.NewPCG(1, 2))
	var frames [][]byte
	for i := range 512 {
		kr, cluster := ours, uint16(testbed.DefaultClusterID)
		if i%2 == 0 {
			kr, cluster = theirs, uint16(rng.IntN(65536))
		}
		f, err := llt.NewCodec(kr).Append(nil, &llt.Frame{Type: llt.FrameHeartbeat, State: llt.SessionUp,
			Cluster: cluster, Src: llt.NodeID(rng.IntN(1024)), Dst: 0, Network: fmt.Sprintf("n%d", rng.IntN(1000)),
			Incarnation: rng.Uint64() | 1, Seq: 1 + rng.Uint64N(1<<40)})
		if err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 1:
			f[len(f)-1] ^= 1 // forged tag
		case 3:
			f = f[:rng.IntN(len(f))] // truncated
		}
		src := make(net.HardwareAddr, 6)
		for j := range src {
			src[j] = byte(rng.IntN(256))
		}
		src[0] &^= 1 // unicast
		raw, err := (&ethernet.Frame{Destination: b.MAC(0, "hb0"), Source: src, EtherType: testbed.EtherType, Payload: f}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, raw)
	}
	start := time.Now()
	sent := 0
	for time.Since(start) < 3*time.Second {
		for _, raw := range frames {
			if inj.send(raw) == nil {
				sent++
			}
		}
	}
	st := mustStatus(t, b, 0)
	var drops uint64
	for _, c := range st.Counters.Networks {
		for _, n := range c.Dropped {
			drops += n
		}
	}
	mfs := scrapeNS(t, ns, addr)
	after, valuesAfter := series(mfs)
	causes := dropCauses(mfs)
	for _, c := range causes {
		if !slices.Contains(known, c) {
			t.Errorf("drop cause %q is not one of the channel's fixed list", c)
		}
	}
	// A cause has a series from its first drop on: at most the fixed
	// list's length per network channel.
	if len(causes) > 2*len(known) {
		t.Errorf("%d drops-by-cause series for 2 ether networks of %d causes each", len(causes), len(known))
	}
	t.Logf("%d frames sent, %d dropped; %d tether_ series before, %d after, and %d drops-by-cause series (causes %v)", sent, drops, before, after, len(causes), causes)
	if drops < uint64(sent)/2 {
		t.Errorf("only %d of %d flood frames counted as dropped", drops, sent)
	}
	if after != before {
		t.Errorf("the flood changed the series count (drops by cause aside): %d → %d", before, after)
	}
	for _, v := range valuesAfter {
		if !slices.Contains(values, v) {
			t.Errorf("a label value appeared with the flood: %q", v)
		}
	}
}

// dropCauses returns the cause label values of a scrape's drops by cause.
func dropCauses(mfs map[string]*dto.MetricFamily) []string {
	var out []string
	if mf := mfs["tether_network_frames_dropped_total"]; mf != nil {
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if lp.GetName() == "cause" {
					out = append(out, lp.GetValue())
				}
			}
		}
	}
	return out
}
