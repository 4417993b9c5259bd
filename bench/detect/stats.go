package main

import (
	"math"
	"slices"
	"time"
)

// Dist summarizes a set of latencies, in milliseconds.
type Dist struct {
	N      int     `json:"n"`
	MinMs  float64 `json:"min_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
}

// summarize returns the distribution of ds. Percentiles use the
// nearest-rank method: the p-th percentile of n sorted values is the
// ceil(p/100*n)-th smallest, so p99 of 100 values is the second largest and
// p99 of fewer than 100 values is the maximum. An empty ds gives N == 0.
func summarize(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Dist{
		N:      len(s),
		MinMs:  ms(s[0]),
		P50Ms:  ms(rank(s, 50)),
		P99Ms:  ms(rank(s, 99)),
		MaxMs:  ms(s[len(s)-1]),
		MeanMs: ms(sum / time.Duration(len(s))),
	}
}

// rank returns the nearest-rank p-th percentile of sorted, non-empty s.
func rank(s []time.Duration, p float64) time.Duration {
	k := int(math.Ceil(p / 100 * float64(len(s))))
	k = max(k, 1)
	k = min(k, len(s))
	return s[k-1]
}

// ms converts d to milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
