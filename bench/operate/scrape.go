package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// Encodings a scrape asks for: gzip is what Prometheus asks for (its
// scrape_configs' enable_compression defaults to true), identity what a
// curl without --compressed gets.
const (
	encGzip     = "gzip"
	encIdentity = "identity"
)

// textAccept is the Accept header of a scrape: the text exposition format
// the series are counted in.
const textAccept = "text/plain;version=0.0.4"

// scrapeTimeout bounds one GET /metrics.
const scrapeTimeout = 5 * time.Second

// lossSettle bounds the wait for the loss gauges to be known before the
// series are counted.
const lossSettle = 30 * time.Second

// scrapeNets are the scrape bed's networks: three, each with both channels.
var scrapeNets = []string{"hb0", "hb1", "hb2"}

// scraper GETs one agent's /metrics through a client whose connections
// are made in the agent's namespace.
type scraper struct {
	c   *http.Client
	url string
}

func newScraper(ns, addr string) *scraper {
	return &scraper{c: testbed.HTTPClient(ns), url: "http://" + addr + "/metrics"}
}

// scrape is one GET /metrics: its wall-clock latency (request sent →
// last byte of the body read), the body as sent and decoded.
type scrape struct {
	latency time.Duration
	wire    int    // body bytes as sent (compressed with gzip)
	text    []byte // the exposition, decompressed
}

