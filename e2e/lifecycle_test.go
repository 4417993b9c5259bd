package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// SIGTERM: the agent tells its peers it is stopping, so they show it DOWN
// at once with reason peer-stopped rather than after peerinact. Started
// again, it is OPEN with a peer-restart event.
func TestStopAndRestart(t *testing.T) {
	b := newBed(t, testbed.Options{})
	stop := time.Now()
	if err := b.Stop(2); err != nil {
		t.Fatalf("tetherd did not exit cleanly on SIGTERM: %v", err)
	}
	for _, p := range peersOf(b, 2) {
		st := b.WaitFor(p, "node2 DOWN", peerInact+slack, nodeIs(2, status.NodeDown))
		for _, l := range testbed.FindNode(st, 2).Links {
			if l.Reason != "peer-stopped" {
				t.Errorf("node%d: node2's %s down with reason %q, want peer-stopped", p, l.Network, l.Reason)
			}
		}
		e := b.WaitEvent(p, "node.state DOWN", time.Second, eventAfter(stop, "node.state", 2, ""))
		if e.Str("state") != status.NodeDown || e.Str("reason") != "peer-stopped" {
			t.Errorf("node%d logged %v", p, e)
		}
	}
	if ev := b.WaitEvent(2, "agent.stop", time.Second, func(e testbed.Event) bool { return e.ID == "agent.stop" }); ev.Time.Before(stop) {
		t.Errorf("agent.stop logged before the stop")
	}

	restart := time.Now()
	b.Start(2)
	for _, p := range peersOf(b, 2) {
		b.WaitEvent(p, "peer.restart of node2", upTimeout, eventAfter(restart, "peer.restart", 2, ""))
		st := b.WaitFor(p, "node2 OPEN again", upTimeout, nodeIs(2, status.NodeOpen))
		if n := testbed.FindNode(st, 2); n.Restarts != 1 {
			t.Errorf("node%d counts %d restarts of node2, want 1", p, n.Restarts)
		}
	}
	b.WaitAllUp(upTimeout)
}

// A crash (SIGKILL) sends nothing: the peers find out by silence, within
// peerinact, and the reason says so.
func TestCrashIsPeerSilent(t *testing.T) {
	b := newBed(t, testbed.Options{})
	kill := time.Now()
	b.Kill(1)
	for _, p := range peersOf(b, 1) {
		e := b.WaitEvent(p, "node1 DOWN", peerInact+slack, func(e testbed.Event) bool {
			return eventAfter(kill, "node.state", 1, "")(e) && e.Str("state") == status.NodeDown
		})
		if e.Str("reason") != "peer-silent" {
			t.Errorf("node%d: crash reported with reason %q, want peer-silent", p, e.Str("reason"))
		}
	}
	restart := time.Now()
	b.Start(1)
	for _, p := range peersOf(b, 1) {
		b.WaitEvent(p, "peer.restart of node1", upTimeout, eventAfter(restart, "peer.restart", 1, ""))
	}
	b.WaitAllUp(upTimeout)
}

// runTetherd runs tetherd in ns with args and returns its exit error and
// stderr; it must exit on its own within 10 s.
func runTetherd(t *testing.T, ns string, prefix []string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"netns", "exec", ns}, prefix...)
	full = append(full, filepath.Join(binDir, "tetherd"))
	full = append(full, args...)
	cmd := exec.Command("ip", full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return stderr.String(), err
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tetherd %v did not exit: %s", args, stderr.String())
		return "", nil
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// Startup failures give one clear line and a non-zero exit.
func TestStartupErrors(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t, testbed.Options{BinDir: binDir, Nodes: 2})
	good, err := os.ReadFile(b.ConfigPath(0))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(b.Dir(), name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name   string
		prefix []string
		config string
		want   string
	}{
		{"missing interface", nil, strings.Replace(string(good), "eth2", "eth9", 1), "interface eth9 not found"},
		{"unknown key", nil, string(good) + "colour: blue\n", `unknown key "colour"`},
		{"no CAP_NET_RAW", []string{"setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw"}, string(good), "CAP_NET_RAW"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(c.name, " ", "_")+".yaml", c.config)
			stderr, err := runTetherd(t, b.NodeNS(0), c.prefix, "--config", p)
			if exitCode(err) != 1 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and %q", exitCode(err), stderr, c.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 3 {
				t.Errorf("%d lines of error output, want a short clear message: %s", n+1, stderr)
			}
		})
	}
	t.Run("key file readable by others", func(t *testing.T) {
		if err := os.Chmod(b.KeyPath(), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(b.KeyPath(), 0o600)
		stderr, err := runTetherd(t, b.NodeNS(0), nil, "--config", b.ConfigPath(0))
		if exitCode(err) != 1 || !strings.Contains(stderr, "by others") {
			t.Fatalf("exit %d, stderr %q", exitCode(err), stderr)
		}
	})
	t.Run("second agent on the same socket", func(t *testing.T) {
		b.Start(0)
		b.WaitFor(0, "agent serving", upTimeout, func(*status.Status) bool { return true })
		stderr, err := runTetherd(t, b.NodeNS(0), nil, "--config", b.ConfigPath(0))
		if exitCode(err) != 1 || !strings.Contains(stderr, "another agent") {
			t.Fatalf("exit %d, stderr %q", exitCode(err), stderr)
		}
		if !b.Running(0) {
			t.Fatal("the first agent died")
		}
	})
}

