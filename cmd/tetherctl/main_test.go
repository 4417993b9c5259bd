package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// fakeAgent is the provider behind a real status.Server: a canned status
// document, and ping answers from a script.
type fakeAgent struct {
	mu      sync.Mutex
	st      *status.Status
	ping    func(n int, req status.PingRequest) (*status.PingResult, error) // n: 0-based call number
	cluster func(req status.PingClusterRequest) (*status.PingClusterResult, error)
	pings   []status.PingRequest
	creqs   []status.PingClusterRequest
}

func (a *fakeAgent) Status(context.Context) (*status.Status, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st, nil
}

func (a *fakeAgent) ResetCounters(context.Context) error { return nil }

func (a *fakeAgent) Ping(_ context.Context, req status.PingRequest) (*status.PingResult, error) {
	a.mu.Lock()
	n := len(a.pings)
	a.pings = append(a.pings, req)
	fn := a.ping
	a.mu.Unlock()
	return fn(n, req)
}

func (a *fakeAgent) PingCluster(_ context.Context, req status.PingClusterRequest) (*status.PingClusterResult, error) {
	a.mu.Lock()
	a.creqs = append(a.creqs, req)
	fn := a.cluster
	a.mu.Unlock()
	return fn(req)
}

func (a *fakeAgent) requests() []status.PingRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]status.PingRequest(nil), a.pings...)
}

// startAgent serves a on a fresh unix socket until the test ends.
func startAgent(t *testing.T, p status.Provider) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tctl") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "tether.sock")
	if a, ok := p.(*fakeAgent); ok && a.st == nil {
		a.st = cluster()
	}
	srv, err := status.Listen(socket, p, slog.New(slog.DiscardHandler))
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
	return socket
}

// cluster is node0's view of a 3-node cluster on hb0 (ether, tcp) and hb1
// (ether, MTU 9000).
func cluster() *status.Status {
	link := func(net string) status.Link { return status.Link{Network: net, State: status.LinkUp} }
	return &status.Status{
		LocalNode: 0, LocalName: "node0",
		Nodes: []status.Node{
			{ID: 0, Name: "node0", Local: true, State: status.NodeOpen, Links: []status.Link{link("hb0"), link("hb1")}},
			{ID: 1, Name: "node1", State: status.NodeOpen, Links: []status.Link{link("hb0"), link("hb1")}},
			{ID: 2, Name: "node2", State: status.NodeOpen, Links: []status.Link{link("hb0"), link("hb1")}},
		},
		Networks: []status.Network{
			{Name: "hb0", Channels: []string{"ether", "tcp"}, MTU: 1500},
			{Name: "hb1", Channels: []string{"ether"}, MTU: 9000},
		},
	}
}

// echo answers a Count 1 ping with one reply of the given status.
func echo(st string, req status.PingRequest, rttUs float64) *status.PingResult {
	res := &status.PingResult{Peer: req.Peer, Sent: 1, Size: req.Size, Routes: map[string]int{}, SendErrors: map[string]int{}}
	rp := status.PingReply{Seq: 1, Status: st, Bytes: req.Size}
	net, ch := req.Network, req.Channel
	if net == "" {
		net = "hb0"
	}
	if ch == "" || ch == "tcp" {
		ch = map[string]string{"": "tcp-to", "tcp": "tcp-to"}[ch]
	}
	if req.MTU {
		rp.Bytes, rp.Padded = 9000, true
	}
	switch st {
	case status.EchoOK:
		res.Received = 1
		rp.RTTMicros = rttUs
		rp.Network, rp.Channel = net, ch
	case status.EchoTimeout:
		rp.Network, rp.Channel = net, ch
	case status.EchoNoRoute:
		rp.Error = "no route on " + net + "/" + req.Channel + ": the link is DOWN (peer-silent)"
		res.SendErrors["no-route"] = 1
	}
	res.Replies = []status.PingReply{rp}
	return res
}