// get performs one scrape asking for encoding enc. The body is read
// whole, as sent, inside the timed part; gzip is decoded after it (what
// Prometheus does with the body is not the agent's latency).
func (s *scraper) get(ctx context.Context, enc string) (scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return scrape{}, err
	}
	req.Header.Set("Accept", textAccept)
	// Set explicitly, the transport does not decompress: the body read is
	// what the agent sent.
	req.Header.Set("Accept-Encoding", enc)
	start := time.Now()
	resp, err := s.c.Do(req)
	if err != nil {
		return scrape{}, err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, err = io.Copy(&body, resp.Body)
	lat := time.Since(start)
	if err != nil {
		return scrape{}, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return scrape{}, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	sc := scrape{latency: lat, wire: body.Len(), text: body.Bytes()}
	switch ce := resp.Header.Get("Content-Encoding"); ce {
	case "", encIdentity:
	case encGzip:
		zr, err := gzip.NewReader(&body)
		if err != nil {
			return scrape{}, fmt.Errorf("gzip body: %w", err)
		}
		if sc.text, err = io.ReadAll(zr); err != nil {
			return scrape{}, fmt.Errorf("gzip body: %w", err)
		}
	default:
		return scrape{}, fmt.Errorf("GET %s: unexpected Content-Encoding %q", s.url, ce)
	}
	return sc, nil
}

// runScrape measures GET /metrics on node 0 of a 3-node × 3-network bed.
func runScrape(t testbed.T, o options) *ScrapeResult {
	r := &ScrapeResult{Scrapes: o.scrapes, GapMs: float64(o.gap) / float64(time.Millisecond), TargetP99Ms: scrapeP99Ms}
	var specs []testbed.NetworkSpec
	for _, n := range scrapeNets {
		specs = append(specs, testbed.NetworkSpec{Name: n, Channels: []string{"ether", "tcp"}})
	}
	t.Logf("scrape: starting a 3-node, 3-network bed (ether and tcp on each), metrics on 127.0.0.1:%d", metricsPort)
	opts := testbed.Options{BinDir: o.bin, Networks: specs,
		EditConfig: func(_ int, doc map[string]any) {
			// The default address, written out.
			doc["metrics"] = map[string]any{"listen": fmt.Sprintf("127.0.0.1:%d", metricsPort)}
		}}
	if o.pprof != "" {
		opts.ExtraArgs = []string{"--pprof", pprofAddr}
	}
	b := testbed.New(t, opts)
	defer bedutil.Finish(t, b, o.out, "scrape")
	b.StartAll()
	if err := bedutil.WaitAllChannelsUp(b, upTimeout); err != nil {
		r.Error = err.Error()
		return r
	}
	// The loss gauges are absent while the loss is unknown: give them
	// the time to be known on every link (bounded), then count.
	start := time.Now()
	if err := bedutil.WaitAll(b, lossSettle, "loss not known on every link", lossKnown); err != nil {
		r.LossUnknown = err.Error()
	}
	r.SettleMs = float64(time.Since(start).Milliseconds())
	time.Sleep(startupSettle)
	st, err := b.Status(0)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Shape = shapeOf(st)
	r.Formula = r.Shape.terms()
	r.FormulaTotal = sumTerms(r.Formula)

	s := newScraper(b.NodeNS(0), fmt.Sprintf("127.0.0.1:%d", metricsPort))
	pids, err := bedutil.AgentPids(b)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	for _, enc := range []string{encGzip, encIdentity} {
		t.Logf("scrape: %d × GET /metrics of node0 (Accept-Encoding: %s), %v apart", o.scrapes, enc, o.gap)
		run, err := scrapeRun(s, enc, o.scrapes, o.gap, pids[0])
		if err != nil {
			r.Error = fmt.Sprintf("%s: %v", enc, err)
			return r
		}
		t.Logf("scrape %s: p50 %.3f ms p90 %.3f ms p99 %.3f ms max %.3f ms; %d bytes on the wire, %d of text; %d tether_ series",
			enc, run.Latency.P50Ms, run.Latency.P90Ms, run.Latency.P99Ms, run.Latency.MaxMs, run.WireBytes, run.TextBytes, run.Series.Total)
		r.Runs = append(r.Runs, run)
	}
	if o.pprof != "" {
		t.Logf("scrape: CPU profile of node0 over %v of back-to-back scrapes", profileFor)
		n, err := profileScrapes(b, s, o.pprof, o.gap)
		if err != nil {
			r.Error = "profile: " + err.Error()
			return r
		}
		r.Profile, r.ProfileScrapes = o.pprof, n
	}
	r.Met = true
	for _, run := range r.Runs {
		run.Met = run.Latency.P99Ms <= scrapeP99Ms
		r.Met = r.Met && run.Met
	}
	return r
}

// scrapeRun GETs /metrics n times in a row, gap apart, and summarizes.
// The series are counted on the first and the last body (they must
// agree: nothing changed in between). agentPid's CPU time is read
// around the run, to show what a scrape costs the agent.
func scrapeRun(s *scraper, enc string, n int, gap time.Duration, agentPid int) (*ScrapeRun, error) {
	run := &ScrapeRun{Encoding: enc, LoadBefore: proc.LoadAvg()}
	lat := make([]time.Duration, 0, n)
	cpu0, err := proc.CPU(agentPid)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	var first, last scrape
	for k := range n {
		sc, err := s.get(context.Background(), enc)
		if err != nil {
			return nil, fmt.Errorf("scrape %d: %w", k, err)
		}
		lat = append(lat, sc.latency)
		if k == 0 {
			first = sc
		}
		last = sc
		run.WireBytes = sc.wire
		time.Sleep(gap)
	}
	wall := time.Since(began)
	cpu1, err := proc.CPU(agentPid)
	if err != nil {
		return nil, err
	}
	run.Seconds = wall.Seconds()
	run.AgentCPUPercent = 100 * (cpu1 - cpu0).Seconds() / wall.Seconds()
	run.AgentCPUPerScrapeMs = float64(cpu1-cpu0) / float64(time.Millisecond) / float64(n)
	run.Latency = stats.Summarize(lat)
	run.TextBytes = len(last.text)
	run.Series = countSeries(last.text)
	if c0 := countSeries(first.text); c0.Total != run.Series.Total {
		run.SeriesFirst = c0.Total
	}
	run.LoadAfter = proc.LoadAvg()
	return run, nil
}

// pprofAddr is where tetherd serves --pprof inside its namespace, and
// profileFor how long the profile of -pprof lasts.
const (
	pprofAddr  = "127.0.0.1:6060"
	profileFor = 20 * time.Second
)

// profileScrapes fetches node0's CPU profile over profileFor into path
// while s scrapes it (identity, gap apart), and returns the scrapes made.
func profileScrapes(b *testbed.Bed, s *scraper, path string, gap time.Duration) (int, error) {
	done := make(chan error, 1)
	go func() {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, int(profileFor.Seconds()))
		resp, err := testbed.HTTPClient(b.NodeNS(0)).Get(url)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if err == nil {
			err = os.WriteFile(path, data, 0o644)
		}
		done <- err
	}()
	n := 0
	for {
		select {
		case err := <-done:
			return n, err
		default:
		}
		if _, err := s.get(context.Background(), encIdentity); err != nil {
			return n, err
		}
		n++
		time.Sleep(gap)
	}
}

// lossKnown reports whether st knows the loss both ways on every link.
func lossKnown(st *status.Status) bool {
	for _, n := range st.Nodes {
		if n.Local {
			continue
		}
		for _, l := range n.Links {
			if l.RxLossPct < 0 || l.TxLossPct < 0 {
				return false
			}
		}
	}
	return true
}

// Shape is what docs/METRICS.md's cardinality formula depends on.
type Shape struct {
	P int `json:"peers"`            // P
	W int `json:"networks"`         // W
	E int `json:"ether_networks"`   // E
	T int `json:"tcp_networks"`     // T
	G int `json:"public_channel"`   // G: 1 with a public channel
	D int `json:"drop_causes_seen"` // ΣD: the drop causes seen, all channels (series only for those)
}

// C is the number of network channels, E + T.
func (s Shape) C() int { return s.E + s.T }

