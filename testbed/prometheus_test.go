package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const harnessRules = `groups:
  - name: harness
    rules:
      - alert: HarnessUp
        expr: up{job="tether"} == 1
        for: 0s
        labels:
          severity: test
        annotations:
          summary: 'target {{ $labels.instance }} is up'
      - alert: HarnessNever
        expr: vector(0) > 1
`

// requirePrometheus skips (outside CI) or fails (in CI) unless the bed and
// prometheus can run here.
func requirePrometheus(t *testing.T) {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "prometheus", "prometheus")
}

func writeRules(t *testing.T, b *Bed) string {
	t.Helper()
	path := filepath.Join(b.Dir(), "harness.rules.yml")
	if err := os.WriteFile(path, []byte(harnessRules), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// processGone reports whether pid no longer exists (it has been reaped).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func queryOne(t *testing.T, p *Prometheus, expr string) Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := p.Query(ctx, expr)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 {
		t.Fatalf("query %q: %d samples, want 1: %v", expr, len(v), v)
	}
	return v[0]
}

func TestPrometheusHarness(t *testing.T) {
	requirePrometheus(t)
	b := New(t, Options{Nodes: 1, Networks: []NetworkSpec{{Name: "hb0"}}})
	p := b.StartPrometheus(PrometheusOptions{NS: b.NodeNS(0), SelfScrape: true, Rules: []string{writeRules(t, b)}})
	if p.NS() != b.NodeNS(0) || p.Host() != nil {
		t.Errorf("NS %q host %v, want %q and no host", p.NS(), p.Host(), b.NodeNS(0))
	}
	if !strings.HasPrefix(p.Dir(), b.Dir()+"/") {
		t.Errorf("Dir %s not under the bed's %s", p.Dir(), b.Dir())
	}

	p.WaitTargetsUp(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := p.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].ScrapeURL != p.URL()+"/metrics" || ts[0].Labels["job"] != PrometheusJob {
		t.Errorf("targets %v, want only %s/metrics of job %s", ts, p.URL(), PrometheusJob)
	}

	a := p.WaitAlert("HarnessUp", map[string]string{"job": "tether"}, "firing", 30*time.Second)
	if a.Labels["instance"] != p.Addr() || a.Labels["severity"] != "test" || a.Value != 1 {
		t.Errorf("HarnessUp = %v, want instance %s, severity test, value 1", a, p.Addr())
	}
	if want := "target " + p.Addr() + " is up"; a.Annotations["summary"] != want {
		t.Errorf("HarnessUp summary %q, want %q", a.Annotations["summary"], want)
	}
	if a.ActiveAt.IsZero() {
		t.Errorf("HarnessUp has no activeAt")
	}
	if s := queryOne(t, p, "up"); s.Value != 1 || s.Labels["instance"] != p.Addr() || s.Labels["__name__"] != "up" {
		t.Errorf("up = %v %v, want 1 for %s", s.Labels, s.Value, p.Addr())
	}
	// Both rules are loaded, so HarnessNever's absence means something.
	if s := queryOne(t, p, "sum(prometheus_rule_group_rules)"); s.Value != 2 {
		t.Errorf("%v rules loaded, want 2", s.Value)
	}
	if s := queryOne(t, p, "scalar(vector(3))"); s.Value != 3 || len(s.Labels) != 0 {
		t.Errorf("scalar query = %v %v, want 3 without labels", s.Labels, s.Value)
	}
	if _, err := p.Query(ctx, "up{"); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("bad query: error %v, want bad_data", err)
	}

	// HarnessNever must stay absent over several evaluations: poll the
	// alerts until the rule group has run twice more.
	iters := func() float64 { return queryOne(t, p, "sum(prometheus_rule_group_iterations_total)").Value }
	start, deadline := iters(), time.Now().Add(20*time.Second)
	for {
		as, err := p.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(as, func(a Alert) bool { return a.Labels["alertname"] == "HarnessNever" }); i >= 0 {
			t.Fatalf("HarnessNever is active: %v", as[i])
		}
		if iters() >= start+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rule group did not run twice within 20s")
		}
		time.Sleep(promPoll)
	}
	p.WaitNoAlert("HarnessNever", nil, 5*time.Second)

	pid, dir := p.Pid(), p.Dir()
	p.Stop()
	if !processGone(pid) {
		t.Errorf("prometheus pid %d still exists after Stop", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("prometheus dir %s still there after Stop (%v)", dir, err)
	}
	p.Stop() // idempotent; the cleanup calls it again too
}

