package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"golang.org/x/sys/unix"
)

const (
	// maxOutput bounds what a run keeps of stdout and of stderr each.
	maxOutput = 64 << 10
	// drainGrace bounds the wait for the output pipes to close once the
	// hook's group is dead: only a process that left the group (setsid)
	// can still hold them, and it must not hold the driver.
	drainGrace = time.Second
	// errLines is how many of stderr's last lines an error quotes, and
	// errBytes how much of them at most.
	errLines = 5
	errBytes = 1024
)

// errHookTimeout is a run's context's cause when the hook's own timeout,
// not the caller's context, ended it.
var errHookTimeout = errors.New("hook timeout")

// hook is one run of one hook.
type hook struct {
	name    string // the action: status, promote, ...
	argv    []string
	env     []string // the whole environment
	dir     string
	timeout time.Duration
}

// output is what a run left.
type output struct {
	stdout        []byte // the first maxOutput bytes
	stdoutDropped int64
	stderr        []byte // the last maxOutput bytes: errors are at the end
	stderrDropped int64
	code          int // exit code; -1 if the hook did not exit by itself
}

// exitError is a hook that exited non-zero or died of a signal it was not
// sent by the driver.
type exitError struct {
	hook   string
	code   int            // -1 for a signal
	signal syscall.Signal // when code is -1
	stderr []byte
}

func (e *exitError) Error() string {
	if e.code < 0 {
		return fmt.Sprintf("hook %s killed by signal %v%s", e.hook, e.signal, stderrSuffix(e.stderr))
	}
	return fmt.Sprintf("hook %s exited with code %d%s", e.hook, e.code, stderrSuffix(e.stderr))
}

// timeoutError is a hook that its own timeout killed. It unwraps to
// context.DeadlineExceeded, as a deadline it is.
type timeoutError struct {
	hook   string
	after  time.Duration
	stderr []byte
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("hook %s timed out after %v%s", e.hook, e.after, stderrSuffix(e.stderr))
}

func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

// run runs h once: in its own process group, stdin /dev/null, bounded by
// h.timeout and ctx. It returns only once the hook is reaped and its group
// killed, whatever happened.
func run(ctx context.Context, h hook) (output, error) {
	out := output{code: -1}
	if err := context.Cause(ctx); err != nil {
		return out, fmt.Errorf("hook %s not run: %w", h.name, err)
	}
	// The pipes are ours rather than os/exec's so that Wait returns when
	// the hook exits, not when the last holder of its stdout does: the
	// group is killed in between.
	outR, outW, err := os.Pipe()
	if err != nil {
		return out, fmt.Errorf("hook %s: %w", h.name, err)
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return out, fmt.Errorf("hook %s: %w", h.name, err)
	}
	defer errR.Close()

	cmd := osexec.Command(h.argv[0], h.argv[1:]...)
	cmd.Env = h.env
	cmd.Dir = h.dir
	cmd.Stdin = nil // os/exec opens /dev/null
	cmd.Stdout = outW
	cmd.Stderr = errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return out, fmt.Errorf("hook %s: %w", h.name, err)
	}
	pid := cmd.Process.Pid // also the group's id (Setpgid)

	var stdout headBuf
	var stderr tailBuf
	var drained sync.WaitGroup
	drained.Go(func() { drain(outR, stdout.write) })
	drained.Go(func() { drain(errR, stderr.write) })

	exited := make(chan struct{})
	go func() {
		waitExited(pid)
		close(exited)
	}()

	rctx, cancel := context.WithTimeoutCause(ctx, h.timeout, errHookTimeout)
	defer cancel()
	select {
	case <-exited:
	case <-rctx.Done():
	}
	// Kill the group before reaping its leader: while the leader is an
	// unreaped zombie its pid, the group's id, cannot be reused, so this
	// reaches the hook's processes and no one else's. After a clean exit
	// it kills what the hook left behind.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-exited
	waitErr := cmd.Wait()

	// The group is dead, so the pipes close unless a process escaped it.
	done := make(chan struct{})
	go func() {
		drained.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drainGrace):
		past := time.Unix(1, 0)
		_ = outR.SetReadDeadline(past)
		_ = errR.SetReadDeadline(past)
		<-done
	}
	out.stdout, out.stdoutDropped = stdout.b, stdout.dropped
	out.stderr, out.stderrDropped = stderr.bytes()

	if cmd.ProcessState == nil {
		return out, fmt.Errorf("hook %s: %v", h.name, waitErr)
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Exited():
		out.code = ws.ExitStatus()
		if out.code == 0 {
			return out, nil
		}
		return out, &exitError{hook: h.name, code: out.code, stderr: out.stderr}
	case rctx.Err() != nil && ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		// Ours, most likely; a hook that SIGKILLs itself just as its
		// time runs out is reported as timed out, which it nearly was.
		if cause := context.Cause(rctx); cause != errHookTimeout {
			return out, fmt.Errorf("hook %s stopped: %w", h.name, cause)
		}
		return out, &timeoutError{hook: h.name, after: h.timeout, stderr: out.stderr}
	case ws.Signaled():
		return out, &exitError{hook: h.name, code: -1, signal: ws.Signal(), stderr: out.stderr}
	}
	return out, fmt.Errorf("hook %s: %v", h.name, waitErr)
}

