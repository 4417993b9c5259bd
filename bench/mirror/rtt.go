package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// rttMetric is the agents' heartbeat RTT histogram (docs/METRICS.md).
const rttMetric = "tether_link_rtt_seconds"

// watched are the events that must not happen while mirroring.
var watched = []string{"link.trouble", "link.down", "node.state"}

// hist is one RTT histogram: cumulative counts per upper bound (seconds,
// ascending, the last +Inf), the sum in seconds and the count.
type hist struct {
	bounds []float64
	cum    []uint64
	sum    float64
	count  uint64
}

// rttKey names one histogram: the node that measures, and the labels.
type rttKey struct {
	Observer, Peer, Network, Channel string
}

// rttSnap is every node's RTT histograms at one moment.
type rttSnap map[rttKey]hist

// scrapeRTT reads the RTT histograms of every node of m from /metrics.
func scrapeRTT(m *mirrorBed) (rttSnap, error) {
	out := rttSnap{}
	for i := range m.N() {
		body, err := getMetrics(m.NodeNS(i))
		if err != nil {
			return nil, fmt.Errorf("node%d: %w", i, err)
		}
		hs, err := parseRTT(body)
		if err != nil {
			return nil, fmt.Errorf("node%d /metrics: %w", i, err)
		}
		for k, h := range hs {
			k.Observer = m.NodeName(i)
			out[k] = h
		}
	}
	return out, nil
}

func getMetrics(ns string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+metricsAddr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := testbed.HTTPClient(ns).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(body), err
}

// parseRTT extracts the RTT histograms of a text exposition, keyed by
// peer, network and channel (Observer empty).
func parseRTT(text string) (map[rttKey]hist, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	mf := mfs[rttMetric]
	if mf == nil {
		return nil, fmt.Errorf("no %s", rttMetric)
	}
	out := map[rttKey]hist{}
	for _, mt := range mf.Metric {
		h := mt.GetHistogram()
		if h == nil {
			continue
		}
		var k rttKey
		for _, lp := range mt.Label {
			switch lp.GetName() {
			case "peer":
				k.Peer = lp.GetValue()
			case "network":
				k.Network = lp.GetValue()
			case "channel":
				k.Channel = lp.GetValue()
			}
		}
		out[k] = histOf(h)
	}
	return out, nil
}

func histOf(h *dto.Histogram) hist {
	var o hist
	for _, b := range h.Bucket {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		o.bounds = append(o.bounds, b.GetUpperBound())
		o.cum = append(o.cum, b.GetCumulativeCount())
	}
	o.bounds = append(o.bounds, math.Inf(1))
	o.cum = append(o.cum, h.GetSampleCount())
	o.sum, o.count = h.GetSampleSum(), h.GetSampleCount()
	return o
}

// sub returns h − before (the samples between two scrapes); before may be
// empty (a histogram that appeared meanwhile).
func (h hist) sub(before hist) hist {
	o := hist{bounds: h.bounds, cum: slices.Clone(h.cum), sum: h.sum - before.sum, count: h.count - min(h.count, before.count)}
	if len(before.cum) == len(h.cum) {
		for i := range o.cum {
			o.cum[i] -= min(o.cum[i], before.cum[i])
		}
	}
	return o
}

// quantile estimates the q-quantile (0..1) in seconds as Prometheus's
// histogram_quantile does: linear within the bucket that holds it, the
// first bucket starting at 0; in the +Inf bucket, the last finite bound.
// It also returns that bucket's upper bound. NaN without samples.
func (h hist) quantile(q float64) (est, upper float64) {
	if h.count == 0 || len(h.cum) == 0 {
		return math.NaN(), math.NaN()
	}
	rank := q * float64(h.count)
	i := 0
	for i < len(h.cum)-1 && float64(h.cum[i]) < rank {
		i++
	}
	if math.IsInf(h.bounds[i], 1) {
		last := h.bounds[len(h.bounds)-2]
		return last, math.Inf(1)
	}
	lo, below := 0.0, uint64(0)
	if i > 0 {
		lo, below = h.bounds[i-1], h.cum[i-1]
	}
	in := h.cum[i] - below
	if in == 0 {
		return h.bounds[i], h.bounds[i]
	}
	return lo + (h.bounds[i]-lo)*(rank-float64(below))/float64(in), h.bounds[i]
}

