package testbed

import (
	"testing"
	"time"
)

// Failovers groups +switch-master events by epoch, counts an epoch where
// it was first seen, and folds an event whose epoch was not read into a
// neighbour of the same transition.
func TestSentinelFailoversCount(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	a, b := "10.77.0.1:6379", "10.77.0.2:6379"
	s := &Sentinels{switches: []Switch{
		{Sentinel: 1, From: a, To: b, Epoch: 1, At: at(2)},
		{Sentinel: 2, From: a, To: b, Epoch: 1, At: at(2.01)},
		{Sentinel: 0, From: a, To: b, Epoch: 1, At: at(30)}, // restarted late: the same failover
		{Sentinel: 2, From: b, To: a, Epoch: 2, At: at(60)},
		{Sentinel: 1, From: b, To: a, Epoch: 0, At: at(60.5)}, // epoch not read: same as the one before
		{Sentinel: 0, From: a, To: b, Epoch: 0, At: at(100)},  // epoch not read, alone: a failover
	}}
	for _, c := range []struct {
		since float64
		want  int
	}{{0, 3}, {2.005, 2}, {10, 2}, {59, 2}, {61, 1}, {101, 0}} {
		if got := s.Failovers(at(c.since)); got != c.want {
			t.Errorf("Failovers(t0+%vs) = %d, want %d", c.since, got, c.want)
		}
	}
	if got := len(s.SwitchesSince(at(30))); got != 4 {
		t.Errorf("SwitchesSince(t0+30s): %d events, want 4", got)
	}
}
