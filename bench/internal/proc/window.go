package proc

import (
	"fmt"
	"time"

	"github.com/tether-ha/tether/bench/internal/stats"
)

// Stat is one process's CPU share of one core over a Window and its memory
// at the end of the window.
type Stat struct {
	Node       int     `json:"node"` // index of the process in the window
	Pid        int     `json:"pid"`
	CPUPercent float64 `json:"cpu_percent"` // of one core, utime+stime of /proc/<pid>/stat
	// SchedCPUPercent is the same from the live threads' schedstat
	// (nanosecond runtime; threads that exited during the window are
	// missing).
	SchedCPUPercent float64 `json:"sched_cpu_percent"`
	// SchedCPU is the schedstat on-CPU time over the window.
	SchedCPU time.Duration `json:"sched_cpu_ns"`
	// MajorFaults counts page faults that read from disk during the
	// window: each one stalls the faulting thread.
	MajorFaults uint64 `json:"major_faults"`
	// SwitchesPerS is context switches per second, all live threads: how
	// often the process wakes up.
	SwitchesPerS float64 `json:"context_switches_per_s"`
	RSSMiB       float64 `json:"rss_mib"`
	HWMMiB       float64 `json:"peak_rss_mib"`
	Threads      int     `json:"threads"`
}

// Window is a CPU-time measurement of a set of processes and of the whole
// machine: StartWindow reads every counter, Stop reads them again.
type Window struct {
	pids  []int
	start time.Time
	stat  []StatCounters
	sched []time.Duration
	sw    []uint64
	sys   SysCPU
	wall  time.Duration // set by Stop
	steal float64       // set by Stop
}

// StartWindow records the CPU time of pids and of the machine now.
func StartWindow(pids []int) (*Window, error) {
	w := &Window{pids: pids, stat: make([]StatCounters, len(pids)), sched: make([]time.Duration, len(pids)), sw: make([]uint64, len(pids))}
	for k, pid := range pids {
		var err error
		if w.stat[k], err = ReadStat(pid); err != nil {
			return nil, err
		}
		if w.sched[k], err = SchedCPU(pid); err != nil {
			return nil, err
		}
		if w.sw[k], err = Switches(pid); err != nil {
			return nil, err
		}
	}
	sys, err := ReadSysCPU()
	if err != nil {
		return nil, err
	}
	w.sys, w.start = sys, time.Now()
	return w, nil
}

// Start returns when the window started.
func (w *Window) Start() time.Time { return w.start }

// StealPercent returns the share of all CPUs the hypervisor stole during
// the window, once it stopped.
func (w *Window) StealPercent() float64 { return w.steal }

// Wall returns the length of the window: until Stop once it stopped, else
// until now.
func (w *Window) Wall() time.Duration {
	if w.wall > 0 {
		return w.wall
	}
	return time.Since(w.start)
}

// Stop returns each process's share of one core since StartWindow, its
// memory now, and the share of all CPUs the machine was busy.
func (w *Window) Stop() (out []Stat, systemBusy float64, err error) {
	wall := time.Since(w.start)
	w.wall = wall
	sys, err := ReadSysCPU()
	if err != nil {
		return nil, 0, err
	}
	for k, pid := range w.pids {
		st, err := ReadStat(pid)
		if err != nil {
			return nil, 0, err
		}
		sched, err := SchedCPU(pid)
		if err != nil {
			return nil, 0, err
		}
		sw, err := Switches(pid)
		if err != nil {
			return nil, 0, err
		}
		m, err := ReadMem(pid)
		if err != nil {
			return nil, 0, fmt.Errorf("pid %d: %w", pid, err)
		}
		dsched := sched - min(sched, w.sched[k])
		out = append(out, Stat{
			Node: k, Pid: pid,
			CPUPercent:      stats.Round3(100 * float64(st.CPU-w.stat[k].CPU) / float64(wall)),
			MajorFaults:     st.MajorFaults - min(st.MajorFaults, w.stat[k].MajorFaults),
			SchedCPUPercent: stats.Round3(100 * float64(dsched) / float64(wall)),
			SchedCPU:        dsched,
			SwitchesPerS:    stats.Round3(float64(sw-min(sw, w.sw[k])) / wall.Seconds()),
			RSSMiB:          stats.Round3(float64(m.RSSKiB) / 1024),
			HWMMiB:          stats.Round3(float64(m.HWMKiB) / 1024),
			Threads:         m.Threads,
		})
	}
	w.steal = stats.Round3(StealPercent(w.sys, sys))
	return out, stats.Round3(BusyPercent(w.sys, sys)), nil
}
