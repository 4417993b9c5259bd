package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
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
