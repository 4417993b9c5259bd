package agent

import (
	"time"

	"github.com/tether-ha/tether/agent/metrics"
)

// scheduleBuckets are the bounds of the schedule delay histogram: how late
// the engine's timer ran (a healthy host: well under a millisecond; a
// pause: past peertrouble).
var scheduleBuckets = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
	2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, time.Second,
}

// scheduleDelay is a histogram of the engine timer's lateness (under the
// engine's lock).
type scheduleDelay struct {
	counts [len(scheduleBuckets) + 1]uint64
	sum    time.Duration
}

func (s *scheduleDelay) observe(late time.Duration) {
	late = max(late, 0)
	b := 0
	for b < len(scheduleBuckets) && late > scheduleBuckets[b] {
		b++
	}
	s.counts[b]++
	s.sum += late
}

func (s *scheduleDelay) histogram() metrics.Histogram {
	h := metrics.Histogram{Counts: append([]uint64(nil), s.counts[:]...), Sum: s.sum.Seconds()}
	for _, b := range scheduleBuckets {
		h.Bounds = append(h.Bounds, b.Seconds())
	}
	return h
}
