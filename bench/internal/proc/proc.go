// Package proc reads what the benchmarks measure from /proc: a process's
// CPU time, memory and context switches, the machine's CPU use and load,
// and a description of the machine and of the agent binary.
package proc

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (it is part of the /proc
// ABI, independent of the kernel's HZ).
const clockTicks = 100

// CPU returns the CPU time (user + system, all threads, dead ones
// included) process pid has used, from /proc/<pid>/stat.
func CPU(pid int) (time.Duration, error) {
	st, err := ReadStat(pid)
	return st.CPU, err
}

// StatCounters are the counters of /proc/<pid>/stat the benchmarks use.
type StatCounters struct {
	CPU time.Duration // utime + stime, all threads, dead ones included
	// MajorFaults counts page faults that had to read from disk (majflt):
	// e.g. code pages of the binary that the kernel had paged out.
	MajorFaults uint64
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (StatCounters, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return StatCounters{}, err
	}
	ticks, majflt, err := parseStat(string(data))
	if err != nil {
		return StatCounters{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return StatCounters{CPU: time.Duration(ticks) * time.Second / clockTicks, MajorFaults: majflt}, nil
}

// parseStat returns utime + stime (fields 14 and 15) and majflt (field
// 12) of a /proc/<pid>/stat line. The command name (field 2) is in
// parentheses and may hold spaces and parentheses, so fields are counted
// after the last ')'.
func parseStat(line string) (ticks, majflt uint64, err error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return 0, 0, fmt.Errorf("no ')' after the command name")
	}
	f := strings.Fields(line[end+1:]) // f[0] is field 3 (state)
	const majfltF, utime, stime = 12 - 3, 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, 0, fmt.Errorf("%d fields after the command name, want at least %d", len(f), stime+1)
	}
	var v [3]uint64
	for k, i := range []int{majfltF, utime, stime} {
		if v[k], err = strconv.ParseUint(f[i], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("field %d %q: %w", i+3, f[i], err)
		}
	}
	return v[1] + v[2], v[0], nil
}

// Mem is the memory of one process from /proc/<pid>/status.
type Mem struct {
	RSSKiB  int64 // VmRSS
	HWMKiB  int64 // VmHWM, peak RSS
	Threads int
}

// ReadMem reads /proc/<pid>/status.
func ReadMem(pid int) (Mem, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, err
	}
	m, err := parseStatus(string(data))
	if err != nil {
		return m, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return m, nil
}

// parseStatus extracts VmRSS, VmHWM and Threads from a /proc/<pid>/status
// document; VmRSS is required.
func parseStatus(doc string) (Mem, error) {
	var m Mem
	seenRSS := false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			m.RSSKiB, seenRSS = n, true
		case "VmHWM":
			m.HWMKiB = n
		case "Threads":
			m.Threads = int(n)
		}
	}
	if !seenRSS {
		return m, fmt.Errorf("no VmRSS line")
	}
	return m, nil
}

// SchedCPU returns the on-CPU time of every live thread of pid, summed
// from /proc/<pid>/task/*/schedstat (first field, nanoseconds: the
// scheduler's precise runtime). A cross-check of CPU, which counts in
// 10 ms ticks but includes threads that exited.
func SchedCPU(pid int) (time.Duration, error) {
	dirs, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, d := range dirs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, d.Name()))
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			return 0, fmt.Errorf("/proc/%d/task/%s/schedstat: empty", pid, d.Name())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/task/%s/schedstat: %w", pid, d.Name(), err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// Switches returns the context switches (voluntary and not) of every
// live thread of pid, from /proc/<pid>/task/*/status; a measure of how
// often the process wakes up. Threads that exited are not counted.
func Switches(pid int) (uint64, error) {
	dirs, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, d := range dirs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, d.Name()))
		if err != nil {
			continue // the thread exited meanwhile
		}
		n += parseSwitches(string(data))
	}
	return n, nil
}

// parseSwitches sums voluntary_ctxt_switches and nonvoluntary_ctxt_switches
// of a /proc status document.
func parseSwitches(doc string) uint64 {
	var n uint64
	for line := range strings.SplitSeq(doc, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "voluntary_ctxt_switches" && key != "nonvoluntary_ctxt_switches") {
			continue
		}
		if v, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64); err == nil {
			n += v
		}
	}
	return n
}

// Comm returns the command name of pid (/proc/<pid>/comm).
func Comm(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(data)), err
}

// SysCPU is the machine-wide CPU time from the first line of /proc/stat,
// in ticks.
type SysCPU struct {
	Busy, Total uint64
	// Steal is the time the hypervisor ran something else while this
	// machine wanted to run (counted in Busy too).
	Steal uint64
}

// ReadSysCPU reads the aggregate "cpu" line of /proc/stat.
func ReadSysCPU() (SysCPU, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return SysCPU{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	c, err := parseSysCPU(line)
	if err != nil {
		return c, fmt.Errorf("/proc/stat: %w", err)
	}
	return c, nil
}

// parseSysCPU parses "cpu  user nice system idle iowait irq softirq steal
// guest guest_nice"; idle and iowait count as not busy, guest time is
// already included in user and nice.
func parseSysCPU(line string) (SysCPU, error) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return SysCPU{}, fmt.Errorf("first line %q is not the aggregate cpu line", line)
	}
	var c SysCPU
	for k, s := range f[1:] {
		if k >= 8 { // guest, guest_nice: counted in user, nice
			break
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return SysCPU{}, fmt.Errorf("cpu field %d %q: %w", k+1, s, err)
		}
		c.Total += n
		if k != 3 && k != 4 { // idle, iowait
			c.Busy += n
		}
		if k == 7 {
			c.Steal = n
		}
	}
	return c, nil
}

// StealPercent is the share of all CPUs' time stolen by the hypervisor
// between a and b.
func StealPercent(a, b SysCPU) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return 100 * float64(b.Steal-min(a.Steal, b.Steal)) / float64(b.Total-a.Total)
}

// BusyPercent is the share of all CPUs busy between a and b.
func BusyPercent(a, b SysCPU) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return 100 * float64(b.Busy-a.Busy) / float64(b.Total-a.Total)
}

// LoadAvg returns the first three fields of /proc/loadavg, e.g.
// "0.52 0.61 0.70", or the error text.
func LoadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown: " + err.Error()
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return strings.TrimSpace(string(data))
	}
	return strings.Join(f[:3], " ")
}
