package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"go.yaml.in/yaml/v3"
)

// fakeTetherd stands in for tetherd: it logs slog-style JSON events to
// stderr (agent.start with its namespace and arguments, agent.reload on
// SIGHUP, agent.stop on SIGTERM), a plain line to stdout, and exits with
// the status given by --exit-now N at once if asked.
const fakeTetherd = `#!/bin/bash
args="$*"
exit_now=""
while [ $# -gt 0 ]; do
	case "$1" in
	--exit-now) exit_now="$2"; shift 2 ;;
	*) shift ;;
	esac
done
ts() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
ev() { echo "{\"time\":\"$(ts)\",\"level\":\"INFO\",\"msg\":\"$2\",\"event\":\"$1\"$3}" >&2; }
if [ -n "$exit_now" ]; then
	echo "fatal: asked to exit" >&2
	exit "$exit_now"
fi
trap 'ev agent.stop stopping; exit 0' TERM
trap 'ev agent.reload reloading ",\"peer_id\":3"' HUP
ev agent.start started ",\"ns\":\"$(ip netns identify $$)\",\"args\":\"$args\""
echo "plain stdout line"
while :; do sleep 0.02 & wait $!; done
`

func fakeBinDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tetherd"), []byte(fakeTetherd), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func isStart(e Event) bool { return e.ID == "agent.start" }

func TestProcessLifecycle(t *testing.T) {
	RequireRoot(t)
	b := New(t, Options{Nodes: 2, BinDir: fakeBinDir(t), ExtraArgs: []string{"--extra", "x"}})
	b.StartAll()
	for i := range 2 {
		e := b.WaitEvent(i, "agent.start", 5*time.Second, isStart)
		if e.Str("ns") != b.NodeNS(i) {
			t.Errorf("node %d runs in namespace %q, want %q", i, e.Str("ns"), b.NodeNS(i))
		}
		wantArgs := "--config " + b.ConfigPath(i) + " --log-format json --extra x"
		if e.Str("args") != wantArgs {
			t.Errorf("node %d args %q, want %q", i, e.Str("args"), wantArgs)
		}
		if e.Run != 1 || e.Node != i || e.Level != "INFO" || e.Msg != "started" || e.Time.IsZero() {
			t.Errorf("node %d start event %+v", i, e)
		}
	}
	if !b.Running(0) {
		t.Fatal("node 0 not running")
	}

	b.Signal(0, syscall.SIGHUP)
	e := b.WaitEvent(0, "agent.reload", 5*time.Second, func(e Event) bool { return e.ID == "agent.reload" })
	if id, ok := e.Int("peer_id"); !ok || id != 3 {
		t.Errorf("peer_id = %d, %v; want 3", id, ok)
	}

	if err := b.Stop(0); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if b.Running(0) {
		t.Error("node 0 still running after Stop")
	}
	b.WaitEvent(0, "agent.stop", time.Second, func(e Event) bool { return e.ID == "agent.stop" })

	if err := b.Restart(0); err != nil {
		t.Errorf("Restart of a stopped node returned %v", err)
	}
	b.WaitEvent(0, "second start", 5*time.Second, func(e Event) bool { return isStart(e) && e.Run == 2 })
	if n := strings.Count(b.Log(0), "plain stdout line"); n != 2 {
		t.Errorf("log holds %d stdout lines of 2 runs:\n%s", n, b.Log(0))
	}
	starts := 0
	for _, e := range b.Events(0) {
		if isStart(e) {
			starts++
		}
	}
	if starts != 2 {
		t.Errorf("%d agent.start events over 2 runs", starts)
	}

	b.Kill(1)
	if b.Running(1) {
		t.Error("node 1 running after Kill")
	}
	if err := b.Stop(1); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop after Kill = %v, want the kill's exit error", err)
	}
}

func TestWaitExit(t *testing.T) {
	RequireRoot(t)
	b := New(t, Options{Nodes: 1, Networks: []NetworkSpec{{Name: "hb0"}}, BinDir: fakeBinDir(t), ExtraArgs: []string{"--exit-now", "3"}})
	b.Start(0)
	err := b.WaitExit(0, 5*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("WaitExit = %v, want exit status 3", err)
	}
	if !strings.Contains(b.Log(0), "fatal: asked to exit") {
		t.Errorf("log lacks stderr: %q", b.Log(0))
	}
}

// fakeStatus serves a status document on a node's socket, as tetherd will.
type fakeStatus struct {
	mu sync.Mutex
	st status.Status
}

func (f *fakeStatus) Status(context.Context) (*status.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := json.Marshal(f.st) // a deep copy: the server encodes it unlocked
	if err != nil {
		return nil, err
	}
	var st status.Status
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	st.Now = time.Now()
	return &st, nil
}

func (f *fakeStatus) ResetCounters(context.Context) error { return nil }

func (f *fakeStatus) setLink(state, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Nodes[1].Links[0].State = state
	f.st.Nodes[1].Links[0].Reason = reason
}

