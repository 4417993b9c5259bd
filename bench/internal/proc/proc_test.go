package proc

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStatTicksOddCommandName(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	line := "4242 (te) ther d) S 1 4242 4242 0 -1 4194560 1234 0 0 0 731 269 0 0 20 0 9 0 11250 1261568000 3020 18446744073709551615\n"
	ticks, majflt, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if ticks != 731+269 || majflt != 0 {
		t.Fatalf("parseStat = %d, %d; want %d (utime 731 + stime 269), majflt 0", ticks, majflt, 731+269)
	}
	if _, majflt, _ := parseStat("1 (x) S 1 1 1 0 -1 0 10 0 7 0 1 2 0 0 20 0 1 0 5"); majflt != 7 {
		t.Fatalf("majflt = %d, want field 12 (7)", majflt)
	}
	if _, _, err := parseStat("4242 (tetherd) S 1 2 3"); err == nil {
		t.Fatal("parseStat accepted a line with too few fields")
	}
}

// CPU and SchedCPU must agree with getrusage(2), an independent
// account of the same process's CPU time, over a stretch of real CPU work
// (measured by getrusage itself, so a loaded machine only makes it longer).
func TestProcCPUAgreesWithRusage(t *testing.T) {
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	pid := os.Getpid()
	a, err := CPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := SchedCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	r0 := rusage()
	x := 0
	for rusage()-r0 < 300*time.Millisecond { // burn 300 ms of CPU, however long that takes
		for i := 0; i < 100000; i++ {
			x++
		}
	}
	r := rusage() - r0
	b, err := CPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := SchedCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// /proc/<pid>/stat counts in clock ticks (10 ms here); allow a few.
	if d := b - a; d < r-50*time.Millisecond || d > r+50*time.Millisecond {
		t.Fatalf("CPU grew %v while getrusage grew %v (x=%d)", d, r, x)
	}
	if d := sb - sa; d < r-50*time.Millisecond || d > r+50*time.Millisecond {
		t.Fatalf("SchedCPU grew %v while getrusage grew %v", d, r)
	}
}

func TestParseStatus(t *testing.T) {
	doc := "Name:\ttetherd\nVmHWM:\t   12345 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n"
	got, err := parseStatus(doc)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Mem{RSSKiB: 10240, HWMKiB: 12345, Threads: 7}); got != want {
		t.Fatalf("parseStatus = %+v, want %+v", got, want)
	}
	if _, err := parseStatus("Name:\tkthreadd\nThreads:\t1\n"); err == nil || !strings.Contains(err.Error(), "VmRSS") {
		t.Fatalf("parseStatus without VmRSS: err = %v, want one naming VmRSS", err)
	}
}

func TestParseSysCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	c, err := parseSysCPU("cpu  100 5 50 800 40 3 2 4 70 0")
	if err != nil {
		t.Fatal(err)
	}
	if c.Busy != 164 || c.Total != 1004 || c.Steal != 4 {
		t.Fatalf("parseSysCPU = %+v, want busy 164 of 1004, steal 4 (guest not counted twice)", c)
	}
	if p := StealPercent(SysCPU{Total: 1000, Steal: 4}, SysCPU{Total: 1100, Steal: 9}); p != 5 {
		t.Fatalf("StealPercent = %v, want 5", p)
	}
	if p := BusyPercent(SysCPU{Busy: 100, Total: 1000}, SysCPU{Busy: 250, Total: 1200}); p != 75 {
		t.Fatalf("BusyPercent = %v, want 75", p)
	}
	if _, err := parseSysCPU("cpu0 1 2 3 4 5"); err == nil {
		t.Fatal("parseSysCPU accepted a per-CPU line")
	}
}

func TestParseSwitches(t *testing.T) {
	doc := "Name:\ttetherd\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t3\n"
	if got := parseSwitches(doc); got != 123 {
		t.Fatalf("parseSwitches = %d, want 123", got)
	}
	if n, err := Switches(os.Getpid()); err != nil || n == 0 {
		t.Fatalf("Switches(self) = %d, %v; want > 0 (the test binary has slept)", n, err)
	}
}
