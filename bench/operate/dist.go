package main

import (
	"math"
	"slices"
	"time"

	"github.com/tether-ha/tether/bench/internal/stats"
)

// Dist is stats.Dist with the 90th percentile, which the issue asks for.
type Dist struct {
	stats.Dist
	P90Ms float64 `json:"p90_ms"`
}

// summarize is stats.Summarize plus p90, by the same nearest-rank method.
func summarize(ds []time.Duration) Dist {
	d := Dist{Dist: stats.Summarize(ds)}
	if len(ds) == 0 {
		return d
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := min(max(int(math.Ceil(0.9*float64(len(s)))), 1), len(s))
	d.P90Ms = stats.Ms(s[k-1])
	return d
}