// shapeOf reads the shape from a node's status.
func shapeOf(st *status.Status) Shape {
	var s Shape
	for _, c := range st.Counters.Networks {
		s.D += len(c.Dropped)
	}
	for _, n := range st.Nodes {
		if !n.Local {
			s.P++
			if n.Public != "" {
				s.G = 1
			}
		}
	}
	for _, n := range st.Networks {
		s.W++
		if slices.Contains(n.Channels, "ether") {
			s.E++
		}
		if slices.Contains(n.Channels, "tcp") {
			s.T++
		}
	}
	return s
}

// Groups of series, in the formula's order.
const (
	grpLink       = "per link"
	grpLinkCh     = "per link channel"
	grpPeer       = "per peer"
	grpNet        = "per network"
	grpNetCh      = "per network channel"
	grpTCP        = "per tcp connection"
	grpAgent      = "local and agent"
	grpLinkLoss   = "of which loss gauges"
	grpNetChDrops = "of which drops by cause"
)

var groupOrder = []string{grpLink, grpLinkCh, grpPeer, grpNet, grpNetCh, grpTCP, grpAgent}

// Term is one line of the formula: its group, the expression with the
// symbols and with their values, and its value.
type Term struct {
	Group string `json:"group"`
	Expr  string `json:"expr"`
	With  string `json:"with"`
	Value int    `json:"value"`
}

// terms evaluates docs/METRICS.md's formula term by term.
func (s Shape) terms() []Term {
	c := s.C()
	return []Term{
		{grpLink, "P·W·24", fmt.Sprintf("%d·%d·24", s.P, s.W), s.P * s.W * 24},
		{grpLinkLoss, "P·W·2", fmt.Sprintf("%d·%d·2", s.P, s.W), s.P * s.W * 2},
		{grpLinkCh, "P·C·19", fmt.Sprintf("%d·%d·19", s.P, c), s.P * c * 19},
		{grpPeer, "P·(8 + G)", fmt.Sprintf("%d·(8 + %d)", s.P, s.G), s.P * (8 + s.G)},
		{grpNet, "W·10", fmt.Sprintf("%d·10", s.W), s.W * 10},
		{grpNetCh, "C·4 + ΣD", fmt.Sprintf("%d·4 + %d", c, s.D), c*4 + s.D},
		{grpNetChDrops, "ΣD", fmt.Sprintf("%d", s.D), s.D},
		{grpTCP, "6·P·T", fmt.Sprintf("6·%d·%d", s.P, s.T), 6 * s.P * s.T},
		{grpAgent, "31", "31", 31},
	}
}

// sumTerms adds the terms that are groups (not the "of which" lines).
func sumTerms(ts []Term) int {
	n := 0
	for _, t := range ts {
		if slices.Contains(groupOrder, t.Group) {
			n += t.Value
		}
	}
	return n
}

// Series counts the tether_ sample lines of one exposition.
type Series struct {
	Total int `json:"total"`
	// Groups by the formula's groups, and the loss gauges and the drops
	// by cause, which the formula names.
	Groups map[string]int `json:"groups"`
	// ByName counts per metric name (histogram _bucket, _sum, _count
	// apart).
	ByName map[string]int `json:"by_name"`
	// Other counts the sample lines of other metrics (go_*, process_*,
	// promhttp_*).
	Other int `json:"other_series"`
}

// countSeries counts every sample line of a text exposition whose metric
// name starts with tether_ (a histogram's buckets, sum and count each
// count one).
func countSeries(text []byte) Series {
	s := Series{Groups: map[string]int{}, ByName: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if k := strings.IndexAny(line, "{ "); k >= 0 {
			name = line[:k]
		}
		if !strings.HasPrefix(name, "tether_") {
			s.Other++
			continue
		}
		s.Total++
		s.ByName[name]++
		g := groupOf(name)
		s.Groups[g]++
		switch name {
		case "tether_link_loss_ratio":
			s.Groups[grpLinkLoss]++
		case "tether_network_frames_dropped_total":
			s.Groups[grpNetChDrops]++
		}
	}
	return s
}

// groupOf returns the formula group of a tether_ metric (docs/METRICS.md).
func groupOf(name string) string {
	switch {
	case strings.HasPrefix(name, "tether_link_rtt_seconds"), strings.HasPrefix(name, "tether_link_heartbeats_"):
		return grpLinkCh
	case strings.HasPrefix(name, "tether_link_"):
		return grpLink
	case strings.HasPrefix(name, "tether_node_"):
		return grpPeer
	case slices.Contains([]string{"tether_network_decode_errors_total", "tether_network_rx_frames_total",
		"tether_network_tx_frames_total", "tether_network_tx_errors_total", "tether_network_frames_dropped_total"}, name):
		return grpNetCh
	case strings.HasPrefix(name, "tether_network_"):
		return grpNet
	case strings.HasPrefix(name, "tether_tcp_"):
		return grpTCP
	default:
		return grpAgent
	}
}
