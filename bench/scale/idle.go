package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// maxEvidence bounds the event lines kept as evidence.
const maxEvidence = 20

// measureIdle measures every agent over dur with nothing injected: CPU
// from /proc at both ends of the window (nothing reads the agents' status
// meanwhile; their logs are read once, after it), RSS at its end, and
// every link that went down or changed state, from the status counters
// read just before and just after the window and from the logs.
func measureIdle(t testbed.T, b *testbed.Bed, dur time.Duration, converged bool) *IdleResult {
	r := &IdleResult{Converged: converged, LoadBefore: proc.LoadAvg()}
	pids, err := bedutil.AgentPids(b)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	before, failed, err := statuses(b)
	if failed > 0 {
		r.Error = fmt.Sprintf("%d status reads failed before the window, first: %v", failed, err)
	}
	tail := b.NewLogTail("link.down", "link.trouble", "node.state")
	if _, err := tail.Poll(); err != nil { // what came before the window
		r.Error = err.Error()
		return r
	}
	w, err := proc.StartWindow(pids)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	t.Logf("idle: %v window, nothing injected (load %s)", dur, r.LoadBefore)
	for end := time.Now().Add(dur); time.Now().Before(end); {
		time.Sleep(min(time.Until(end), time.Minute))
		if left := time.Until(end); left > time.Second {
			t.Logf("idle: %v left", left.Round(time.Second))
		}
	}
	ps, busy, err := w.Stop()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Seconds = stats.Round3(w.Wall().Seconds())
	r.LoadAfter = proc.LoadAvg()
	r.MachineBusy, r.Steal = busy, w.StealPercent()
	after, failedAfter, errAfter := statuses(b)
	if failedAfter > 0 && r.Error == "" {
		r.Error = fmt.Sprintf("%d status reads failed after the window, first: %v", failedAfter, errAfter)
	}

	evs, err := tail.Poll()
	if err != nil && r.Error == "" {
		r.Error = err.Error()
	}
	for _, e := range evs {
		if e.Time.Before(w.Start()) || e.Time.After(w.Start().Add(w.Wall())) {
			continue
		}
		switch e.ID {
		case "link.down":
			r.LoggedDowns++
		case "link.trouble":
			r.LoggedTroubles++
		case "node.state":
			r.LoggedNodeState++
		default:
			continue
		}
		if (e.ID == "link.down" || e.ID == "node.state") && len(r.Evidence) < maxEvidence {
			r.Evidence = append(r.Evidence, e.String())
		}
	}

	var cpu, sched, rss []float64
	var rssKiB float64
	for k, s := range ps {
		a := Agent{Node: k, Pid: s.Pid, CPUPercent: s.CPUPercent, SchedPercent: s.SchedCPUPercent, RSSMiB: s.RSSMiB,
			PeakRSSMiB: s.HWMMiB, Threads: s.Threads, SwitchesPerS: s.SwitchesPerS}
		if before[k] != nil && after[k] != nil {
			d := diffStatus(before[k], after[k])
			a.Counted, a.TxPerS, a.RxPerS, a.Downs = true, d.txPerS, d.rxPerS, d.downs
			r.FalseDowns += d.downs
			r.Transitions += d.transitions
			r.Pauses += d.pauses
			r.Counted++
		}
		r.Agents = append(r.Agents, a)
		cpu = append(cpu, s.CPUPercent)
		sched = append(sched, s.SchedCPUPercent)
		rss = append(rss, s.RSSMiB)
		rssKiB += s.RSSMiB * 1024
	}
	r.CPU, r.SchedCPU, r.RSSMiB = spread(cpu), spread(sched), spread(rss)
	cores := float64(runtime.NumCPU())
	r.TotalCPUPercentOfMachine = stats.Round3(r.CPU.Sum / cores)
	r.OtherBusy = stats.Round3(max(0, r.MachineBusy-r.TotalCPUPercentOfMachine))
	r.TotalRSSMiB = stats.Round3(rssKiB / 1024)
	if mem, err := memTotalKiB(); err == nil && mem > 0 {
		r.TotalRSSPercentOfMachine = stats.Round3(100 * rssKiB / float64(mem))
	}
	t.Logf("idle: CPU per agent min %.2f / median %.2f / max %.2f %% of one core (all agents %.1f %% of the machine, machine %.1f %% busy); RSS median %.1f MiB, max %.1f MiB; %d false DOWNs (%d logged), %d transitions, %d pauses",
		r.CPU.Min, r.CPU.Median, r.CPU.Max, r.TotalCPUPercentOfMachine, r.MachineBusy, r.RSSMiB.Median, r.RSSMiB.Max, r.FalseDowns, r.LoggedDowns, r.Transitions, r.Pauses)
	return r
}

// statusDiff is what one agent's counters did between two statuses.
type statusDiff struct {
	txPerS, rxPerS     float64
	downs, transitions uint64
	pauses             uint64
}

func diffStatus(a, b *status.Status) statusDiff {
	var d statusDiff
	secs := b.Now.Sub(a.Now).Seconds()
	var tx, rx uint64
	for _, c := range b.Counters.Networks {
		for _, c0 := range a.Counters.Networks {
			if c0.Network == c.Network && c0.Channel == c.Channel {
				tx += c.TxFrames - min(c.TxFrames, c0.TxFrames)
				rx += c.RxFrames - min(c.RxFrames, c0.RxFrames)
			}
		}
	}
	if secs > 0 {
		d.txPerS, d.rxPerS = stats.Round3(float64(tx)/secs), stats.Round3(float64(rx)/secs)
	}
	type key struct {
		peer uint16
		net  string
	}
	old := map[key]status.Link{}
	for _, n := range a.Nodes {
		for _, l := range n.Links {
			old[key{n.ID, l.Network}] = l
		}
	}
	for _, n := range b.Nodes {
		if n.Local {
			continue
		}
		for _, l := range n.Links {
			l0 := old[key{n.ID, l.Network}]
			d.downs += l.Downs - min(l.Downs, l0.Downs)
			d.transitions += l.Transitions - min(l.Transitions, l0.Transitions)
		}
	}
	d.pauses = b.Counters.Pauses.Count - min(b.Counters.Pauses.Count, a.Counters.Pauses.Count)
	return d
}

// spread summarizes xs.
func spread(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Min: s[0], Median: stats.Round3(med), Mean: stats.Round3(sum / float64(len(s))), Max: s[len(s)-1], Sum: stats.Round3(sum)}
}

// memTotalKiB reads MemTotal from /proc/meminfo.
func memTotalKiB() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fs := strings.Fields(v)
			if len(fs) > 0 {
				return strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/meminfo: no MemTotal line")
}