// highest returns the upper bound of the highest non-empty bucket.
func (h hist) highest() float64 {
	for i := range h.cum {
		if h.cum[i] == h.count {
			return h.bounds[i]
		}
	}
	return math.Inf(1)
}

// RTTSeries is one observer's RTT to one peer on one network and channel
// over a window.
type RTTSeries struct {
	Observer string  `json:"observer"`
	Peer     string  `json:"peer"`
	Network  string  `json:"network"`
	Channel  string  `json:"channel"`
	Samples  uint64  `json:"samples"`
	MeanMs   float64 `json:"mean_ms"` // exact: Δsum / Δcount
	P50Ms    float64 `json:"p50_ms"`  // interpolated within its bucket
	P99Ms    float64 `json:"p99_ms"`
	// P99BucketMs is the upper bound of the bucket holding the p99, and
	// MaxBucketMs that of the highest bucket with a sample.
	P99BucketMs float64 `json:"p99_bucket_ms"`
	MaxBucketMs float64 `json:"max_bucket_ms"`
}

// RTTWindow is the heartbeat RTT of every link over one window and the
// state changes logged meanwhile.
type RTTWindow struct {
	Phase   string         `json:"phase"`
	Seconds float64        `json:"seconds"`
	Series  []RTTSeries    `json:"series"`
	Events  map[string]int `json:"events"` // link.trouble, link.down, node.state and every other link.*
	// Evidence quotes the watched events (at most a few).
	Evidence []string `json:"evidence,omitempty"`
}

// rttWindow is an open RTTWindow: the histograms and the log cursor at
// its start.
type rttWindow struct {
	phase string
	start time.Time
	snap  rttSnap
	cur   *bedutil.Cursor
}

func beginRTT(m *mirrorBed, phase string) (*rttWindow, error) {
	w := &rttWindow{phase: phase, cur: bedutil.NewCursor(m.Bed)}
	w.cur.Poll()
	snap, err := scrapeRTT(m)
	if err != nil {
		return nil, err
	}
	w.snap, w.start = snap, time.Now()
	return w, nil
}

func (w *rttWindow) end(m *mirrorBed) (*RTTWindow, error) {
	after, err := scrapeRTT(m)
	if err != nil {
		return nil, err
	}
	r := &RTTWindow{Phase: w.phase, Seconds: stats.Round3(time.Since(w.start).Seconds())}
	r.Events, r.Evidence = countEvents(w.cur.Poll())
	keys := make([]rttKey, 0, len(after))
	for k := range after {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rttKey) int {
		return strings.Compare(a.Observer+a.Network+a.Channel+a.Peer, b.Observer+b.Network+b.Channel+b.Peer)
	})
	for _, k := range keys {
		h := after[k].sub(w.snap[k])
		s := RTTSeries{Observer: k.Observer, Peer: k.Peer, Network: k.Network, Channel: k.Channel, Samples: h.count}
		if h.count > 0 {
			s.MeanMs = stats.Round3(h.sum / float64(h.count) * 1e3)
			p50, _ := h.quantile(0.50)
			p99, b99 := h.quantile(0.99)
			s.P50Ms, s.P99Ms = stats.Round3(p50*1e3), stats.Round3(p99*1e3)
			s.P99BucketMs, s.MaxBucketMs = msOrInf(b99), msOrInf(h.highest())
		}
		r.Series = append(r.Series, s)
	}
	return r, nil
}