func serveStatus(t T, socket string, f *fakeStatus) {
	srv, err := status.Listen(socket, f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("status.Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func twoNodeStatus() *fakeStatus {
	return &fakeStatus{st: status.Status{LocalNode: 0, LocalName: "node0", Nodes: []status.Node{
		{ID: 0, Name: "node0", Local: true, State: status.NodeOpen},
		{ID: 1, Name: "node1", State: status.NodeConnWait, Links: []status.Link{{Network: "hb0", State: status.LinkDown, Reason: "peer-silent"}}},
	}}}
}

func TestWaitFor(t *testing.T) {
	RequireRoot(t)
	b := New(t, Options{Nodes: 2, BinDir: fakeBinDir(t)})
	b.Start(0)
	if _, err := b.Status(0); !errors.Is(err, status.ErrUnreachable) {
		t.Errorf("Status before the agent listens = %v, want ErrUnreachable", err)
	}
	f := twoNodeStatus()
	serveStatus(t, b.Socket(0), f)
	go func() {
		time.Sleep(50 * time.Millisecond)
		f.setLink(status.LinkUp, "")
	}()
	st := b.WaitFor(0, "hb0 to node1 up", 5*time.Second, func(st *status.Status) bool {
		l := FindLink(st, 1, "hb0")
		return l != nil && l.Healthy()
	})
	if FindNode(st, 1).Name != "node1" || FindLink(st, 1, "hb1") != nil || FindNode(st, 9) != nil {
		t.Errorf("FindNode/FindLink wrong on %s", Summary(st))
	}
}

func TestWaitForFailureReport(t *testing.T) {
	RequireRoot(t)
	bin := fakeBinDir(t)
	var out bytes.Buffer
	code := runMain(func(mt T) {
		b := New(mt, Options{Nodes: 2, BinDir: bin})
		b.Start(0)
		b.WaitEvent(0, "agent.start", 5*time.Second, isStart)
		serveStatus(mt, b.Socket(0), twoNodeStatus())
		b.WaitFor(0, "hb0 to node1 up", 200*time.Millisecond, func(st *status.Status) bool { return false })
	}, &out, nil)
	if code != ExitFailed {
		t.Fatalf("exit code %d, want %d:\n%s", code, ExitFailed, out.String())
	}
	for _, want := range []string{
		`waited 200ms for node 0: hb0 to node1 up`,
		"node1 CONNWAIT links_up=0: hb0 DOWN peer-silent",
		"--- node 0 log",
		`"event":"agent.start"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("failure report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestWaitForNodeNotRunning(t *testing.T) {
	RequireRoot(t)
	bin := fakeBinDir(t)
	var out bytes.Buffer
	start := time.Now()
	code := runMain(func(mt T) {
		b := New(mt, Options{Nodes: 1, Networks: []NetworkSpec{{Name: "hb0"}}, BinDir: bin, ExtraArgs: []string{"--exit-now", "2"}})
		b.Start(0)
		b.WaitFor(0, "anything", time.Minute, func(*status.Status) bool { return true })
	}, &out, nil)
	if code != ExitFailed || !strings.Contains(out.String(), "node is not running") || !strings.Contains(out.String(), "exit status 2") {
		t.Errorf("exit code %d, report:\n%s", code, out.String())
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("WaitFor on a dead node took %v; it must fail at once", d)
	}
}

func TestConfigAndKey(t *testing.T) {
	RequireRoot(t)
	b := New(t, Options{
		Nodes:     2,
		Networks:  []NetworkSpec{{Name: "hb0", Channels: []string{"ether", "tcp"}}, {Name: "pub", Lowpri: true, MTU: 1400}},
		Timers:    map[string]string{"heartbeat": "10ms"},
		ClusterID: 42,
		EditConfig: func(i int, doc map[string]any) {
			doc["public"] = map[string]any{"bind": "x"}
		},
	})
	key, err := os.ReadFile(b.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(b.KeyPath()); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if len(key) != 65 || key[64] != '\n' {
		t.Errorf("key file %q: want 64 hex digits and a newline", key)
	}
	data, err := os.ReadFile(b.ConfigPath(1))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Cluster struct {
			ID      int    `yaml:"id"`
			Name    string `yaml:"name"`
			KeyFile string `yaml:"key_file"`
		}
		Node struct {
			ID   int
			Name string
		}
		Nodes []struct {
			ID        int
			Name      string
			Addresses map[string]string
		}
		Networks []struct {
			Name      string
			Interface string
			Channels  []string
			Lowpri    bool
			MTU       int
		}
		Timers  map[string]string
		Metrics struct{ Listen string }
		Status  struct{ Socket string }
		Public  map[string]string
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("config: %v\n%s", err, data)
	}
	if cfg.Cluster.ID != 42 || cfg.Cluster.KeyFile != b.KeyPath() || cfg.Node.ID != 1 || cfg.Node.Name != "node1" {
		t.Errorf("cluster/node wrong:\n%s", data)
	}
	if len(cfg.Nodes) != 2 || cfg.Nodes[0].Addresses["pub"] != "10.77.1.1" || cfg.Nodes[1].Addresses["hb0"] != "10.77.0.2" {
		t.Errorf("nodes wrong:\n%s", data)
	}
	if len(cfg.Networks) != 2 || cfg.Networks[0].Interface != "eth1" || strings.Join(cfg.Networks[0].Channels, ",") != "ether,tcp" ||
		!cfg.Networks[1].Lowpri || cfg.Networks[1].MTU != 1400 || cfg.Networks[1].Channels[0] != "ether" {
		t.Errorf("networks wrong:\n%s", data)
	}
	if cfg.Timers["heartbeat"] != "10ms" || len(cfg.Timers) != 1 || cfg.Status.Socket != b.Socket(1) || cfg.Public["bind"] != "x" {
		t.Errorf("timers/status/edit wrong:\n%s", data)
	}
	if len(b.Socket(1)) > 100 {
		t.Errorf("socket path %q too long for a unix socket", b.Socket(1))
	}
}
