package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	// promReadyTimeout bounds StartPrometheus's wait for /-/ready.
	promReadyTimeout = 20 * time.Second
	// promStopGrace is how long stopping waits after SIGTERM before SIGKILL.
	promStopGrace = 5 * time.Second
	// promPoll is how often the Wait methods ask the API again.
	promPoll = 50 * time.Millisecond
	// promRequestTimeout bounds one API request made by a Wait method.
	promRequestTimeout = 5 * time.Second
	// PrometheusJob is the job name of PrometheusOptions.Targets.
	PrometheusJob = "tether"
)

// PrometheusOptions configures StartPrometheus.
type PrometheusOptions struct {
	// NS is the network namespace Prometheus runs in: b.NodeNS(i) to
	// scrape a tetherd on that node's 127.0.0.1, a Host's NS to scrape
	// nodes over a network. "" adds a host "prom<n>" on every bridged
	// network (it takes the next host index, so hosts added later get the
	// next addresses).
	NS string
	// Targets are host:port scrape targets of job "tether", as seen from NS.
	Targets []string
	// SelfScrape adds Prometheus's own address (Addr) to the "tether"
	// job, so a test of the harness has a target without a tetherd.
	SelfScrape bool
	// Rules are rule files, loaded as rule_files; relative paths are made
	// absolute against the test's working directory.
	Rules []string
	// Interval is both scrape_interval and evaluation_interval (whole
	// milliseconds); default 1s. scrape_timeout is 4/5 of it.
	Interval time.Duration
}

// Prometheus is a Prometheus server run by StartPrometheus in a namespace
// of the bed. Its API is reached through Client, whose connections are
// made from sockets created inside that namespace. It is stopped and its
// directory removed by a Cleanup, or earlier by Stop.
type Prometheus struct {
	b      *Bed
	ns     string
	host   *Host // the host StartPrometheus added; nil when NS was given
	addr   string
	dir    string
	log    string
	want   int // configured targets, for WaitTargetsUp
	p      *proc
	client *http.Client

	stopOnce  sync.Once
	stopErr   error
	tailShown bool // a failure message already had the log tail
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string // includes __name__ when the series has one
	Value  float64
}

// Vector is the result of an instant query.
type Vector []Sample

