package exec

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-ha/tether/replicator/driver"
)

func TestStatusRoles(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		role, following string
		want            driver.Status
	}{
		{"primary", "", driver.Status{Role: driver.RolePrimary, Detail: "fake primary"}},
		{"fenced", "", driver.Status{Role: driver.RoleFenced, Detail: "fake fenced"}},
		{"down", "", driver.Status{Role: driver.RoleDown, Detail: "fake down"}},
		{"replica", "b", driver.Status{Role: driver.RoleReplica, Following: "b", LinkUp: true, Lag: 12, LagAt: at, Offset: 7, Detail: "following"}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			t.Parallel()
			cfg, dir := fakeConfig(t)
			writeFile(t, dir, "role", tc.role+"\n")
			if tc.following != "" {
				writeFile(t, dir, "following", tc.following+"\n")
			}
			st, err := newDriver(t, cfg).Status(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, st); d != "" {
				t.Errorf("Status (-want +got):\n%s", d)
			}
		})
	}
}

// Each method changes the fake back end's state and the next Status
// reads it back.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	cfg, dir := fakeConfig(t)
	d := newDriver(t, cfg)
	ctx := t.Context()
	expect := func(step string, role driver.Role, following string) {
		t.Helper()
		st, err := d.Status(ctx)
		if err != nil {
			t.Fatalf("%s: Status: %v", step, err)
		}
		if st.Role != role || st.Following != following {
			t.Fatalf("%s: Status = %s following %q, want %s following %q", step, st.Role, st.Following, role, following)
		}
	}
	expect("start", driver.RoleDown, "")
	steps := []struct {
		name      string
		do        func() error
		role      driver.Role
		following string
	}{
		{"promote", func() error { return d.Promote(ctx) }, driver.RolePrimary, ""},
		{"promote again", func() error { return d.Promote(ctx) }, driver.RolePrimary, ""},
		{"fence", func() error { return d.Fence(ctx, "quorum lost: b silent") }, driver.RoleFenced, ""},
		{"unfence", func() error { return d.Unfence(ctx) }, driver.RolePrimary, ""},
		{"fence again", func() error { return d.Fence(ctx, "again") }, driver.RoleFenced, ""},
		{"follow", func() error { return d.Follow(ctx, "b") }, driver.RoleReplica, "b"},
		{"follow again", func() error { return d.Follow(ctx, "b") }, driver.RoleReplica, "b"},
		{"promote replica", func() error { return d.Promote(ctx) }, driver.RolePrimary, ""},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		expect(s.name, s.role, s.following)
		if s.name == "fence" {
			if got := readFile(t, dir, "reason"); got != "quorum lost: b silent\n" {
				t.Errorf("fence reason = %q", got)
			}
		}
	}
}

func TestEnvironment(t *testing.T) {
	// Inherited TETHER_ variables must not reach hooks: not parallel, as
	// it sets the process's environment.
	t.Setenv("TETHER_PRIMARY", "bogus")
	t.Setenv("TETHER_SOMETHING", "x")
	cfg, dir := fakeConfig(t)
	cfg.Env = append(cfg.Env, "FAKE_EXTRA=hello world")
	cfg.Dir = t.TempDir()
	cfg.Status = append(cfg.Status, "--flag", "two words")
	d := newDriver(t, cfg)
	ctx := t.Context()
	if _, err := d.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Fence(ctx, "why: lost\x00quorum"); err != nil {
		t.Fatal(err)
	}
	if err := d.Follow(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action string
		tether map[string]string
	}{
		{"status", map[string]string{"TETHER_RESOURCE": "r0", "TETHER_NODE": "a", "TETHER_ACTION": "status"}},
		{"fence", map[string]string{"TETHER_RESOURCE": "r0", "TETHER_NODE": "a", "TETHER_ACTION": "fence", "TETHER_REASON": "why: lostquorum"}},
		{"follow", map[string]string{"TETHER_RESOURCE": "r0", "TETHER_NODE": "a", "TETHER_ACTION": "follow", "TETHER_PRIMARY": "b"}},
	} {
		got := seen(t, dir, tc.action)
		tether := map[string]string{}
		for k, v := range got {
			if strings.HasPrefix(k, "TETHER_") {
				tether[k] = v
			}
		}
		if d := cmp.Diff(tc.tether, tether); d != "" {
			t.Errorf("%s: TETHER_ variables (-want +got):\n%s", tc.action, d)
		}
		if got["extra"] != "hello world" {
			t.Errorf("%s: FAKE_EXTRA = %q, want Config.Env's", tc.action, got["extra"])
		}
		if got["pwd"] != cfg.Dir {
			t.Errorf("%s: working directory %q, want %q", tc.action, got["pwd"], cfg.Dir)
		}
		if got["stdin"] != os.DevNull {
			t.Errorf("%s: stdin is %q, want %s", tc.action, got["stdin"], os.DevNull)
		}
		if got["pgrp"] != got["pid"] {
			t.Errorf("%s: hook in process group %s, want its own (%s)", tc.action, got["pgrp"], got["pid"])
		}
	}
	if got := seen(t, dir, "status")["args"]; got != "--flag two words" {
		t.Errorf("status hook args = %q", got)
	}
}

