package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// pingNets is two networks carrying both channels, at mtu (0: 1500).
func pingNets(mtu int) []testbed.NetworkSpec {
	return []testbed.NetworkSpec{
		{Name: "hb0", Channels: []string{"ether", "tcp"}, MTU: mtu},
		{Name: "hb1", Channels: []string{"ether", "tcp"}, MTU: mtu},
	}
}

// pingChannelsUp: every link of the node UP and healthy on both channels.
func pingChannelsUp(st *status.Status) bool {
	for _, n := range st.Nodes {
		if n.Local {
			continue
		}
		for _, l := range n.Links {
			if !l.Healthy() || l.Channels["ether"] != status.ChannelUp || l.Channels["tcp"] != status.ChannelUp {
				return false
			}
		}
	}
	return len(st.Nodes) == 3
}

// pingBed is a started 3-node bed with every channel of every link up.
func pingBed(t *testing.T, mtu int) *testbed.Bed {
	t.Helper()
	b := newBed(t, testbed.Options{Networks: pingNets(mtu)})
	for i := 0; i < b.N(); i++ {
		b.WaitFor(i, "every channel up", upTimeout, pingChannelsUp)
	}
	return b
}

// pingCtl runs tetherctl against node 0's agent (from the host: the
// status socket is a file) and returns its exit code and output. It is
// given a minute, far more than any command here takes.
func pingCtl(t *testing.T, b *testbed.Bed, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "tetherctl"), append(args, "--socket", b.Socket(0))...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		code = ee.ExitCode()
	default:
		t.Fatalf("tetherctl %v: %v (stderr %q)", args, err, e.String())
	}
	t.Logf("tetherctl %s: exit %d\n%s%s", strings.Join(args, " "), code, o.String(), e.String())
	return code, o.String(), e.String()
}

// pingLines returns the lines of out containing every one of words.
func pingLines(out string, words ...string) []string {
	var got []string
	for line := range strings.Lines(out) {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			got = append(got, strings.TrimRight(line, "\n"))
		}
	}
	return got
}

// pingFailingRows returns the rows of ping-cluster's failing-paths table.
func pingFailingRows(out string) [][]string {
	_, table, ok := strings.Cut(out, "Failing paths:\n")
	if !ok {
		return nil
	}
	var rows [][]string
	for i, line := range strings.Split(strings.TrimSpace(table), "\n") {
		if i > 0 { // the header
			rows = append(rows, strings.Fields(line))
		}
	}
	return rows
}

