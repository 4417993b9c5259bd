package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tether-ha/tether/bench/internal/report"
)

// viewOrder lists the views of a fault result, the target view first.
func viewOrder(f *FaultResult) []string {
	out := []string{f.TargetView}
	for _, v := range []string{viewAll, viewFaulted, viewPeers} {
		if _, ok := f.Views[v]; ok && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// tables builds the report.
func tables(res *Results) []report.Table {
	m := res.Machine
	var out []report.Table
	out = append(out, report.Table{Title: "Machine", Notes: []string{fmt.Sprintf(
		"%s. Run %s – %s; load average (1/5/15 min) before %s, after %s. Seed %d.",
		m, res.Started.Format("2006-01-02 15:04:05 MST"),
		res.Finished.Format("15:04:05"), m.LoadBefore, m.LoadAfter, res.Seed)}})

	lat := report.Table{Title: "Detection latency (fault injected → link.down logged)",
		Head: []string{"timers (hb/trouble/inact)", "fault", "view", "trials", "samples", "min ms", "p50 ms", "p99 ms", "max ms", "target p99", "result"}}
	other := report.Table{Title: "Detection details",
		Head: []string{"timers", "fault", "missed", "collateral downs", "time to TROUBLE p50/p99 ms", "recovery p50/p99 ms", "reason at link.down", "reason changed before undo", "load before → after"}}
	for _, p := range res.Profiles {
		for _, f := range p.Faults {
			for _, v := range viewOrder(f) {
				d := f.Views[v]
				target, result := "", ""
				if v == f.TargetView {
					target, result = "≤ "+fmt.Sprintf("%g", f.TargetMs)+" ms", report.Verdict(f.Met)
				}
				lat.Rows = append(lat.Rows, []string{p.Name + " " + p.Timers.String(), f.Fault, v, fmt.Sprint(f.Trials), fmt.Sprint(d.N),
					report.F3(d.MinMs), report.F3(d.P50Ms), report.F3(d.P99Ms), report.F3(d.MaxMs), target, result})
			}
			var reasons []string
			for r, n := range f.Reasons {
				reasons = append(reasons, fmt.Sprintf("%s ×%d", r, n))
			}
			slices.Sort(reasons)
			var corrected []string
			for r, n := range f.Corrected {
				corrected = append(corrected, fmt.Sprintf("%s ×%d", r, n))
			}
			slices.Sort(corrected)
			if len(corrected) == 0 {
				corrected = []string{"–"}
			}
			tr := "–"
			if f.Trouble.N > 0 {
				tr = report.F3(f.Trouble.P50Ms) + " / " + report.F3(f.Trouble.P99Ms)
			}
			other.Rows = append(other.Rows, []string{p.Name, f.Fault, fmt.Sprint(f.Missed), fmt.Sprint(f.Collateral), tr,
				report.F3(f.Recovery.P50Ms) + " / " + report.F3(f.Recovery.P99Ms), strings.Join(reasons, "; "), strings.Join(corrected, "; "), f.LoadBefore + " → " + f.LoadAfter})
			for _, e := range f.CollateralEvidence {
				other.Notes = append(other.Notes, "collateral: "+e)
			}
			if f.Error != "" {
				other.Notes = append(other.Notes, fmt.Sprintf("ERROR %s %s: %s", p.Name, f.Fault, f.Error))
			}
		}
		if p.Error != "" {
			other.Notes = append(other.Notes, fmt.Sprintf("ERROR profile %s: %s", p.Name, p.Error))
		}
	}
	if len(lat.Rows) > 0 {
		lat.Notes = append(lat.Notes, "Percentiles are nearest-rank. Target views: carrier → the node that lost carrier; blackhole → every observer (the blackholed node about each peer, each peer about it).")
		out = append(out, lat, other)
	}

	idleT := report.Table{Title: "Idle agents, all links up (CPU % of one core over the window; RSS at its end)",
		Head: []string{"timers", "node", "CPU % (stat)", "CPU % (schedstat)", "context switches/s", "RSS MiB", "peak RSS MiB", "threads", "RSS after trials MiB"}}
	var idleNotes []string
	for _, p := range res.Profiles {
		if p.Idle == nil {
			continue
		}
		for k, n := range p.Idle.Nodes {
			after := "–"
			if k < len(p.RSSAfterKiB) {
				after = report.F1(float64(p.RSSAfterKiB[k]) / 1024)
			}
			idleT.Rows = append(idleT.Rows, []string{p.Name + " " + p.Timers.String(), fmt.Sprintf("node%d", n.Node), report.F3(n.CPUPercent), report.F3(n.SchedCPUPercent), report.F1(n.SwitchesPerS), report.F1(n.RSSMiB), report.F1(n.HWMMiB), fmt.Sprint(n.Threads), after})
		}
		i := p.Idle
		idleNotes = append(idleNotes, fmt.Sprintf("%s: mean %s %%, max %s %% of one core (target ≤ %g %%), max RSS %s MiB (target ≤ %g MiB): %s. Window %.0f s, %.1f frames/s sent and %.1f received per agent (%s µs of CPU per frame, schedstat), %d state changes and %d major page faults in the agents during the window, whole machine %.1f %% busy (%.1f %% other work, %.2f %% stolen by the hypervisor), load %s → %s.",
			p.Name, report.F3(i.MeanCPU), report.F3(i.MaxCPU), i.TargetCPU, report.F1(i.MaxRSSMiB), i.TargetRSS, report.Verdict(i.Met), i.Seconds, i.TxPerS, i.RxPerS, report.F1(i.CPUPerFrameMicros), i.Transitions, i.MajorFaults, i.SystemBusy, i.OtherBusy, i.Steal, i.LoadBefore, i.LoadAfter))
		if i.OtherBusy > report.OtherBusyWarn || i.Transitions > 0 {
			idleNotes = append(idleNotes, fmt.Sprintf("WARNING (%s): other work kept the machine %.1f %% busy and/or links changed state during the window: this is not an idle measurement; rerun when the machine is quiet.", p.Name, i.OtherBusy))
		}
	}
	if len(idleT.Rows) > 0 {
		idleT.Notes = idleNotes
		out = append(out, idleT)
	}

	if s := res.Soak; s != nil {
		st := report.Table{Title: "Soak: false DOWNs under loss and CPU saturation",
			Head: []string{"timers", "duration s", "loss per egress", "CPU burner", "machine busy %", "link.down", "link.trouble", "node.state", "target", "result"}}
		st.Rows = append(st.Rows, []string{s.Profile + " " + s.Timers.String(), report.F1(s.Seconds), fmt.Sprintf("%d %%", s.LossPct), s.Burner, report.F1(s.SystemBusy),
			fmt.Sprint(s.Downs), fmt.Sprint(s.Troubles), fmt.Sprint(s.NodeDown), "0 DOWN", report.Verdict(s.Met)})
		var evs []string
		for id, n := range s.Events {
			evs = append(evs, fmt.Sprintf("%s %d", id, n))
		}
		slices.Sort(evs)
		if len(evs) == 0 {
			evs = []string{"none"}
		}
		st.Notes = append(st.Notes, fmt.Sprintf("Load %s → %s. Events logged during the soak, all nodes: %s.", s.LoadBefore, s.LoadAfter, strings.Join(evs, ", ")))
		for _, e := range s.Evidence {
			st.Notes = append(st.Notes, "evidence: "+e)
		}
		if s.Error != "" {
			st.Notes = append(st.Notes, "ERROR: "+s.Error)
		}
		out = append(out, st)
		lt := report.Table{Title: "Soak: per link (observer's view; lost = gaps in the peer's sequence numbers)",
			Head: []string{"observer → peer", "network", "received", "lost", "loss %", "downs"}}
		for _, l := range s.Links {
			lt.Rows = append(lt.Rows, []string{fmt.Sprintf("node%d → node%d", l.Observer, l.Peer), l.Network, fmt.Sprint(l.Received), fmt.Sprint(l.Lost), report.F3(l.LossPct), fmt.Sprint(l.Downs)})
		}
		var cpu []string
		for _, a := range s.Agents {
			cpu = append(cpu, fmt.Sprintf("node%d %s %% (RSS %s MiB)", a.Node, report.F3(a.CPUPercent), report.F1(a.RSSMiB)))
		}
		var txe []string
		for _, n := range s.Nets {
			txe = append(txe, fmt.Sprintf("node%d %s %d/%d", n.Node, n.Network, n.TxErrors, n.TxFrames))
		}
		lt.Notes = append(lt.Notes, "Agent CPU during the soak (% of one core): "+strings.Join(cpu, ", ")+".",
			"Send errors / frames sent (egress drops make sendto fail with ENOBUFS): "+strings.Join(txe, ", ")+".")
		out = append(out, lt)
	}
	if len(res.Errors) > 0 {
		out = append(out, report.Table{Title: "Errors", Notes: res.Errors})
	}
	return out
}

// writeResults writes detect.json and detect.md to dir.
func writeResults(dir string, res *Results) error {
	heading := fmt.Sprintf("tether detection benchmarks, %s\n\n`%s`", res.Started.Format("2006-01-02"), res.Command)
	return report.Write(dir, "detect", heading, res, tables(res))
}
