package main

import (
	"fmt"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/report"
	"github.com/tether-ha/tether/bench/internal/stats"
)

// Results is everything one run measured.
type Results struct {
	Run     bedutil.Run     `json:"run"`
	Reasons []*ReasonResult `json:"reasons"`
}

// ReasonResult is one reason's trials.
type ReasonResult struct {
	Reason     string        `json:"reason"`
	Fault      string        `json:"fault"`
	Target     time.Duration `json:"-"`
	TargetMs   float64       `json:"target_ms"`
	Trials     int           `json:"trials"`
	Latency    stats.Dist    `json:"latency"`   // fault to named by every node that must name it
	TrialsMs   []float64     `json:"trials_ms"` // each trial's latency, in order
	OverTarget int           `json:"over_target"`
	Misses     int           `json:"misses"` // trials in which it was not named at all in time
	Missed     []string      `json:"missed,omitempty"`
	Error      string        `json:"error,omitempty"`
}

func (r *ReasonResult) summary() string {
	if r.Error != "" {
		return "error: " + r.Error
	}
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms (target %.0f ms), %d over target, %d missed of %d",
		r.Latency.P50Ms, r.Latency.P99Ms, r.TargetMs, r.OverTarget, r.Misses, r.Trials)
}

func tables(res *Results) []report.Table {
	t := report.Table{
		Title: "Time from the fault to the reason named by every node that must name it",
		Head:  []string{"reason", "fault", "trials", "p50 ms", "p99 ms", "max ms", "target ms", "over target", "missed", "met"},
	}
	for _, r := range res.Reasons {
		met := "yes"
		if r.Error != "" || r.Misses > 0 || r.Latency.P99Ms > r.TargetMs {
			met = "**no**"
		}
		t.Rows = append(t.Rows, []string{r.Reason, r.Fault, fmt.Sprint(r.Trials), report.F1(r.Latency.P50Ms), report.F1(r.Latency.P99Ms),
			report.F1(r.Latency.MaxMs), report.F1(r.TargetMs), fmt.Sprint(r.OverTarget), fmt.Sprint(r.Misses), met})
	}
	t.Notes = append(t.Notes, "Machine: "+res.Run.Machine.String()+". Command: "+res.Run.Command+".",
		"Latency of a trial: from the fault (testbed Fault.At, or the start of the agent for the reasons an agent causes) to the last of the log events in which the nodes that must name the reason name it (link.down or link.reason with the link DOWN for the reasons of a down link; link.reason, link.trouble or link.up for those of an UP link; network.reason for network-wide ones). p99 of fewer than 100 trials is the maximum.")
	for _, r := range res.Reasons {
		for _, m := range r.Missed {
			t.Notes = append(t.Notes, r.Reason+": "+m)
		}
		if r.Error != "" {
			t.Notes = append(t.Notes, r.Reason+": error: "+r.Error)
		}
	}
	return []report.Table{t}
}
