package exec

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// Orphans of the hooks' groups become this process's children, so a
	// test can wait for one and see how it died instead of polling /proc.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// script is the argv that runs testdata/name.
func script(t *testing.T, name string) []string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []string{"/bin/sh", p}
}

// fakeConfig is a Config whose every hook is testdata/fake.sh, keeping its
// state in the returned directory.
func fakeConfig(t *testing.T) (Config, string) {
	dir := t.TempDir()
	sh := script(t, "fake.sh")
	return Config{
		Resource: "r0",
		Self:     "a",
		Status:   sh, Promote: sh, Fence: sh, Unfence: sh, Follow: sh,
		Timeout: 10 * time.Second,
		Env:     []string{"FAKE_DIR=" + dir},
	}, dir
}

func newDriver(t *testing.T, cfg Config) *Driver {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// seen is the env.ACTION file fake.sh wrote: its lines by key.
func seen(t *testing.T, dir, action string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for l := range strings.Lines(readFile(t, dir, "env."+action)) {
		if k, v, ok := strings.Cut(strings.TrimSuffix(l, "\n"), "="); ok {
			m[k] = v
		}
	}
	return m
}

// readyFifo makes the fifo hang.sh says "ready" on, and returns a channel
// closed once it has.
func readyFifo(t *testing.T, dir string) <-chan struct{} {
	t.Helper()
	p := filepath.Join(dir, "ready")
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	// O_RDWR: the open does not wait for a writer.
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ready := make(chan struct{})
	go func() {
		if n, _ := f.Read(make([]byte, 16)); n > 0 {
			close(ready)
		}
	}()
	return ready
}

func readPid(t *testing.T, dir, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("the hook had not written %s before it was killed: %v", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// assertHangKilled checks that hang.sh's leader is reaped and its child
// was killed by SIGKILL: the child, orphaned, is this process's (TestMain),
// so waiting for it shows how it died. The driver has returned, so it is
// dead or dying; the deadline only turns a bug into a failure.
func assertHangKilled(t *testing.T, dir string) {
	t.Helper()
	leader, child := readPid(t, dir, "leader.pid"), readPid(t, dir, "child.pid")
	if err := syscall.Kill(leader, 0); err != syscall.ESRCH {
		t.Errorf("hook leader %d still exists after the driver returned (kill 0: %v)", leader, err)
	}
	type result struct {
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for {
			_, r.err = syscall.Wait4(child, &r.ws, 0, nil)
			if r.err != syscall.EINTR {
				break
			}
		}
		done <- r
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("wait for the hook's child %d: %v", child, r.err)
		}
		if !r.ws.Signaled() || r.ws.Signal() != syscall.SIGKILL {
			t.Errorf("hook's child %d ended with %v, want SIGKILL", child, r.ws)
		}
	case <-time.After(5 * time.Second):
		syscall.Kill(child, syscall.SIGKILL)
		t.Fatalf("hook's child %d still alive 5s after the driver returned", child)
	}
}
