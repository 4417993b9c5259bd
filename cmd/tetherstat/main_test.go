package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/agent/status/render"
)

// fakeAgent is the status.Provider behind a real status.Server.
type fakeAgent struct {
	mu     sync.Mutex
	st     *status.Status
	err    error // returned by Status when set
	resets int
}

func (a *fakeAgent) Status(context.Context) (*status.Status, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st, a.err
}

func (a *fakeAgent) ResetCounters(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resets++
	return nil
}

// shortDir is a temp dir with a path short enough for a unix socket
// (t.TempDir embeds the test name and can exceed 108 bytes).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tstat")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startAgent serves st on a fresh socket until the test ends.
func startAgent(t *testing.T, st *status.Status) (socket string, agent *fakeAgent) {
	t.Helper()
	socket = filepath.Join(shortDir(t), "tether.sock")
	agent = &fakeAgent{st: st}
	srv, err := status.Listen(socket, agent, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("status server: %v", err)
		}
	})
	return socket, agent
}

// missingSocket is a socket path where no agent listens.
func missingSocket(t *testing.T) string {
	return filepath.Join(shortDir(t), "none", "tether.sock")
}

func doc(hb1 status.Link) *status.Status {
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	up := func(network, addr string) status.Link {
		return status.Link{Network: network, State: status.LinkUp, PeerAddress: addr, RTTMicros: 80,
			Channels: map[string]string{"ether": status.ChannelUp}}
	}
	return &status.Status{
		Version: "test", Cluster: 7, ClusterName: "prod", LocalName: "node0", Incarnation: "ab",
		StartedAt: t0, Now: t0.Add(time.Hour),
		Nodes: []status.Node{
			{ID: 0, Name: "node0", Local: true, State: status.NodeOpen, LinksUp: 2,
				Links: []status.Link{up("hb0", "02:00:00:00:00:01"), up("hb1", "02:00:00:00:01:01")}},
			{ID: 1, Name: "node1", State: status.NodeOpen, LinksUp: 2,
				Links: []status.Link{up("hb0", "02:00:00:00:00:02"), hb1}},
			{ID: 3, Name: "node3", State: status.NodeConnWait,
				Links: []status.Link{
					{Network: "hb0", State: status.LinkDown, Reason: "peer-silent"},
					{Network: "hb1", State: status.LinkDown, Reason: "peer-silent"},
				}},
		},
		Networks: []status.Network{{Name: "hb0", Interface: "eth1", Channels: []string{"ether"}, MTU: 1500, Carrier: true}},
		Counters: status.Counters{ResetAt: t0, Networks: []status.NetworkCounters{
			{Network: "hb0", Channel: "ether", TxFrames: 10, Dropped: map[string]uint64{"bad-tag": 2}},
		}},
	}
}

func healthyDoc() *status.Status {
	st := doc(status.Link{Network: "hb1", State: status.LinkUp, PeerAddress: "02:00:00:00:01:02"})
	st.Nodes = st.Nodes[:2] // no node that was never heard
	return st
}

func unhealthyDoc() *status.Status {
	return doc(status.Link{Network: "hb1", State: status.LinkDown, Reason: "peer-silent"})
}

func noEnv(string) string { return "" }