// msOrInf converts seconds to ms; +Inf (past the last bucket) is -1.
func msOrInf(s float64) float64 {
	if math.IsInf(s, 1) {
		return -1
	}
	return stats.Round3(s * 1e3)
}

// countEvents counts the watched events and every link.* transition of
// evs, quoting the watched ones.
func countEvents(evs []testbed.Event) (map[string]int, []string) {
	counts := map[string]int{}
	for _, id := range watched {
		counts[id] = 0
	}
	var evidence []string
	for _, e := range evs {
		if !bedutil.IsTransition(e) {
			continue
		}
		counts[e.ID]++
		if slices.Contains(watched, e.ID) && len(evidence) < 10 {
			evidence = append(evidence, e.String())
		}
	}
	return counts, evidence
}

// measureRTTIdle measures the idle RTT over dur: nothing but heartbeats.
func measureRTTIdle(m *mirrorBed, dur time.Duration) (*RTTWindow, error) {
	w, err := beginRTT(m, "idle")
	if err != nil {
		return nil, err
	}
	time.Sleep(dur)
	return w.end(m)
}

// RTTResult compares the RTT under load with the idle RTT, link by link.
type RTTResult struct {
	Idle    *RTTWindow   `json:"idle"`
	Load    *RTTWindow   `json:"sustained"`
	Compare []RTTCompare `json:"compare,omitempty"`
	// Factor is the target: p99 under load ≤ Factor × idle p99.
	Factor     float64 `json:"target_factor"`
	WorstRatio float64 `json:"worst_p99_ratio"`
	NoEvents   bool    `json:"no_trouble_down_or_node_state"`
	Met        bool    `json:"met"`
}

// RTTCompare is one series idle and under load.
type RTTCompare struct {
	Series     string  `json:"series"` // observer → peer network/channel
	IdleP99Ms  float64 `json:"idle_p99_ms"`
	LoadP99Ms  float64 `json:"sustained_p99_ms"`
	Ratio      float64 `json:"p99_ratio"`
	IdleMeanMs float64 `json:"idle_mean_ms"`
	LoadMeanMs float64 `json:"sustained_mean_ms"`
	MeanRatio  float64 `json:"mean_ratio"`
	LoadMaxMs  float64 `json:"sustained_max_bucket_ms"` // -1: past 500 ms
	Met        bool    `json:"met"`
}

// judge fills Compare and the verdicts once both windows are measured.
func (r *RTTResult) judge() {
	r.Factor = rttFactor
	if r.Idle == nil || r.Load == nil {
		return
	}
	idle := map[string]RTTSeries{}
	for _, s := range r.Idle.Series {
		idle[s.name()] = s
	}
	r.Met = true
	for _, s := range r.Load.Series {
		i, ok := idle[s.name()]
		if !ok || i.Samples == 0 || s.Samples == 0 {
			r.Met = false
			r.Compare = append(r.Compare, RTTCompare{Series: s.name()})
			continue
		}
		c := RTTCompare{Series: s.name(), IdleP99Ms: i.P99Ms, LoadP99Ms: s.P99Ms, Ratio: stats.Round3(s.P99Ms / i.P99Ms),
			IdleMeanMs: i.MeanMs, LoadMeanMs: s.MeanMs, MeanRatio: stats.Round3(s.MeanMs / i.MeanMs), LoadMaxMs: s.MaxBucketMs}
		c.Met = c.Ratio <= rttFactor
		r.Met = r.Met && c.Met
		r.WorstRatio = max(r.WorstRatio, c.Ratio)
		r.Compare = append(r.Compare, c)
	}
	r.NoEvents = true
	for _, id := range watched {
		r.NoEvents = r.NoEvents && r.Load.Events[id] == 0
	}
	r.Met = r.Met && r.NoEvents
}

func (s RTTSeries) name() string {
	return fmt.Sprintf("%s → %s %s/%s", s.Observer, s.Peer, s.Network, s.Channel)
}