func (v Vector) String() string {
	parts := make([]string, len(v))
	for i, s := range v {
		parts[i] = fmt.Sprintf("%s %g", labelString(s.Labels), s.Value)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Alert is one active alert of /api/v1/alerts.
type Alert struct {
	Labels      map[string]string // includes alertname
	Annotations map[string]string
	State       string // "pending" or "firing"
	ActiveAt    time.Time
	Value       float64 // the expression's value at the last evaluation
}

func (a Alert) String() string {
	return fmt.Sprintf("%s %s since %s (value %g)", labelString(a.Labels), a.State, a.ActiveAt.Format("15:04:05.000"), a.Value)
}

// Target is one active scrape target of /api/v1/targets.
type Target struct {
	ScrapePool string
	ScrapeURL  string
	Labels     map[string]string // after relabelling: job, instance
	Health     string            // "up", "down" or "unknown" (not scraped yet)
	LastError  string
	LastScrape time.Time
}

func (t Target) String() string {
	s := fmt.Sprintf("%s %s", t.ScrapeURL, t.Health)
	if t.LastError != "" {
		s += fmt.Sprintf(" (%s)", t.LastError)
	}
	return s
}

// StartPrometheus writes a prometheus.yml for o into a new directory under
// Dir() and runs
//
//	ip netns exec <NS> prometheus --config.file=<dir>/prometheus.yml --storage.tsdb.path=<dir>/data --web.listen-address=127.0.0.1:<free port> --log.level=warn
//
// with its output in LogPath. It returns once /-/ready answers 200, and
// fails the test, with the tail of the log, if Prometheus exits or is not
// ready within 20 s. The server gets SIGKILL if the test process dies; at
// cleanup it gets SIGTERM, then SIGKILL after 5 s, its directory is
// removed, and its log tail is shown if the test failed.
func (b *Bed) StartPrometheus(o PrometheusOptions) *Prometheus {
	b.t.Helper()
	bin := RequireTool(b.t, "prometheus", "prometheus")
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Interval < time.Millisecond || o.Interval%time.Millisecond != 0 {
		b.t.Fatalf("testbed: StartPrometheus: Interval %v: want whole milliseconds, at least 1ms", o.Interval)
	}
	for _, tg := range o.Targets {
		if _, _, err := net.SplitHostPort(tg); err != nil {
			b.t.Fatalf("testbed: StartPrometheus: target %q: want host:port: %v", tg, err)
		}
	}
	rules := make([]string, len(o.Rules))
	for i, r := range o.Rules {
		abs, err := filepath.Abs(r)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			b.t.Fatalf("testbed: StartPrometheus: rule file: %v", err)
		}
		rules[i] = abs
	}
	b.mu.Lock()
	closing := b.closing
	b.mu.Unlock()
	if closing {
		b.t.Fatalf("testbed: StartPrometheus: bed is being cleaned up")
	}

	p := &Prometheus{b: b, ns: o.NS}
	if p.ns == "" {
		p.host = b.AddHost(b.freePromHostName())
		p.ns = p.host.NS
	}
	dir, err := os.MkdirTemp(b.dir, "prom")
	if err != nil {
		b.t.Fatalf("testbed: StartPrometheus: %v", err)
	}
	p.dir, p.log = dir, filepath.Join(dir, "prometheus.log")
	// The directory exists from here on: remove it even if we fail
	// before the process starts.
	b.t.Cleanup(p.cleanup)

	port, err := freePort(p.ns)
	if err != nil {
		b.t.Fatalf("testbed: StartPrometheus: %v", err)
	}
	p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	targets := slices.Clone(o.Targets)
	if o.SelfScrape {
		targets = append(targets, p.addr)
	}
	p.want = len(targets)
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := writePromConfig(cfg, o.Interval, targets, rules); err != nil {
		b.t.Fatalf("testbed: StartPrometheus: %v", err)
	}
	p.client = HTTPClient(p.ns)

	f, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatalf("testbed: StartPrometheus: %v", err)
	}
	defer f.Close() // the child has its own copy
	args := []string{"netns", "exec", p.ns, bin,
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + p.addr,
		"--log.level=warn",
	}
	fmt.Fprintf(f, "### testbed: %s: ip %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("testbed: StartPrometheus: %v", err)
	}
	p.p = &proc{cmd: cmd, run: 1, done: make(chan struct{})}
	go func() { // owned by p: stop waits for it
		p.p.err = cmd.Wait()
		close(p.p.done)
	}()
	p.waitReady()
	return p
}

// freePromHostName returns "prom<n>" for the lowest n no host has.
func (b *Bed) freePromHostName() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for n := 0; ; n++ {
		name := fmt.Sprintf("prom%d", n)
		if !slices.ContainsFunc(b.hosts, func(h *Host) bool { return h.Name == name }) {
			return name
		}
	}
}

// freePort asks the kernel of namespace ns for a free TCP port on
// 127.0.0.1. The namespace is the bed's own, so nothing else is likely to
// take it before Prometheus binds it.
func freePort(ns string) (int, error) {
	var port int
	err := InNS(ns, func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		return ln.Close()
	})
	if err != nil {
		return 0, fmt.Errorf("free port in %s: %w", ns, err)
	}
	return port, nil
}

