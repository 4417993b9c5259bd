package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeBed is a Bed with n nodes whose logs are files in a temporary
// directory and nothing else: for the parts that only read logs and
// configs.
func fakeBed(t *testing.T, n int) *Bed {
	t.Helper()
	opt, err := normalize(Options{Nodes: n})
	if err != nil {
		t.Fatal(err)
	}
	b := &Bed{t: t, opt: opt, dir: t.TempDir(), netIdx: map[string]int{}}
	for k, nw := range opt.Networks {
		b.netIdx[nw.Name] = k
	}
	for i := range n {
		b.nodes = append(b.nodes, &node{idx: i, log: filepath.Join(b.dir, fmt.Sprintf("n%d.log", i))})
	}
	return b
}

// The address plan holds 64 nodes × 2 networks (and MaxNodes): unique
// MACs and IPs, switch ports within IFNAMSIZ, node IPs below the hosts'
// range, and every node's config listing every node with its own
// addresses.
func TestAddressPlanAt64Nodes(t *testing.T) {
	for _, n := range []int{64, MaxNodes} {
		b := fakeBed(t, n)
		macs, ips := map[string]string{}, map[string]string{}
		for i := range n {
			for k, nw := range b.opt.Networks {
				who := fmt.Sprintf("node%d %s", i, nw.Name)
				if p := b.Port(i, nw.Name); len(p) > 15 {
					t.Errorf("%s: port %q longer than 15 characters", who, p)
				}
				m, ip := b.MAC(i, nw.Name).String(), b.IP(i, nw.Name)
				if o, dup := macs[m]; dup {
					t.Errorf("%s: MAC %s also %s's", who, m, o)
				}
				if o, dup := ips[ip.String()]; dup {
					t.Errorf("%s: IP %s also %s's", who, ip, o)
				}
				macs[m], ips[ip.String()] = who, who
				if want := fmt.Sprintf("10.77.%d.%d", k, i+1); ip.String() != want {
					t.Errorf("%s: IP %s, want %s", who, ip, want)
				}
				if last := ip.As4()[3]; last >= 201 {
					t.Errorf("%s: IP %s in the hosts' range (201..254)", who, ip)
				}
			}
		}
		doc := b.configDoc(n - 1)
		nodes, _ := doc["nodes"].([]any)
		if len(nodes) != n {
			t.Fatalf("%d nodes: config lists %d", n, len(nodes))
		}
		last := nodes[n-1].(map[string]any)
		if addrs := last["addresses"].(map[string]any); addrs["hb1"] != fmt.Sprintf("10.77.1.%d", n) {
			t.Errorf("%d nodes: node%d's hb1 address in the config is %v", n, n-1, addrs["hb1"])
		}
	}
}

