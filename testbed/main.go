package testbed

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
)

// Exit codes returned by Main.
const (
	ExitOK      = 0 // f returned normally
	ExitFailed  = 1 // f called Fatalf or panicked
	ExitSkipped = 2 // f called Skipf
	// On SIGINT or SIGTERM Main returns 128 + the signal number (130, 143).
)

// Main runs f with a T for programs that are not tests (make demo,
// benchmarks, TestMain). Logf writes to stderr. Fatalf and Skipf end f the
// way they end a test (runtime.Goexit). When f ends, or on SIGINT/SIGTERM,
// every function registered with T.Cleanup runs, last registered first,
// even after a panic; a cleanup that panics or calls Fatalf is reported and
// the others still run. Further signals during cleanup are ignored (each
// bed cleanup step is bounded in time). Main returns the exit code for
// os.Exit: ExitOK, ExitFailed, ExitSkipped, or 128+signal. On a signal f's
// goroutine may still be running when Main returns; exit promptly.
func Main(f func(t T)) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return runMain(f, os.Stderr, sigs)
}

// runMain is Main with its output and signal source injected.
func runMain(f func(t T), out io.Writer, sigs <-chan os.Signal) int {
	m := &mainT{out: out}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				m.setFailed()
				m.Logf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		f(m)
	}()

	code := ExitOK
	select {
	case <-done:
		switch {
		case m.Failed():
			code = ExitFailed
		case m.Skipped():
			code = ExitSkipped
		}
	case s := <-sigs:
		m.setFailed()
		m.Logf("testbed: got %v, cleaning up", s)
		code = 128
		if n, ok := s.(syscall.Signal); ok {
			code += int(n)
		}
	}
	m.runCleanups()
	return code
}

// mainT is the T given to Main's function.
type mainT struct {
	out io.Writer

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	skipped  bool
	finished bool // cleanups have started
}

func (m *mainT) Helper() {}

func (m *mainT) Logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.out, "%s %s\n", time.Now().Format("15:04:05.000"), msg)
}

func (m *mainT) Fatalf(format string, args ...any) {
	m.setFailed()
	m.Logf("FATAL: "+format, args...)
	runtime.Goexit()
}

func (m *mainT) Skipf(format string, args ...any) {
	m.mu.Lock()
	m.skipped = true
	m.mu.Unlock()
	m.Logf("SKIP: "+format, args...)
	runtime.Goexit()
}

func (m *mainT) Cleanup(f func()) {
	m.mu.Lock()
	late := m.finished
	if !late {
		m.cleanups = append(m.cleanups, f)
	}
	m.mu.Unlock()
	if late {
		m.Logf("testbed: Cleanup registered after cleanup started; it will not run")
	}
}

func (m *mainT) Failed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed
}

// Skipped reports whether Skipf was called.
func (m *mainT) Skipped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.skipped
}

func (m *mainT) setFailed() {
	m.mu.Lock()
	m.failed = true
	m.mu.Unlock()
}

// runCleanups runs the registered cleanups LIFO, each in its own goroutine
// so that one calling Fatalf (Goexit) or panicking cannot stop the rest.
func (m *mainT) runCleanups() {
	m.mu.Lock()
	m.finished = true
	m.mu.Unlock()
	for {
		m.mu.Lock()
		n := len(m.cleanups)
		if n == 0 {
			m.mu.Unlock()
			return
		}
		f := m.cleanups[n-1]
		m.cleanups = m.cleanups[:n-1]
		m.mu.Unlock()

		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() {
				if r := recover(); r != nil {
					m.setFailed()
					m.Logf("panic in cleanup: %v\n%s", r, debug.Stack())
				}
			}()
			f()
		}()
		<-done
	}
}
