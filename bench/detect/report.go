package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// table is one block of the report, rendered as markdown or plain text.
type table struct {
	title string
	head  []string
	rows  [][]string
	notes []string
}

func (t table) markdown(w io.Writer) {
	fmt.Fprintf(w, "### %s\n\n", t.title)
	if len(t.head) > 0 {
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(t.head, " | "), strings.Repeat("---|", len(t.head)))
		for _, r := range t.rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
		}
		fmt.Fprintln(w)
	}
	for _, n := range t.notes {
		fmt.Fprintf(w, "%s\n\n", n)
	}
}

func (t table) text(w io.Writer) {
	fmt.Fprintf(w, "== %s\n", t.title)
	if len(t.head) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.head, "\t"))
		for _, r := range t.rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
	}
	for _, n := range t.notes {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintln(w)
}

// otherBusyWarn is the share of the machine (%) other work may use during
// an idle measurement before the report flags it.
const otherBusyWarn = 5

func f3(x float64) string { return fmt.Sprintf("%.3f", x) }
func f1(x float64) string { return fmt.Sprintf("%.1f", x) }

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**MISSED**"
}

func timersDesc(t Timers) string {
	return fmt.Sprintf("%g/%g/%g ms", t.HeartbeatMs, t.PeerTroubleMs, t.PeerInactMs)
}

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
func tables(res *Results) []table {
	m := res.Machine
	var out []table
	out = append(out, table{title: "Machine", notes: []string{fmt.Sprintf(
		"%s, %d cores, kernel %s, %s, %s. Run %s – %s; load average (1/5/15 min) before %s, after %s. Seed %d.",
		m.CPUModel, m.Cores, m.Kernel, m.GoVersion, m.Tetherd, res.Started.Format("2006-01-02 15:04:05 MST"),
		res.Finished.Format("15:04:05"), m.LoadBefore, m.LoadAfter, res.Seed)}})

	lat := table{title: "Detection latency (fault injected → link.down logged)",
		head: []string{"timers (hb/trouble/inact)", "fault", "view", "trials", "samples", "min ms", "p50 ms", "p99 ms", "max ms", "target p99", "result"}}
	other := table{title: "Detection details",
		head: []string{"timers", "fault", "missed", "collateral downs", "time to TROUBLE p50/p99 ms", "recovery p50/p99 ms", "reason at link.down", "reason changed before undo", "load before → after"}}
	for _, p := range res.Profiles {
		for _, f := range p.Faults {
			for _, v := range viewOrder(f) {
				d := f.Views[v]
				target, result := "", ""
				if v == f.TargetView {
					target, result = "≤ "+fmt.Sprintf("%g", f.TargetMs)+" ms", verdict(f.Met)
				}
				lat.rows = append(lat.rows, []string{p.Name + " " + timersDesc(p.Timers), f.Fault, v, fmt.Sprint(f.Trials), fmt.Sprint(d.N),
					f3(d.MinMs), f3(d.P50Ms), f3(d.P99Ms), f3(d.MaxMs), target, result})
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
				tr = f3(f.Trouble.P50Ms) + " / " + f3(f.Trouble.P99Ms)
			}
			other.rows = append(other.rows, []string{p.Name, f.Fault, fmt.Sprint(f.Missed), fmt.Sprint(f.Collateral), tr,
				f3(f.Recovery.P50Ms) + " / " + f3(f.Recovery.P99Ms), strings.Join(reasons, "; "), strings.Join(corrected, "; "), f.LoadBefore + " → " + f.LoadAfter})
			for _, e := range f.CollateralEvidence {
				other.notes = append(other.notes, "collateral: "+e)
			}
			if f.Error != "" {
				other.notes = append(other.notes, fmt.Sprintf("ERROR %s %s: %s", p.Name, f.Fault, f.Error))
			}
		}
		if p.Error != "" {
			other.notes = append(other.notes, fmt.Sprintf("ERROR profile %s: %s", p.Name, p.Error))
		}
	}
	if len(lat.rows) > 0 {
		lat.notes = append(lat.notes, "Percentiles are nearest-rank. Target views: carrier → the node that lost carrier; blackhole → every observer (the blackholed node about each peer, each peer about it).")
		out = append(out, lat, other)
	}

	idle := table{title: "Idle agents, all links up (CPU % of one core over the window; RSS at its end)",
		head: []string{"timers", "node", "CPU % (stat)", "CPU % (schedstat)", "context switches/s", "RSS MiB", "peak RSS MiB", "threads", "RSS after trials MiB"}}
	var idleNotes []string
	for _, p := range res.Profiles {
		if p.Idle == nil {
			continue
		}
		for k, n := range p.Idle.Nodes {
			after := "–"
			if k < len(p.RSSAfterKiB) {
				after = f1(float64(p.RSSAfterKiB[k]) / 1024)
			}
			idle.rows = append(idle.rows, []string{p.Name + " " + timersDesc(p.Timers), fmt.Sprintf("node%d", n.Node), f3(n.CPUPercent), f3(n.SchedCPUPercent), f1(n.SwitchesPerS), f1(n.RSSMiB), f1(n.HWMMiB), fmt.Sprint(n.Threads), after})
		}
		i := p.Idle
		idleNotes = append(idleNotes, fmt.Sprintf("%s: mean %s %%, max %s %% of one core (target ≤ %g %%), max RSS %s MiB (target ≤ %g MiB): %s. Window %.0f s, %.1f frames/s sent per agent, %d state changes during the window, whole machine %.1f %% busy (%.1f %% other work), load %s → %s.",
			p.Name, f3(i.MeanCPU), f3(i.MaxCPU), i.TargetCPU, f1(i.MaxRSSMiB), i.TargetRSS, verdict(i.Met), i.Seconds, i.FramesPerS, i.Transitions, i.SystemBusy, i.OtherBusy, i.LoadBefore, i.LoadAfter))
		if i.OtherBusy > otherBusyWarn || i.Transitions > 0 {
			idleNotes = append(idleNotes, fmt.Sprintf("WARNING (%s): other work kept the machine %.1f %% busy and/or links changed state during the window: this is not an idle measurement; rerun when the machine is quiet.", p.Name, i.OtherBusy))
		}
	}
	if len(idle.rows) > 0 {
		idle.notes = idleNotes
		out = append(out, idle)
	}

	if s := res.Soak; s != nil {
		st := table{title: "Soak: false DOWNs under loss and CPU saturation",
			head: []string{"timers", "duration s", "loss per egress", "CPU burner", "machine busy %", "link.down", "link.trouble", "node.state", "target", "result"}}
		st.rows = append(st.rows, []string{s.Profile + " " + timersDesc(s.Timers), f1(s.Seconds), fmt.Sprintf("%d %%", s.LossPct), s.Burner, f1(s.SystemBusy),
			fmt.Sprint(s.Downs), fmt.Sprint(s.Troubles), fmt.Sprint(s.NodeDown), "0 DOWN", verdict(s.Met)})
		var evs []string
		for id, n := range s.Events {
			evs = append(evs, fmt.Sprintf("%s %d", id, n))
		}
		slices.Sort(evs)
		if len(evs) == 0 {
			evs = []string{"none"}
		}
		st.notes = append(st.notes, fmt.Sprintf("Load %s → %s. Events logged during the soak, all nodes: %s.", s.LoadBefore, s.LoadAfter, strings.Join(evs, ", ")))
		for _, e := range s.Evidence {
			st.notes = append(st.notes, "evidence: "+e)
		}
		if s.Error != "" {
			st.notes = append(st.notes, "ERROR: "+s.Error)
		}
		out = append(out, st)
		lt := table{title: "Soak: per link (observer's view; lost = gaps in the peer's sequence numbers)",
			head: []string{"observer → peer", "network", "received", "lost", "loss %", "downs"}}
		for _, l := range s.Links {
			lt.rows = append(lt.rows, []string{fmt.Sprintf("node%d → node%d", l.Observer, l.Peer), l.Network, fmt.Sprint(l.Received), fmt.Sprint(l.Lost), f3(l.LossPct), fmt.Sprint(l.Downs)})
		}
		var cpu []string
		for _, a := range s.Agents {
			cpu = append(cpu, fmt.Sprintf("node%d %s %% (RSS %s MiB)", a.Node, f3(a.CPUPercent), f1(a.RSSMiB)))
		}
		var txe []string
		for _, n := range s.Nets {
			txe = append(txe, fmt.Sprintf("node%d %s %d/%d", n.Node, n.Network, n.TxErrors, n.TxFrames))
		}
		lt.notes = append(lt.notes, "Agent CPU during the soak (% of one core): "+strings.Join(cpu, ", ")+".",
			"Send errors / frames sent (egress drops make sendto fail with ENOBUFS): "+strings.Join(txe, ", ")+".")
		out = append(out, lt)
	}
	if len(res.Errors) > 0 {
		out = append(out, table{title: "Errors", notes: res.Errors})
	}
	return out
}

// writeResults writes detect.json and detect.md to dir.
func writeResults(dir string, res *Results) error {
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "detect.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	fmt.Fprintf(&md, "# tether detection benchmarks, %s\n\n`%s`\n\n", res.Started.Format("2006-01-02"), res.Command)
	for _, t := range tables(res) {
		t.markdown(&md)
	}
	return os.WriteFile(filepath.Join(dir, "detect.md"), md.Bytes(), 0o644)
}

// printText prints the report as aligned text.
func printText(w io.Writer, res *Results) {
	for _, t := range tables(res) {
		t.text(w)
	}
}
