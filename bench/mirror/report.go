package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-ha/tether/bench/internal/report"
	"github.com/tether-ha/tether/testbed"
)

// printResults prints the tables and says where the results are.
func printResults(t testbed.T, dir string, res *Results) {
	report.Print(os.Stdout, tables(res))
	t.Logf("results in %s", filepath.Join(dir, "mirror.json"))
}

// writeResults writes mirror.json and mirror.md to dir.
func writeResults(dir string, res *Results) error {
	heading := fmt.Sprintf("tether mirror replicator benchmarks (issue 8), %s\n\n`%s`", res.Started.Format("2006-01-02"), res.Command)
	return report.Write(dir, "mirror", heading, res, tables(res))
}

// tables builds the report.
func tables(res *Results) []report.Table {
	m := res.Machine
	o := res.Options
	out := []report.Table{{Title: "Machine", Notes: []string{fmt.Sprintf(
		"%s. Run %s – %s; load average (1/5/15 min) before %s, after %s. Bed: 2 nodes, hb0 and hb1 with channels [ether, tcp], timers %s, agents' GOMAXPROCS %s; %d B values, %g GiB fill, %d producers × %d records a produce, sustained phases %g s.",
		m, res.Started.Format("2006-01-02 15:04:05 MST"), res.Finished.Format("15:04:05"), m.LoadBefore, m.LoadAfter,
		res.Timers, o.AgentProcs, o.RecordSize, o.GiB, o.Producers, o.Batch, o.SustainS)}}}
	out = append(out, summary(res))
	if tp := res.Throughput; tp != nil {
		out = append(out, throughputTables(tp)...)
	}
	if res.Redis != nil {
		out = append(out, redisTable(res.Throughput, res.Redis))
	}
	if res.Latency != nil || res.Acks != nil {
		out = append(out, pacedTable(res.Latency, res.Control, res.Chained, res.Acks))
	}
	if res.RTT != nil {
		out = append(out, rttTable(res.RTT))
	}
	if res.Reopen != nil {
		out = append(out, reopenTable(res.Reopen))
	}
	if len(res.Errors) > 0 {
		out = append(out, report.Table{Title: "Errors", Notes: res.Errors})
	}
	return out
}

func mb(x float64) string { return fmt.Sprintf("%.1f MB/s", x) }

// summary is one row per target.
func summary(res *Results) report.Table {
	t := report.Table{Title: "Targets", Head: []string{"what", "target", "measured", "result"}}
	if tp := res.Throughput; tp.sustained() != nil {
		s := tp.Sustained
		measured := fmt.Sprintf("sustained: mirror appends %s of log (%.0f records/s; producers %s of values)", mb(s.MirrorMBPerS), s.MirrorRecPerS, mb(s.Load.MBPerS))
		if d := tp.Drain; d != nil {
			measured += fmt.Sprintf("; catch-up of %.2f GiB: %s", float64(d.LogBytes)/(1<<30), mb(d.MBPerS))
		}
		if r := res.Redis; r != nil && r.Stream != nil && r.FullSync != nil {
			measured += fmt.Sprintf("; Redis replica %s of stream (%s of values), full sync %s", mb(r.Stream.ReplicaMBPerS), mb(r.Stream.ValueMBPerS), mb(r.FullSync.MBPerS))
		}
		t.Rows = append(t.Rows, []string{"mirror throughput, 1 KiB records", fmt.Sprintf("≥ %g MB/s sustained", tp.TargetMBs), measured, report.Verdict(tp.Met)})
	}
	if l := res.Latency; l != nil && l.Visible != nil {
		t.Rows = append(t.Rows, []string{fmt.Sprintf("produce → visible on the mirror, %d records/s", l.Runs[0].Rate), fmt.Sprintf("p99 ≤ %g ms", l.TargetP99Ms),
			fmt.Sprintf("p50 %s, p99 %s ms (%d records in %d runs, run p99s %s; %d unseen)", report.F3(l.Visible.P50Ms), report.F3(l.Visible.P99Ms), l.Visible.N, len(l.Runs), runP99s(l, true), l.Unseen), report.Verdict(l.Met)})
	}
	if a := res.Acks; a != nil && len(a.Runs) > 0 {
		t.Rows = append(t.Rows, []string{fmt.Sprintf("acks: mirror, the produce call, %d records/s", a.Runs[0].Rate), fmt.Sprintf("p99 ≤ %g ms", a.TargetP99Ms),
			fmt.Sprintf("p50 %s, p99 %s ms (%d records in %d runs, run p99s %s)", report.F3(a.Produce.P50Ms), report.F3(a.Produce.P99Ms), a.Produce.N, len(a.Runs), runP99s(a, false)), report.Verdict(a.Met)})
	}
	if r := res.RTT; r != nil && r.Load != nil {
		ev := make([]string, 0, len(watched))
		for _, id := range watched {
			ev = append(ev, fmt.Sprintf("%s %d", id, r.Load.Events[id]))
		}
		t.Rows = append(t.Rows, []string{"while mirroring at full speed: heartbeat links", fmt.Sprintf("no TROUBLE or DOWN; RTT p99 ≤ %g × idle", r.Factor),
			fmt.Sprintf("%s; worst p99 ratio %.2f", strings.Join(ev, ", "), r.WorstRatio), report.Verdict(r.Met)})
	}
	if r := res.Reopen; r != nil && len(r.Trials) > 0 {
		t.Rows = append(t.Rows, []string{fmt.Sprintf("reopen of a %.2f GiB topic after kill -9", float64(r.LogBytes)/(1<<30)), fmt.Sprintf("≤ %g s", r.TargetS),
			fmt.Sprintf("max %.3f s over %d trials", r.Max, len(r.Trials)), report.Verdict(r.Met)})
	}
	return t
}

