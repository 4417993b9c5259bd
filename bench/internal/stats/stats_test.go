package stats

import (
	"math"
	"testing"
	"time"
)

func TestSummarizeNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, unsorted
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(ds)
	want := Dist{N: 100, MinMs: 1, P50Ms: 50, P90Ms: 90, P99Ms: 99, MaxMs: 100, MeanMs: 50.5}
	if got != want {
		t.Fatalf("Summarize(1..100 ms) = %+v, want %+v", got, want)
	}
	if ds[0] != 100*time.Millisecond {
		t.Fatalf("Summarize sorted its argument in place")
	}
}

func TestSummarizeSmallSets(t *testing.T) {
	got := Summarize([]time.Duration{3 * time.Millisecond, 1500 * time.Microsecond})
	want := Dist{N: 2, MinMs: 1.5, P50Ms: 1.5, P90Ms: 3, P99Ms: 3, MaxMs: 3, MeanMs: 2.25}
	if got != want {
		t.Fatalf("Summarize of two = %+v, want %+v", got, want)
	}
	if got := Summarize(nil); got.N != 0 {
		t.Fatalf("Summarize(nil).N = %d, want 0", got.N)
	}
}

func TestMsRoundsToMicroseconds(t *testing.T) {
	if got := Ms(1234567 * time.Nanosecond); got != 1.235 {
		t.Fatalf("Ms(1.234567ms) = %v, want 1.235", got)
	}
}

func TestLinearFit(t *testing.T) {
	// y = 1000 + 250x, with noise that cancels out in the fit.
	xs := []float64{2, 14, 30, 62}
	ys := []float64{1000 + 500 + 10, 1000 + 3500 - 10, 1000 + 7500 - 10, 1000 + 15500 + 10}
	f, err := LinearFit(xs, ys)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(f.Slope-250) > 0.5 || math.Abs(f.Intercept-1000) > 15 {
		t.Fatalf("LinearFit = %+v, want slope ≈ 250, intercept ≈ 1000", f)
	}
	if f.R2 < 0.999 || f.R2 > 1 || f.N != 4 {
		t.Fatalf("LinearFit R2 = %v, N = %d; want nearly 1 and 4", f.R2, f.N)
	}
	exact, err := LinearFit([]float64{1, 2, 3}, []float64{5, 7, 9})
	if err != nil || exact.Slope != 2 || exact.Intercept != 3 || exact.R2 != 1 {
		t.Fatalf("LinearFit of y = 3 + 2x = %+v, %v", exact, err)
	}
	if _, err := LinearFit([]float64{4, 4}, []float64{1, 2}); err == nil {
		t.Fatal("LinearFit accepted points that all have the same x")
	}
	if _, err := LinearFit([]float64{1}, []float64{1, 2}); err == nil {
		t.Fatal("LinearFit accepted x and y of different lengths")
	}
}

func TestSummarizeP90(t *testing.T) {
	var ds []time.Duration
	for k := 1; k <= 20; k++ {
		ds = append(ds, time.Duration(k)*time.Millisecond)
	}
	d := Summarize(ds)
	if d.P90Ms != 18 || d.P50Ms != 10 || d.P99Ms != 20 || d.MaxMs != 20 {
		t.Errorf("%+v", d)
	}
}
