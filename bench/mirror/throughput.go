package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/testbed"
)

// Polling of the throughput phases.
const (
	drainPoll   = 10 * time.Millisecond
	samplePoll  = 250 * time.Millisecond
	drainFloor  = 2 * time.Minute // the drain's timeout at least
	drainMinMBs = 10.0            // and at most the log at this rate
)

// ThroughputResult is the throughput part: fill, drain, sustained.
type ThroughputResult struct {
	Fill *PhaseResult `json:"fill,omitempty"`
	// LogBytes and LogEndOffset are the primary's topic after the fill.
	LogBytes     int64        `json:"log_bytes,omitempty"`
	LogEndOffset int64        `json:"log_end_offset,omitempty"`
	Drain        *DrainResult `json:"drain,omitempty"`
	Sustained    *Sustained   `json:"sustained,omitempty"`
	TargetMBs    float64      `json:"target_mb_per_s"`
	Met          bool         `json:"met"`
}

// PhaseResult is a load and what the processes used meanwhile.
type PhaseResult struct {
	Load *LoadResult `json:"load"`
	Use
}

// Use is the CPU and memory of the agents and of this program (the
// producers and consumers) over a phase, and the log events meanwhile.
type Use struct {
	CPU []ProcUse `json:"cpu"`
	// MachineBusy is all CPUs of the machine (100 = both cores busy).
	MachineBusy float64        `json:"machine_busy_percent"`
	Steal       float64        `json:"steal_percent"`
	Events      map[string]int `json:"events"`
	Evidence    []string       `json:"evidence,omitempty"`
	LoadBefore  string         `json:"loadavg_before"`
	LoadAfter   string         `json:"loadavg_after"`
}

// ProcUse is one process's share of a core over a phase.
type ProcUse struct {
	Name string `json:"name"`
	proc.Stat
}

// DrainResult is the mirror catching up with a filled log.
type DrainResult struct {
	Seconds     float64 `json:"seconds"`
	LogBytes    int64   `json:"log_bytes"`
	Records     int64   `json:"records"`
	MBPerS      float64 `json:"log_mb_per_s"` // log bytes appended on the mirror per second, 10^6
	RecordsPerS float64 `json:"records_per_s"`
	// Identical: the mirror's log has the primary's size and end offset.
	MirrorLogBytes int64 `json:"mirror_log_bytes"`
	Identical      bool  `json:"identical_size_and_end"`
	Use
}

// Sustained is producers at full speed with the mirror active.
type Sustained struct {
	Load *LoadResult `json:"load"`
	// Over the samples' span: bytes appended to each log per second.
	Seconds       float64 `json:"seconds"`
	PrimaryMBPerS float64 `json:"primary_log_mb_per_s"`
	MirrorMBPerS  float64 `json:"mirror_log_mb_per_s"`
	MirrorRecPerS float64 `json:"mirror_records_per_s"`
	// Lag of the mirror over the samples (records: the primary's end −
	// the mirror's, read one right after the other; ms: the mirror's
	// lag_ms).
	LagRecords Spread `json:"lag_records"`
	LagMs      Spread `json:"lag_ms"`
	// CatchUpMs is from the producers' end until the mirror's log ended
	// where the primary's did.
	CatchUpMs float64    `json:"catch_up_ms"`
	Timeline  []Interval `json:"timeline"`
	Use
	Profiles []string `json:"cpu_profiles,omitempty"`
}

// Spread summarizes sampled values.
type Spread struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	Max  float64 `json:"max"`
	Last float64 `json:"last"`
}

// Interval is one second of the sustained phase.
type Interval struct {
	AtS           float64 `json:"at_s"` // end of the interval, from the first sample
	PrimaryMBPerS float64 `json:"primary_mb_per_s"`
	MirrorMBPerS  float64 `json:"mirror_mb_per_s"`
	LagRecords    int64   `json:"lag_records"`
	LagMs         int64   `json:"lag_ms"`
}

// sample is one look at both logs during the sustained phase.
type sample struct {
	at                 time.Time
	pEnd, pSize        int64
	mEnd, mSize        int64
	lagRecords, lagMs  int64
	pSizeErr, mSizeErr error
}

// phase is an open measurement of Use.
type phase struct {
	w     *proc.Window
	cur   *bedutil.Cursor
	load0 string
	names []string
}

// beginUse starts measuring the agents and this program.
func beginUse(m *mirrorBed) (*phase, error) {
	pids, err := bedutil.AgentPids(m.Bed)
	if err != nil {
		return nil, err
	}
	return beginUseOf(m, append(pids, os.Getpid()), []string{"node0 tetherd", "node1 tetherd", "bench (clients)"})
}

