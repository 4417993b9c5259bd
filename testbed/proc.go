package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stopTimeout is how long Stop and cleanup wait after SIGTERM.
const stopTimeout = 10 * time.Second

// proc is one run of tetherd.
type proc struct {
	cmd  *exec.Cmd
	run  int
	done chan struct{} // closed when the process has exited
	err  error         // exit error; valid once done is closed
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts tetherd in node i's namespace:
//
//	ip netns exec <ns> <BinDir>/tetherd --config <ConfigPath(i)> --log-format json [ExtraArgs...]
//
// with stdout and stderr appended to LogPath(i), after a line
// "### testbed: run <n> of node<i> ..." that Events uses to number runs.
// The process gets SIGKILL if the test process dies (Pdeathsig) and its
// own process group (a terminal's ^C reaches only the test, whose cleanup
// stops it). Start does not wait for the agent to be ready: use WaitFor.
func (b *Bed) Start(i int) {
	b.t.Helper()
	n := b.node(i)
	if b.opt.BinDir == "" {
		b.t.Fatalf("testbed: Start node %d: Options.BinDir is empty (use testbed.Build)", i)
	}
	bin := filepath.Join(b.opt.BinDir, "tetherd")
	if _, err := os.Stat(bin); err != nil {
		b.t.Fatalf("testbed: Start node %d: %v", i, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && !n.proc.exited() {
		b.t.Fatalf("testbed: Start node %d: already running (pid %d)", i, n.proc.cmd.Process.Pid)
	}
	b.mu.Lock()
	closing := b.closing
	b.mu.Unlock()
	if closing {
		b.t.Fatalf("testbed: Start node %d: bed is being cleaned up", i)
	}

	args := append([]string{"netns", "exec", n.ns.name, bin, "--config", b.ConfigPath(i), "--log-format", "json"}, b.opt.ExtraArgs...)
	cmd := exec.Command("ip", args...)
	f, err := os.OpenFile(n.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatalf("testbed: Start node %d: %v", i, err)
	}
	defer f.Close() // the child has its own copy
	run := n.runs + 1
	fmt.Fprintf(f, "%s%d of node%d at %s: ip %s\n", runMarker, run, i, time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("testbed: Start node %d: %v", i, err)
	}
	n.runs = run
	p := &proc{cmd: cmd, run: run, done: make(chan struct{})}
	n.proc = p
	go func() { // owned by the bed: cleanup waits for every process
		p.err = cmd.Wait()
		close(p.done)
	}()
}

// StartAll starts every node.
func (b *Bed) StartAll() {
	b.t.Helper()
	for i := range b.nodes {
		b.Start(i)
	}
}

// Running reports whether node i's tetherd has been started and has not
// exited.
func (b *Bed) Running(i int) bool {
	p := b.proc(i)
	return p != nil && !p.exited()
}

// Stop sends SIGTERM to node i's tetherd and waits up to 10 s for it to
// exit; it returns the exit error (nil for exit status 0). If the process
// is still running after 10 s it is killed and the test fails. Stop on a
// process that already exited returns its exit error; on a node never
// started it fails the test.
func (b *Bed) Stop(i int) (exit error) {
	b.t.Helper()
	p := b.mustProc(i, "Stop")
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // an exit in between is fine
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	b.t.Fatalf("testbed: node %d did not exit within %v of SIGTERM; killed it\n%s", i, stopTimeout, b.tailSection(i))
	return nil
}

// Kill sends SIGKILL to node i's tetherd and waits for it to exit (a
// crash, as seen by the peers). Killing an exited process does nothing.
func (b *Bed) Kill(i int) {
	b.t.Helper()
	p := b.mustProc(i, "Kill")
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		b.t.Fatalf("testbed: node %d (pid %d) still running %v after SIGKILL", i, p.cmd.Process.Pid, stopTimeout)
	}
}

// Signal sends s to node i's tetherd without waiting. It fails the test if
// the process is not running.
func (b *Bed) Signal(i int, s syscall.Signal) {
	b.t.Helper()
	p := b.mustProc(i, "Signal")
	if p.exited() {
		b.t.Fatalf("testbed: Signal %v to node %d: not running (exited: %v)", s, i, p.err)
	}
	if err := p.cmd.Process.Signal(s); err != nil {
		b.t.Fatalf("testbed: Signal %v to node %d: %v", s, i, err)
	}
}

// Restart stops node i (if running) like Stop, starts it again, and
// returns the exit error of the stopped run.
func (b *Bed) Restart(i int) (exit error) {
	b.t.Helper()
	if p := b.proc(i); p != nil {
		exit = b.Stop(i)
	}
	b.Start(i)
	return exit
}

// WaitExit waits up to timeout for node i's tetherd to exit by itself and
// returns its exit error (nil for status 0); on timeout the test fails.
// Use it for runs expected to end, e.g. with a bad config.
func (b *Bed) WaitExit(i int, timeout time.Duration) (exit error) {
	b.t.Helper()
	p := b.mustProc(i, "WaitExit")
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		b.t.Fatalf("testbed: node %d still running after %v\n%s", i, timeout, b.tailSection(i))
		return nil
	}
}

func (b *Bed) proc(i int) *proc {
	n := b.node(i)
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

func (b *Bed) mustProc(i int, op string) *proc {
	b.t.Helper()
	p := b.proc(i)
	if p == nil {
		b.t.Fatalf("testbed: %s node %d: never started", op, i)
	}
	return p
}

// stopAll stops every running process: SIGTERM to all, a shared 10 s
// grace, then SIGKILL. Used by cleanup; problems are logged.
func (b *Bed) stopAll() {
	var running []*proc
	var idx []int
	for i, n := range b.nodes {
		n.mu.Lock()
		p := n.proc
		n.mu.Unlock()
		if p != nil && !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			running = append(running, p)
			idx = append(idx, i)
		}
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	expired := false
	for k, p := range running {
		if !expired {
			select {
			case <-p.done:
				continue
			case <-timer.C:
				expired = true
			}
		}
		if p.exited() {
			continue
		}
		b.t.Logf("testbed: cleanup: node %d did not exit within %v of SIGTERM; killing it", idx[k], stopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