// tetherstat runs the command and returns its exit code and output.
func tetherstat(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestBriefExitCodes(t *testing.T) {
	socket, _ := startAgent(t, healthyDoc())
	code, out, errOut := tetherstat("-b", "--socket", socket)
	if code != 0 || out != "tether: 2 links, 2 healthy, 0 not healthy\n" || errOut != "" {
		t.Errorf("-b on a healthy cluster: exit %d, stdout %q, stderr %q; want 0 and a summary", code, out, errOut)
	}

	socket, _ = startAgent(t, unhealthyDoc())
	code, out, _ = tetherstat("-b", "--socket", socket)
	want := "tether: 4 links, 1 healthy, 3 not healthy\n" +
		"node1 hb1 DOWN peer-silent\nnode3 hb0 DOWN peer-silent\nnode3 hb1 DOWN peer-silent\n"
	if code != 1 || out != want {
		t.Errorf("-b with a link down: exit %d, stdout %q; want 1, %q", code, out, want)
	}

	// -b --json prints the document but keeps the health exit status.
	code, out, _ = tetherstat("-b", "--json", "--socket", socket)
	if code != 1 || !json.Valid([]byte(out)) {
		t.Errorf("-b --json with a link down: exit %d, valid JSON %v; want 1, true", code, json.Valid([]byte(out)))
	}
}

func TestUnreachable(t *testing.T) {
	socket := missingSocket(t)
	for _, args := range [][]string{
		{"-b"}, {}, {"-n"}, {"-nvv"}, {"-nvv", "active"}, {"-l"}, {"-L"}, {"-c"}, {"-z"}, {"--json"},
	} {
		code, out, errOut := tetherstat(append(args, "--socket", socket)...)
		want := "tetherstat: cannot reach tetherd at " + socket + ": no such file or directory (is tetherd running?)\n"
		if code != 2 || out != "" || errOut != want {
			t.Errorf("%q without an agent: exit %d, stdout %q, stderr %q; want 2, nothing, %q", args, code, out, errOut, want)
		}
	}
}

func TestAgentError(t *testing.T) {
	socket, agent := startAgent(t, nil)
	agent.mu.Lock()
	agent.err = errors.New("agent is starting")
	agent.mu.Unlock()
	code, _, errOut := tetherstat("-b", "--socket", socket)
	if code != 2 || !strings.Contains(errOut, "agent is starting") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("-b with an agent that returns an error: exit %d, stderr %q; want 2 and one line with the agent's error", code, errOut)
	}
}

func TestReset(t *testing.T) {
	socket, agent := startAgent(t, healthyDoc())
	code, out, errOut := tetherstat("-z", "--socket", socket)
	if code != 0 || out != "tether counters reset\n" || errOut != "" {
		t.Errorf("-z: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if agent.resets != 1 {
		t.Errorf("-z reset the counters %d times, want 1", agent.resets)
	}
}

func decode(t *testing.T, out string) *status.Status {
	t.Helper()
	var st status.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("output is not a status document: %v\n%s", err, out)
	}
	return &st
}

func TestJSON(t *testing.T) {
	want := unhealthyDoc()
	socket, _ := startAgent(t, want)
	for _, args := range [][]string{{"--json"}, {"-n", "--json"}, {"-nvv", "configured", "--json"}} {
		code, out, errOut := tetherstat(append(args, "--socket", socket)...)
		if code != 0 || errOut != "" {
			t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
		}
		if !strings.HasPrefix(out, "{\n  \"") {
			t.Errorf("%q: output is not indented JSON: %.40q", args, out)
		}
		if diff := cmp.Diff(want, decode(t, out)); diff != "" {
			t.Errorf("%q: document differs from the agent's (-agent +printed):\n%s", args, diff)
		}
	}
}

func TestNodesVerboseActive(t *testing.T) {
	socket, _ := startAgent(t, unhealthyDoc())
	code, out, _ := tetherstat("-nvv", "active", "--socket", socket)
	if code != 0 || !strings.Contains(out, "* 0 node0") || !strings.Contains(out, "1 node1") || strings.Contains(out, "node3") {
		t.Errorf("-nvv active: exit %d, want node0 and node1 but not the never-heard node3:\n%s", code, out)
	}
	code, out, _ = tetherstat("-nvv", "--socket", socket)
	if code != 0 || !strings.Contains(out, "3 node3") {
		t.Errorf("-nvv: exit %d, want every node, node3 included:\n%s", code, out)
	}

	// --json after the word: same filter, same document shape.
	code, out, _ = tetherstat("-nvv", "active", "--json", "--socket", socket)
	want := unhealthyDoc()
	want.Nodes = want.Nodes[:2]
	if code != 0 {
		t.Fatalf("-nvv active --json: exit %d", code)
	}
	if diff := cmp.Diff(want, decode(t, out)); diff != "" {
		t.Errorf("-nvv active --json (-want +got):\n%s", diff)
	}
}

