package main

import (
	"fmt"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/idle"
	"github.com/tether-ha/tether/bench/internal/proc"
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

// rssNow returns the RSS of every agent of b, in KiB.
func rssNow(b *testbed.Bed) ([]int64, error) {
	pids, err := bedutil.AgentPids(b)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(pids))
	for k, pid := range pids {
		m, err := proc.ReadMem(pid)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", k, err)
		}
		out[k] = m.RSSKiB
	}
	return out, nil
}