// writeLog appends lines to node i's log.
func writeLog(t *testing.T, b *Bed, i int, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(b.LogPath(i), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

func linkLine(at time.Time, id string, peer int, net, state, reason string) string {
	return fmt.Sprintf(`{"time":%q,"level":"INFO","msg":"x","event":%q,"network":%q,"peer":"node%d","peer_id":%d,"state":%q,"reason":%q}`,
		at.Format(time.RFC3339Nano), id, net, peer, peer, state, reason)
}

// LinkLog keeps each link's last logged state per node and run: a link
// is healthy when logged UP with no reason, a new run starts from nothing,
// lines about unknown peers or networks are ignored.
func TestLinkLogFollowsStatesAndRuns(t *testing.T) {
	b := fakeBed(t, 3)
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	writeLog(t, b, 0, runMarker+"1 of node0 at x: ip ...",
		linkLine(at(1), "link.up", 1, "hb0", "UP", ""),
		linkLine(at(2), "link.up", 1, "hb1", "UP", ""),
		linkLine(at(3), "link.up", 2, "hb0", "UP", ""),
		linkLine(at(4), "link.up", 7, "hb0", "UP", ""), // no such node
		linkLine(at(5), "link.up", 2, "hb9", "UP", ""), // no such network
		linkLine(at(6), "link.up", 0, "hb0", "UP", ""), // itself
		`{"time":"bad","msg":"not an event"}`, "panic: not JSON",
	)
	l, err := b.NewLinkLog()
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Healthy(0); got != 3 {
		t.Fatalf("node0: %d links healthy, want 3 (of %d)", got, l.Links())
	}
	if got, want := countsString(l.Counts(0)), "UP 3, none 1"; got != want {
		t.Errorf("node0 counts %q, want %q", got, want)
	}
	if !l.LastChange(0).Equal(at(3)) {
		t.Errorf("node0 last change %v, want %v", l.LastChange(0), at(3))
	}

	// The fourth link comes up; then one goes through TROUBLE and one is
	// found lossy while UP: not healthy.
	writeLog(t, b, 0, linkLine(at(10), "link.up", 2, "hb1", "UP", ""))
	if err := l.Update(); err != nil {
		t.Fatal(err)
	}
	if got := l.Healthy(0); got != l.Links() {
		t.Fatalf("node0: %d links healthy, want all %d", got, l.Links())
	}
	writeLog(t, b, 0, linkLine(at(11), "link.trouble", 1, "hb0", "TROUBLE", "peer-silent"),
		linkLine(at(12), "link.reason", 2, "hb1", "UP", "lossy"))
	if err := l.Update(); err != nil {
		t.Fatal(err)
	}
	if got := l.Healthy(0); got != 2 {
		t.Errorf("node0: %d links healthy after a TROUBLE and a lossy UP, want 2", got)
	}
	if s, ok := l.Link(0, 2, "hb1"); !ok || s.State != "UP" || s.Reason != "lossy" || s.Healthy() || !s.At.Equal(at(12)) {
		t.Errorf("node0's hb1 link to node2: %+v, %v", s, ok)
	}
	if got, want := countsString(l.Counts(0)), "UP 2, TROUBLE peer-silent 1, UP lossy 1"; got != want {
		t.Errorf("node0 counts %q, want %q", got, want)
	}

	// A restart: the new run knows nothing yet.
	writeLog(t, b, 0, runMarker+"2 of node0 at y: ip ...", `{"time":"`+at(20).Format(time.RFC3339Nano)+`","msg":"started","event":"agent.start"}`)
	if err := l.Update(); err != nil {
		t.Fatal(err)
	}
	if got := l.Healthy(0); got != 0 {
		t.Errorf("node0 run 2: %d links healthy, want 0", got)
	}
	if _, ok := l.Link(0, 1, "hb0"); ok {
		t.Error("node0 run 2 still has run 1's state of its hb0 link to node1")
	}
	if got := l.Healthy(1); got != 0 || countsString(l.Counts(1)) != "none 4" {
		t.Errorf("node1 (no log): %d healthy, counts %q", got, countsString(l.Counts(1)))
	}
}

// A LogTail hands out each matching event once, with its node and run,
// skips other events, and waits for a line to be complete.
func TestLogTail(t *testing.T) {
	b := fakeBed(t, 2)
	t0 := time.Now()
	writeLog(t, b, 1, runMarker+"1 of node1 at x: ip ...",
		linkLine(t0, "link.up", 0, "hb0", "UP", ""),
		linkLine(t0, "node.state", 0, "", "OPEN", ""),
		linkLine(t0, "node.statex", 0, "", "OPEN", ""))
	tl := b.NewLogTail("link.", "node.state")
	evs, err := tl.Poll()
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].ID != "link.up" || evs[1].ID != "node.state" || evs[0].Node != 1 || evs[0].Run != 1 {
		t.Fatalf("first poll: %v, want node1's link.up and node.state of run 1", evs)
	}
	// Half a line, then its end and a new run.
	line := linkLine(t0, "link.down", 1, "hb1", "DOWN", "peer-silent")
	f, err := os.OpenFile(b.LogPath(0), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(runMarker + "1 of node0 at x\n" + line[:20]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if evs, err := tl.Poll(); err != nil || len(evs) != 0 {
		t.Fatalf("poll with half a line: %v, %v", evs, err)
	}
	writeLog(t, b, 0, line[20:], runMarker+"2 of node0 at y", linkLine(t0, "link.up", 1, "hb1", "UP", ""))
	evs, err = tl.Poll()
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].ID != "link.down" || evs[0].Run != 1 || evs[1].ID != "link.up" || evs[1].Run != 2 || tl.Run(0) != 2 {
		t.Fatalf("second poll: %v (run %d), want node0's link.down of run 1 and link.up of run 2", evs, tl.Run(0))
	}
	if evs, _ := tl.Poll(); len(evs) != 0 {
		t.Fatalf("third poll: %v, want nothing new", evs)
	}
}
