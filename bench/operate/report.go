package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tether-ha/tether/bench/internal/report"
)

// distCells formats min, p50, p90, p99, max of d.
func distCells(d Dist) []string {
	return []string{report.F3(d.MinMs), report.F3(d.P50Ms), report.F3(d.P90Ms), report.F3(d.P99Ms), report.F3(d.MaxMs)}
}

// tables builds the report.
func tables(res *Results) []report.Table {
	m := res.Machine
	out := []report.Table{{Title: "Machine", Notes: []string{fmt.Sprintf(
		"%s. Run %s – %s; load average (1/5/15 min) before %s, after %s. Seed %d.",
		m, res.Started.Format("2006-01-02 15:04:05 MST"), res.Finished.Format("15:04:05"), m.LoadBefore, m.LoadAfter, res.Seed)}}}
	if s := res.Scrape; s != nil {
		out = append(out, scrapeTables(s)...)
	}
	if i := res.Idle; i != nil {
		out = append(out, idleTable(i, res))
	}
	if len(res.IdleCompare) > 1 {
		out = append(out, compareTable(res.IdleCompare, res.PrivateChannels))
	}
	if res.Partition != nil || res.Down != nil {
		out = append(out, trialTables(res)...)
	}
	if len(res.Errors) > 0 {
		out = append(out, report.Table{Title: "Errors", Notes: res.Errors})
	}
	return out
}