func writePromConfig(path string, interval time.Duration, targets, rules []string) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }
	timeout := max(interval*4/5/time.Millisecond*time.Millisecond, time.Millisecond)
	doc := map[string]any{
		"global": map[string]any{
			"scrape_interval":     ms(interval),
			"scrape_timeout":      ms(timeout),
			"evaluation_interval": ms(interval),
		},
	}
	if len(rules) > 0 {
		doc["rule_files"] = rules
	}
	if len(targets) > 0 {
		doc["scrape_configs"] = []any{map[string]any{
			"job_name":       PrometheusJob,
			"static_configs": []any{map[string]any{"targets": targets}},
		}}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// HTTPClient returns an HTTP client whose TCP connections are made from
// sockets created in namespace ns: a socket keeps the namespace it was
// created in, and nothing of the bed is reachable from the root namespace.
func HTTPClient(ns string) *http.Client {
	var d net.Dialer
	tr := &http.Transport{
		Proxy: nil, // never a proxy from the environment
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			// addr is a literal IP:port, so the dial stays on this
			// (namespaced, locked) thread: no resolver goroutines.
			err := InNS(ns, func() (err error) {
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// waitReady polls /-/ready until it answers 200.
func (p *Prometheus) waitReady() {
	b := p.b
	b.t.Helper()
	deadline := time.Now().Add(promReadyTimeout)
	var last string
	for {
		if p.p.exited() {
			b.t.Fatalf("testbed: prometheus in %s exited before it was ready (%v)\n%s", p.ns, p.p.err, p.tailSection())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = p.ready(ctx)
		cancel()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("testbed: prometheus in %s not ready within %v: %s\n%s", p.ns, promReadyTimeout, last, p.tailSection())
		}
		time.Sleep(promPoll)
	}
}

// ready returns "" when /-/ready answers 200, else what it got.
func (p *Prometheus) ready(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/-/ready", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	return fmt.Sprintf("/-/ready: %s: %s", resp.Status, strings.TrimSpace(string(body)))
}

// NS returns the namespace Prometheus runs in.
func (p *Prometheus) NS() string { return p.ns }

// Host returns the host StartPrometheus added when PrometheusOptions.NS
// was empty, else nil.
func (p *Prometheus) Host() *Host { return p.host }

// Addr returns the listen address, 127.0.0.1:<port> in NS; it is also the
// instance label of a SelfScrape target.
func (p *Prometheus) Addr() string { return p.addr }

// URL returns "http://" + Addr(); it is reachable only through Client.
func (p *Prometheus) URL() string { return "http://" + p.addr }

// Client returns an HTTP client that reaches URL from the test process
// (its connections are made inside NS), for API endpoints not wrapped here.
func (p *Prometheus) Client() *http.Client { return p.client }

// Dir returns Prometheus's directory: prometheus.yml, data/, the log.
func (p *Prometheus) Dir() string { return p.dir }

// LogPath returns Prometheus's log file (stdout and stderr).
func (p *Prometheus) LogPath() string { return p.log }

// Pid returns the Prometheus process id.
func (p *Prometheus) Pid() int { return p.p.cmd.Process.Pid }

// Running reports whether Prometheus has not exited.
func (p *Prometheus) Running() bool { return !p.p.exited() }

// Stop stops Prometheus like the cleanup does (SIGTERM, SIGKILL after
// 5 s), waits for the process to be reaped and removes its directory. It
// may be called more than once; it fails the test if the directory cannot
// be removed.
func (p *Prometheus) Stop() {
	p.b.t.Helper()
	if err := p.stop(); err != nil {
		p.b.t.Fatalf("testbed: stop prometheus in %s: %v", p.ns, err)
	}
}

func (p *Prometheus) cleanup() {
	if err := p.stop(); err != nil {
		p.b.t.Logf("testbed: cleanup: prometheus in %s: %v", p.ns, err)
	}
}

func (p *Prometheus) stop() error {
	p.stopOnce.Do(func() {
		if p.p != nil && !p.p.exited() {
			_ = p.p.cmd.Process.Signal(syscall.SIGTERM) // an exit in between is fine
			select {
			case <-p.p.done:
			case <-time.After(promStopGrace):
				p.b.t.Logf("testbed: prometheus in %s did not exit within %v of SIGTERM; killing it", p.ns, promStopGrace)
				_ = p.p.cmd.Process.Kill()
				<-p.p.done
			}
		}
		if p.client != nil {
			p.client.CloseIdleConnections()
		}
		if p.b.t.Failed() && !p.tailShown {
			p.b.t.Logf("%s", p.tailSection())
		}
		p.stopErr = os.RemoveAll(p.dir)
	})
	return p.stopErr
}

// tailSection is the last tailLines lines of the log with a header; it
// notes that they were shown, so the cleanup does not repeat them.
func (p *Prometheus) tailSection() string {
	p.tailShown = true
	name := "prometheus in " + p.ns
	data, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("--- %s log: %v ---", name, err)
	}
	t := tail(string(data), tailLines)
	if t != "" && !strings.HasSuffix(t, "\n") {
		t += "\n"
	}
	return fmt.Sprintf("--- %s log (%s), last %d lines ---\n%s--- end of %s log ---", name, p.log, tailLines, t, name)
}

// apiGet GETs an /api/v1 endpoint and decodes its "data" into out.
func (p *Prometheus) apiGet(ctx context.Context, path string, q url.Values, out any) error {
	u := p.URL() + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s: not an API response: %.200q", path, resp.Status, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s: %s", path, resp.Status, env.ErrorType, env.Error)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("%s: decode data: %w", path, err)
	}
	return nil
}

// promValue parses an API [<unix time>, "<value>"] pair's value.
func promValue(pair []json.RawMessage) (float64, error) {
	if len(pair) != 2 {
		return 0, fmt.Errorf("value %v: want [time, value]", pair)
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return 0, fmt.Errorf("value %s: %w", pair[1], err)
	}
	return strconv.ParseFloat(s, 64) // also NaN, +Inf, -Inf
}

// Query evaluates expr now (/api/v1/query). A scalar result is returned
// as one sample without labels; string and range results are errors.
func (p *Prometheus) Query(ctx context.Context, expr string) (Vector, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.apiGet(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	switch data.ResultType {
	case "vector":
		var res []struct {
			Metric map[string]string `json:"metric"`
			Value  []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &res); err != nil {
			return nil, fmt.Errorf("query %q: %w", expr, err)
		}
		v := make(Vector, 0, len(res))
		for _, r := range res {
			f, err := promValue(r.Value)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", expr, err)
			}
			if r.Metric == nil {
				r.Metric = map[string]string{}
			}
			v = append(v, Sample{Labels: r.Metric, Value: f})
		}
		return v, nil
	case "scalar":
		var pair []json.RawMessage
		if err := json.Unmarshal(data.Result, &pair); err != nil {
			return nil, fmt.Errorf("query %q: %w", expr, err)
		}
		f, err := promValue(pair)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", expr, err)
		}
		return Vector{{Labels: map[string]string{}, Value: f}}, nil
	default:
		return nil, fmt.Errorf("query %q: result type %q, want an instant vector", expr, data.ResultType)
	}
}

// Alerts returns the active (pending and firing) alerts (/api/v1/alerts).
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
			State       string            `json:"state"`
			ActiveAt    time.Time         `json:"activeAt"`
			Value       string            `json:"value"`
		} `json:"alerts"`
	}
	if err := p.apiGet(ctx, "/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	out := make([]Alert, len(data.Alerts))
	for i, a := range data.Alerts {
		v, err := strconv.ParseFloat(a.Value, 64)
		if err != nil {
			return nil, fmt.Errorf("/api/v1/alerts: alert %v: value %q: %w", a.Labels, a.Value, err)
		}
		out[i] = Alert{Labels: a.Labels, Annotations: a.Annotations, State: a.State, ActiveAt: a.ActiveAt, Value: v}
	}
	return out, nil
}

