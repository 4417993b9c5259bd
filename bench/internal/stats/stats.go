// Package stats summarizes benchmark samples: nearest-rank percentiles of
// latencies and least-squares line fits.
package stats

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Dist summarizes a set of latencies, in milliseconds.
type Dist struct {
	N      int     `json:"n"`
	MinMs  float64 `json:"min_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
}

// Summarize returns the distribution of ds. Percentiles use the
// nearest-rank method: the p-th percentile of n sorted values is the
// ceil(p/100*n)-th smallest, so p99 of 100 values is the second largest and
// p99 of fewer than 100 values is the maximum. An empty ds gives N == 0.
// ds is not modified.
func Summarize(ds []time.Duration) Dist {
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
		MinMs:  Ms(s[0]),
		P50Ms:  Ms(rank(s, 50)),
		P90Ms:  Ms(rank(s, 90)),
		P99Ms:  Ms(rank(s, 99)),
		MaxMs:  Ms(s[len(s)-1]),
		MeanMs: Ms(sum / time.Duration(len(s))),
	}
}

// rank returns the nearest-rank p-th percentile of sorted, non-empty s.
func rank(s []time.Duration, p float64) time.Duration {
	k := int(math.Ceil(p / 100 * float64(len(s))))
	k = max(k, 1)
	k = min(k, len(s))
	return s[k-1]
}

// Ms converts d to milliseconds, rounded to the microsecond.
func Ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// Round3 rounds x to three decimals.
func Round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// Fit is a least-squares line y = Intercept + Slope·x.
type Fit struct {
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	// R2 is the coefficient of determination: 1 when every point is on the
	// line; 1 also when y does not vary at all.
	R2 float64 `json:"r2"`
	N  int     `json:"n"`
}

// LinearFit fits a line to the points (xs[k], ys[k]). It needs at least
// two points with different x.
func LinearFit(xs, ys []float64) (Fit, error) {
	if len(xs) != len(ys) {
		return Fit{}, fmt.Errorf("linear fit: %d x values but %d y values", len(xs), len(ys))
	}
	n := float64(len(xs))
	var sx, sy float64
	for k := range xs {
		sx += xs[k]
		sy += ys[k]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy, syy float64
	for k := range xs {
		dx, dy := xs[k]-mx, ys[k]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if len(xs) < 2 || sxx == 0 {
		return Fit{}, fmt.Errorf("linear fit: need at least two distinct x values, have %v", xs)
	}
	f := Fit{Slope: sxy / sxx, N: len(xs)}
	f.Intercept = my - f.Slope*mx
	f.R2 = 1
	if syy > 0 {
		f.R2 = sxy * sxy / (sxx * syy)
	}
	return f, nil
}
