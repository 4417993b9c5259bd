package main

import (
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// child is a process this program started in a network namespace (ip
// netns exec execs the command, so the pid is the command's own).
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it exited
	gone atomic.Bool   // it exited
	once sync.Once
}

// startChild starts `ip netns exec ns args...` with its output to out
// (nil: discarded), in its own process group, killed if this program dies.
func startChild(ns string, out io.Writer, args ...string) (*child, error) {
	c := &child{cmd: exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...), done: make(chan struct{})}
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s in %s: %w", args[0], ns, err)
	}
	go func() {
		_ = c.cmd.Wait()
		c.gone.Store(true)
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool { return c.gone.Load() }

// stop sends sig and waits up to grace for the exit, then kills; once.
// SIGKILL needs no grace.
func (c *child) stop(sig syscall.Signal, grace time.Duration) {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(sig)
		select {
		case <-c.done:
		case <-time.After(grace):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
}

// poll calls try every `every` until it returns nil; it gives up after
// timeout, or when c (if not nil) exits, with what try said last.
func poll(what string, timeout, every time.Duration, c *child, try func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := try()
		switch {
		case err == nil:
			return nil
		case c != nil && c.exited():
			return fmt.Errorf("%s: the process exited: %w", what, err)
		case time.Now().After(deadline):
			return fmt.Errorf("%s: not after %v: %w", what, timeout, err)
		}
		time.Sleep(every)
	}
}

// perSecond walks n samples taken at at(i) and calls emit(prev, i) for
// each that ends about a second after the one emitted before (sample 0
// the first), and for the last.
func perSecond(n int, at func(int) time.Time, emit func(prev, i int)) {
	prev := 0
	for i := 1; i < n; i++ {
		if at(i).Sub(at(prev)) < time.Second && i < n-1 {
			continue
		}
		emit(prev, i)
		prev = i
	}
}
