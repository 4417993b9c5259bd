package testbed

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestMainFatalfAbortsAndCleansUpLIFO(t *testing.T) {
	var order []string
	var out bytes.Buffer
	reached := false
	code := runMain(func(mt T) {
		mt.Cleanup(func() { order = append(order, "first") })
		mt.Cleanup(func() { order = append(order, "second") })
		mt.Fatalf("boom %d", 42)
		reached = true
	}, &out, nil)
	if code != ExitFailed {
		t.Errorf("exit code = %d, want %d", code, ExitFailed)
	}
	if reached {
		t.Error("code after Fatalf ran")
	}
	if got := strings.Join(order, ","); got != "second,first" {
		t.Errorf("cleanup order = %q, want second,first", got)
	}
	if !strings.Contains(out.String(), "FATAL: boom 42") {
		t.Errorf("output lacks the Fatalf message:\n%s", out.String())
	}
}

func TestMainOKAndSkip(t *testing.T) {
	var out bytes.Buffer
	ran := false
	if code := runMain(func(mt T) { mt.Cleanup(func() { ran = true }); mt.Logf("hello") }, &out, nil); code != ExitOK {
		t.Errorf("exit code = %d, want %d", code, ExitOK)
	}
	if !ran || !strings.Contains(out.String(), "hello") {
		t.Errorf("cleanup ran=%v, output %q", ran, out.String())
	}
	out.Reset()
	if code := runMain(func(mt T) { mt.Skipf("no root") }, &out, nil); code != ExitSkipped {
		t.Errorf("skip exit code = %d, want %d", code, ExitSkipped)
	}
	if !strings.Contains(out.String(), "SKIP: no root") {
		t.Errorf("output lacks the skip message: %q", out.String())
	}
}

func TestMainPanicRunsCleanups(t *testing.T) {
	var order []string
	var out bytes.Buffer
	code := runMain(func(mt T) {
		mt.Cleanup(func() { order = append(order, "a") })
		mt.Cleanup(func() { panic("cleanup panic") })
		mt.Cleanup(func() { order = append(order, "c"); mt.Fatalf("cleanup fatal") })
		panic("test panic")
	}, &out, nil)
	if code != ExitFailed {
		t.Errorf("exit code = %d, want %d", code, ExitFailed)
	}
	if got := strings.Join(order, ","); got != "c,a" {
		t.Errorf("cleanups run = %q, want c,a (a cleanup that fails must not stop the others)", got)
	}
	for _, want := range []string{"panic: test panic", "panic in cleanup: cleanup panic", "FATAL: cleanup fatal"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMainSignalRunsCleanups(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	cleaned := false
	var out bytes.Buffer
	go func() {
		<-started
		sigs <- syscall.SIGTERM
	}()
	code := runMain(func(mt T) {
		mt.Cleanup(func() { cleaned = true })
		close(started)
		<-release // a long-running f, interrupted by the signal
	}, &out, sigs)
	if code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code = %d, want %d", code, 128+int(syscall.SIGTERM))
	}
	if !cleaned {
		t.Error("cleanup did not run on SIGTERM")
	}
}
