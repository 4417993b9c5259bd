package main

import (
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// cpuWindow is a CPU-time measurement of a set of processes.
type cpuWindow struct {
	pids  []int
	start time.Time
	cpu   []time.Duration
	sched []time.Duration
	sw    []uint64
	sys   sysCPU
}

// startCPU records the CPU time of pids and of the machine now.
func startCPU(pids []int) (*cpuWindow, error) {
	w := &cpuWindow{pids: pids, cpu: make([]time.Duration, len(pids)), sched: make([]time.Duration, len(pids)), sw: make([]uint64, len(pids))}
	for k, pid := range pids {
		c, err := procCPU(pid)
		if err != nil {
			return nil, err
		}
		if w.sched[k], err = procSchedCPU(pid); err != nil {
			return nil, err
		}
		sw, err := procSwitches(pid)
		if err != nil {
			return nil, err
		}
		w.cpu[k], w.sw[k] = c, sw
	}
	sys, err := readSysCPU()
	if err != nil {
		return nil, err
	}
	w.sys, w.start = sys, time.Now()
	return w, nil
}

// stop returns each process's share of one core since startCPU, its memory
// now, and the machine's busy share.
func (w *cpuWindow) stop() (stats []ProcStat, systemBusy float64, err error) {
	wall := time.Since(w.start)
	sys, err := readSysCPU()
	if err != nil {
		return nil, 0, err
	}
	for k, pid := range w.pids {
		c, err := procCPU(pid)
		if err != nil {
			return nil, 0, err
		}
		m, err := readProcMem(pid)
		if err != nil {
			return nil, 0, err
		}
		sw, err := procSwitches(pid)
		if err != nil {
			return nil, 0, err
		}
		sched, err := procSchedCPU(pid)
		if err != nil {
			return nil, 0, err
		}
		stats = append(stats, ProcStat{
			Node: k, Pid: pid,
			CPUPercent:      round3(100 * float64(c-w.cpu[k]) / float64(wall)),
			SchedCPUPercent: round3(100 * float64(sched-min(sched, w.sched[k])) / float64(wall)),
			SwitchesPerS:    round3(float64(sw-min(sw, w.sw[k])) / wall.Seconds()),
			RSSMiB:          round3(float64(m.RSSKiB) / 1024),
			HWMMiB:          round3(float64(m.HWMKiB) / 1024),
			Threads:         m.Threads,
		})
	}
	return stats, round3(busyPercent(w.sys, sys)), nil
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// measureIdle measures the agents of b, all links up and nothing else
// happening, for dur: CPU share from utime+stime in /proc/<pid>/stat at
// both ends of the window (nothing polls the agents meanwhile), RSS at
// the end.
func measureIdle(b *testbed.Bed, dur time.Duration, targetCPU, targetRSS float64) (*IdleResult, error) {
	r := &IdleResult{TargetCPU: targetCPU, TargetRSS: targetRSS, LoadBefore: loadAvg()}
	pids, err := agentPids(b)
	if err != nil {
		return nil, err
	}
	before, err := statuses(b)
	if err != nil {
		return nil, err
	}
	cur := newCursor(b)
	cur.poll()
	w, err := startCPU(pids)
	if err != nil {
		return nil, err
	}
	time.Sleep(dur)
	stats, busy, err := w.stop()
	if err != nil {
		return nil, err
	}
	r.Seconds = round3(time.Since(w.start).Seconds())
	r.LoadAfter = loadAvg()
	r.Nodes, r.SystemBusy = stats, busy
	for _, e := range cur.poll() {
		if isTransition(e) {
			r.Transitions++
		}
	}
	after, err := statuses(b)
	if err != nil {
		return nil, err
	}
	var frames uint64
	for i := range after {
		frames += txFrames(after[i].Counters.Networks) - txFrames(before[i].Counters.Networks)
	}
	r.FramesPerS = round3(float64(frames) / float64(len(after)) / r.Seconds)
	var sum float64
	for _, s := range stats {
		sum += s.CPUPercent
		r.MaxCPU = max(r.MaxCPU, s.CPUPercent)
		r.MaxRSSMiB = max(r.MaxRSSMiB, s.RSSMiB)
	}
	r.MeanCPU = round3(sum / float64(len(stats)))
	// What the rest of the machine did, as a share of all CPUs.
	r.OtherBusy = round3(max(0, r.SystemBusy-sum/float64(runtime.NumCPU())))
	r.Met = r.MaxCPU <= targetCPU && r.MaxRSSMiB <= targetRSS
	return r, nil
}

// txFrames sums the frames sent over every network and channel.
func txFrames(ns []status.NetworkCounters) uint64 {
	var n uint64
	for _, c := range ns {
		n += c.TxFrames
	}
	return n
}

// rssNow returns the RSS of every agent of b, in KiB.
func rssNow(b *testbed.Bed) ([]int64, error) {
	pids, err := agentPids(b)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(pids))
	for k, pid := range pids {
		m, err := readProcMem(pid)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", k, err)
		}
		out[k] = m.RSSKiB
	}
	return out, nil
}
