package main

import (
	"syscall"
	"time"
)

// meter times the engine's calls. Reading the clock costs some tens of
// nanoseconds, a noticeable share of a call that takes a few hundred:
// the cost of an empty measurement is measured once and subtracted.
type meter struct{ overhead time.Duration }

func newMeter() meter {
	const n = 100000
	t0 := time.Now()
	var sink time.Duration
	for range n {
		sink += time.Since(time.Now())
	}
	_ = sink
	return meter{overhead: time.Since(t0) / n}
}

func (m meter) since(t0 time.Time) time.Duration {
	return max(time.Since(t0)-m.overhead, 0)
}

// threadCPU is the CPU time of the calling OS thread (the simulator runs
// on one, locked): wall-clock timings of the engine's calls include the
// time other processes of a busy machine ran instead; scaled by this
// thread's CPU time over the wall time of the same span, they do not.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is RUSAGE_THREAD (Linux).
const rusageThread = 1

// span measures the share of wall time the simulator's thread was on a
// CPU.
type span struct {
	wall time.Time
	cpu  time.Duration
}

func startSpan() span { return span{wall: time.Now(), cpu: threadCPU()} }

// onCPU is the fraction of the span's wall time the thread ran (1 on an
// idle machine).
func (s span) onCPU() float64 {
	wall := time.Since(s.wall)
	if wall <= 0 {
		return 1
	}
	return min(float64(threadCPU()-s.cpu)/float64(wall), 1)
}