// tcpDoc is a cluster whose hb0 carries tcp: node1's connection to us is
// missing (tcp-blocked), node3's outbound one was refused. Its
// connections are not in display order.
func tcpDoc() *status.Status {
	st := unhealthyDoc()
	st.Networks[0].Channels = []string{"ether", "tcp"}
	st.Networks[0].Address = "10.77.0.1"
	st.Networks[0].TCPPort = 7947
	hb0 := &st.Nodes[1].Links[0]
	hb0.Channels["tcp"] = status.ChannelToOnly
	hb0.Reason = "tcp-blocked"
	hb0.Detail = "TCP on hb0 works one way only: we connect to node1, but it cannot connect to us (the peer has not connected): inbound port 7947 blocked?"
	refusedAt := st.Now.Add(-3 * time.Second)
	st.Connections = []status.Connection{
		{Direction: "from", Peer: 3, PeerName: "node3", Network: "hb0", State: status.LinkDown, Session: status.ChannelDown,
			RemoteAddress: "10.77.0.3", LastFrameMs: -1, LastError: "the peer has not connected"},
		{Direction: "to", Peer: 3, PeerName: "node3", Network: "hb0", State: status.LinkDown, Session: status.ChannelDown,
			RemoteAddress: "10.77.0.3:7947", LastFrameMs: -1, LastErrorAt: &refusedAt,
			LastError: "handshake with 10.77.0.3:7947: handshake refused by the peer: bad-proof"},
		{Direction: "from", Peer: 1, PeerName: "node1", Network: "hb0", State: status.LinkDown, Session: status.ChannelDown,
			RemoteAddress: "10.77.0.2", LastFrameMs: -1, LastError: "the peer has not connected"},
		{Direction: "to", Peer: 1, PeerName: "node1", Network: "hb0", State: status.LinkUp, Session: status.ChannelUp,
			LocalAddress: "10.77.0.1:41234", RemoteAddress: "10.77.0.2:7947", CreateTime: st.Now.Add(-5*time.Minute - 3*time.Second),
			Events: "r", SendBufferAllocated: 4096, LastFrameMs: 12, RTTMicros: 85, FramesIn: 3030, FramesOut: 3031},
	}
	return st
}

func TestConnections(t *testing.T) {
	want := tcpDoc()
	socket, _ := startAgent(t, want)
	code, out, errOut := tetherstat("-L", "--socket", socket)
	if code != 0 || errOut != "" {
		t.Fatalf("-L: exit %d, stderr %q", code, errOut)
	}
	// Rows sorted by peer, "to" before "from"; the missing ones say why.
	var rows []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n")[2:] {
		f := strings.Fields(line)
		if f[0] == "last" {
			rows = append(rows, "  "+line[strings.Index(line, "last"):])
			continue
		}
		rows = append(rows, strings.Join(f[:8], " ")+" "+f[len(f)-1])
	}
	wantRows := []string{
		"to 1 node1 hb0 UP UP 10.77.0.1:41234 10.77.0.2:7947 85us",
		"from 1 node1 hb0 DOWN DOWN - 10.77.0.2 -",
		"  last error: the peer has not connected",
		"to 3 node3 hb0 DOWN DOWN - 10.77.0.3:7947 -",
		"  last error 3s ago: handshake with 10.77.0.3:7947: handshake refused by the peer: bad-proof",
		"from 3 node3 hb0 DOWN DOWN - 10.77.0.3 -",
		"  last error: the peer has not connected",
	}
	if !strings.HasPrefix(out, "tether tcp connections:\n") {
		t.Errorf("-L does not start with its title:\n%s", out)
	}
	if diff := cmp.Diff(wantRows, rows); diff != "" {
		t.Errorf("-L rows (-want +got):\n%s\n%s", diff, out)
	}
	// The connection that is up: age, events, send buffer, last frame.
	upRow := strings.Fields(strings.Split(out, "\n")[2])
	if got, want := strings.Join(upRow[8:12], " "), "5m3s r 0/4096 12ms"; got != want {
		t.Errorf("-L Age Events SendBuf LastFrame of the connection that is up = %q, want %q:\n%s", got, want, out)
	}

	// -L --json is the document, like the other views.
	code, out, errOut = tetherstat("-L", "--json", "--socket", socket)
	if code != 0 || errOut != "" {
		t.Fatalf("-L --json: exit %d, stderr %q", code, errOut)
	}
	if diff := cmp.Diff(want, decode(t, out)); diff != "" {
		t.Errorf("-L --json: document differs from the agent's (-agent +printed):\n%s", diff)
	}
}