func scrapeTables(s *ScrapeResult) []report.Table {
	lat := report.Table{Title: "GET /metrics of node0, 3 nodes × 3 networks (ether and tcp on each)",
		Head: []string{"Accept-Encoding", "scrapes", "min ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "body bytes (wire / text)", "agent CPU ms per scrape", "target p99", "result"}}
	for _, r := range s.Runs {
		lat.Rows = append(lat.Rows, append(append([]string{r.Encoding, fmt.Sprint(r.Latency.N)}, distCells(r.Latency)...),
			fmt.Sprintf("%d / %d", r.WireBytes, r.TextBytes), report.F3(r.AgentCPUPerScrapeMs), fmt.Sprintf("≤ %g ms", s.TargetP99Ms), report.Verdict(r.Met)))
	}
	lat.Notes = append(lat.Notes, fmt.Sprintf("Requests one after the other, %g ms apart, through a keep-alive connection made in node0's namespace (testbed.HTTPClient) to 127.0.0.1:9187; latency is the wall clock from sending the request to the last byte of the body read (the body is read whole, as sent; gzip is decoded afterwards). Accept: %s. gzip is what Prometheus asks for; identity what curl without --compressed gets. The agent's CPU per scrape is its whole CPU time over the run (its heartbeats included) divided by the scrapes. Percentiles are nearest-rank.", s.GapMs, textAccept))
	for _, r := range s.Runs {
		lat.Notes = append(lat.Notes, fmt.Sprintf("%s: %.1f s, agent at %.2f %% of one core during the run, load %s → %s.", r.Encoding, r.Seconds, r.AgentCPUPercent, r.LoadBefore, r.LoadAfter))
	}
	if s.Error != "" {
		lat.Notes = append(lat.Notes, "ERROR: "+s.Error)
	}
	if s.Profile != "" {
		lat.Notes = append(lat.Notes, fmt.Sprintf("node0's CPU profile over %d more scrapes (identity, back to back, after the measured runs): %s (go tool pprof -top bin/tetherd %s).", s.ProfileScrapes, s.Profile, s.Profile))
	}
	tabs := []report.Table{lat}
	if len(s.Runs) == 0 {
		return tabs
	}
	cnt := s.Runs[0].Series
	sh := s.Shape
	ser := report.Table{Title: "tether_ series of node0 against docs/METRICS.md's formula",
		Head: []string{"group", "formula", "with P, W, C, T, G, D", "formula value", "counted", "difference"}}
	for _, t := range s.Formula {
		name := t.Group
		if !slices.Contains(groupOrder, t.Group) {
			name = "  " + t.Group
		}
		c := cnt.Groups[t.Group]
		ser.Rows = append(ser.Rows, []string{name, t.Expr, t.With, fmt.Sprint(t.Value), fmt.Sprint(c), fmt.Sprintf("%+d", c-t.Value)})
	}
	ser.Rows = append(ser.Rows, []string{"**total**", "", "", fmt.Sprint(s.FormulaTotal), fmt.Sprint(cnt.Total), fmt.Sprintf("%+d", cnt.Total-s.FormulaTotal)})
	ser.Notes = append(ser.Notes, fmt.Sprintf("Symbols from node0's status: P = %d peers, W = %d networks, E = %d with ether, T = %d with tcp, C = E + T = %d channels, G = %d (public channel), ΣD = %d drop causes seen on all channels (a series each; docs/METRICS.md). Counted: every sample line of the text exposition whose name starts with tether_ (a histogram's buckets, sum and count each count one), %d tether_ and %d other (go_*, process_*, promhttp_*) lines.",
		sh.P, sh.W, sh.E, sh.T, sh.C(), sh.G, sh.D, cnt.Total, cnt.Other))
	if s.LossUnknown != "" {
		ser.Notes = append(ser.Notes, "The loss gauges were not all known when counted: "+s.LossUnknown)
	} else {
		ser.Notes = append(ser.Notes, fmt.Sprintf("Counted after every link's loss was known both ways in the status (%.0f ms after every channel was up), so the loss gauges, absent while unknown, are there.", s.SettleMs))
	}
	for _, r := range s.Runs[1:] {
		if r.Series.Total != cnt.Total {
			ser.Notes = append(ser.Notes, fmt.Sprintf("The %s run counted %d tether_ series.", r.Encoding, r.Series.Total))
		}
	}
	for _, r := range s.Runs {
		if r.SeriesFirst != 0 {
			ser.Notes = append(ser.Notes, fmt.Sprintf("%s: the first scrape had %d tether_ series, the last %d.", r.Encoding, r.SeriesFirst, r.Series.Total))
		}
	}
	var names []string
	for n, c := range cnt.ByName {
		names = append(names, fmt.Sprintf("%s %d", n, c))
	}
	slices.Sort(names)
	ser.Notes = append(ser.Notes, "Per metric: "+strings.Join(names, ", ")+".")
	return append(tabs, ser)
}

func idleTable(i *IdleResult, res *Results) report.Table {
	t := report.Table{Title: "Idle agents with the public channel, scraped every 15 s (CPU % of one core over the window; RSS at its end)",
		Head: []string{"node", "CPU % (stat)", "CPU % (schedstat)", "context switches/s", "RSS MiB", "peak RSS MiB", "threads", "RSS after all trials MiB"}}
	for k, n := range i.Nodes {
		after := "–"
		if k < len(res.RSSAfterKiB) {
			after = report.F1(float64(res.RSSAfterKiB[k]) / 1024)
		}
		t.Rows = append(t.Rows, []string{fmt.Sprintf("node%d", n.Node), report.F3(n.CPUPercent), report.F3(n.SchedCPUPercent), report.F1(n.SwitchesPerS), report.F1(n.RSSMiB), report.F1(n.HWMMiB), fmt.Sprint(n.Threads), after})
	}
	t.Notes = append(t.Notes,
		fmt.Sprintf("3 nodes, private hb0 and hb1 (%s), default timers %s; the public network pub carries only memberlist (:7946) and the metrics (<pub IP>:9187). During the window this program GETs every agent's /metrics over pub every %.0f s (gzip), what a Prometheus with its default scrape_interval (1m in Prometheus itself; 15 s in its example configuration and in most deployments) does: %d scrapes, %d errors, latency p50 %s / max %s ms.",
			strings.Join(res.PrivateChannels, " and "), res.Timers, i.ScrapeEveryS, i.Scrapes, i.ScrapeErrors, report.F3(i.ScrapeLatency.P50Ms), report.F3(i.ScrapeLatency.MaxMs)),
		fmt.Sprintf("Mean %s %%, max %s %% of one core (target ≤ %g %%, mean and max agent), max RSS %s MiB (target ≤ %g MiB): %s. Window %.0f s, %.1f frames/s sent and %.1f received per agent on the private networks (%s µs of CPU per frame, schedstat, everything included), %d state changes and %d major page faults in the agents during the window; whole machine %.1f %% busy (%.1f %% other work, %.2f %% stolen by the hypervisor), load %s → %s.",
			report.F3(i.MeanCPU), report.F3(i.MaxCPU), i.TargetCPU, report.F1(i.MaxRSSMiB), i.TargetRSS, report.Verdict(i.Met), i.Seconds, i.TxPerS, i.RxPerS, report.F1(i.CPUPerFrameMicros), i.Transitions, i.MajorFaults, i.SystemBusy, i.OtherBusy, i.Steal, i.LoadBefore, i.LoadAfter))
	if i.OtherBusy > report.OtherBusyWarn || i.Transitions > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("WARNING: other work kept the machine %.1f %% busy and/or links changed state during the window: this is not an idle measurement; rerun when the machine is quiet.", i.OtherBusy))
	}
	return t
}