func beginUseOf(m *mirrorBed, pids []int, names []string) (*phase, error) {
	p := &phase{cur: bedutil.NewCursor(m.Bed), load0: proc.LoadAvg(), names: names}
	p.cur.Poll()
	var err error
	if p.w, err = proc.StartWindow(pids); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *phase) end() (Use, error) {
	st, busy, err := p.w.Stop()
	if err != nil {
		return Use{}, err
	}
	u := Use{MachineBusy: busy, Steal: p.w.StealPercent(), LoadBefore: p.load0, LoadAfter: proc.LoadAvg()}
	for k, s := range st {
		u.CPU = append(u.CPU, ProcUse{Name: p.names[k], Stat: s})
	}
	u.Events, u.Evidence = countEvents(p.cur.Poll())
	return u, nil
}

// runThroughput runs the fill and the drain (with -only throughput) and
// the sustained phase, during which it measures the RTT into rtt (if
// asked).
func runThroughput(t testbed.T, m *mirrorBed, o options, rtt *RTTResult) (*ThroughputResult, error) {
	r := &ThroughputResult{TargetMBs: throughputTargetMBs}
	if o.has(partThroughput) {
		if err := fillAndDrain(t, m, o, r); err != nil {
			return r, err
		}
	}
	t.Logf("sustained: %d producers × %d records a produce for %v, mirror active", o.producers, o.batch, o.sustain)
	s, err := sustain(t, m, o, rtt)
	r.Sustained = s
	if err != nil {
		return r, err
	}
	r.Met = s.MirrorMBPerS >= throughputTargetMBs
	return r, nil
}

// fillAndDrain fills topicBulk with the mirror paused, then resumes it.
func fillAndDrain(t testbed.T, m *mirrorBed, o options, r *ThroughputResult) error {
	if err := m.pauseMirror(topicBulk, true); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	n := o.fillRecords()
	t.Logf("fill: %d records of %d B (%.2f GiB) by %d producers × %d a produce, mirror paused", n, recordSize, o.gib, o.producers, o.batch)
	ph, err := beginUse(m)
	if err != nil {
		return err
	}
	ld, err := load(m, topicBulk, o.producers, o.batch, n, time.Time{})
	u, uerr := ph.end()
	r.Fill = &PhaseResult{Load: ld, Use: u}
	if err != nil {
		return err
	}
	if uerr != nil {
		return uerr
	}
	t.Logf("fill: %d records in %.1f s: %.1f MB/s of values, %.0f records/s (produce p50 %.1f ms, p99 %.1f ms), %d errors",
		ld.Records, ld.Seconds, ld.MBPerS, ld.RecordsPerS, ld.Latency.P50Ms, ld.Latency.P99Ms, ld.Errors)
	p, err := m.topic(primary, topicBulk)
	if err != nil {
		return err
	}
	r.LogBytes, r.LogEndOffset = p.SizeBytes, p.LogEndOffset
	if ms, err := m.mirrorTopic(mirror, topicBulk); err != nil || ms.State != "PAUSED" || ms.LogEndOffset != 0 {
		return fmt.Errorf("the mirror was not paused during the fill: %+v %v", ms, err)
	}

	timeout := max(drainFloor, time.Duration(float64(p.SizeBytes)/(drainMinMBs*1e6)*float64(time.Second)))
	ph, err = beginUse(m)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := m.pauseMirror(topicBulk, false); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	var end time.Time
	for {
		q, err := m.topic(mirror, topicBulk)
		if err != nil {
			return err
		}
		if q.LogEndOffset >= p.LogEndOffset {
			end = time.Now()
			break
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("drain: the mirror has %d of %d records after %v", q.LogEndOffset, p.LogEndOffset, timeout)
		}
		time.Sleep(drainPoll)
	}
	u, err = ph.end()
	if err != nil {
		return err
	}
	q, err := m.topic(mirror, topicBulk)
	if err != nil {
		return err
	}
	el := end.Sub(start)
	d := &DrainResult{Seconds: stats.Round3(el.Seconds()), LogBytes: p.SizeBytes, Records: p.LogEndOffset, MirrorLogBytes: q.SizeBytes,
		Identical: q.SizeBytes == p.SizeBytes && q.LogEndOffset == p.LogEndOffset, Use: u}
	d.MBPerS = stats.Round3(float64(p.SizeBytes) / el.Seconds() / 1e6)
	d.RecordsPerS = stats.Round3(float64(p.LogEndOffset) / el.Seconds())
	r.Drain = d
	t.Logf("drain: %d B of log (%d records) mirrored in %.2f s: %.1f MB/s, %.0f records/s; mirror log identical in size and end: %v",
		d.LogBytes, d.Records, d.Seconds, d.MBPerS, d.RecordsPerS, d.Identical)
	if !d.Identical {
		return fmt.Errorf("after the drain the mirror's log is %d B ending at %d, the primary's %d B ending at %d", q.SizeBytes, q.LogEndOffset, p.SizeBytes, p.LogEndOffset)
	}
	return nil
}