// Targets returns the active scrape targets (/api/v1/targets).
func (p *Prometheus) Targets(ctx context.Context) ([]Target, error) {
	var data struct {
		ActiveTargets []struct {
			ScrapePool string            `json:"scrapePool"`
			ScrapeURL  string            `json:"scrapeUrl"`
			Labels     map[string]string `json:"labels"`
			Health     string            `json:"health"`
			LastError  string            `json:"lastError"`
			LastScrape time.Time         `json:"lastScrape"`
		} `json:"activeTargets"`
	}
	if err := p.apiGet(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
		return nil, err
	}
	out := make([]Target, len(data.ActiveTargets))
	for i, t := range data.ActiveTargets {
		out[i] = Target(t)
	}
	return out, nil
}

// alertMatches reports whether a is alert name with every label of want.
func alertMatches(a Alert, name string, want map[string]string) bool {
	if a.Labels["alertname"] != name {
		return false
	}
	for k, v := range want {
		if got, ok := a.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// WaitAlert polls the alerts until alert name with labels (a subset of
// its labels) is in state ("firing" or "pending"; "" for either) and
// returns it. On timeout, or if Prometheus exits, the test fails showing
// the current alerts, the targets' health and the log tail.
func (p *Prometheus) WaitAlert(name string, labels map[string]string, state string, timeout time.Duration) Alert {
	p.b.t.Helper()
	what := fmt.Sprintf("alert %s%s", name, labelString(labels))
	if state != "" {
		what += " " + state
	}
	var found Alert
	p.poll(what, timeout, func(as []Alert) bool {
		for _, a := range as {
			if alertMatches(a, name, labels) && (state == "" || a.State == state) {
				found = a
				return true
			}
		}
		return false
	})
	return found
}

// WaitNoAlert polls the alerts until none is alert name with labels in any
// state (resolved, or never active). On timeout, or if Prometheus exits,
// the test fails like WaitAlert.
func (p *Prometheus) WaitNoAlert(name string, labels map[string]string, timeout time.Duration) {
	p.b.t.Helper()
	p.poll(fmt.Sprintf("no alert %s%s", name, labelString(labels)), timeout, func(as []Alert) bool {
		return !slices.ContainsFunc(as, func(a Alert) bool { return alertMatches(a, name, labels) })
	})
}

// WaitTargetsUp polls the targets until every configured target is active
// and up. On timeout, or if Prometheus exits, the test fails like WaitAlert.
// Prometheus 2.42 applies static targets about 5 s after it starts (its
// target update throttle), so give it at least 10 s.
func (p *Prometheus) WaitTargetsUp(timeout time.Duration) {
	p.b.t.Helper()
	b := p.b
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), promRequestTimeout)
		ts, err := p.Targets(ctx)
		cancel()
		if err == nil && len(ts) >= p.want && !slices.ContainsFunc(ts, func(t Target) bool { return t.Health != "up" }) {
			return
		}
		if err != nil && !p.Running() {
			b.t.Fatalf("testbed: prometheus in %s: waiting for %d targets up: prometheus exited (%v)\n%s", p.ns, p.want, p.p.err, p.report(err))
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("testbed: prometheus in %s: %d targets not all up within %v\n%s", p.ns, p.want, timeout, p.report(err))
		}
		time.Sleep(promPoll)
	}
}