// cpuCell formats the CPU of every process of u.
func cpuCell(u Use) string {
	var parts []string
	for _, c := range u.CPU {
		parts = append(parts, fmt.Sprintf("%s %.0f %%", c.Name, c.CPUPercent))
	}
	return strings.Join(parts, ", ")
}

func eventsCell(u Use) string {
	var parts []string
	for id, n := range u.Events {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", id, n))
		}
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func throughputTables(tp *ThroughputResult) []report.Table {
	t := report.Table{Title: "Mirror throughput (topic bulk, acks: local, 1 KiB records)",
		Head: []string{"phase", "records", "seconds", "producers: value MB/s", "produce call p50 / p99 ms", "mirror: log MB/s", "lag", "CPU % of a core", "machine busy %", "link and node events"}}
	if f := tp.Fill; f != nil {
		t.Rows = append(t.Rows, []string{"fill, mirror paused", fmt.Sprint(f.Load.Records), report.F1(f.Load.Seconds), report.F1(f.Load.MBPerS),
			report.F1(f.Load.Latency.P50Ms) + " / " + report.F1(f.Load.Latency.P99Ms), "–", "–", cpuCell(f.Use), report.F1(f.MachineBusy), eventsCell(f.Use)})
	}
	if d := tp.Drain; d != nil {
		t.Rows = append(t.Rows, []string{"drain (mirror resumed)", fmt.Sprint(d.Records), report.F3(d.Seconds), "–", "–", report.F1(d.MBPerS), "–", cpuCell(d.Use), report.F1(d.MachineBusy), eventsCell(d.Use)})
	}
	if s := tp.Sustained; s != nil && s.Load != nil {
		t.Rows = append(t.Rows, []string{"sustained, mirror active", fmt.Sprint(s.Load.Records), report.F1(s.Seconds), report.F1(s.Load.MBPerS),
			report.F1(s.Load.Latency.P50Ms) + " / " + report.F1(s.Load.Latency.P99Ms), report.F1(s.MirrorMBPerS),
			fmt.Sprintf("p50 %.0f, max %.0f records; max %.0f ms", s.LagRecords.P50, s.LagRecords.Max, s.LagMs.Max), cpuCell(s.Use), report.F1(s.MachineBusy), eventsCell(s.Use)})
	}
	t.Notes = append(t.Notes, "Producers: concurrent topic API clients in node0's namespace, each with its own connection, binary bodies (topicapi.ContentTypeRecords) of text values; value MB/s counts the values (10^6 bytes). Mirror log MB/s: bytes of log (batches as the primary wrote them) appended on node1 per second: the drain's is the whole log over the time from resume to the mirror's log end equal to the primary's (polled every 10 ms); the sustained phase's is over its samples (every 250 ms). Lag: the primary's log end minus the mirror's, both asked at once, and the mirror's lag_ms. CPU: utime + stime from /proc over the phase; bench is this program (the clients). Machine busy: all CPUs (100 = both cores).")
	if d := tp.Drain; d != nil {
		t.Notes = append(t.Notes, fmt.Sprintf("After the drain the mirror's log is %d B, the primary's %d B (identical size and end: %v).", d.MirrorLogBytes, d.LogBytes, d.Identical))
	}
	out := []report.Table{t}
	if s := tp.Sustained; s != nil && len(s.Timeline) > 0 {
		tl := report.Table{Title: "Sustained phase, second by second", Head: []string{"at s", "primary log MB/s", "mirror log MB/s", "lag records", "lag ms"}}
		for _, iv := range s.Timeline {
			tl.Rows = append(tl.Rows, []string{report.F1(iv.AtS), report.F1(iv.PrimaryMBPerS), report.F1(iv.MirrorMBPerS), fmt.Sprint(iv.LagRecords), fmt.Sprint(iv.LagMs)})
		}
		tl.Notes = append(tl.Notes, fmt.Sprintf("After the producers stopped the mirror caught up in %.0f ms.", s.CatchUpMs))
		if len(s.Profiles) > 0 {
			tl.Notes = append(tl.Notes, "CPU profiles over the phase: "+strings.Join(s.Profiles, ", ")+" (go tool pprof -top bin/tetherd FILE).")
		}
		out = append(out, tl)
	}
	return out
}

// redisTable puts the mirror and Redis side by side.
func redisTable(tp *ThroughputResult, r *RedisResult) report.Table {
	t := report.Table{Title: "Side by side: the mirror and Redis replication (same bed, same number and size of values)",
		Head: []string{"what", "tether mirror", "Redis"}}
	if r.Skipped != "" {
		t.Notes = append(t.Notes, "Redis: SKIPPED: "+r.Skipped)
		return t
	}
	// The mirror's cells, "–" for what this run did not measure.
	fill, drain, drainCPU, stream, lag, cpu, busy := "–", "–", "–", "–", "–", "–", "–"
	if tp != nil && tp.Fill != nil {
		fill = fmt.Sprintf("%.1f s, %s of values (topic API, %d producers)", tp.Fill.Load.Seconds, mb(tp.Fill.Load.MBPerS), tp.Fill.Load.Producers)
	}
	if tp != nil && tp.Drain != nil {
		drain = fmt.Sprintf("%.2f s, %s of log (drain after resume)", tp.Drain.Seconds, mb(tp.Drain.MBPerS))
		drainCPU = cpuCell(tp.Drain.Use)
	}
	if s := tp.sustained(); s != nil {
		stream = fmt.Sprintf("%s of log on the mirror, %.0f records/s (%s of values); producers %s", mb(s.MirrorMBPerS), s.MirrorRecPerS, mb(s.MirrorRecPerS*recordSize/1e6), mb(s.Load.MBPerS))
		lag = fmt.Sprintf("p50 %.0f, max %.0f records; caught up %.0f ms after the writers stopped", s.LagRecords.P50, s.LagRecords.Max, s.CatchUpMs)
		cpu, busy = cpuCell(s.Use), report.F1(s.MachineBusy)
	}
	if f := r.Fill; f != nil {
		t.Rows = append(t.Rows, []string{fmt.Sprintf("load %d values onto the primary", r.Values), fill,
			fmt.Sprintf("%.1f s, %s of values (redis-cli --pipe)", f.Seconds, mb(f.MBPerS))})
	}
	if s := r.FullSync; s != nil {
		t.Rows = append(t.Rows,
			[]string{"copy the loaded dataset to the other node", drain,
				fmt.Sprintf("%.2f s, %s of values (REPLICAOF: full sync, RDB %.0f MB, until link up and DBSIZE = %d)", s.Seconds, mb(s.MBPerS), float64(s.RDBBytes)/1e6, s.Keys)},
			[]string{"… CPU % of a core", drainCPU, cpuCell(s.Use)})
	}
	if s := r.Stream; s != nil {
		t.Rows = append(t.Rows,
			[]string{"streaming, writers at full speed", stream,
				fmt.Sprintf("%s of stream on the replica, %.0f SETs/s (%s of values); primary %.0f commands/s (redis-benchmark -c %d -P %d)", mb(s.ReplicaMBPerS), s.ReplicaValuesPerS, mb(s.ValueMBPerS), s.OpsPerS, s.Clients, s.Pipeline)},
			[]string{"… lag", lag, fmt.Sprintf("p50 %.0f, max %.0f values (%.0f / %.0f B of stream); caught up %.0f ms after", s.LagValues.P50, s.LagValues.Max, s.LagBytes.P50, s.LagBytes.Max, s.CatchUpMs)},
			[]string{"… CPU % of a core", cpu, cpuCell(s.Use)},
			[]string{"… machine busy %", busy, report.F1(s.MachineBusy)})
	}
	t.Notes = append(t.Notes, fmt.Sprintf("%s. Primary in node0's namespace on its hb0 address, replica in node1's; arguments %s (no RDB snapshots, no AOF: Redis replicates memory and writes nothing to disk but the replica's copy of the snapshot during a full sync, whereas the mirror fsyncs every fetch it appends and the primary every produce; the full sync starts at once instead of after Redis's default 5 s wait for more replicas). Streaming: the primary's master_repl_offset and the replica's slave_repl_offset (INFO through a redis-cli in each namespace, both asked at once) every 250 ms; a SET of a 1 KiB value is %d B of stream.",
		r.Version, shellWords(r.Command), setStreamBytes))
	return t
}

// sustained is the sustained phase, if it ran with its load.
func (tp *ThroughputResult) sustained() *Sustained {
	if tp == nil || tp.Sustained == nil || tp.Sustained.Load == nil {
		return nil
	}
	return tp.Sustained
}

func pacedTable(lat, control, chained, acks *PacedSeries) report.Table {
	t := report.Table{Title: "Latency: one record per produce at a fixed rate",
		Head: []string{"measure", "topic (acks)", "run", "records", "rate/s asked / achieved", "min ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "target", "result"}}
	row := func(what string, p *PacedResult, run string, d Dist, target, verdict string) {
		t.Rows = append(t.Rows, []string{what, fmt.Sprintf("%s (%s)", p.Topic, p.Acks), run, fmt.Sprint(d.N), fmt.Sprintf("%d / %.0f", p.Rate, p.RateAt),
			report.F3(d.MinMs), report.F3(d.P50Ms), report.F3(d.P90Ms), report.F3(d.P99Ms), report.F3(d.MaxMs), target, verdict})
	}
	series := func(what string, s *PacedSeries, visible, judged bool) {
		if s == nil || len(s.Runs) == 0 {
			return
		}
		pick := func(p *PacedResult) Dist {
			if visible {
				return *p.Visible
			}
			return p.Produce
		}
		for k, p := range s.Runs {
			row(what, p, fmt.Sprint(k+1), pick(p), "", "")
		}
		all, target, verdict := s.Produce, "", ""
		if visible {
			all = *s.Visible
		}
		if judged {
			target, verdict = fmt.Sprintf("p99 ≤ %g ms", s.TargetP99Ms), report.Verdict(s.Met)
		}
		row("**"+what+"**", s.Runs[0], "all", all, target, verdict)
	}
	series("produce → consumed on the mirror", lat, true, true)
	series("produce call (acks: local)", lat, false, false)
	series("control: the same produce to a bare append + fsync server", control, false, false)
	series("chained control: … that forwards it to another on node1", chained, false, false)
	series("produce call (acks: mirror)", acks, false, true)
	t.Notes = append(t.Notes, "One producer in node0's namespace sends one 1 KiB record per produce on a fixed schedule (open loop: up to 64 produces in flight, so a slow one does not hold back the next); each value starts with its send time (Unix ns, this machine's clock). A consumer in node1's namespace long-polls the mirror topic (Consume with a 500 ms wait) and takes each record's age when its answer is decoded. The first records of each run (warmup) are not counted. The runs of the measures are interleaved (latency, control, chained control, acks, latency, …); the verdict is on every record of every run (\"all\"). Percentiles are nearest-rank.")
	if control != nil {
		t.Notes = append(t.Notes, "Controls: the same producer against the smallest server that does what a produce with acks: local must do, in node0's namespace, on two Ps as tetherd with a replicator: decode the same request body (topicapi.DecodeProduceBinary), append the value to a file on the same file system, fsync it, answer (this program run with "+controlArg+"); no tether code. The chained control's server on node0 then forwards the request to the same server in node1's namespace (over hb0, plain HTTP) and answers once that one has answered: two fsyncs on this bed's one disk and a hop, what acks: mirror and a record visible on the mirror must cost at least. Their tails are the machine's (fsync under concurrent requests, the scheduler), which tether cannot beat.")
	}
	for _, s := range []*PacedSeries{lat, control, chained, acks} {
		if s == nil {
			continue
		}
		for k, p := range s.Runs {
			t.Notes = append(t.Notes, fmt.Sprintf("%s run %d: %d errors, %d sent late (more than 64 in flight), %d unseen; CPU %s; machine %.1f %% busy; events: %s.", p.Topic, k+1, p.Errors, p.Late, p.Unseen, cpuCell(p.Use), p.MachineBusy, eventsCell(p.Use)))
		}
	}
	return t
}

func rttTable(r *RTTResult) report.Table {
	t := report.Table{Title: "Heartbeat RTT, idle and while mirroring at full speed (agents' RTT histograms)",
		Head: []string{"link (observer → peer network/channel)", "idle mean ms", "idle p99 ms", "sustained mean ms", "sustained p99 ms", "p99 ratio", "mean ratio", "sustained highest bucket ms", "result"}}
	for _, c := range r.Compare {
		mx := report.F3(c.LoadMaxMs)
		if c.LoadMaxMs < 0 {
			mx = "> 500"
		}
		t.Rows = append(t.Rows, []string{c.Series, report.F3(c.IdleMeanMs), report.F3(c.IdleP99Ms), report.F3(c.LoadMeanMs), report.F3(c.LoadP99Ms),
			fmt.Sprintf("%.2f", c.Ratio), fmt.Sprintf("%.2f", c.MeanRatio), mx, report.Verdict(c.Met)})
	}
	t.Notes = append(t.Notes, "From tether_link_rtt_seconds of each agent's /metrics, scraped at both ends of each window (buckets 50, 100, 250, 500 µs, 1, 2.5, 5 ms, …): the mean is exact (Δsum ÷ Δcount), p99 is interpolated linearly within its bucket as Prometheus's histogram_quantile does, so it is only as precise as the buckets are wide.")
	for _, w := range []*RTTWindow{r.Idle, r.Load} {
		if w == nil {
			continue
		}
		n := uint64(0)
		for _, s := range w.Series {
			n = max(n, s.Samples)
		}
		t.Notes = append(t.Notes, fmt.Sprintf("%s window %.1f s, up to %d samples per series; events: %s.", w.Phase, w.Seconds, n, eventsCell(Use{Events: w.Events})))
		for _, e := range w.Evidence {
			t.Notes = append(t.Notes, "  "+e)
		}
	}
	return t
}

func reopenTable(r *ReopenResult) report.Table {
	t := report.Table{Title: fmt.Sprintf("Reopen after kill -9: topic bulk on node0, %d B in %d segments, log end %d", r.LogBytes, r.Segments, r.LogEndOffset),
		Head: []string{"trial", "start → whole log described s", "start → first API answer s", "start → every link up s", "target", "result"}}
	for _, tr := range r.Trials {
		t.Rows = append(t.Rows, []string{fmt.Sprint(tr.Trial), report.F3(tr.Seconds), report.F3(tr.FirstAnswerS), report.F3(tr.LinksUpS), fmt.Sprintf("≤ %g s", r.TargetS), report.Verdict(tr.Seconds <= r.TargetS)})
	}
	t.Notes = append(t.Notes, fmt.Sprintf("SIGKILL to node0's tetherd while idle (the mirror caught up), then Start (ip netns exec … tetherd) at once; the clock starts right before Start, and the topic API is asked to describe the topic every 2 ms until it shows the log end offset it had before the kill. The page cache stays warm (a killed process, not a rebooted machine). Max %.3f s.", r.Max))
	return t
}

// shellWords joins args as a shell would read them back (empty ones quoted).
func shellWords(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			out[i] = strconv.Quote(a)
		}
	}
	return strings.Join(out, " ")
}

// runP99s lists the p99 of each run of s.
func runP99s(s *PacedSeries, visible bool) string {
	var out []string
	for _, p := range s.Runs {
		d := p.Produce
		if visible && p.Visible != nil {
			d = *p.Visible
		}
		out = append(out, report.F3(d.P99Ms))
	}
	return strings.Join(out, ", ")
}
