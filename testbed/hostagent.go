package testbed

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// HostAgent is a tetherd run in a host's namespace with a config of the
// test's choosing: a second agent with a node id already in use, an agent
// of another cluster on the same switches. Start it with
// Host.StartAgent. Like a node's, its process gets SIGKILL if the test
// process dies, is stopped at cleanup (SIGTERM, then SIGKILL after 10 s),
// and its log (stdout and stderr) is kept in the bed's directory and
// shown when the test fails.
type HostAgent struct {
	Host *Host
	b    *Bed
	name string // for messages: "agent of host <name>"
	cfg  string
	log  string
	sock string
	p    *proc
	ev   eventLog
}

// AgentConfig returns a tetherd config document for host h as node id of
// the bed's cluster: the bed's cluster (id, key file), node table and
// timers, one network per network the host is on (its interface eth<k+1>,
// the bed's channels and MTU), and a status socket of its own. node id
// need not be in the node table: it is added (named "host<name>", with
// the host's addresses) if it is not. Change the document (another
// cluster id, another key, another node table) before StartAgent.
func (h *Host) AgentConfig(id int) map[string]any {
	b := h.b
	b.t.Helper()
	doc := b.configDoc(0)
	nodes := doc["nodes"].([]any)
	name := ""
	for _, n := range nodes {
		if m := n.(map[string]any); m["id"] == id {
			name = m["name"].(string)
		}
	}
	if name == "" {
		name = "host" + h.Name
		addrs := map[string]any{}
		for _, net := range h.nets {
			addrs[net] = h.IP(net).String()
		}
		nodes = append(nodes, map[string]any{"id": id, "name": name, "addresses": addrs})
		doc["nodes"] = nodes
	}
	doc["node"] = map[string]any{"id": id, "name": name}
	var nets []any
	for _, net := range h.nets {
		k := b.net(net)
		n := b.opt.Networks[k]
		m := map[string]any{"name": n.Name, "interface": ifaceName(k), "channels": n.Channels}
		if n.Lowpri {
			m["lowpri"] = true
		}
		if n.MTU > 0 {
			m["mtu"] = n.MTU
		}
		nets = append(nets, m)
	}
	doc["networks"] = nets
	doc["status"] = map[string]any{"socket": h.agentPath("sock")}
	return doc
}

// agentPath is the host agent's file with extension ext in the bed's
// directory (short enough for a unix socket).
func (h *Host) agentPath(ext string) string {
	return filepath.Join(h.b.dir, fmt.Sprintf("h%d.%s", h.idx, ext))
}

// WriteKey writes a new random cluster key (one hex key, mode 0600) to
// the bed's directory under name and returns its path: the key of
// another cluster, or a wrong key for one of ours.
func (b *Bed) WriteKey(name string) string {
	b.t.Helper()
	p := filepath.Join(b.dir, name)
	if err := writeRandomKey(p); err != nil {
		b.t.Fatalf("testbed: WriteKey %s: %v", name, err)
	}
	return p
}

func writeRandomKey(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
}