func TestPingNode(t *testing.T) {
	b := pingBed(t, 0)

	// Best route: hb0, its tcp connection.
	code, out, _ := pingCtl(t, b, "ping", "node1", "--count", "3", "--interval", "100ms")
	if code != 0 || len(pingLines(out, "bytes from node1 (id 1) via hb0/tcp-to: seq=")) != 3 ||
		!strings.Contains(out, "--- node1 ping statistics ---\n3 sent, 3 received, 0% lost, time ") ||
		!strings.Contains(out, "rtt min/avg/max/p99 = ") {
		t.Errorf("ping node1: exit %d\n%s", code, out)
	}
	// Pinned: exactly that network and channel, both ways.
	for _, c := range []struct{ args, via string }{
		{"--network hb1 --channel ether", "hb1/ether"},
		{"--network hb1 --channel tcp", "hb1/tcp-to"},
		{"--channel ether", "hb0/ether"},
		{"--network hb0 --channel ether --size mtu", "hb0/ether"},
	} {
		args := append([]string{"ping", "2", "--count", "3", "--interval", "100ms"}, strings.Fields(c.args)...)
		code, out, _ := pingCtl(t, b, args...)
		if n := len(pingLines(out, "bytes from node2 (id 2) via "+c.via+": seq=")); code != 0 || n != 3 {
			t.Errorf("ping node2 %s: exit %d, %d replies via %s\n%s", c.args, code, n, c.via, out)
		}
		if strings.Contains(c.args, "mtu") && !strings.Contains(out, "1500 bytes from node2") {
			t.Errorf("--size mtu on hb0/ether: want 1500-byte frames\n%s", out)
		}
	}

	// --json: one document with every reply.
	code, out, _ = pingCtl(t, b, "ping", "node1", "--count", "2", "--interval", "50ms", "--network", "hb1", "--json")
	var rep struct {
		Node     string             `json:"node"`
		Sent     int                `json:"sent"`
		Received int                `json:"received"`
		Replies  []status.PingReply `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Node != "node1" || rep.Received != 2 || len(rep.Replies) != 2 ||
		rep.Replies[0].Network != "hb1" || rep.Replies[0].Status != status.EchoOK || rep.Replies[0].RTTMicros <= 0 {
		t.Errorf("--json: exit %d, %v: %+v", code, err, rep)
	}

	if code, _, errOut := pingCtl(t, b, "ping", "node0"); code != 2 || !strings.Contains(errOut, "is this node") {
		t.Errorf("ping the local node: exit %d", code)
	}
}

// A 9000-byte network whose one switch port is left at 1500: small frames
// pass, frames at the MTU do not. ping at the MTU on that path gets no
// reply, at 64 bytes it does; ping-cluster names the path.
func TestPingAtTheMTU(t *testing.T) {
	b := pingBed(t, 9000)

	code, out, _ := pingCtl(t, b, "ping-cluster")
	want := "Host is node0 (id 0): 2 networks, 2 peers\n" +
		"Basic connectivity succeeds on 8 path(s)\n" +
		"Basic connectivity fails on 0 path(s)\n" +
		"Detected 9000 byte MTU on 4 path(s)\n" +
		"Larger than MTU communication succeeds on 4 path(s)\n"
	if code != 0 || !strings.HasPrefix(out, want) || strings.Contains(out, "Failing") {
		t.Errorf("ping-cluster on a healthy 9000-byte cluster: exit %d\n%s\nwant it to start with\n%s", code, out, want)
	}
	if code, out, _ := pingCtl(t, b, "ping", "node1", "--network", "hb1", "--channel", "ether", "--size", "mtu", "--count", "2", "--interval", "100ms"); code != 0 ||
		len(pingLines(out, "9000 bytes from node1 (id 1) via hb1/ether")) != 2 {
		t.Errorf("ping at the MTU on a healthy path: exit %d", code)
	}

	b.SetPortMTU(1, "hb1", 1500)
	code, out, _ = pingCtl(t, b, "ping", "node1", "--network", "hb1", "--channel", "ether", "--size", "mtu",
		"--count", "3", "--interval", "100ms", "--timeout", "500ms")
	if code != 1 || len(pingLines(out, "no reply from node1 via hb1/ether: seq=", "(timeout 500ms)")) != 3 ||
		!strings.Contains(out, "3 sent, 0 received, 100% lost") {
		t.Errorf("ping at the MTU across a 1500-byte port: exit %d, want 1 and three timeouts\n%s", code, out)
	}
	code, out, _ = pingCtl(t, b, "ping", "node1", "--network", "hb1", "--channel", "ether", "--size", "64", "--count", "3", "--interval", "100ms")
	if code != 0 || len(pingLines(out, "64 bytes from node1 (id 1) via hb1/ether")) != 3 {
		t.Errorf("ping at 64 bytes on the same path: exit %d, want 0 and three replies\n%s", code, out)
	}
	// The other peer on the same network is not affected.
	if code, _, _ := pingCtl(t, b, "ping", "node2", "--network", "hb1", "--channel", "ether", "--size", "mtu", "--count", "2", "--interval", "100ms"); code != 0 {
		t.Errorf("ping node2 at the MTU on hb1: exit %d", code)
	}

	b.WaitFor(0, "node0 sees mtu-mismatch on hb1 to node1", upTimeout, linkIs(1, "hb1", status.LinkUp, "mtu-mismatch"))
	start := time.Now()
	code, out, _ = pingCtl(t, b, "ping-cluster")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("ping-cluster took %v", d)
	}
	if code != 1 || !strings.Contains(out, "Basic connectivity succeeds on 8 path(s)\n") || !strings.Contains(out, "Detected 9000 byte MTU on 3 path(s)\n") ||
		!strings.Contains(out, "MTU-sized communication fails on ") {
		t.Errorf("ping-cluster with the mismatch: exit %d\n%s", code, out)
	}
	rows := pingFailingRows(out)
	etherRow := false
	for _, r := range rows {
		if len(r) < 4 || r[0] != "hb1" || r[1] != "node1" {
			t.Errorf("failing row %v: want only hb1 to node1", r)
			continue
		}
		if r[2] == "ether" && r[3] == "mtu" && strings.Contains(strings.Join(r, " "), "mtu-mismatch") {
			etherRow = true
		}
	}
	if !etherRow {
		t.Errorf("no failing row hb1 node1 ether mtu ... mtu-mismatch in\n%s", out)
	}
}

// A silent blackhole of node1's hb0 switch port: ping-cluster shows hb0
// to node1 failing, on both channels, and nothing else; once the link is
// down a pinned ping fails at once with the link's state.
func TestPingClusterBlackhole(t *testing.T) {
	b := pingBed(t, 0)
	b.Blackhole(1, "hb0")
	check := func(when string) {
		code, out, _ := pingCtl(t, b, "ping-cluster", "--timeout", "500ms")
		rows := pingFailingRows(out)
		channels := map[string]bool{}
		for _, r := range rows {
			if len(r) < 5 || r[0] != "hb0" || r[1] != "node1" || r[3] != "basic" {
				t.Errorf("%s: failing row %v: want only hb0 node1 basic", when, r)
				continue
			}
			channels[r[2]] = true
		}
		if code != 1 || !channels["ether"] || !channels["tcp"] || !strings.Contains(out, "Basic connectivity fails on 2 path(s)\n") ||
			!strings.Contains(out, "Basic connectivity succeeds on 6 path(s)\n") {
			t.Errorf("%s: exit %d, failing channels %v\n%s", when, code, channels, out)
		}
	}
	check("right after the blackhole")

	b.WaitFor(0, "hb0 to node1 down", peerInact+slack, linkIs(1, "hb0", status.LinkDown, "peer-silent"))
	check("once the link is down")
	start := time.Now()
	code, out, _ := pingCtl(t, b, "ping", "node1", "--network", "hb0", "--channel", "ether", "--count", "2", "--interval", "0", "--timeout", "5s")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("ping over a down link took %v: it must fail at once, not wait for the timeout", d)
	}
	if code != 1 || len(pingLines(out, "to node1: no route on hb0/ether: the link is DOWN (peer-silent)")) != 2 ||
		!strings.Contains(out, "2 sent, 0 received, 2 errors, 100% lost") {
		t.Errorf("ping over a down link: exit %d\n%s", code, out)
	}
	// The best route fails over to hb1.
	if code, out, _ := pingCtl(t, b, "ping", "node1", "--count", "2", "--interval", "100ms"); code != 0 || len(pingLines(out, "via hb1/")) != 2 {
		t.Errorf("ping node1 by the best route with hb0 down: exit %d", code)
	}
}