// poll fetches the alerts every promPoll until ok accepts them.
func (p *Prometheus) poll(what string, timeout time.Duration, ok func([]Alert) bool) {
	p.b.t.Helper()
	b := p.b
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), promRequestTimeout)
		as, err := p.Alerts(ctx)
		cancel()
		if err == nil && ok(as) {
			return
		}
		if err != nil && !p.Running() {
			b.t.Fatalf("testbed: prometheus in %s: waiting for %s: prometheus exited (%v)\n%s", p.ns, what, p.p.err, p.report(err))
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("testbed: prometheus in %s: no %s within %v\n%s", p.ns, what, timeout, p.report(err))
		}
		time.Sleep(promPoll)
	}
}

// report describes the current alerts and targets (or why they could not
// be read), the last error of the wait, and the log tail.
func (p *Prometheus) report(last error) string {
	var sb strings.Builder
	if last != nil {
		fmt.Fprintf(&sb, "last API error: %v\n", last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), promRequestTimeout)
	defer cancel()
	if as, err := p.Alerts(ctx); err != nil {
		fmt.Fprintf(&sb, "alerts: %v\n", err)
	} else {
		fmt.Fprintf(&sb, "alerts (%d):\n", len(as))
		for _, a := range as {
			fmt.Fprintf(&sb, "  %s\n", a)
		}
	}
	if ts, err := p.Targets(ctx); err != nil {
		fmt.Fprintf(&sb, "targets: %v\n", err)
	} else {
		fmt.Fprintf(&sb, "targets (%d active, %d configured):\n", len(ts), p.want)
		for _, t := range ts {
			fmt.Fprintf(&sb, "  %s\n", t)
		}
	}
	sb.WriteString(p.tailSection())
	return sb.String()
}

// labelString formats labels as {a="x", b="y"}, sorted by name.
func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