// StartAgent writes doc (see AgentConfig) as the host's config and starts
//
//	ip netns exec <host ns> <BinDir>/tetherd --config <file> --log-format json
//
// with stdout and stderr appended to its log. It does not wait for the
// agent to be ready. A host runs one agent at a time.
func (h *Host) StartAgent(doc map[string]any) *HostAgent {
	b := h.b
	b.t.Helper()
	if b.opt.BinDir == "" {
		b.t.Fatalf("testbed: StartAgent on host %s: Options.BinDir is empty (use testbed.Build)", h.Name)
	}
	bin := filepath.Join(b.opt.BinDir, "tetherd")
	if _, err := os.Stat(bin); err != nil {
		b.t.Fatalf("testbed: StartAgent on host %s: %v", h.Name, err)
	}
	a := &HostAgent{Host: h, b: b, name: "agent of host " + h.Name, cfg: h.agentPath("yaml"), log: h.agentPath("log"), sock: h.agentPath("sock")}
	out, err := yaml.Marshal(doc)
	if err != nil {
		b.t.Fatalf("testbed: StartAgent on host %s: config: %v", h.Name, err)
	}
	if err := os.WriteFile(a.cfg, out, 0o644); err != nil {
		b.t.Fatalf("testbed: StartAgent on host %s: %v", h.Name, err)
	}
	b.mu.Lock()
	closing := b.closing
	b.mu.Unlock()
	if closing {
		b.t.Fatalf("testbed: StartAgent on host %s: bed is being cleaned up", h.Name)
	}
	f, err := os.OpenFile(a.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatalf("testbed: StartAgent on host %s: %v", h.Name, err)
	}
	defer f.Close()
	args := append([]string{"netns", "exec", h.NS, bin, "--config", a.cfg, "--log-format", "json"}, b.opt.ExtraArgs...)
	fmt.Fprintf(f, "%s%d of host %s at %s: ip %s\n", runMarker, 1, h.Name, time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("testbed: StartAgent on host %s: %v", h.Name, err)
	}
	a.p = &proc{cmd: cmd, run: 1, done: make(chan struct{})}
	go func() {
		a.p.err = cmd.Wait()
		close(a.p.done)
	}()
	// Registered after the bed's own cleanup, so it runs first: the agent
	// is gone before its namespace.
	b.t.Cleanup(func() {
		if !a.p.exited() {
			_ = a.p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-a.p.done:
			case <-time.After(stopTimeout):
				b.t.Logf("testbed: cleanup: %s did not exit within %v of SIGTERM; killing it", a.name, stopTimeout)
				_ = a.p.cmd.Process.Kill()
				<-a.p.done
			}
		}
		if b.t.Failed() {
			b.t.Logf("%s", a.tailSection())
		}
	})
	return a
}

// Socket returns the agent's status socket (for Status, or tetherstat).
func (a *HostAgent) Socket() string { return a.sock }

// ConfigPath returns the agent's config file.
func (a *HostAgent) ConfigPath() string { return a.cfg }

// LogPath returns the agent's log file.
func (a *HostAgent) LogPath() string { return a.log }

// Running reports whether the agent has not exited.
func (a *HostAgent) Running() bool { return !a.p.exited() }

// Wait waits up to timeout for the agent to exit by itself and returns
// its exit error (nil for status 0); on timeout the test fails.
func (a *HostAgent) Wait(timeout time.Duration) error {
	a.b.t.Helper()
	select {
	case <-a.p.done:
		return a.p.err
	case <-time.After(timeout):
		a.b.t.Fatalf("testbed: %s still running after %v\n%s", a.name, timeout, a.tailSection())
		return nil
	}
}

// Stop sends SIGTERM and waits up to 10 s for the agent to exit (then
// kills it and fails the test); it returns the exit error.
func (a *HostAgent) Stop() error {
	a.b.t.Helper()
	if a.p.exited() {
		return a.p.err
	}
	_ = a.p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.p.done:
		return a.p.err
	case <-time.After(stopTimeout):
	}
	_ = a.p.cmd.Process.Kill()
	<-a.p.done
	a.b.t.Fatalf("testbed: %s did not exit within %v of SIGTERM; killed it\n%s", a.name, stopTimeout, a.tailSection())
	return nil
}

// ExitCode returns the exit status of an agent that has exited (-1 for a
// signal), or fails the test if it is still running.
func (a *HostAgent) ExitCode() int {
	a.b.t.Helper()
	if !a.p.exited() {
		a.b.t.Fatalf("testbed: %s is still running", a.name)
	}
	var ee *exec.ExitError
	switch {
	case a.p.err == nil:
		return 0
	case errors.As(a.p.err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// Log returns the agent's whole log.
func (a *HostAgent) Log() string {
	data, _ := os.ReadFile(a.log)
	return string(data)
}

// Events returns every event the agent has logged so far (Node is -1).
func (a *HostAgent) Events() []Event {
	a.b.t.Helper()
	evs, err := a.ev.refresh(a.log, -1)
	if err != nil {
		a.b.t.Fatalf("testbed: read %s log: %v", a.name, err)
	}
	return append([]Event(nil), evs...)
}

func (a *HostAgent) tailSection() string {
	t := tail(a.Log(), tailLines)
	if t != "" && !strings.HasSuffix(t, "\n") {
		t += "\n"
	}
	return fmt.Sprintf("--- %s log (%s), last %d lines ---\n%s--- end of %s log ---", a.name, a.log, tailLines, t, a.name)
}