func TestBriefDetail(t *testing.T) {
	socket, _ := startAgent(t, tcpDoc())
	code, out, _ := tetherstat("-b", "--socket", socket)
	want := "node1 hb0 UP tcp-blocked: TCP on hb0 works one way only: we connect to node1, but it cannot connect to us " +
		"(the peer has not connected): inbound port 7947 blocked?\n"
	if code != 1 || !strings.Contains(out, "\n"+want) {
		t.Errorf("-b with a tcp-blocked link: exit %d, output:\n%s\nwant exit 1 and the line %q", code, out, want)
	}
}

func TestViews(t *testing.T) {
	socket, _ := startAgent(t, unhealthyDoc())
	for _, tt := range []struct {
		args  []string
		first string
	}{
		{nil, "tether statistics (since 2025-06-01T08:00:00Z, 1h0m0s ago):"},
		{[]string{"-n"}, "tether node information:"},
		{[]string{"-l"}, "tether network information:"},
		{[]string{"-c"}, "tether configuration information:"},
		{[]string{"-L"}, "tether tcp connections:"},
		{[]string{"--dot"}, "graph tether {"},
		{[]string{"-dot"}, "graph tether {"},
	} {
		code, out, errOut := tetherstat(append(tt.args, "--socket", socket)...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, tt.first+"\n") {
			t.Errorf("%q: exit %d, stderr %q, output:\n%s\nwant exit 0 and first line %q", tt.args, code, errOut, out, tt.first)
		}
	}
}

