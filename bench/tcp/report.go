package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/tether-ha/tether/bench/internal/report"
)

// tables builds the report.
func tables(res *Results) []report.Table {
	out := []report.Table{{Title: "Machine", Notes: []string{fmt.Sprintf(
		"%s. Run %s – %s; load average (1/5/15 min) before %s, after %s.",
		res.Machine, res.Started.Format("2006-01-02 15:04:05 MST"), res.Finished.Format("15:04:05"), res.Machine.LoadBefore, res.Machine.LoadAfter)}}}
	out = append(out, cpuTables(res)...)
	out = append(out, memTables(res.Mem)...)
	out = append(out, msgTables(res.Msg)...)
	if len(res.Errors) > 0 {
		out = append(out, report.Table{Title: "Errors", Notes: res.Errors})
	}
	return out
}

func cpuTables(res *Results) []report.Table {
	if len(res.CPU) == 0 {
		return nil
	}
	t := report.Table{Title: "CPU per heartbeat: 3 idle agents × 2 networks (per agent; CPU from schedstat)",
		Head: []string{"timers", "channels", "CPU % of a core mean (min–max)", "CPU % (stat ticks)", "context switches/s", "ether frames/s tx + rx", "tcp frames/s tx + rx", "µs CPU per frame", "RSS MiB"}}
	for _, r := range res.CPU {
		if r.Idle == nil {
			t.Rows = append(t.Rows, []string{r.Profile, strings.Join(r.Channels, ", "), "ERROR: " + r.Error})
			continue
		}
		i := r.Idle
		lo, hi, sw, rss := i.Nodes[0].SchedCPUPercent, 0.0, 0.0, 0.0
		for _, n := range i.Nodes {
			lo, hi = min(lo, n.SchedCPUPercent), max(hi, n.SchedCPUPercent)
			sw += n.SwitchesPerS / float64(len(i.Nodes))
			rss = max(rss, n.RSSMiB)
		}
		frames := func(ch string) string {
			c, ok := r.ByChannel[ch]
			if !ok {
				return "–"
			}
			return report.F1(c.TxPerS) + " + " + report.F1(c.RxPerS)
		}
		t.Rows = append(t.Rows, []string{r.Profile + " " + r.Timers.String(), "[" + strings.Join(r.Channels, ", ") + "]",
			fmt.Sprintf("%s (%s–%s)", report.F3(i.MeanSchedCPU), report.F3(lo), report.F3(hi)), report.F3(i.MeanCPU), report.F1(sw),
			frames("ether"), frames("tcp"), report.F1(i.CPUPerFrameMicros), report.F1(rss)})
		t.Notes = append(t.Notes, fmt.Sprintf("%s [%s]: window %.0f s, %d state changes, %d major page faults in the agents, machine %.1f %% busy (%.1f %% other work, %.2f %% stolen by the hypervisor), load %s → %s.",
			r.Profile, strings.Join(r.Channels, ", "), i.Seconds, i.Transitions, i.MajorFaults, i.SystemBusy, i.OtherBusy, i.Steal, i.LoadBefore, i.LoadAfter))
		if i.OtherBusy > report.OtherBusyWarn {
			t.Notes = append(t.Notes, fmt.Sprintf("WARNING (%s [%s]): other work kept the machine %.1f %% busy during the window: rerun when the machine is quiet.",
				r.Profile, strings.Join(r.Channels, ", "), i.OtherBusy))
		}
		if i.Transitions > 0 {
			t.Notes = append(t.Notes, fmt.Sprintf("NOTE (%s [%s]): links changed state %d times during the window (see the logs).",
				r.Profile, strings.Join(r.Channels, ", "), i.Transitions))
		}
	}
	if fromConnections(res.CPU) {
		t.Notes = append(t.Notes, "The tcp channel's tx_frames counter did not move (tetherd does not count tcp sends there): tcp frames sent are the sum of the tcp connections' frames_out (tetherstat -L) over the window.")
	}
	out := []report.Table{t}
	if len(res.CPUDerived) > 0 {
		d := report.Table{Title: "What the tcp channel costs",
			Head: []string{"timers", "CPU added to [ether] by tcp, % of a core", "tcp frames sent per heartbeat per link", "marginal µs per tcp frame", "marginal µs per tcp heartbeat per link", "µs per frame, [tcp] alone", "µs per frame, [ether] alone"}}
		for _, c := range res.CPUDerived {
			d.Rows = append(d.Rows, []string{c.Profile, report.F3(c.ExtraCPUPercent), report.F1(c.TCPFramesPerHeartbeat),
				report.F1(c.MarginalMicrosPerFrame), report.F1(c.MicrosPerHeartbeat), report.F1(c.TCPMicrosPerFrame), report.F1(c.EtherMicrosPerFrame)})
		}
		d.Notes = []string{"Marginal: (CPU of [ether, tcp] − CPU of [ether]) ÷ the frames (sent + received) tcp adds; per heartbeat per link: the same CPU ÷ the ether frames sent (one per link per heartbeat), i.e. one agent's cost of one tcp heartbeat to one peer on one network, its sending and its receiving the peer's. \"Alone\": all of an agent's CPU ÷ all its frames."}
		out = append(out, d)
	}
	return out
}