func TestFollowDiverged(t *testing.T) {
	t.Parallel()
	cfg, dir := fakeConfig(t)
	writeFile(t, dir, "role", "primary")
	writeFile(t, dir, "diverged", "")
	d := newDriver(t, cfg)
	err := d.Follow(t.Context(), "b")
	de, ok := errors.AsType[*driver.DivergedError](err)
	if !ok {
		t.Fatalf("Follow = %v, want a *driver.DivergedError", err)
	}
	want := driver.DivergedError{Why: "local history diverged from b's", Command: "fake-resync --discard-my-data r0"}
	if *de != want {
		t.Errorf("Follow = %#v, want %#v", *de, want)
	}
	if st, err := d.Status(t.Context()); err != nil || st.Role != driver.RoleFenced {
		t.Errorf("after a diverged follow, Status = %v, %v; want fenced", st.Role, err)
	}

	// Exit 3 with nothing said still diverges, with a Why.
	cfg.Follow = []string{"/bin/sh", "-c", "exit 3"}
	err = newDriver(t, cfg).Follow(t.Context(), "b")
	if de, ok := errors.AsType[*driver.DivergedError](err); !ok || de.Command != "" || !strings.Contains(de.Why, "code 3") {
		t.Errorf("silent exit 3: Follow = %#v", err)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	cfg, dir := fakeConfig(t)
	d := newDriver(t, cfg)
	ctx := t.Context()
	for _, tc := range []struct {
		action, code string
		call         func() error
	}{
		{"promote", "4", func() error { return d.Promote(ctx) }},
		{"promote", "3", func() error { return d.Promote(ctx) }}, // 3 means diverged for follow only
		{"fence", "5", func() error { return d.Fence(ctx, "r") }},
		{"unfence", "6", func() error { return d.Unfence(ctx) }},
		{"follow", "4", func() error { return d.Follow(ctx, "b") }},
		{"status", "1", func() error { _, err := d.Status(ctx); return err }},
	} {
		writeFile(t, dir, "fail."+tc.action, tc.code)
		err := tc.call()
		os.Remove(filepath.Join(dir, "fail."+tc.action))
		want := "hook " + tc.action + " exited with code " + tc.code + ": first complaint; backend refused " + tc.action
		if err == nil || err.Error() != want {
			t.Errorf("%s exiting %s: error %v, want %q", tc.action, tc.code, err, want)
		}
		if _, ok := errors.AsType[*driver.DivergedError](err); ok {
			t.Errorf("%s exiting %s: a DivergedError", tc.action, tc.code)
		}
	}

	// A failing status hook reads as down, saying why.
	writeFile(t, dir, "role", "primary")
	writeFile(t, dir, "fail.status", "2")
	st, err := d.Status(ctx)
	if err == nil || st.Role != driver.RoleDown || st.Detail != err.Error() {
		t.Errorf("failing status: %+v, %v; want down with the error as detail", st, err)
	}

	cfg.Promote = []string{"/bin/sh", "-c", "echo dying >&2; kill -TERM $$"}
	err = newDriver(t, cfg).Promote(ctx)
	if want := "hook promote killed by signal terminated: dying"; err == nil || err.Error() != want {
		t.Errorf("hook killed by a signal: %v, want %q", err, want)
	}
}

func TestBadStatusOutput(t *testing.T) {
	t.Parallel()
	cfg, dir := fakeConfig(t)
	d := newDriver(t, cfg)
	for out, want := range map[string]string{
		"":                                "no output",
		" \n":                             "no output",
		`{"role":"primary"} {}`:           "trailing data",
		`{"role":"leader"}`:               `"leader" is not primary`,
		`{"role":"primary","Lag":1}`:      `"Lag": unknown key`,
		`{"detail":"x"}`:                  "role is required",
		`{"role":"replica","lag":-1}`:     `"lag"`,
		`{"role":"replica","lag_at":"x"}`: "RFC 3339",
	} {
		writeFile(t, dir, "status.json", out)
		st, err := d.Status(t.Context())
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "hook status printed bad output: ") {
			t.Errorf("status printing %q: error %v, want one with %q", out, err, want)
		}
		if st.Role != driver.RoleDown || st.Detail != err.Error() {
			t.Errorf("status printing %q: %+v, want down with the error as detail", out, st)
		}
	}
}

func TestTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	cfg, _ := fakeConfig(t)
	dir := t.TempDir()
	cfg.Fence = script(t, "hang.sh")
	cfg.Env = append(cfg.Env, "HANG_DIR="+dir)
	cfg.Timeout = time.Second
	d := newDriver(t, cfg)
	start := time.Now()
	err := d.Fence(t.Context(), "test")
	took := time.Since(start)
	if err == nil || err.Error() != "hook fence timed out after 1s" || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fence = %v, want \"hook fence timed out after 1s\"", err)
	}
	if took < time.Second || took > 6*time.Second {
		t.Errorf("Fence took %v, want just over its 1s timeout", took)
	}
	assertHangKilled(t, dir)
}

func TestContextCancelKillsGroup(t *testing.T) {
	t.Parallel()
	cfg, _ := fakeConfig(t)
	dir := t.TempDir()
	cfg.Promote = script(t, "hang.sh")
	cfg.Env = append(cfg.Env, "HANG_DIR="+dir)
	ready := readyFifo(t, dir)
	d := newDriver(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-ready
		cancel()
	}()
	err := d.Promote(ctx)
	if err == nil || err.Error() != "hook promote stopped: context canceled" || !errors.Is(err, context.Canceled) {
		t.Errorf("Promote = %v, want it stopped by the cancel", err)
	}
	assertHangKilled(t, dir)
}