// waitExited returns once process pid has exited, leaving it unreaped.
func waitExited(pid int) {
	for {
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
			return
		}
	}
}

func drain(f *os.File, write func([]byte)) {
	buf := make([]byte, 32<<10)
	for {
		n, err := f.Read(buf)
		write(buf[:n])
		if err != nil {
			return
		}
	}
}

// headBuf keeps the first maxOutput bytes written and counts the rest.
type headBuf struct {
	b       []byte
	dropped int64
}

func (h *headBuf) write(p []byte) {
	n := min(len(p), maxOutput-len(h.b))
	h.b = append(h.b, p[:n]...)
	h.dropped += int64(len(p) - n)
}

// tailBuf keeps the last maxOutput bytes written and counts the rest.
type tailBuf struct {
	b     []byte
	total int64
}

func (t *tailBuf) write(p []byte) {
	t.total += int64(len(p))
	t.b = append(t.b, p...)
	if len(t.b) > 2*maxOutput { // trim now and then, not on every write
		t.b = append(t.b[:0], t.b[len(t.b)-maxOutput:]...)
	}
}

func (t *tailBuf) bytes() ([]byte, int64) {
	b := t.b
	if len(b) > maxOutput {
		b = b[len(b)-maxOutput:]
	}
	return b, t.total - int64(len(b))
}

// lines returns b's non-blank lines, trimmed and made printable.
func lines(b []byte) []string {
	var ls []string
	for l := range strings.Lines(string(b)) {
		l = strings.TrimSpace(strings.Map(printable, strings.ToValidUTF8(l, "\uFFFD")))
		if l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

func printable(r rune) rune {
	if unicode.IsControl(r) {
		return ' '
	}
	return r
}

// firstLine and lastLine return b's first and last non-blank line, or "".
func firstLine(b []byte) string {
	if ls := lines(b); len(ls) > 0 {
		return ls[0]
	}
	return ""
}

func lastLine(b []byte) string {
	if ls := lines(b); len(ls) > 0 {
		return ls[len(ls)-1]
	}
	return ""
}

// stderrSuffix quotes stderr's last lines, at most errBytes of them, for
// an error message.
func stderrSuffix(stderr []byte) string {
	ls := lines(stderr)
	ls = ls[max(0, len(ls)-errLines):]
	s := strings.Join(ls, "; ")
	if len(s) > errBytes {
		s = "…" + strings.ToValidUTF8(s[len(s)-errBytes:], "")
	}
	if s == "" {
		return ""
	}
	return ": " + s
}
