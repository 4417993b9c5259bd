package main

import (
	"testing"
	"time"
)

func TestSummarizeNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, unsorted
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := Dist{N: 100, MinMs: 1, P50Ms: 50, P99Ms: 99, MaxMs: 100, MeanMs: 50.5}
	if got != want {
		t.Fatalf("summarize(1..100 ms) = %+v, want %+v", got, want)
	}
	if ds[0] != 100*time.Millisecond {
		t.Fatalf("summarize sorted its argument in place")
	}
}

func TestSummarizeSmallSets(t *testing.T) {
	got := summarize([]time.Duration{3 * time.Millisecond, 1500 * time.Microsecond})
	want := Dist{N: 2, MinMs: 1.5, P50Ms: 1.5, P99Ms: 3, MaxMs: 3, MeanMs: 2.25}
	if got != want {
		t.Fatalf("summarize of two = %+v, want %+v", got, want)
	}
	if got := summarize(nil); got.N != 0 {
		t.Fatalf("summarize(nil).N = %d, want 0", got.N)
	}
}

func TestMsRoundsToMicroseconds(t *testing.T) {
	if got := ms(1234567 * time.Nanosecond); got != 1.235 {
		t.Fatalf("ms(1.234567ms) = %v, want 1.235", got)
	}
}
