package main

import (
	"time"

	"github.com/tether-ha/tether/bench/internal/idle"
	"github.com/tether-ha/tether/testbed"
)

// measureIdle measures the agents of b, all links up and nothing else
// happening, for dur (package idle), and judges them against the targets:
// CPU share from utime+stime in /proc/<pid>/stat, RSS at the end.
func measureIdle(b *testbed.Bed, dur time.Duration, targetCPU, targetRSS float64) (*IdleResult, error) {
	m, err := idle.Measure(b, dur)
	if err != nil {
		return nil, err
	}
	return &IdleResult{Result: m, TargetCPU: targetCPU, TargetRSS: targetRSS,
		Met: m.MaxCPU <= targetCPU && m.MaxRSSMiB <= targetRSS}, nil
}