// compareTable shows every idle window side by side, and the differences.
func compareTable(rs []*IdleResult, channels []string) report.Table {
	t := report.Table{Title: "Idle agents: where the CPU goes (same layout, one window each)",
		Head: []string{"configuration", "mean CPU %", "agents' CPU % (min–max)", "mean CPU % (schedstat)", "context switches/s", "frames/s per agent tx + rx", "max RSS MiB", "machine busy % (other, steal)", "load before → after"}}
	byCfg := map[string]*IdleResult{}
	for _, r := range rs {
		byCfg[r.Config] = r
		lo, sw := r.MaxCPU, 0.0
		for _, n := range r.Nodes {
			lo = min(lo, n.CPUPercent)
			sw += n.SwitchesPerS / float64(len(r.Nodes))
		}
		t.Rows = append(t.Rows, []string{r.Config, report.F3(r.MeanCPU), report.F3(lo) + "–" + report.F3(r.MaxCPU), report.F3(r.MeanSchedCPU), report.F1(sw),
			report.F1(r.TxPerS) + " + " + report.F1(r.RxPerS), report.F1(r.MaxRSSMiB), fmt.Sprintf("%.1f (%.1f, %.2f)", r.SystemBusy, r.OtherBusy, r.Steal), r.LoadBefore + " → " + r.LoadAfter})
	}
	delta := func(a, b string) (float64, bool) {
		ra, rb := byCfg[a], byCfg[b]
		if ra == nil || rb == nil {
			return 0, false
		}
		return ra.MeanSchedCPU - rb.MeanSchedCPU, true
	}
	if d, ok := delta(cfgScraped, cfgUnscraped); ok {
		t.Notes = append(t.Notes, fmt.Sprintf("Scrapes every 15 s: %+.3f pp of a core per agent (schedstat means).", d))
	}
	if d, ok := delta(cfgUnscraped, cfgNoPublic); ok {
		t.Notes = append(t.Notes, fmt.Sprintf("The public channel (memberlist: a probe every 500 ms, gossip every 200 ms, a push-pull sync every 30 s): %+.3f pp.", d))
	}
	t.Notes = append(t.Notes, fmt.Sprintf("The windows run one after the other (the last on a new bed), so drift of the machine between them is in the differences too; compare with the machine busy column. Without the public channel the same two private networks carry the heartbeats of every channel (%s) to both peers: that is the floor of this layout.", strings.Join(channels, ", ")))
	return t
}

