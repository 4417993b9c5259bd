package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/tether-ha/tether/bench/internal/report"
	"github.com/tether-ha/tether/bench/internal/stats"
)

// maxTimelineRows bounds the rows of the start-up timeline in the report
// (the JSON has every sample).
const maxTimelineRows = 12

// printMarkdown writes the results as Markdown tables.
func printMarkdown(w io.Writer, res *Results) {
	for _, t := range tables(res) {
		t.Markdown(w)
	}
}

func tables(res *Results) []report.Table {
	m := res.Machine
	nets := len(res.Networks)
	out := []report.Table{{Title: fmt.Sprintf("Scale: %d nodes × %d networks", res.Nodes, nets), Notes: []string{
		fmt.Sprintf("%s. Run %s – %s; load average (1/5/15 min) before %s, after %s. Timers %s. Seed %d. `%s`.",
			m, res.Started.Format("2006-01-02 15:04:05 MST"), res.Finished.Format("15:04:05"), m.LoadBefore, m.LoadAfter, res.Timers, res.Seed, res.Command)}}}

	sum := report.Table{Title: "Summary", Head: []string{"what", "goal", "measured", "result"}}
	bed := res.Bed
	sum.Rows = append(sum.Rows, []string{"bed", "", fmt.Sprintf("%d namespaces, %d veth pairs built in %.2f s; %d agents started in %.2f s", bed.Namespaces, bed.VethPairs, bed.BuildSeconds, res.Nodes, bed.StartSeconds), ""})
	links := res.Nodes * (res.Nodes - 1) * nets
	if res.Up.AllOpen {
		sum.Rows = append(sum.Rows, []string{"every link of every node UP (all OPEN)", fmt.Sprintf("%d links", links),
			fmt.Sprintf("after **%.2f s** (the agents used %.1f s of CPU until then)", res.Up.Seconds, res.Up.AgentCPUSeconds), "met"})
	} else {
		got := "never"
		if n := len(res.Up.Timeline); n > 0 {
			s := res.Up.Timeline[n-1]
			got = fmt.Sprintf("**not reached**: at the end %d of %d links healthy by the logs, %d of %d nodes confirmed", s.Healthy, s.Links, s.Confirmed, s.Nodes)
		}
		sum.Rows = append(sum.Rows, []string{"every link of every node UP (all OPEN)", fmt.Sprintf("%d links", links), got, report.Verdict(false)})
	}
	if i := res.Idle; i != nil {
		sum.Rows = append(sum.Rows,
			[]string{"idle CPU per agent (median / max)", fmt.Sprintf("≤ %g %% of one core", res.GoalIdleCPU),
				fmt.Sprintf("**%.2f %%** / %.2f %% (min %.2f %%); all agents %.1f %% of the machine", i.CPU.Median, i.CPU.Max, i.CPU.Min, i.TotalCPUPercentOfMachine), report.Verdict(i.Converged && i.CPU.Max <= res.GoalIdleCPU)},
			[]string{"RSS per agent (min / median / max)", "", fmt.Sprintf("%.1f / %.1f / %.1f MiB; all agents %.0f MiB, %.1f %% of the machine's memory", i.RSSMiB.Min, i.RSSMiB.Median, i.RSSMiB.Max, i.TotalRSSMiB, i.TotalRSSPercentOfMachine), ""},
			[]string{falseDownsWhat(i), "0", fmt.Sprintf("**%d** by the counters of %d agents (%d link.down logged by all, %d transitions, %d TROUBLE, %d node state changes, %d pauses)", i.FalseDowns, i.Counted, i.LoggedDowns, i.Transitions, i.LoggedTroubles, i.LoggedNodeState, i.Pauses), report.Verdict(i.Converged && i.FalseDowns == 0 && i.LoggedDowns == 0)})
	}
	for _, f := range res.Faults {
		a := f.Views[viewAll]
		goal, verdict := "", ""
		if f.Fault == faultBlackhole {
			goal, verdict = fmt.Sprintf("p99 ≤ %g ms", res.GoalBlackholeMs), report.Verdict(f.Error == "" && f.Missed == 0 && a.N > 0 && a.P99Ms <= res.GoalBlackholeMs)
		}
		sum.Rows = append(sum.Rows, []string{fmt.Sprintf("%s detection, both ends (%d trials)", f.Fault, f.Trials), goal,
			fmt.Sprintf("p50 %s, **p99 %s**, max %s ms over %d detections; %d missed", report.F1(a.P50Ms), report.F1(a.P99Ms), report.F1(a.MaxMs), a.N, f.Missed), verdict})
		sum.Rows = append(sum.Rows, []string{f.Fault + " reasons", "as expected", fmt.Sprintf("%d wrong at link.down; %d of %d state checks off; %d collateral downs", f.WrongReasons, f.StateFailed, f.StateChecks, f.Collateral),
			report.Verdict(f.WrongReasons == 0 && f.StateFailed == 0 && f.Collateral == 0 && f.Missed == 0)})
	}
	for _, e := range res.Errors {
		first, _, more := strings.Cut(e, "\n")
		if more {
			first += " (details below)"
		}
		sum.Notes = append(sum.Notes, "ERROR: "+first)
	}
	out = append(out, sum)

	if len(res.Faults) > 0 {
		lat := report.Table{Title: "Detection latency (fault injected → link.down logged)",
			Head: []string{"fault", "view", "trials", "detections", "min ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "recovery p50 / p99 ms"}}
		det := report.Table{Title: "Reasons",
			Head: []string{"fault", "expected (faulted node; peers)", "reason at link.down", "wrong", "state checks off", "collateral downs", "load before → after"}}
		for _, f := range res.Faults {
			for _, v := range []string{viewAll, viewFaulted, viewPeers} {
				d, ok := f.Views[v]
				if !ok {
					continue
				}
				lat.Rows = append(lat.Rows, []string{f.Fault, v, fmt.Sprint(f.Trials), fmt.Sprint(d.N), report.F1(d.MinMs), report.F1(d.P50Ms), report.F1(d.P90Ms), report.F1(d.P99Ms), report.F1(d.MaxMs),
					report.F1(f.Recovery.P50Ms) + " / " + report.F1(f.Recovery.P99Ms)})
			}
			var reasons []string
			for _, r := range slices.Sorted(maps.Keys(f.Reasons)) {
				reasons = append(reasons, fmt.Sprintf("%s ×%d", r, f.Reasons[r]))
			}
			det.Rows = append(det.Rows, []string{f.Fault, f.Expect[viewFaulted] + "; " + f.Expect[viewPeers], strings.Join(reasons, "; "), fmt.Sprint(f.WrongReasons),
				fmt.Sprintf("%d of %d", f.StateFailed, f.StateChecks), fmt.Sprint(f.Collateral), f.LoadBefore + " → " + f.LoadAfter})
			for _, s := range f.Samples {
				if s.State != "ok" {
					det.Notes = append(det.Notes, fmt.Sprintf("state off, %s trial %d (node%d %s): %s", f.Fault, s.Trial, s.Node, s.Network, s.State))
				}
			}
			for _, e := range f.Evidence {
				det.Notes = append(det.Notes, "collateral: "+e)
			}
			if f.Error != "" {
				det.Notes = append(det.Notes, fmt.Sprintf("ERROR %s: %s", f.Fault, f.Error))
			}
		}
		lat.Notes = append(lat.Notes, "Views: the faulted node about each peer, each peer about the faulted node, all. Percentiles are nearest-rank. Latencies are from Fault.At (right before the netlink call) to the time in the observer's link.down log record. Recovery: undo → every link of the cluster healthy again.")
		det.Notes = append([]string{"State checks: once the reasons settle, the status of the faulted node and of 3 random peers per trial against the expected reasons and node states (JEOPARDY with two networks)."}, det.Notes...)
		out = append(out, lat, det)
	}

	if i := res.Idle; i != nil {
		idle := report.Table{Title: fmt.Sprintf("Idle agents (%.0f s window)", i.Seconds),
			Head: []string{"figure", "min", "median", "mean", "max", "all agents"}}
		row := func(name string, s Spread, unit string) []string {
			return []string{name, report.F3(s.Min) + unit, report.F3(s.Median) + unit, report.F3(s.Mean) + unit, report.F3(s.Max) + unit, report.F1(s.Sum) + unit}
		}
		idle.Rows = append(idle.Rows, row("CPU % of one core (/proc stat)", i.CPU, ""), row("CPU % of one core (schedstat)", i.SchedCPU, ""), row("RSS MiB", i.RSSMiB, ""))
		var tx, rx []float64
		for _, a := range i.Agents {
			if a.Counted {
				tx, rx = append(tx, a.TxPerS), append(rx, a.RxPerS)
			}
		}
		idle.Rows = append(idle.Rows, row(fmt.Sprintf("frames sent /s (%d agents)", len(tx)), spread(tx), ""), row(fmt.Sprintf("frames received /s (%d agents)", len(rx)), spread(rx), ""))
		idle.Notes = append(idle.Notes, fmt.Sprintf("All agents: %.1f %% of the machine's CPU (%d cores), %.0f MiB RSS (%.1f %% of its memory). Machine %.1f %% busy during the window (%.1f %% other work, %.2f %% stolen); load %s → %s.",
			i.TotalCPUPercentOfMachine, res.Machine.Cores, i.TotalRSSMiB, i.TotalRSSPercentOfMachine, i.MachineBusy, i.OtherBusy, i.Steal, i.LoadBefore, i.LoadAfter))
		if !i.Converged {
			idle.Notes = append(idle.Notes, "WARNING: not every link was up when the window began: this is not an idle cluster.")
		} else if i.OtherBusy > report.OtherBusyWarn {
			idle.Notes = append(idle.Notes, fmt.Sprintf("WARNING: other work kept the machine %.1f %% busy during the window.", i.OtherBusy))
		}
		for _, e := range i.Evidence {
			idle.Notes = append(idle.Notes, "evidence: "+e)
		}
		if i.Error != "" {
			idle.Notes = append(idle.Notes, "ERROR: "+i.Error)
		}
		out = append(out, idle)
	}

	if tl := res.Up.Timeline; len(tl) > 0 {
		up := report.Table{Title: "Start-up: links healthy over time", Head: []string{"s after the first start", "links healthy (logs)", "nodes confirmed (status)"}}
		step := max(1, (len(tl)+maxTimelineRows-1)/maxTimelineRows)
		for k := 0; k < len(tl); k += step {
			s := tl[k]
			up.Rows = append(up.Rows, []string{report.F1(s.Seconds), fmt.Sprintf("%d / %d (%.1f %%)", s.Healthy, s.Links, 100*float64(s.Healthy)/float64(max(s.Links, 1))), fmt.Sprintf("%d / %d", s.Confirmed, s.Nodes)})
		}
		if res.Up.Error != "" {
			up.Notes = append(up.Notes, "Gave up: "+res.Up.Error)
		}
		out = append(out, up)
	}
	for _, c := range []struct {
		title string
		c     *Census
	}{{"What the nodes saw when the start-up wait gave up", res.Up.Census}, {"What the nodes saw at the end of the run", res.Census}} {
		if c.c == nil || (c.c == res.Census && res.Up.AllOpen && censusHealthy(c.c)) {
			continue
		}
		out = append(out, censusTable(c.title, c.c))
	}
	return out
}

// falseDownsWhat names the false-DOWN row.
func falseDownsWhat(i *IdleResult) string {
	if !i.Converged {
		return fmt.Sprintf("DOWNs over %.0f s idle (not converged: not false DOWNs)", i.Seconds)
	}
	return fmt.Sprintf("false DOWNs over %.0f s idle", i.Seconds)
}

// censusHealthy reports whether every link the census saw was healthy.
func censusHealthy(c *Census) bool {
	for k := range c.Links {
		if k != "UP" {
			return false
		}
	}
	return c.Unreachable == 0
}

func censusTable(title string, c *Census) report.Table {
	t := report.Table{Title: title, Head: []string{"what", "count"}}
	for _, k := range slices.Sorted(maps.Keys(c.Links)) {
		t.Rows = append(t.Rows, []string{"links " + k, fmt.Sprint(c.Links[k])})
	}
	for _, k := range slices.Sorted(maps.Keys(c.Peers)) {
		t.Rows = append(t.Rows, []string{"peers " + k, fmt.Sprint(c.Peers[k])})
	}
	t.Notes = append(t.Notes, fmt.Sprintf("Summed over the %d nodes whose status could be read (%d could not). Pauses (agent.paused) %d, longest %s ms; log records dropped %d; load %s.",
		c.Reachable, c.Unreachable, c.Pauses, report.F1(stats.Round3(c.LongestPauseMs)), c.LogDropped, c.Load))
	return t
}