func TestSocketFromEnvironment(t *testing.T) {
	socket, _ := startAgent(t, healthyDoc())
	env := func(k string) string {
		if k == "TETHER_SOCKET" {
			return socket
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if code := runContext(context.Background(), []string{"-b"}, env, &out, &errOut); code != 0 {
		t.Errorf("-b with TETHER_SOCKET set: exit %d, stderr %q", code, errOut.String())
	}

	// --socket wins over the environment.
	missing := missingSocket(t)
	errOut.Reset()
	if code := runContext(context.Background(), []string{"-b", "--socket", missing}, env, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), missing) {
		t.Errorf("--socket over TETHER_SOCKET: exit %d, stderr %q; want 2 naming %s", code, errOut.String(), missing)
	}
}

func TestDefaultSocket(t *testing.T) {
	o, err := parseArgs(nil, noEnv)
	if err != nil || o.socket != status.DefaultSocket {
		t.Errorf("parseArgs(nil) = socket %q, %v; want %q", o.socket, err, status.DefaultSocket)
	}
}

func TestUsageErrors(t *testing.T) {
	socket := missingSocket(t) // a command line that parses would exit 2
	for _, tt := range []struct {
		args []string
		want string // in the message
	}{
		{[]string{"-nvv", "all"}, `not "all"`},
		{[]string{"-nvv", "active", "configured"}, `"active configured"`},
		{[]string{"-n", "active"}, `unexpected argument "active"`},
		{[]string{"-n", "-l"}, "-n and -l"},
		{[]string{"-l", "-L"}, "-l and -L"},
		{[]string{"-L", "active"}, `unexpected argument "active"`},
		{[]string{"-nv"}, "-nvv"},
		{[]string{"-x"}, "-x"},
		{[]string{"-z", "--json"}, "-z"},
		{[]string{"-z", "--watch"}, "-z"},
		{[]string{"--dot", "--json"}, "--dot"},
		{[]string{"--dot", "--watch"}, "--dot"},
		{[]string{"--dot", "-m"}, "-m and -dot"},
		{[]string{"--interval", "2s"}, "--watch"},
		{[]string{"--watch", "--interval", "0s"}, "positive"},
		{[]string{"--interval", "soon", "--watch"}, "soon"},
		{[]string{"--socket", ""}, "--socket"},
	} {
		args := tt.args
		if !strings.Contains(strings.Join(args, " "), "--socket") {
			args = append(args, "--socket", socket)
		}
		code, out, errOut := tetherstat(args...)
		if code != 3 || out != "" || !strings.HasPrefix(errOut, "tetherstat: ") || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 3 and a message with %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

func TestArgumentForms(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want options
	}{
		{[]string{"-nvv", "active", "--json"}, options{view: viewNodesVerbose, filter: "active", json: true}},
		{[]string{"--json", "-nvv", "configured"}, options{view: viewNodesVerbose, filter: "configured", json: true}},
		{[]string{"-nvv", "--", "active"}, options{view: viewNodesVerbose, filter: "active"}},
		{[]string{"--watch", "--interval", "250ms", "-b"}, options{view: viewBrief, watch: true, interval: 250 * time.Millisecond}},
		{[]string{"-L", "--json"}, options{view: viewConnections, json: true}},
		{[]string{"-l"}, options{view: viewNetworks}},
	} {
		got, err := parseArgs(tt.args, noEnv)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if tt.want.interval == 0 {
			tt.want.interval = time.Second
		}
		tt.want.socket = status.DefaultSocket
		tt.want.cmdline = strings.Join(tt.args, " ")
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(options{})); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		code, out, errOut := tetherstat(arg)
		if code != 0 || errOut != "" || !strings.Contains(out, "Exit status:") {
			t.Errorf("%s: exit %d, stderr %q; want 0 and the usage with the exit codes", arg, code, errOut)
		}
		var o options
		var nv bool
		newFlagSet(&o, map[view]*bool{}, &nv).VisitAll(func(f *flag.Flag) {
			if f.Name != "nv" && !strings.Contains(out, "-"+f.Name+" ") {
				t.Errorf("usage does not describe -%s", f.Name)
			}
		})
		for code := range 4 {
			if !strings.Contains(out, "\n  "+string(rune('0'+code))+"  ") {
				t.Errorf("usage does not describe exit status %d", code)
			}
		}
	}
}

// cancelAfter is a writer that cancels a context after n writes.
type cancelAfter struct {
	bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if w.n--; w.n == 0 {
		w.cancel()
	}
	return n, err
}

func TestWatch(t *testing.T) {
	socket, _ := startAgent(t, healthyDoc())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelAfter{n: 3, cancel: cancel}
	var errOut bytes.Buffer
	code := runContext(ctx, []string{"-n", "--watch", "--interval", "5ms", "--socket", socket}, noEnv, out, &errOut)
	if code != 0 || errOut.Len() != 0 {
		t.Fatalf("-n --watch: exit %d, stderr %q; want 0 when stopped", code, errOut.String())
	}
	snapshots := strings.Split(out.String(), "\n\n")
	if len(snapshots) != 3 {
		t.Fatalf("-n --watch wrote %d snapshots separated by blank lines, want 3:\n%s", len(snapshots), out.String())
	}
	for _, s := range snapshots {
		if !strings.HasPrefix(s, "tether node information:\n") || strings.Contains(s, "\x1b") {
			t.Errorf("snapshot is not a plain node table:\n%q", s)
		}
	}
}

func TestWatchKeepsTryingWhenUnreachable(t *testing.T) {
	socket := missingSocket(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errOut := &cancelAfter{n: 3, cancel: cancel}
	var out bytes.Buffer
	code := runContext(ctx, []string{"-b", "--watch", "--interval", "5ms", "--socket", socket}, noEnv, &out, errOut)
	if code != 0 {
		t.Errorf("-b --watch without an agent: exit %d, want 0 when stopped", code)
	}
	if n := strings.Count(errOut.String(), "cannot reach tetherd at "+socket); n != 3 {
		t.Errorf("-b --watch without an agent reported %d failures before being stopped, want 3:\n%s", n, errOut.String())
	}
}

func TestDescribe(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{
			fmt.Errorf("%w: /s: %v", status.ErrUnreachable, `Get "http://tether/v1/status": dial unix /s: connect: connection refused`),
			"tetherstat: cannot reach tetherd at /s: connection refused (is tetherd running?)",
		},
		{
			fmt.Errorf("%w: /s: %v", status.ErrUnreachable, "dial unix /s: connect: permission denied"),
			"tetherstat: cannot reach tetherd at /s: permission denied (run as root or as a member of the socket's group)",
		},
		{status.ErrUnreachable, "tetherstat: cannot reach tetherd at /s: agent unreachable"},
		{errors.New("agent at /s: 503 Service Unavailable: starting"), "tetherstat: agent at /s: 503 Service Unavailable: starting"},
	} {
		if got := describe(tt.err, "/s"); got != tt.want {
			t.Errorf("describe(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// mirrorDoc is healthyDoc on a node that mirrors orders from node1.
func mirrorDoc() *status.Status {
	st := healthyDoc()
	st.Mirrors = []status.Mirror{{Resource: "orders", Role: status.RoleMirror, Epoch: 2, Primary: "node1", Mirror: "node0",
		Peer: "node1", Acks: "mirror", PeerError: "node node1: no route",
		Topics: []status.MirrorTopic{{Topic: "orders", State: status.TopicActive, LogEndOffset: 1200, HighWatermark: 1200,
			SinceLastFetchMs: 12}}}}
	return st
}

// The counters (no view flag) and -n end with the mirrors section on a
// node with resources, and only there; without resources every view is
// what it was.
func TestMirrorsSection(t *testing.T) {
	const mirrors = "tether mirror information:\n" +
		"    Resource  Role    Epoch  Peer   Topic   State   LogEnd  SourceHW  Lag  LagMs  SinceFetchMs\n" +
		"    orders    mirror      2  node1  orders  ACTIVE    1200      1200    0      0            12\n" +
		"    orders: peer node1 not answering: node node1: no route (never heard)\n"
	draw := func(f func(io.Writer, *status.Status) error, st *status.Status) string {
		var b bytes.Buffer
		if err := f(&b, st); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	with, _ := startAgent(t, mirrorDoc())
	without, _ := startAgent(t, healthyDoc())
	for _, tt := range []struct {
		args []string
		view func(io.Writer, *status.Status) error
		more bool // the mirrors follow
	}{
		{nil, render.Counters, true},
		{[]string{"-n"}, render.Nodes, true},
		{[]string{"-nvv"}, render.NodesVerbose, false},
		{[]string{"-l"}, render.Networks, false},
		{[]string{"-L"}, render.Connections, false},
	} {
		code, out, errOut := tetherstat(append(tt.args, "--socket", with)...)
		want := draw(tt.view, mirrorDoc())
		if tt.more {
			want += mirrors
		}
		if code != 0 || errOut != "" || out != want {
			t.Errorf("%q with mirrors: exit %d, stderr %q, output (-want +got):\n%s", tt.args, code, errOut, cmp.Diff(want, out))
		}
		code, out, errOut = tetherstat(append(tt.args, "--socket", without)...)
		if want := draw(tt.view, healthyDoc()); code != 0 || errOut != "" || out != want {
			t.Errorf("%q without mirrors: exit %d, stderr %q, output (-want +got):\n%s", tt.args, code, errOut, cmp.Diff(want, out))
		}
	}
	// -b says nothing of mirrors (its exit status is the links').
	if code, out, _ := tetherstat("-b", "--socket", with); code != 0 || strings.Contains(out, "mirror") {
		t.Errorf("-b with mirrors: exit %d, output:\n%s", code, out)
	}
	code, out, _ := tetherstat("--json", "--socket", with)
	if code != 0 || !cmp.Equal(mirrorDoc().Mirrors, decode(t, out).Mirrors) {
		t.Errorf("--json: exit %d, mirrors %+v", code, decode(t, out).Mirrors)
	}
}