func tetherstat(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "tetherstat"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil && exitCode(err) < 0 {
		t.Fatal(err)
	}
	return exitCode(err), string(out)
}

// tetherstat against a live agent: the views an operator reads, and -b's
// exit status for scripts (0 healthy, 1 not, 2 unreachable).
func TestTetherstatAgainstLiveAgent(t *testing.T) {
	b := newBed(t, testbed.Options{})
	sock := "--socket=" + b.Socket(0)
	if code, out := tetherstat(t, sock, "-b"); code != 0 {
		t.Fatalf("-b on a healthy cluster: exit %d\n%s", code, out)
	}
	code, out := tetherstat(t, sock, "-n")
	if code != 0 || !strings.Contains(out, "* 0 node0") || strings.Count(out, "OPEN") != 3 {
		t.Fatalf("-n: exit %d\n%s", code, out)
	}

	// Node2's switch port on hb1 passes nothing: node2 says nic-silent
	// (node0 and node1 still hear each other there), its peers say
	// peer-silent and show node2's own reason.
	f := b.Blackhole(2, "hb1")
	b.WaitFor(0, "node2's hb1 down, its peer saying nic-silent", peerInact+slack, func(st *status.Status) bool {
		l := testbed.FindLink(st, 2, "hb1")
		return l != nil && l.State == status.LinkDown && l.Reason == "peer-silent" && l.RemoteReason == "nic-silent"
	})
	code, out = tetherstat(t, sock, "-b")
	if code != 1 || !strings.Contains(out, "node2 hb1 DOWN peer-silent") {
		t.Fatalf("-b with a broken link: exit %d\n%s", code, out)
	}
	code, out = tetherstat(t, sock, "-nvv")
	if code != 0 {
		t.Fatalf("-nvv: exit %d\n%s", code, out)
	}
	var found bool
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 3 && fields[0] == "hb1" && fields[1] == "DOWN" && strings.HasSuffix(line, "peer-silent (peer: nic-silent)") {
			found = true
		}
	}
	if !found || !strings.Contains(out, "JEOPARDY") {
		t.Logf("%q", out)
		t.Fatalf("-nvv does not show node2's hb1 DOWN peer-silent and JEOPARDY:\n%s", out)
	}
	// The link graph: node0 -- node2 on hb1 red and DOWN, and Graphviz
	// draws it (the README's tetherstat --dot | dot -Tsvg).
	code, out = tetherstat(t, sock, "--dot")
	if code != 0 || !strings.Contains(out, "\tn0 -- n2 [label=\"hb1 DOWN\\n") || !strings.Contains(out, "\tn0 -- n1 [label=\"hb1 UP\"") {
		t.Fatalf("--dot: exit %d\n%s", code, out)
	}
	render := exec.Command(testbed.RequireTool(t, "dot", "graphviz"), "-Tsvg")
	render.Stdin = strings.NewReader(out)
	if svg, err := render.Output(); err != nil || !strings.Contains(string(svg), "<svg") {
		t.Fatalf("dot -Tsvg of tetherstat --dot: %v\n%s", err, svg)
	}
	f.Undo()
	b.WaitAllUp(upTimeout)

	if err := b.Stop(0); err != nil {
		t.Fatal(err)
	}
	if code, out := tetherstat(t, sock, "-b"); code != 2 || !strings.Contains(out, "cannot reach") {
		t.Fatalf("-b with the agent stopped: exit %d\n%s", code, out)
	}
}
