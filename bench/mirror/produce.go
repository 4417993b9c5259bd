package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/replicator/topicapi"
)

// maxProduceErrors ends a load whose produces keep failing.
const maxProduceErrors = 50

// filler is the body of every value: printable (the topic API carries
// valid UTF-8 as JSON text, other bytes as base64) and not a run of one
// byte. Each value starts with its own tag over the filler's first bytes.
var filler = func() []byte {
	raw := make([]byte, recordSize)
	r := rand.New(rand.NewPCG(8, 1024))
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	return []byte(base64.RawStdEncoding.EncodeToString(raw)[:recordSize])
}()

// value returns a 1 KiB value starting with tag.
func value(tag []byte) []byte {
	v := make([]byte, recordSize)
	copy(v, filler)
	copy(v, tag)
	return v
}

// LoadResult is what a set of concurrent producers wrote.
type LoadResult struct {
	Producers   int     `json:"producers"`
	Batch       int     `json:"records_per_produce"`
	Records     int64   `json:"records"`
	ValueBytes  int64   `json:"value_bytes"`
	Seconds     float64 `json:"seconds"`
	RecordsPerS float64 `json:"records_per_s"`
	// MBPerS is value bytes per second, 10^6 bytes.
	MBPerS  float64 `json:"value_mb_per_s"`
	Errors  int     `json:"errors"`
	Latency Dist    `json:"produce_call_latency"` // one produce request
}

