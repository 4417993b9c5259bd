package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/replicator/failover"
)

// runDaemons runs the daemons of paths until the test ends.
func runDaemons(t *testing.T, paths []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for i, p := range paths {
		d := &Daemon{ConfigPath: p, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(ctx); err != nil {
				t.Errorf("node%d: %v", i, err)
			}
		}()
	}
}

// scrape GETs /metrics of the daemon configured in path.
func scrape(t *testing.T, path string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + cfg.Metrics.Listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v\n%s", resp.Status, err, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs, body
}

// value returns the value of the series of family name with the labels
// given (a subset), or fails.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no family %s", name)
	}
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, lp := range m.Label {
			got[lp.GetName()] = lp.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && got[labels[i]] == labels[i+1]
		}
		if !ok {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// A running tetherd serves its links on /metrics, labelled with the node,
// peer and network; tetherstat -z moves the status document's baseline
// and never a Prometheus counter.
func TestDaemonServesMetrics(t *testing.T) {
	paths, sockets := loConfigs(t, 2)
	runDaemons(t, paths)
	c0 := status.NewClient(sockets[0])
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := c0.Status(context.Background())
		if err == nil {
			if l := findLink(st, 1, "lo"); l != nil && l.State == status.LinkUp && l.Received > 20 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node0's link to node1 never came up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mfs, body := scrape(t, paths[0])
	link := []string{"node", "node0", "peer", "node1", "network", "lo"}
	if v := value(t, mfs, "tether_link_up", link...); v != 1 {
		t.Errorf("tether_link_up %v, want 1", v)
	}
	if v := value(t, mfs, "tether_link_state", append(link, "state", "UP")...); v != 1 {
		t.Errorf("tether_link_state{state=UP} %v, want 1", v)
	}
	if v := value(t, mfs, "tether_node_state", "peer", "node1", "state", "OPEN"); v != 1 {
		t.Errorf("tether_node_state{state=OPEN} %v", v)
	}
	if v := value(t, mfs, "tether_link_rtt_seconds", append(link, "channel", "tcp")...); v < 10 {
		t.Errorf("%v RTT samples on tcp, want many", v)
	}
	sent := value(t, mfs, "tether_link_heartbeats_sent_total", append(link, "channel", "tcp")...)
	if sent < 10 {
		t.Errorf("%v heartbeats sent", sent)
	}
	if v := value(t, mfs, "tether_tcp_connection_up", "peer", "node1", "network", "lo", "direction", "to"); v != 1 {
		t.Errorf("tether_tcp_connection_up{direction=to} %v", v)
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	// promtool's linter on the real exposition (Debian's prometheus;
	// .ci/deps installs it): required in CI, skipped without it elsewhere.
	switch promtool, err := exec.LookPath("promtool"); {
	case err == nil:
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(string(body))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	case os.Getenv("CI") == "true":
		t.Error("promtool not installed (apt-get install prometheus; .ci/deps installs it)")
	default:
		t.Log("promtool not installed: promtool check metrics skipped")
	}

	if err := c0.ResetCounters(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := c0.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after, _ := scrape(t, paths[0])
	l := findLink(st, 1, "lo")
	sentAfter := value(t, after, "tether_link_heartbeats_sent_total", append(link, "channel", "tcp")...)
	if sentAfter < sent {
		t.Errorf("tetherstat -z took the Prometheus counter back: %v → %v", sent, sentAfter)
	}
	if float64(l.Sent) >= sent || st.Counters.ResetAt.Before(st.StartedAt.Add(time.Millisecond)) {
		t.Errorf("after tetherstat -z the status shows %d sent (reset at %v), the counter %v", l.Sent, st.Counters.ResetAt, sentAfter)
	}
}

// A metrics address in use stops tetherd at start with a clear error.
func TestMetricsAddressInUse(t *testing.T) {
	path, _ := loConfig(t)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := &Daemon{ConfigPath: path, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err = d.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "metrics.listen "+cfg.Metrics.Listen) {
		t.Fatalf("Run with the metrics address taken: %v", err)
	}
}

// A cluster of two nodes and a witness with one builtin resource serves
// the failover supervisor's series on every node, the witness included:
// node0 the primary under a lease, node1 the mirror deciding primary-up
// (no alert), node2 without a copy; every state of the role and decision
// sets there, the values those of the status document.
func TestDaemonServesFailoverMetrics(t *testing.T) {
	paths, sockets := loConfigs(t, 3)
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		doc := strings.Replace(string(b), "name: node2,", "name: node2, witness: true,", 1)
		if i < 2 {
			doc += fmt.Sprintf("replicator: {dir: %s, api: '127.0.0.1:%d'}\n", t.TempDir(), freePort(t))
		}
		doc += "resources:\n  - {name: orders, driver: builtin, primary: node0, mirror: node1, topics: [orders]}\n"
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runDaemons(t, paths)
	res := []string{"resource", "orders"}
	var mfs []map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		mfs = mfs[:0]
		for _, p := range paths {
			mfs = append(mfs, tryScrape(t, p)) // nil until the daemon serves
		}
		settled := func(i int, name string, labels ...string) bool {
			return has(mfs[i], name, append(slices.Clone(res), labels...)...) == 1
		}
		if settled(0, "tether_failover_role", "role", "primary") && settled(0, "tether_failover_quorum") &&
			settled(1, "tether_failover_decision", "reason", "primary-up") && settled(2, "tether_failover_role", "role", "none") {
			break
		}
		if time.Now().After(deadline) {
			var seen []string
			for i, sock := range sockets {
				st, err := status.NewClient(sock).Status(context.Background())
				if err != nil {
					seen = append(seen, fmt.Sprintf("node%d: %v", i, err))
					continue
				}
				seen = append(seen, fmt.Sprintf("node%d: %+v", i, st.Failover))
			}
			t.Fatalf("the supervisors never settled: node0 the primary with a quorum, node1 deciding primary-up, node2 no copy:\n%s",
				strings.Join(seen, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	roles := []string{"primary", "mirror", "stopped", "diverged", "none"}
	for i, want := range []string{"primary", "mirror", "none"} {
		node := fmt.Sprintf("node%d", i)
		st, err := status.NewClient(sockets[i]).Status(context.Background())
		if err != nil || len(st.Failover) != 1 {
			t.Fatalf("%s: status %v, failover %+v", node, err, st.Failover)
		}
		for _, r := range roles {
			if v := value(t, mfs[i], "tether_failover_role", "node", node, "resource", "orders", "role", r); v != b2f(r == want) {
				t.Errorf("%s: tether_failover_role{role=%q} %v, want %v", node, r, v, b2f(r == want))
			}
		}
		for _, r := range failover.Reasons {
			if v := value(t, mfs[i], "tether_failover_decision", "node", node, "resource", "orders", "reason", r); v != b2f(i == 1 && r == failover.ReasonPrimaryUp) {
				t.Errorf("%s: tether_failover_decision{reason=%q} %v", node, r, v)
			}
		}
		for name, want := range map[string]float64{
			"tether_failover_epoch":                  float64(st.Failover[0].Epoch),
			"tether_failover_auto":                   1,
			"tether_failover_quorum_possible":        1,
			"tether_failover_voters":                 3,
			"tether_failover_fenced":                 0,
			"tether_failover_alert":                  0,
			"tether_failovers_total":                 0,
			"tether_failover_last_timestamp_seconds": 0,
		} {
			if v := value(t, mfs[i], name, "node", node, "resource", "orders"); v != want {
				t.Errorf("%s: %s %v, want %v", node, name, v, want)
			}
		}
		if v := value(t, mfs[i], "tether_failover_views_rejected_total", "node", node); v != 0 {
			t.Errorf("%s: %v views rejected", node, v)
		}
		lease := value(t, mfs[i], "tether_failover_lease_seconds", "node", node, "resource", "orders")
		if (i == 0) != (lease > 0) {
			t.Errorf("%s: lease %v s", node, lease)
		}
		if st.Failover[0].Epoch == 0 {
			t.Errorf("%s: epoch 0", node)
		}
	}
	if v := value(t, mfs[0], "tether_failover_votes", "node", "node0", "resource", "orders"); v < 2 {
		t.Errorf("the primary holds its lease with %v votes", v)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		_, body := scrape(t, paths[2])
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(string(body))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on the witness: %v\n%s", err, out)
		}
	}
}

// tryScrape is scrape, nil while the daemon does not answer.
func tryScrape(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + cfg.Metrics.Listen + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return mfs
}

// has returns the value of the series of family name with the labels
// given, or -1 when there is none.
func has(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	for _, m := range mfs[name].GetMetric() {
		got := map[string]string{}
		for _, lp := range m.Label {
			got[lp.GetName()] = lp.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && got[labels[i]] == labels[i+1]
		}
		if ok {
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return -1
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