// sustain runs producers at full speed for o.sustain with the mirror
// active, sampling both logs; the RTT window (rtt != nil) and the CPU
// window span the producers' run.
func sustain(t testbed.T, m *mirrorBed, o options, rtt *RTTResult) (*Sustained, error) {
	if _, err := m.waitCaughtUp(topicBulk, drainPoll, drainFloor); err != nil {
		return nil, err
	}
	var rw *rttWindow
	if rtt != nil {
		var err error
		if rw, err = beginRTT(m, "sustained"); err != nil {
			return nil, err
		}
	}
	ph, err := beginUse(m)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.sustain)
	var prof *profiler
	if o.pprof != "" {
		prof = startProfiles(m, o.pprof, "sustained", o.sustain-time.Second)
	}
	stop := make(chan struct{})
	var samples []sample
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(samplePoll)
		defer tick.Stop()
		for {
			samples = append(samples, m.sample(topicBulk))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	ld, lerr := load(m, topicBulk, o.producers, o.batch, 0, deadline)
	close(stop)
	wg.Wait()
	u, uerr := ph.end()
	s := &Sustained{Load: ld, Use: u}
	if prof != nil {
		s.Profiles, err = prof.wait()
		if err != nil {
			t.Logf("sustained: profiles: %v", err)
		}
	}
	if rw != nil {
		var err error
		if rtt.Load, err = rw.end(m); err != nil {
			return s, err
		}
	}
	if lerr != nil {
		return s, lerr
	}
	if uerr != nil {
		return s, uerr
	}
	stopped := time.Now()
	caught, err := m.waitCaughtUp(topicBulk, drainPoll, drainFloor)
	if err != nil {
		return s, err
	}
	s.CatchUpMs = stats.Ms(caught.Sub(stopped))
	if err := s.summarize(samples); err != nil {
		return s, err
	}
	t.Logf("sustained: producers %.1f MB/s of values; logs: primary %.1f MB/s, mirror %.1f MB/s (%.0f records/s); lag p50 %.0f max %.0f records, max %.0f ms; caught up %.0f ms after the producers stopped",
		ld.MBPerS, s.PrimaryMBPerS, s.MirrorMBPerS, s.MirrorRecPerS, s.LagRecords.P50, s.LagRecords.Max, s.LagMs.Max, s.CatchUpMs)
	return s, nil
}

// sample reads the mirror's status, then both logs' ends and sizes at
// the same time (both asked at once).
func (m *mirrorBed) sample(name string) sample {
	s := sample{}
	if ts, err := m.mirrorTopic(mirror, name); err == nil {
		s.lagMs = ts.LagMs
	}
	var q topicapi.Topic
	var qerr error
	var wg sync.WaitGroup
	wg.Go(func() { q, qerr = m.topic(mirror, name) })
	p, perr := m.topic(primary, name)
	wg.Wait()
	s.at = time.Now()
	s.pEnd, s.pSize, s.pSizeErr = p.LogEndOffset, p.SizeBytes, perr
	s.mEnd, s.mSize, s.mSizeErr = q.LogEndOffset, q.SizeBytes, qerr
	s.lagRecords = max(0, s.pEnd-s.mEnd)
	return s
}

// summarize computes the rates, the lag and the timeline of samples.
func (s *Sustained) summarize(all []sample) error {
	var ok []sample
	for _, x := range all {
		if x.pSizeErr == nil && x.mSizeErr == nil {
			ok = append(ok, x)
		}
	}
	if len(ok) < 2 {
		return fmt.Errorf("sustained: %d usable samples of %d", len(ok), len(all))
	}
	a, z := ok[0], ok[len(ok)-1]
	span := z.at.Sub(a.at).Seconds()
	s.Seconds = stats.Round3(span)
	s.PrimaryMBPerS = stats.Round3(float64(z.pSize-a.pSize) / span / 1e6)
	s.MirrorMBPerS = stats.Round3(float64(z.mSize-a.mSize) / span / 1e6)
	s.MirrorRecPerS = stats.Round3(float64(z.mEnd-a.mEnd) / span)
	var lagR, lagMs []float64
	for _, x := range ok {
		lagR = append(lagR, float64(x.lagRecords))
		lagMs = append(lagMs, float64(x.lagMs))
	}
	s.LagRecords, s.LagMs = spread(lagR), spread(lagMs)
	perSecond(len(ok), func(i int) time.Time { return ok[i].at }, func(i, j int) {
		x, y := ok[i], ok[j]
		dt := y.at.Sub(x.at).Seconds()
		s.Timeline = append(s.Timeline, Interval{AtS: stats.Round3(y.at.Sub(a.at).Seconds()),
			PrimaryMBPerS: stats.Round3(float64(y.pSize-x.pSize) / dt / 1e6), MirrorMBPerS: stats.Round3(float64(y.mSize-x.mSize) / dt / 1e6),
			LagRecords: y.lagRecords, LagMs: y.lagMs})
	})
	return nil
}

// spread summarizes xs (nearest-rank percentiles).
func spread(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		ds[i] = time.Duration(x * float64(time.Millisecond))
	}
	d := stats.Summarize(ds)
	return Spread{N: d.N, P50: d.P50Ms, P90: d.P90Ms, Max: d.MaxMs, Last: xs[len(xs)-1]}
}