// tetherctl runs the command with no environment and returns its exit
// code and output.
func tetherctl(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runContext(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

func TestUsageAndRefusals(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		code, out, _ := tetherctl(args...)
		if code != 0 || !strings.Contains(out, "Exit status:") || !strings.Contains(out, "ping-cluster") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	for _, args := range [][]string{{"ping", "-h"}, {"ping", "node1", "--help"}} {
		code, out, _ := tetherctl(args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: tetherctl ping NODE") || !strings.Contains(out, "1  no reply") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	if code, out, _ := tetherctl("ping-cluster", "-h"); code != 0 || !strings.Contains(out, "Larger") && !strings.Contains(out, "beyond it") {
		t.Errorf("ping-cluster -h: exit %d\n%s", code, out)
	}
	if code, _, errOut := tetherctl(); code != 2 || !strings.Contains(errOut, "Usage:") {
		t.Errorf("no arguments: exit %d, stderr %q", code, errOut)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"pong"}, `unknown command "pong"`},
		{[]string{"--bogus", "ping"}, "unknown option --bogus"},
		{[]string{"ping"}, "ping needs a NODE"},
		{[]string{"ping", "node1", "node2"}, `unexpected argument "node2"`},
		{[]string{"ping", "node1", "--bogus"}, "unknown option -bogus"},
		{[]string{"ping", "node1", "--channel", "udp"}, `--channel "udp"`},
		{[]string{"ping", "node1", "--size", "big"}, `--size "big"`},
		{[]string{"ping", "node1", "--size", "5"}, `--size "5"`},
		{[]string{"ping", "node1", "--size", "70000"}, `--size "70000"`},
		{[]string{"ping", "node1", "--count", "-1"}, "--count -1"},
		{[]string{"ping", "node1", "--timeout", "0"}, "--timeout 0s"},
		{[]string{"ping", "node1", "--interval", "soon"}, "want a duration"},
		{[]string{"ping", "node1", "--socket="}, "--socket needs a path"},
		{[]string{"ping-cluster", "node1"}, `unexpected argument "node1"`},
		{[]string{"ping-cluster", "--count", "0"}, "--count 0"},
		{[]string{"ping-cluster", "--json=maybe"}, "invalid boolean"},
	}
	for _, c := range cases {
		code, out, errOut := tetherctl(c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "Run 'tetherctl") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
}

func TestPingResolvesTheNodeAndPath(t *testing.T) {
	a := &fakeAgent{ping: func(_ int, req status.PingRequest) (*status.PingResult, error) {
		return echo(status.EchoOK, req, 71), nil
	}}
	sock := startAgent(t, a)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"node0"}, "node0 (id 0) is this node: ping a peer"},
		{[]string{"0"}, "node0 (id 0) is this node"},
		{[]string{"node7"}, `no node "node7" in the cluster (nodes: node0, node1, node2)`},
		{[]string{"node1", "--network", "hb9"}, `no network "hb9" on node0 (networks: hb0, hb1)`},
		{[]string{"node1", "--network", "hb1", "--channel", "tcp"}, "network hb1 does not carry tcp (channels: ether)"},
	}
	for _, c := range cases {
		code, out, errOut := tetherctl(append([]string{"ping", "--socket", sock}, c.args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
	if n := len(a.requests()); n != 0 {
		t.Errorf("%d pings sent for refused command lines", n)
	}

	// By id, flags after the node, the global --socket.
	code, out, errOut := tetherctl("--socket", sock, "ping", "2", "--count", "2", "--interval", "0", "--network", "hb1", "--channel", "ether", "--size", "mtu", "--timeout", "250ms")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	want := status.PingRequest{Peer: 2, Count: 1, Size: 64, TimeoutMs: 250, Network: "hb1", Channel: "ether", MTU: true, Replies: true}
	reqs := a.requests()
	if len(reqs) != 2 || reqs[0] != want || reqs[1] != want {
		t.Errorf("requests %+v, want two of %+v", reqs, want)
	}
	if !strings.HasPrefix(out, "PING node2 (id 2) via hb1/ether: 9000-byte frames (the MTU)\n") ||
		!strings.Contains(out, "9000 bytes from node2 (id 2) via hb1/ether: seq=2 time=0.071 ms\n") {
		t.Errorf("output:\n%s", out)
	}
}

func TestPingOutputAndExitCodes(t *testing.T) {
	script := []string{status.EchoOK, status.EchoOK, status.EchoTimeout, status.EchoNoRoute, status.EchoOK}
	rtts := []float64{71, 90.4, 0, 0, 61.2}
	a := &fakeAgent{ping: func(n int, req status.PingRequest) (*status.PingResult, error) {
		return echo(script[n], req, rtts[n]), nil
	}}
	sock := startAgent(t, a)
	code, out, errOut := tetherctl("ping", "node1", "--socket", sock, "--count", "5", "--interval", "1ms", "--network", "hb0", "--channel", "tcp")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(out, "\n")
	want := []string{
		"PING node1 (id 1) via hb0/tcp: 64 bytes",
		"64 bytes from node1 (id 1) via hb0/tcp-to: seq=1 time=0.071 ms",
		"64 bytes from node1 (id 1) via hb0/tcp-to: seq=2 time=0.090 ms",
		"no reply from node1 via hb0/tcp-to: seq=3 (timeout 1s)",
		"seq=4 to node1: no route on hb0/tcp: the link is DOWN (peer-silent)",
		"64 bytes from node1 (id 1) via hb0/tcp-to: seq=5 time=0.061 ms",
		"",
		"--- node1 ping statistics ---",
	}
	if len(lines) < 10 || strings.Join(lines[:8], "\n") != strings.Join(want, "\n") {
		t.Fatalf("output:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(lines[8], "5 sent, 3 received, 1 errors, 40% lost, time ") {
		t.Errorf("summary %q", lines[8])
	}
	if lines[9] != "rtt min/avg/max/p99 = 0.061/0.074/0.090/0.090 ms" {
		t.Errorf("rtt line %q", lines[9])
	}

	// No reply at all: exit 1, no rtt line.
	a.mu.Lock()
	a.pings = nil
	a.ping = func(_ int, req status.PingRequest) (*status.PingResult, error) {
		return echo(status.EchoTimeout, req, 0), nil
	}
	a.mu.Unlock()
	code, out, _ = tetherctl("ping", "node1", "--socket", sock, "--count", "2", "--interval", "0")
	if code != 1 || !strings.Contains(out, "2 sent, 0 received, 100% lost") || strings.Contains(out, "rtt") {
		t.Errorf("no reply: exit %d\n%s", code, out)
	}

	// The agent fails the request: exit 2 with its message.
	a.mu.Lock()
	a.ping = func(int, status.PingRequest) (*status.PingResult, error) {
		return nil, status.BadRequest(errors.New("network \"hb1\" is not configured"))
	}
	a.mu.Unlock()
	code, out, errOut = tetherctl("ping", "node1", "--socket", sock, "--count", "2")
	if code != 2 || !strings.Contains(errOut, `tetherd at `+sock+`: network "hb1" is not configured`) {
		t.Errorf("agent error: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// No agent.
	code, _, errOut = tetherctl("ping", "node1", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if code != 2 || !strings.Contains(errOut, "cannot reach tetherd") || !strings.Contains(errOut, "is tetherd running?") {
		t.Errorf("no agent: exit %d, stderr %q", code, errOut)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Each reply's line is out before the next echo is answered.
func TestPingLinesComeOutInRealTime(t *testing.T) {
	release := make(chan struct{})
	a := &fakeAgent{ping: func(n int, req status.PingRequest) (*status.PingResult, error) {
		if n == 1 {
			<-release
		}
		return echo(status.EchoOK, req, 50), nil
	}}
	sock := startAgent(t, a)
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(context.Background(), []string{"ping", "node1", "--socket", sock, "--count", "2", "--interval", "0"},
			func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "seq=1 ") {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("the first reply's line did not come out while the second echo was pending:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if strings.Contains(out.String(), "seq=2") {
		t.Fatal("seq=2 printed before it was answered")
	}
	close(release)
	if code := <-done; code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestPingJSON(t *testing.T) {
	script := []string{status.EchoOK, status.EchoTimeout}
	a := &fakeAgent{ping: func(n int, req status.PingRequest) (*status.PingResult, error) {
		return echo(script[n], req, 100), nil
	}}
	sock := startAgent(t, a)
	code, out, _ := tetherctl("ping", "node1", "--socket", sock, "--count", "2", "--interval", "0", "--json", "--network", "hb1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var rep pingReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if rep.Node != "node1" || rep.ID != 1 || rep.Network != "hb1" || rep.Sent != 2 || rep.Received != 1 || rep.LostPercent != 50 ||
		len(rep.Replies) != 2 || rep.Replies[1].Seq != 2 || rep.Replies[1].Status != status.EchoTimeout || rep.RTTAvgMicros != 100 {
		t.Errorf("%+v", rep)
	}
}

// pathResult is one canned path of a ping-cluster result.
func pathResult(net string, peer uint16, ch string, mtu int, basic, mtuRes, larger string) status.PingPath {
	test := func(name, result string, bytes int) status.PingTest {
		t := status.PingTest{Test: name, Result: result, Bytes: bytes, Sent: 3, Received: 3}
		switch result {
		case status.TestFailed:
			t.Received = 0
		case status.TestSkipped, status.TestNotApplicable:
			t.Sent, t.Received = 0, 0
		}
		return t
	}
	p := status.PingPath{Network: net, Peer: peer, PeerName: fmt.Sprintf("node%d", peer), Channel: ch, MTU: mtu,
		LinkState: status.LinkUp, ChannelState: status.ChannelUp,
		Tests: []status.PingTest{test(status.TestBasic, basic, 64), test(status.TestMTU, mtuRes, mtu), test(status.TestLarger, larger, 3*mtu)}}
	if ch == "ether" {
		p.Tests[2] = status.PingTest{Test: status.TestLarger, Result: status.TestNotApplicable}
	}
	return p
}

func healthyCluster() *status.PingClusterResult {
	res := &status.PingClusterResult{LocalNode: 0, LocalName: "node0", Networks: []string{"hb0", "hb1"}, Count: 3, TimeoutMs: 1000,
		Peers: []status.PingPeer{{ID: 1, Name: "node1"}, {ID: 2, Name: "node2"}}}
	for _, net := range []string{"hb0", "hb1"} {
		for _, peer := range []uint16{1, 2} {
			for _, ch := range []string{"ether", "tcp"} {
				res.Paths = append(res.Paths, pathResult(net, peer, ch, 1500, status.TestOK, status.TestOK, status.TestOK))
			}
		}
	}
	return res
}

func TestPingCluster(t *testing.T) {
	a := &fakeAgent{cluster: func(status.PingClusterRequest) (*status.PingClusterResult, error) { return healthyCluster(), nil }}
	sock := startAgent(t, a)
	code, out, errOut := tetherctl("ping-cluster", "--socket", sock)
	want := `Host is node0 (id 0): 2 networks, 2 peers
Basic connectivity succeeds on 8 path(s)
Basic connectivity fails on 0 path(s)
Detected 1500 byte MTU on 4 path(s)
Larger than MTU communication succeeds on 4 path(s)
Larger than MTU communication not applicable on 4 ether path(s): a frame cannot exceed the MTU
`
	if code != 0 || out != want || errOut != "" {
		t.Errorf("healthy: exit %d, stderr %q\n%s\nwant:\n%s", code, errOut, out, want)
	}
	if len(a.creqs) != 1 || a.creqs[0] != (status.PingClusterRequest{Count: 3, TimeoutMs: 1000}) {
		t.Errorf("requests %+v", a.creqs)
	}

	// hb1 to node1: ether frames at the MTU lost (mtu-mismatch), tcp
	// messages at the MTU and beyond lost too; hb0 to node2: nothing.
	broken := healthyCluster()
	for i := range broken.Paths {
		p := &broken.Paths[i]
		switch {
		case p.Network == "hb1" && p.Peer == 1 && p.Channel == "ether":
			*p = pathResult("hb1", 1, "ether", 1500, status.TestOK, status.TestFailed, "")
			p.Reason, p.Detail = "mtu-mismatch", "mtu-mismatch"
		case p.Network == "hb1" && p.Peer == 1:
			*p = pathResult("hb1", 1, "tcp", 1500, status.TestOK, status.TestFailed, status.TestFailed)
			p.Reason, p.Detail = "mtu-mismatch", "mtu-mismatch"
		case p.Network == "hb0" && p.Peer == 2:
			*p = pathResult("hb0", 2, p.Channel, 1500, status.TestFailed, status.TestSkipped, status.TestSkipped)
			p.LinkState, p.Reason, p.RemoteReason, p.Detail = status.LinkDown, "peer-silent", "nic-silent", "nothing from node2 on hb0 (last heard 3s ago)"
			p.Tests[0].NoRoute = 3
			p.Tests[0].Error = "no route on hb0/" + p.Channel + ": the link is DOWN (peer-silent)"
		}
	}
	a.mu.Lock()
	a.cluster = func(req status.PingClusterRequest) (*status.PingClusterResult, error) { return broken, nil }
	a.mu.Unlock()
	code, out, _ = tetherctl("ping-cluster", "--socket", sock, "--count", "3", "--timeout", "2s")
	want = `Host is node0 (id 0): 2 networks, 2 peers
Basic connectivity succeeds on 6 path(s)
Basic connectivity fails on 2 path(s)
Detected 1500 byte MTU on 2 path(s)
MTU-sized communication fails on 2 path(s)
Larger than MTU communication succeeds on 2 path(s)
Larger than MTU communication fails on 1 path(s)
Larger than MTU communication not applicable on 4 ether path(s): a frame cannot exceed the MTU

Failing paths:
  Network  Peer   Channel  Test         Result    Link  Reason                          Detail
  hb0      node2  ether    basic        no route  DOWN  peer-silent (peer: nic-silent)  nothing from node2 on hb0 (last heard 3s ago)
  hb0      node2  tcp      basic        no route  DOWN  peer-silent (peer: nic-silent)  nothing from node2 on hb0 (last heard 3s ago)
  hb1      node1  ether    mtu 1500     lost 3/3  UP    mtu-mismatch
  hb1      node1  tcp      mtu 1500     lost 3/3  UP    mtu-mismatch
  hb1      node1  tcp      larger 4500  lost 3/3  UP    mtu-mismatch
`
	if code != 1 || out != want {
		t.Errorf("broken: exit %d\n%s\nwant:\n%s", code, out, want)
	}
	if a.creqs[1] != (status.PingClusterRequest{Count: 3, TimeoutMs: 2000}) {
		t.Errorf("request %+v", a.creqs[1])
	}

	code, out, _ = tetherctl("ping-cluster", "--socket", sock, "--json")
	var res status.PingClusterResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || len(res.Paths) != 8 || res.Paths[2].Tests[0].Error == "" {
		t.Errorf("--json: exit %d, %v\n%s", code, err, out)
	}

	a.mu.Lock()
	a.cluster = func(status.PingClusterRequest) (*status.PingClusterResult, error) {
		return nil, errors.New("engine stopped")
	}
	a.mu.Unlock()
	if code, _, errOut := tetherctl("ping-cluster", "--socket", sock); code != 2 || !strings.Contains(errOut, "engine stopped") {
		t.Errorf("agent error: exit %d, stderr %q", code, errOut)
	}
}
