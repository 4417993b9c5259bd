package main

import (
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tether-ha/tether/testbed"
)

// watcherNice is the nice value the benchmark runs at once the agents are
// started (they keep the default, 0). On a bed that saturates the machine
// (64 agents flapping on two cores: load average near 100) a process at
// nice 0 gets a few per cent of a core, and reading the logs and the odd
// status took the benchmark tens of minutes; the watcher does little
// work, so running it first costs the agents next to nothing when the bed
// is healthy and lets the run end when it is not.
const watcherNice = -10

// raisePriority sets every thread of this process to watcherNice, now and
// every second (the Go runtime starts threads later; a thread inherits the
// nice value of the one that made it, but not always from one already
// raised). Processes started afterwards (ip, nft) inherit it; start the
// agents before. The returned function stops the re-application.
func raisePriority(t testbed.T) (stop func()) {
	apply := func() error {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, watcherNice); err != nil && err != unix.ESRCH {
				return err
			}
		}
		return nil
	}
	if err := apply(); err != nil {
		t.Logf("priority: cannot run at nice %d (%v): on a saturated bed the run may take long", watcherNice, err)
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = apply()
			}
		}
	}()
	return func() { close(done) }
}