func memTables(m *MemResult) []report.Table {
	if m == nil {
		return nil
	}
	t := report.Table{Title: fmt.Sprintf("Memory of node 0, one network, %.0f s after all links are up", m.SettleSeconds),
		Head: []string{"channel", "nodes", "tcp connections", "goroutines", "threads", "HeapInuse KiB", "StackInuse KiB", "Sys KiB", "RSS KiB", "HeapInuse after GC KiB", "live heap (HeapAlloc after GC) KiB"}}
	kib := func(p MemPoint, metric string) string { return fmt.Sprint(p.Bytes[metric] / 1024) }
	for _, p := range m.Points {
		if p.Error != "" {
			t.Rows = append(t.Rows, []string{p.Channel, fmt.Sprint(p.Nodes), "ERROR: " + p.Error})
			continue
		}
		t.Rows = append(t.Rows, []string{p.Channel, fmt.Sprint(p.Nodes), fmt.Sprint(p.Connections), fmt.Sprint(p.Goroutines), fmt.Sprint(p.Threads),
			kib(p, memHeapInuse), kib(p, memStackInuse), kib(p, memSys), kib(p, memRSS), kib(p, memHeapInuseGC), kib(p, memHeapAllocGC)})
	}
	f := report.Table{Title: "Memory: least-squares lines against the number of peers",
		Head: []string{"metric", "tcp: bytes per peer", "tcp: intercept KiB", "tcp: R²", "ether: bytes per peer", "ether: intercept KiB", "ether: R²", "bytes per tcp connection"}}
	for _, metric := range memMetrics {
		row := []string{metric}
		for _, ch := range memChannels {
			k := slices.IndexFunc(m.Fits, func(x MemFit) bool { return x.Channel == ch && x.Metric == metric })
			if k < 0 {
				row = append(row, "–", "–", "–")
				continue
			}
			x := m.Fits[k].Fit
			row = append(row, fmt.Sprintf("%.0f", x.Slope), fmt.Sprintf("%.0f", x.Intercept/1024), fmt.Sprintf("%.3f", x.R2))
		}
		if v, ok := m.PerConnection[metric]; ok {
			row = append(row, fmt.Sprintf("%.0f", v))
		} else {
			row = append(row, "–")
		}
		f.Rows = append(f.Rows, row)
	}
	f.Notes = []string{"Node 0 has 2 tcp connections per peer (one it dialled, one it accepted). Bytes per peer of the tcp series = 2 connections + the protocol state of one peer; of the ether series = the protocol state alone; bytes per tcp connection = (tcp − ether) ÷ 2. The intercept is the agent with no peer: runtime, config, status server, sockets of its networks. HeapInuse, Sys and RSS as found include garbage not yet collected (how much depends on when the last GC ran), so their lines fit poorly (low R²); after a forced GC (/debug/pprof/heap?gc=1) HeapInuse and HeapAlloc count what is retained."}
	return []report.Table{t, f}
}