func TestCloseKillsRunningHook(t *testing.T) {
	t.Parallel()
	cfg, fakeDir := fakeConfig(t)
	dir := t.TempDir()
	cfg.Status = script(t, "hang.sh")
	cfg.Env = append(cfg.Env, "HANG_DIR="+dir)
	ready := readyFifo(t, dir)
	d := newDriver(t, cfg)
	closed := make(chan error, 1)
	go func() {
		<-ready
		closed <- d.Close()
	}()
	st, err := d.Status(t.Context())
	if !errors.Is(err, ErrClosed) || st.Role != driver.RoleDown {
		t.Errorf("Status during Close = %v, %v; want down, ErrClosed", st.Role, err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close = %v", err)
	}
	assertHangKilled(t, dir)
	if err := d.Promote(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Promote after Close = %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(fakeDir, "env.promote")); err == nil {
		t.Error("Promote after Close ran its hook")
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestNotRun(t *testing.T) {
	t.Parallel()
	cfg, dir := fakeConfig(t)
	d := newDriver(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.Promote(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Promote with a done context = %v", err)
	}
	for _, p := range []string{"", "a", "b\x00"} {
		if err := d.Follow(t.Context(), p); err == nil {
			t.Errorf("Follow(%q) = nil", p)
		}
	}
	for _, a := range []string{"promote", "follow"} {
		if _, err := os.Stat(filepath.Join(dir, "env."+a)); err == nil {
			t.Errorf("the %s hook ran", a)
		}
	}
}

// A process that leaves the hook's group (setsid) and keeps its stdout
// cannot hold the driver past drainGrace.
func TestEscapedProcess(t *testing.T) {
	t.Parallel()
	setsid, err := osexec.LookPath("setsid")
	if err != nil {
		t.Skip("no setsid")
	}
	cfg, _ := fakeConfig(t)
	dir := t.TempDir()
	cfg.Promote = []string{"/bin/sh", "-c", `
		` + setsid + ` sh -c 'echo $$ >"$0/p.tmp"; mv "$0/p.tmp" "$0/escaped.pid"; exec sleep 600' "$D" &
		until [ -f "$D/escaped.pid" ]; do sleep 0.01; done
		echo done`}
	cfg.Env = append(cfg.Env, "D="+dir)
	d := newDriver(t, cfg)
	start := time.Now()
	err = d.Promote(t.Context())
	took := time.Since(start)
	pid := readPid(t, dir, "escaped.pid")
	defer func() {
		syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil) // ours: TestMain's subreaper
	}()
	if err != nil {
		t.Errorf("Promote = %v", err)
	}
	if took > drainGrace+5*time.Second {
		t.Errorf("Promote took %v with an escaped process holding its stdout", took)
	}
}

func TestOutputBounded(t *testing.T) {
	t.Parallel()
	out, err := run(t.Context(), hook{name: "promote", argv: script(t, "flood.sh"), timeout: 10 * time.Second})
	if len(out.stdout) != maxOutput || out.stdoutDropped != 5000000-maxOutput || strings.Trim(string(out.stdout), "o") != "" {
		t.Errorf("stdout: kept %d bytes, dropped %d; want the first %d", len(out.stdout), out.stdoutDropped, maxOutput)
	}
	total := int64(200000*len("stderr line\n") + len("the last line\n"))
	if len(out.stderr) != maxOutput || out.stderrDropped != total-maxOutput || !strings.HasSuffix(string(out.stderr), "stderr line\nthe last line\n") {
		t.Errorf("stderr: kept %d bytes, dropped %d; want the last %d", len(out.stderr), out.stderrDropped, maxOutput)
	}
	want := "hook promote exited with code 7: stderr line; stderr line; stderr line; stderr line; the last line"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}

	// Whitespace only, but too much of it to be a status.
	cfg, _ := fakeConfig(t)
	cfg.Status = []string{"/bin/sh", "-c", `head -c 100000 /dev/zero | tr '\0' ' '`}
	_, err = newDriver(t, cfg).Status(t.Context())
	if err == nil || !strings.Contains(err.Error(), "printed more than 65536 bytes") {
		t.Errorf("huge status: %v", err)
	}
}

// The driver runs one hook at a time (fake.sh fails when two overlap).
func TestSerialized(t *testing.T) {
	t.Parallel()
	cfg, _ := fakeConfig(t)
	d := newDriver(t, cfg)
	ctx := t.Context()
	calls := []func() error{
		func() error { _, err := d.Status(ctx); return err },
		func() error { return d.Promote(ctx) },
		func() error { return d.Fence(ctx, "x") },
		func() error { return d.Unfence(ctx) },
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() { errs <- calls[i%len(calls)]() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, _ := fakeConfig(t)
	cfg.Timeout = 0
	argv := cfg.Status
	d := newDriver(t, cfg)
	if d.LagUnit() != "records" || d.cfg.Timeout != 10*time.Second {
		t.Errorf("defaults: lag unit %q, timeout %v", d.LagUnit(), d.cfg.Timeout)
	}
	argv[1] = "/nonexistent"
	if slices.Equal(d.cfg.Status, argv) {
		t.Error("the driver shares the caller's argv")
	}
	cfg.LagUnit = "KiB"
	if got := newDriver(t, cfg).LagUnit(); got != "KiB" {
		t.Errorf("LagUnit = %q", got)
	}
}