// load runs producers concurrent producers of batch records each call on
// topic of node 0 until limit records (limit > 0) are written or until
// the deadline; every producer has its own connection.
func load(m *mirrorBed, topic string, producers, batch int, limit int64, deadline time.Time) (*LoadResult, error) {
	var claimed, written atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for p := range producers {
		c := m.client(primary)
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals := make([][]byte, batch)
			for k := range vals {
				vals[k] = value(nil)
			}
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for seq := 0; ; seq++ {
				n := batch
				if limit > 0 {
					end := claimed.Add(int64(batch))
					if end-int64(batch) >= limit {
						return
					}
					n = int(min(int64(batch), limit-(end-int64(batch))))
				} else if time.Now().After(deadline) {
					return
				}
				for k := range n {
					copy(vals[k], strconv.AppendInt(append(strconv.AppendInt([]byte("p"), int64(p), 10), '-'), int64(seq*batch+k), 10))
				}
				for {
					t0 := time.Now()
					err := produceOnce(c, topic, vals[:n])
					if err == nil {
						mine = append(mine, time.Since(t0))
						written.Add(int64(n))
						break
					}
					mu.Lock()
					errs++
					if firstErr == nil {
						firstErr = err
					}
					stop := errs >= maxProduceErrors
					mu.Unlock()
					if stop {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	r := &LoadResult{Producers: producers, Batch: batch, Records: written.Load(), Seconds: stats.Round3(el.Seconds()), Errors: errs, Latency: stats.Summarize(lat)}
	r.ValueBytes = r.Records * recordSize
	r.RecordsPerS = stats.Round3(float64(r.Records) / el.Seconds())
	r.MBPerS = stats.Round3(float64(r.ValueBytes) / el.Seconds() / 1e6)
	if errs >= maxProduceErrors {
		return r, fmt.Errorf("produce to %s: %d errors, the first: %w", topic, errs, firstErr)
	}
	return r, nil
}

func produceOnce(c *topicapi.Client, topic string, vals [][]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, err := c.Produce(ctx, topic, vals)
	return err
}

// Paced producing.
const (
	maxInFlight  = 64 // produces in flight at most (open loop: a slow one does not delay the next)
	consumeWait  = 500 * time.Millisecond
	consumeGrace = 10 * time.Second // after the last produce, for the consumer to see everything
	tagLen       = 29               // "%019d %08d " : send time in Unix ns, sequence
)

// PacedResult is one record per produce at a fixed rate.
type PacedResult struct {
	Topic  string  `json:"topic"`
	Acks   string  `json:"acks"`
	Rate   int     `json:"rate_per_s"`
	Warmup int     `json:"warmup_records"` // sent first, not counted
	Sent   int     `json:"records"`        // counted
	Errors int     `json:"produce_errors"`
	RateAt float64 `json:"achieved_rate_per_s"`
	// Produce is the produce call: request sent → answer read.
	Produce Dist `json:"produce_call"`
	// Visible is send time → consumed on the mirror (latency part).
	Visible *Dist `json:"visible_on_mirror,omitempty"`
	// Unseen counts produced records the mirror's consumer did not get
	// within consumeGrace of the last produce; Late counts those the
	// schedule could not send on time (more than maxInFlight waiting).
	Unseen      int     `json:"unseen_on_mirror,omitempty"`
	Late        int     `json:"sent_late"`
	TargetP99Ms float64 `json:"target_p99_ms"`
	Met         bool    `json:"met"`
	Use
	Profiles []string `json:"cpu_profiles,omitempty"`
	// The samples, for PacedSeries.
	produced, visible []time.Duration
}

// PacedSeries is -reps runs of one paced measurement, and all their
// records together (the verdict is on those).
type PacedSeries struct {
	Runs        []*PacedResult `json:"runs"`
	Produce     Dist           `json:"produce_call"`
	Visible     *Dist          `json:"visible_on_mirror,omitempty"`
	Unseen      int            `json:"unseen_on_mirror,omitempty"`
	Errors      int            `json:"produce_errors"`
	TargetP99Ms float64        `json:"target_p99_ms"`
	Met         bool           `json:"met"`
}

// add appends a run and recomputes the pooled figures.
func (s *PacedSeries) add(r *PacedResult) {
	s.Runs = append(s.Runs, r)
	var pl, vl []time.Duration
	s.Unseen, s.Errors, s.Met = 0, 0, true
	for _, x := range s.Runs {
		pl = append(pl, x.produced...)
		vl = append(vl, x.visible...)
		s.Unseen += x.Unseen
		s.Errors += x.Errors
		s.TargetP99Ms = x.TargetP99Ms
	}
	s.Produce = stats.Summarize(pl)
	p99 := s.Produce.P99Ms
	if r.Visible != nil {
		d := stats.Summarize(vl)
		s.Visible, p99 = &d, d.P99Ms
	}
	s.Met = len(pl) > 0 && p99 <= s.TargetP99Ms && s.Unseen == 0 && s.Errors == 0
}

// runLatency measures produce → visible on the mirror.
func runLatency(m *mirrorBed, o options) (*PacedResult, error) {
	return paced(m, o, m.client(primary), topicLat, "local", true)
}

// runAcks measures the produce call with acks: mirror.
func runAcks(m *mirrorBed, o options) (*PacedResult, error) {
	return paced(m, o, m.client(primary), topicAcked, "mirror", false)
}

// paced sends o.warmup + o.records records, one per produce through c,
// at o.rate on a fixed schedule (open loop, up to maxInFlight at once);
// each carries its send time. With consume, a consumer on the mirror
// long-polls the topic and takes the time each record arrives.
func paced(m *mirrorBed, o options, c *topicapi.Client, topic, acks string, consume bool) (*PacedResult, error) {
	r := &PacedResult{Topic: topic, Acks: acks, Rate: o.rate, Warmup: o.warmup, Sent: o.records, TargetP99Ms: acksP99Ms}
	if consume {
		r.TargetP99Ms = visibleP99Ms
	}
	n := o.warmup + o.records
	var startOffset int64
	if consume {
		start, err := m.topic(mirror, topic)
		if err != nil {
			return nil, err
		}
		startOffset = start.LogEndOffset
	}
	produced := make([]time.Duration, n) // 0: failed
	visible := make([]time.Duration, n)  // 0: not seen
	ph, err := beginUse(m)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cwg sync.WaitGroup
	var seen atomic.Int64
	var cerr error
	if consume {
		mc := m.client(mirror)
		cwg.Go(func() { cerr = consumeAll(ctx, mc, topic, startOffset, visible, &seen) })
	}
	var prof *profiler
	if o.pprof != "" {
		prof = startProfiles(m, o.pprof, topic+"-"+time.Now().Format("150405"), time.Duration(n)*time.Second/time.Duration(o.rate)-time.Second)
	}
	sem := make(chan struct{}, maxInFlight)
	var pwg sync.WaitGroup
	var errs atomic.Int64
	period := time.Second / time.Duration(o.rate)
	t0 := time.Now()
	for k := range n {
		at := t0.Add(time.Duration(k) * period)
		time.Sleep(time.Until(at))
		select {
		case sem <- struct{}{}:
		default:
			r.Late++
			sem <- struct{}{}
		}
		pwg.Go(func() {
			defer func() { <-sem }()
			sent := time.Now()
			tag := strconv.AppendInt(nil, sent.UnixNano(), 10)
			tag = append(tag, ' ')
			tag = fmt.Appendf(tag, "%08d ", k)
			if err := produceOnce(c, topic, [][]byte{value(tag)}); err != nil {
				errs.Add(1)
				return
			}
			produced[k] = max(time.Since(sent), time.Nanosecond)
		})
	}
	pwg.Wait()
	sendSecs := time.Since(t0).Seconds()
	r.Errors = int(errs.Load())
	if consume {
		want := int64(n - r.Errors)
		deadline := time.Now().Add(consumeGrace)
		for seen.Load() < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	cancel()
	cwg.Wait()
	r.Use, err = ph.end()
	if err != nil {
		return r, err
	}
	if prof != nil {
		if r.Profiles, err = prof.wait(); err != nil {
			return r, err
		}
	}
	r.RateAt = stats.Round3(float64(n) / sendSecs)
	var pl, vl []time.Duration
	for k := o.warmup; k < n; k++ {
		if produced[k] == 0 {
			continue
		}
		pl = append(pl, produced[k])
		if consume {
			if visible[k] == 0 {
				r.Unseen++
			} else {
				vl = append(vl, visible[k])
			}
		}
	}
	r.Produce = stats.Summarize(pl)
	r.produced, r.visible = pl, vl
	if consume {
		d := stats.Summarize(vl)
		r.Visible = &d
		r.Met = d.N > 0 && d.P99Ms <= visibleP99Ms && r.Unseen == 0
	} else {
		r.Met = r.Produce.N > 0 && r.Produce.P99Ms <= acksP99Ms
	}
	r.Met = r.Met && r.Errors == 0
	if cerr != nil {
		return r, fmt.Errorf("consumer: %w", cerr)
	}
	if r.Errors > 0 {
		return r, fmt.Errorf("%d of %d produces to %s failed", r.Errors, n, topic)
	}
	return r, nil
}

// consumeAll long-polls topic from offset until ctx ends, setting
// visible[k] to the age of record k (from the send time in its value) when
// it arrives, and counting the records in seen.
func consumeAll(ctx context.Context, c *topicapi.Client, topic string, offset int64, visible []time.Duration, seen *atomic.Int64) error {
	for ctx.Err() == nil {
		f, err := c.Consume(ctx, topic, offset, 1<<20, consumeWait)
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, rec := range f.Records {
			sent, k, err := parseTag(rec.Value)
			if err != nil {
				return fmt.Errorf("offset %d: %w", rec.Offset, err)
			}
			if k >= 0 && k < len(visible) && visible[k] == 0 {
				visible[k] = max(now.Sub(sent), time.Nanosecond)
				seen.Add(1)
			}
		}
		offset = f.NextOffset
	}
	return nil
}

// parseTag reads the send time and sequence number at the start of a
// paced record's value.
func parseTag(v []byte) (time.Time, int, error) {
	if len(v) < tagLen {
		return time.Time{}, 0, fmt.Errorf("value of %d bytes has no tag", len(v))
	}
	ns, err := strconv.ParseInt(string(v[:19]), 10, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("tag %q: %w", v[:tagLen], err)
	}
	k, err := strconv.Atoi(string(v[20:28]))
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("tag %q: %w", v[:tagLen], err)
	}
	return time.Unix(0, ns), k, nil
}