func msgTables(m *MsgResult) []report.Table {
	if m == nil {
		return nil
	}
	lat := report.Table{Title: "Message API latency: echo round trip node 0 → node 1, one at a time (window 1)",
		Head: []string{"network channels", "route", "payload B", "run", "echoes", "received", "p50 µs", "p99 µs", "max µs", "µs CPU per echo (both agents)", "machine busy %", "events"}}
	// Runs were interleaved; show them by bed, size and repetition.
	runs := slices.Clone(m.Latency)
	slices.SortStableFunc(runs, func(a, b *MsgRun) int {
		return cmp.Or(cmp.Compare(bedOrder(a.Bed), bedOrder(b.Bed)), cmp.Compare(a.Size, b.Size), cmp.Compare(a.Rep, b.Rep))
	})
	for _, r := range runs {
		lat.Rows = append(lat.Rows, msgRow(r, false))
	}
	tp := report.Table{Title: "Message API throughput: node 0 → node 1 with many echoes in flight (network [ether, tcp])",
		Head: []string{"window", "payload B", "echoes", "received", "echoes/s", "payload MB/s", "p50 µs", "p99 µs", "max µs", "µs CPU per echo (both agents)", "machine busy %", "route", "events"}}
	for _, r := range m.Throughput {
		tp.Rows = append(tp.Rows, msgRow(r, true))
		if p := r.Probe; p != nil && p.Ping != nil && (p.Ping.Received < p.Ping.Sent || len(p.Events) > 0) {
			tp.Notes = append(tp.Notes, fmt.Sprintf("Probe of window %d, %d B: %d of %d echoes received; events %s.", r.Window, r.Size, p.Ping.Received, p.Ping.Sent, eventList(p.Events)))
		}
	}
	lat.Notes = []string{"RTT percentiles as the agent computes them (status.PingResult): from handing the echo to the protocol engine to the engine processing the reply; no HTTP. Events: log events of either agent during the run (none expected)."}
	tp.Notes = []string{"Each echo counts once: echoes/s = replies received per second, payload MB/s = echoes/s × payload (10⁶ bytes). Each run sends as many echoes as a short probe run says fit in the aimed duration."}
	return []report.Table{lat, tp}
}

func msgRow(r *MsgRun, tput bool) []string {
	if r.Ping == nil {
		return []string{r.Bed, fmt.Sprint(r.Window), fmt.Sprint(r.Size), fmt.Sprint(r.Count), "ERROR: " + r.Error}
	}
	p := r.Ping
	var routes []string
	for k, v := range p.Routes {
		routes = append(routes, fmt.Sprintf("%s ×%d", k, v))
	}
	slices.Sort(routes)
	evs := eventList(r.Events)
	received := fmt.Sprint(p.Received)
	if len(p.SendErrors) > 0 {
		received += fmt.Sprintf(" (send errors %v)", p.SendErrors)
	}
	if tput {
		return []string{fmt.Sprint(r.Window), fmt.Sprint(r.Size), fmt.Sprint(p.Sent), received, fmt.Sprintf("%.0f", p.PerSecond), report.F1(r.MBPerS),
			fmt.Sprint(p.RTTP50Micros), fmt.Sprint(p.RTTP99Micros), fmt.Sprint(p.RTTMaxMicros), report.F1(r.CPUMicrosPerMsg), report.F1(r.SystemBusy), strings.Join(routes, ", "), evs}
	}
	return []string{"[" + strings.ReplaceAll(r.Bed, "+", ", ") + "]", strings.Join(routes, ", "), fmt.Sprint(r.Size), fmt.Sprint(r.Rep), fmt.Sprint(p.Sent), received,
		fmt.Sprint(p.RTTP50Micros), fmt.Sprint(p.RTTP99Micros), fmt.Sprint(p.RTTMaxMicros), report.F1(r.CPUMicrosPerMsg), report.F1(r.SystemBusy), evs}
}

// bedOrder orders the msg beds: tcp first.
func bedOrder(bed string) int {
	if bed == bedEtherTCP {
		return 0
	}
	return 1
}

// eventList formats event counts as "id ×n, ..." sorted, or "none".
func eventList(events map[string]int) string {
	var evs []string
	for k, v := range events {
		evs = append(evs, fmt.Sprintf("%s ×%d", k, v))
	}
	slices.Sort(evs)
	if len(evs) == 0 {
		return "none"
	}
	return strings.Join(evs, ", ")
}

// fromConnections reports whether any run counted frames sent from the
// tcp connections instead of the channel counters.
func fromConnections(runs []*CPURun) bool {
	for _, r := range runs {
		if r.Idle == nil {
			continue
		}
		for _, n := range r.Idle.Nodes {
			for _, c := range n.Channels {
				if c.TxSource == "connections" {
					return true
				}
			}
		}
	}
	return false
}