func trialTables(res *Results) []report.Table {
	lat := report.Table{Title: "Partition and death of node2, as node0 and node1 log it (fault → node.state)",
		Head: []string{"fault", "measure", "trials", "samples", "min ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "target (every trial)", "README range: samples within", "result"}}
	det := report.Table{Title: "Partition and death: details",
		Head: []string{"fault", "violations", "missed", "states logged per observer and trial", "fault → last link.down p50/max ms", "last link.down → PARTITIONED p50/max ms", "node2's own PARTITIONED p50/max ms", "ready again p50/max s", "load before → after"}}
	add := func(r *TrialsResult, fault, measure string, d Dist, target bool) {
		tg, rd, v := "", "", ""
		if target {
			tg = fmt.Sprintf("≤ %g ms", r.TargetMs)
			rd = fmt.Sprintf("%g–%g ms: %d of %d", r.Readme[0], r.Readme[1], r.InReadme, d.N)
			v = report.Verdict(r.Met)
		}
		lat.Rows = append(lat.Rows, append(append([]string{fault, measure, fmt.Sprint(r.Trials), fmt.Sprint(d.N)}, distCells(d)...), tg, rd, v))
	}
	pm := func(d Dist) string {
		if d.N == 0 {
			return "–"
		}
		return report.F1(d.P50Ms) + " / " + report.F1(d.MaxMs)
	}
	detail := func(r *TrialsResult, fault string) {
		var seq []string
		for s, n := range r.Sequences {
			seq = append(seq, fmt.Sprintf("%s ×%d", s, n))
		}
		slices.Sort(seq)
		viol := fmt.Sprint(r.Violations)
		if r.Kind == partDown {
			viol = fmt.Sprintf("%d not PARTITIONED first", r.NotPartitionedFirst)
		} else {
			viol += " DOWN"
		}
		det.Rows = append(det.Rows, []string{fault, viol, fmt.Sprint(r.Missed), strings.Join(seq, "; "), pm(r.LastLinkDown), pm(r.PartitionedAfterLinkDown), pm(r.VictimView),
			report.F1(r.Recovery.P50Ms/1000) + " / " + report.F1(r.Recovery.MaxMs/1000), r.LoadBefore + " → " + r.LoadAfter})
		for _, e := range r.Evidence {
			det.Notes = append(det.Notes, fault+": "+e)
		}
		if r.Error != "" {
			det.Notes = append(det.Notes, fmt.Sprintf("ERROR %s: %s", fault, r.Error))
		}
	}
	if r := res.Partition; r != nil {
		add(r, "hb0 and hb1 of node2 blackholed", "PARTITIONED", r.Partitioned, true)
		detail(r, "partition")
	}
	if r := res.Down; r != nil {
		add(r, "node2 killed (SIGKILL)", "PARTITIONED (first)", r.Partitioned, false)
		add(r, "node2 killed (SIGKILL)", "DOWN", r.Down, true)
		detail(r, "kill")
	}
	lat.Notes = append(lat.Notes, fmt.Sprintf("Public bed, default timers %s. The clock starts at the later of the two blackholes' Fault.At (the wall clock read right before the netlink call) or right before the SIGKILL, and stops at the time in the observer's JSON log event node.state for node2; one sample per observer (node0, node1) and trial. Percentiles are nearest-rank (p99 of fewer than 100 samples is the maximum). The README states PARTITIONED within peerinact + a heartbeat after the last private frame (600–700 ms for a blackhole) and DOWN of a killed node after memberlist's failed probe plus 4 × max(1, log10 N) × 500 ms of suspicion (2.5–3.5 s on 3 nodes). Partition: the blackholes are held %v after both observers logged PARTITIONED, and any DOWN of node2 before the undo is a violation. Each trial starts when every node sees every link up, every peer OPEN and alive on the public channel, and no link in its flap window.", res.Timers, partitionHold))
	return []report.Table{lat, det}
}

// writeResults writes operate.json and operate.md to dir.
func writeResults(dir string, res *Results) error {
	heading := fmt.Sprintf("tether operational benchmarks (issue 7), %s\n\n`%s`", res.Started.Format("2006-01-02"), res.Command)
	return report.Write(dir, "operate", heading, res, tables(res))
}
