package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tether-ha/tether/testbed"
)

// burnFlag makes this program a CPU burner (the soak's fallback when
// stress-ng is not installed).
const burnFlag = "burn-cpu"

// burner is a running CPU burner: a child process in its own process
// group.
type burner struct {
	desc string
	stop func()
}

// startBurner keeps every CPU busy at nice 0 (the agents' priority):
// `stress-ng --cpu 0` when installed, else this program with -burn-cpu N.
// stop, also registered as a cleanup of t, ends it.
func startBurner(t testbed.T) (burner, error) {
	n := runtime.NumCPU()
	var cmd *exec.Cmd
	if path, err := exec.LookPath("stress-ng"); err == nil {
		cmd = exec.Command(path, "--cpu", "0", "--quiet")
	} else {
		self, err := os.Executable()
		if err != nil {
			return burner{}, fmt.Errorf("cpu burner: neither stress-ng nor this program's path (%v)", err)
		}
		cmd = exec.Command(self, "-"+burnFlag, strconv.Itoa(n))
	}
	desc := strings.Join(cmd.Args, " ") + fmt.Sprintf(" (%d CPUs)", n)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return burner{}, fmt.Errorf("cpu burner %s: %w", desc, err)
	}
	done := make(chan struct{})
	go func() { // owned by stop: it waits for this
		_ = cmd.Wait()
		close(done)
	}()
	// Setpgid: the group id is the child's pid, reserved until the child
	// is reaped (done), so signals to -pgid before then reach only it and
	// its workers. stress-ng reaps its workers before it exits.
	pgid := cmd.Process.Pid
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-done
			}
		})
	}
	t.Cleanup(stop)
	return burner{desc: desc, stop: stop}, nil
}

// burn spins n goroutines until SIGTERM or SIGINT.
func burn(n int) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	runtime.GOMAXPROCS(n)
	var wg sync.WaitGroup
	sums := make([]uint64, n)
	for k := range n {
		wg.Go(func() {
			x := uint64(k) + 1
			for ctx.Err() == nil {
				for range 1 << 20 { // xorshift: work the compiler cannot drop
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
				}
			}
			sums[k] = x
		})
	}
	wg.Wait()
	_ = sums
}