// TestPrometheusOnHostScrapesNode runs Prometheus in its default
// namespace, a host, and scrapes a fake exporter on node 0's address.
func TestPrometheusOnHostScrapesNode(t *testing.T) {
	requirePrometheus(t)
	b := New(t, Options{Nodes: 1, Networks: []NetworkSpec{{Name: "hb0"}}})
	ln := listenOn(t, b, 0, "hb0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE tether_fake gauge\ntether_fake{node=\"node0\"} 42\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	p := b.StartPrometheus(PrometheusOptions{Targets: []string{ln.Addr().String()}, Interval: 500 * time.Millisecond})
	if p.Host() == nil || p.NS() != p.Host().NS || !strings.HasPrefix(p.NS(), b.Prefix()+"-hprom") {
		t.Fatalf("NS %q host %v: want a host prom<n> of the bed", p.NS(), p.Host())
	}
	p.WaitTargetsUp(30 * time.Second)
	s := queryOne(t, p, `tether_fake{job="tether"}`)
	if s.Value != 42 || s.Labels["node"] != "node0" || s.Labels["instance"] != ln.Addr().String() {
		t.Errorf("tether_fake = %v %v, want 42 from %s", s.Labels, s.Value, ln.Addr())
	}
	// A second server gets its own host, port and directory.
	p2 := b.StartPrometheus(PrometheusOptions{SelfScrape: true})
	if p2.NS() == p.NS() || p2.Dir() == p.Dir() {
		t.Errorf("two servers share NS %q or dir %q", p2.NS(), p2.Dir())
	}
	p2.WaitTargetsUp(30 * time.Second)
}

// TestPrometheusFailureCleansUp checks that a failed wait reports alerts,
// targets and the log, that a failure elsewhere shows the log at cleanup,
// and that the cleanup stops Prometheus and removes its directory either
// way.
func TestPrometheusFailureCleansUp(t *testing.T) {
	requirePrometheus(t)
	for _, how := range []string{"wait", "fatal"} {
		var pid int
		var dir, prefix string
		var out bytes.Buffer
		code := runMain(func(mt T) {
			b := New(mt, Options{Nodes: 1, Networks: []NetworkSpec{{Name: "hb0"}}})
			prefix = b.Prefix()
			p := b.StartPrometheus(PrometheusOptions{SelfScrape: true})
			pid, dir = p.Pid(), p.Dir()
			if how == "fatal" {
				mt.Fatalf("test failure")
			}
			p.WaitTargetsUp(30 * time.Second)
			p.WaitAlert("Missing", map[string]string{"job": "tether"}, "firing", time.Second)
		}, &out, nil)
		if code != ExitFailed {
			t.Fatalf("%s: exit code %d, want %d:\n%s", how, code, ExitFailed, out.String())
		}
		if pid == 0 {
			t.Fatalf("%s: prometheus not started:\n%s", how, out.String())
		}
		want := []string{"--- prometheus in " + prefix}
		if how == "wait" {
			want = append(want, `no alert Missing{job="tether"} firing within 1s`, "alerts (0)", "targets (1 active, 1 configured)", "/metrics up")
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: failure output lacks %q:\n%s", how, w, out.String())
			}
		}
		if n := strings.Count(out.String(), "--- end of prometheus in"); n != 1 {
			t.Errorf("%s: the log tail is shown %d times, want once:\n%s", how, n, out.String())
		}
		if !processGone(pid) {
			t.Errorf("%s: prometheus pid %d still exists after cleanup", how, pid)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: prometheus dir %s still there after cleanup (%v)", how, dir, err)
		}
		if left := namespacesWithPrefix(t, prefix); len(left) > 0 {
			t.Errorf("%s: namespaces left: %v", how, left)
		}
	}
}

// TestPrometheusExitFailsStart checks that a server that cannot start
// fails StartPrometheus with its log instead of waiting 20 s.
func TestPrometheusExitFailsStart(t *testing.T) {
	requirePrometheus(t)
	var out bytes.Buffer
	var took time.Duration
	code := runMain(func(mt T) {
		b := New(mt, Options{Nodes: 1, Networks: []NetworkSpec{{Name: "hb0"}}})
		bad := filepath.Join(b.Dir(), "bad.rules.yml")
		if err := os.WriteFile(bad, []byte("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: 'up{'\n"), 0o644); err != nil {
			mt.Fatalf("%v", err)
		}
		start := time.Now()
		defer func() { took = time.Since(start) }() // Fatalf runs deferred calls
		b.StartPrometheus(PrometheusOptions{NS: b.NodeNS(0), Rules: []string{bad}})
	}, &out, nil)
	if code != ExitFailed {
		t.Fatalf("exit code %d, want %d:\n%s", code, ExitFailed, out.String())
	}
	if !strings.Contains(out.String(), "exited before it was ready") || !strings.Contains(out.String(), "bad.rules.yml") {
		t.Errorf("failure output lacks the exit and the log:\n%s", out.String())
	}
	if took == 0 || took >= promReadyTimeout {
		t.Errorf("StartPrometheus took %v to report the exit", took)
	}
}
