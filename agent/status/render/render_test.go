package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-ha/tether/agent/status"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name.golden (or rewrites it with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from golden file (-want +got):\n%s", path, diff)
	}
}

func renderString(t *testing.T, f func(io.Writer, *status.Status) error, st *status.Status) string {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b, st); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mustFilter(t *testing.T, st *status.Status, which string) *status.Status {
	t.Helper()
	f, err := Filter(st, which)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGolden(t *testing.T) {
	brief := func(w io.Writer, st *status.Status) error {
		_, err := Brief(w, st)
		return err
	}
	tests := []struct {
		name string
		f    func(io.Writer, *status.Status) error
		st   *status.Status
	}{
		{"nodes", Nodes, fixture()},
		// Ether-only clusters keep the layout they had before tcp.
		{"nodes_verbose", NodesVerbose, etherOnly(fixture())},
		{"nodes_verbose_active", NodesVerbose, mustFilter(t, etherOnly(fixture()), FilterActive)},
		{"nodes_wide", Nodes, wideFixture()},
		{"nodes_verbose_wide", NodesVerbose, etherOnly(wideFixture())},
		{"nodes_verbose_tcp", NodesVerbose, fixture()},
		{"nodes_verbose_tcp_wide", NodesVerbose, wideFixture()},
		{"connections", Connections, fixture()},
		{"connections_empty", Connections, etherOnly(fixture())},
		{"networks", Networks, fixture()},
		{"config", ConfigInfo, fixture()},
		{"counters", Counters, fixture()},
		{"counters_empty", Counters, &status.Status{}},
		{"brief", brief, fixture()},
		{"matrix", Matrix, fixture()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name, []byte(renderString(t, tt.f, tt.st)))
		})
	}
}

// wideFixture has names longer than the default column and ids of several
// digits, to show that the columns grow and stay aligned.
func wideFixture() *status.Status {
	st := fixture()
	st.Nodes = st.Nodes[:3]
	st.Nodes[1].ID = 17
	st.Nodes[1].Name = "storage-replica-east-01"
	st.Nodes[2].ID = 1023
	st.Nodes[2].State = status.NodePartitioned
	st.Nodes[2].Links[0].Network = "backbone0"
	// Our connection to node 17 on hb0 fails, its connection to us works.
	l := &st.Nodes[1].Links[0]
	l.Channels["tcp"] = status.ChannelFromOnly
	l.Detail = "TCP on hb0 works one way only: storage-replica-east-01 connects to us, but we cannot connect to it " +
		"(connect to 192.168.10.2:7947: dial tcp 192.168.10.1:0->192.168.10.2:7947: i/o timeout)"
	return st
}

// columnStarts returns where each header word starts in the header line.
func columnStarts(t *testing.T, header string, words ...string) []int {
	t.Helper()
	var starts []int
	for _, w := range words {
		i := strings.Index(header, " "+w+" ")
		if i < 0 && strings.HasSuffix(header, " "+w) {
			i = len(header) - len(w) - 1
		}
		if i < 0 {
			t.Fatalf("header %q has no column %q", header, w)
		}
		starts = append(starts, i+1)
	}
	return starts
}

// TestNodesVerboseAligned checks, independently of the golden files, that
// every value starts exactly under its header (RTT, right-aligned, ends
// under its header's end), on node lines and link lines, with blank cells,
// with and without the Channels column.
func TestNodesVerboseAligned(t *testing.T) {
	for _, st := range []*status.Status{fixture(), wideFixture(), etherOnly(fixture()), etherOnly(wideFixture())} {
		lines := strings.Split(strings.TrimSuffix(renderString(t, NodesVerbose, st), "\n"), "\n")
		header := lines[1]
		words := []string{"State", "Link", "Status", "Address", "RTT", "Reason"}
		if carriesTCP(st) {
			words = []string{"State", "Link", "Status", "Address", "RTT", "Channels", "Reason"}
		}
		cols := columnStarts(t, header, words...)
		rttEnd, reason := cols[4]+len("RTT"), cols[len(cols)-1]
		starts := map[int]bool{}
		for i, c := range cols {
			if i != 4 {
				starts[c] = true
			}
		}
		for _, line := range lines[2:] {
			for i := 0; i < len(line) && i < reason; i++ {
				if line[i] == ' ' {
					continue
				}
				j := i
				for j < len(line) && line[j] != ' ' {
					j++
				}
				nodeCell := i < cols[0] && !strings.HasPrefix(line, strings.Repeat(" ", cols[0]))
				if !nodeCell && !starts[i] && j != rttEnd {
					t.Errorf("line %q: value %q at column %d is not under a header (%q)", line, line[i:j], i, header)
				}
				i = j
			}
		}
	}
}

func TestNodesVerboseChannels(t *testing.T) {
	// Channels and Reason of every link line, by node name and network,
	// cut at the header's column starts.
	lines := strings.Split(strings.TrimSuffix(renderString(t, NodesVerbose, wideFixture()), "\n"), "\n")
	cols := columnStarts(t, lines[1], "State", "Link", "Status", "Channels", "Reason")
	cell := func(line string, from, to int) string {
		if from >= len(line) {
			return ""
		}
		return strings.TrimSpace(line[from:min(to, len(line))])
	}
	got := map[string]string{}
	node := ""
	for _, line := range lines[2:] {
		if f := strings.Fields(line[:cols[0]]); len(f) > 0 {
			node = f[len(f)-1]
			continue
		}
		key := node + " " + cell(line, cols[1], cols[2])
		got[key] = cell(line, cols[3], cols[4]) + "|" + cell(line, cols[4], len(line))
	}
	for link, want := range map[string]string{
		"storage-replica-east-01 hb0": "ether:UP,tcp:FROM-ONLY|tcp-blocked",
		"storage-replica-east-01 hb1": "ether:TROUBLE|lossy",   // an ether-only network: no tcp entry
		"storage-replica-east-01 pub": "tcp:DOWN|carrier-lost", // a tcp-only network: no ether entry
		"node0 hb0":                   "ether:UP,tcp:UP|",      // healthy: no reason
		"node2 backbone0":             "ether:UP,tcp:UP|",      // names wider than the column
	} {
		if got[link] != want {
			t.Errorf("-nvv %s: channels|reason = %q, want %q", link, got[link], want)
		}
	}
	if out := renderString(t, NodesVerbose, etherOnly(fixture())); strings.Contains(out, "Channels") || strings.Contains(out, "ether:") {
		t.Errorf("-nvv of an ether-only cluster shows channels:\n%s", out)
	}
}

// TestConnectionsOrder checks the -L row order: by network in the order of
// the document's networks (not by name), then peer id (numerically), then
// "to" before "from", whatever the order of the document.
func TestConnectionsOrder(t *testing.T) {
	st := &status.Status{
		Networks: []status.Network{{Name: "pub"}, {Name: "hb0"}},
	}
	conn := func(network string, peer uint16, dir string) status.Connection {
		return status.Connection{Network: network, Peer: peer, PeerName: fmt.Sprint("n", peer), Direction: dir,
			State: status.LinkDown, LastFrameMs: -1}
	}
	st.Connections = []status.Connection{
		conn("zz", 1, "from"), conn("hb0", 10, "from"), conn("hb0", 2, "from"), conn("hb0", 2, "to"),
		conn("pub", 10, "to"), conn("pub", 1, "from"), conn("pub", 1, "to"), conn("aa", 1, "to"),
	}
	lines := strings.Split(strings.TrimSpace(renderString(t, Connections, st)), "\n")[2:]
	var got []string
	for _, l := range lines {
		f := strings.Fields(l)
		got = append(got, f[3]+" "+f[1]+" "+f[0])
	}
	want := []string{
		"pub 1 to", "pub 1 from", "pub 10 to",
		"hb0 2 to", "hb0 2 from", "hb0 10 from",
		"aa 1 to", "zz 1 from", // not in Networks: last, by name
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-L row order (-want +got):\n%s", diff)
	}
	if st.Connections[0].Network != "zz" {
		t.Error("Connections sorted the document's own slice")
	}
}

// TestConnectionsAligned checks that every header of -L has its values
// under it: left-aligned ones start at the header, right-aligned ones end
// at its end.
func TestConnectionsAligned(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(renderString(t, Connections, fixture()), "\n"), "\n")
	header := lines[1]
	left := []string{"Dir", "Peer", "Network", "State", "Session", "Local", "Remote", "Events"}
	right := []string{"Age", "SendBuf", "LastFrame", "RTT"}
	rows := 0
	for _, line := range lines[2:] {
		if strings.Contains(line, "last error") {
			if !strings.HasPrefix(line, strings.Repeat(" ", columnStarts(t, header, "Peer")[0])+"last error") {
				t.Errorf("error note %q does not start under Peer", line)
			}
			continue
		}
		rows++
		for i, start := range columnStarts(t, header, left...) {
			if line[start] == ' ' || line[start-1] != ' ' {
				t.Errorf("line %q: no value starting under %q", line, left[i])
			}
		}
		for i, start := range columnStarts(t, header, right...) {
			end := start + len(right[i])
			if line[end-1] == ' ' || (end < len(line) && line[end] != ' ') {
				t.Errorf("line %q: no value ending under %q", line, right[i])
			}
		}
	}
	if rows != len(fixture().Connections) {
		t.Errorf("-L shows %d connections, want the fixture's %d", rows, len(fixture().Connections))
	}
}

// TestCountersAligned checks that numbers end under the end of their header.
func TestCountersAligned(t *testing.T) {
	lines := strings.Split(renderString(t, Counters, fixture()), "\n")
	header := lines[1]
	for _, word := range []string{"TxFrames", "RxBytes", "Dropped"} {
		end := strings.Index(header, word) + len(word)
		for _, line := range lines[2:6] {
			if len(line) < end || line[end-1] == ' ' || (len(line) > end && line[end] != ' ') {
				t.Errorf("line %q: no number ending at column %d under %q", line, end, word)
			}
		}
	}
}

func TestFilter(t *testing.T) {
	st := fixture()
	ids := func(st *status.Status) string {
		var s []string
		for _, n := range st.Nodes {
			s = append(s, fmt.Sprint(n.ID))
		}
		return strings.Join(s, ",")
	}
	active := mustFilter(t, st, FilterActive)
	if got, want := ids(active), "0,1,2"; got != want {
		t.Errorf("active nodes = %s, want %s", got, want)
	}
	for _, which := range []string{"", FilterConfigured} {
		if got, want := ids(mustFilter(t, st, which)), "0,1,2,3,4"; got != want {
			t.Errorf("Filter(%q) nodes = %s, want %s", which, got, want)
		}
	}
	if got := ids(st); got != "0,1,2,3,4" {
		t.Errorf("Filter changed its input: nodes = %s", got)
	}
	// The local node stays even with no link up (all NICs down).
	st.Nodes[0].LinksUp = 0
	if got := ids(mustFilter(t, st, FilterActive)); got != "0,1,2" {
		t.Errorf("active nodes with local links down = %s, want 0,1,2", got)
	}
	if _, err := Filter(st, "all"); err == nil || !strings.Contains(err.Error(), `"all"`) {
		t.Errorf("Filter(all) error = %v, want an error naming the word", err)
	}
}

func TestBriefHealth(t *testing.T) {
	st := fixture()
	healthy, err := Brief(io.Discard, st)
	if err != nil || healthy {
		t.Errorf("Brief(fixture) = %v, %v; want false, nil", healthy, err)
	}

	// Only peers count: a local NIC down does not by itself make the
	// links unhealthy, and a cluster whose peer links are all UP is healthy.
	st.Nodes = []status.Node{st.Nodes[0], st.Nodes[2]}
	st.Nodes[1].Links = st.Nodes[1].Links[:1] // node2 hb0: ether and tcp UP
	st.Networks = nil                         // network-wide findings are printed, tested by the golden file
	var b bytes.Buffer
	healthy, err = Brief(&b, st)
	if err != nil || !healthy {
		t.Errorf("Brief(one healthy link) = %v, %v; want true, nil", healthy, err)
	}
	if got, want := b.String(), "tether: 1 links, 1 healthy, 0 not healthy\n"; got != want {
		t.Errorf("Brief output = %q, want %q", got, want)
	}

	// UP with a reason (e.g. tcp-blocked while ether works) is not healthy.
	st.Nodes[1].Links[0].Reason = "tcp-blocked"
	if healthy, _ := Brief(io.Discard, st); healthy {
		t.Error("Brief with an UP link that has a reason reports healthy")
	}
}

func TestBriefDetail(t *testing.T) {
	for _, tt := range []struct {
		detail, want string
	}{
		{"", "node1 hb0 UP tcp-blocked\n"},
		{"tcp-blocked", "node1 hb0 UP tcp-blocked\n"}, // says nothing more
		{"TCP on hb0 works one way only", "node1 hb0 UP tcp-blocked: TCP on hb0 works one way only\n"},
		{"two\nlines ", "node1 hb0 UP tcp-blocked: two lines\n"}, // one line per link, for scripts
	} {
		st := &status.Status{Nodes: []status.Node{{ID: 1, Name: "node1", Links: []status.Link{
			{Network: "hb0", State: status.LinkUp, Reason: "tcp-blocked", Detail: tt.detail},
		}}}}
		var b bytes.Buffer
		if _, err := Brief(&b, st); err != nil {
			t.Fatal(err)
		}
		_, got, _ := strings.Cut(b.String(), "\n")
		if got != tt.want {
			t.Errorf("Brief with detail %q: %q, want %q", tt.detail, got, tt.want)
		}
	}
}

func TestNetworkAddress(t *testing.T) {
	for _, tt := range []struct {
		addr string
		port int
		want string
	}{
		{"192.168.10.1", 7947, "192.168.10.1:7947"},
		{"fd00::1", 7947, "[fd00::1]:7947"},
		{"192.168.10.1", 0, "192.168.10.1"},
		{"", 7947, ""},
	} {
		if got := address(status.Network{Address: tt.addr, TCPPort: tt.port}); got != tt.want {
			t.Errorf("address(%q, %d) = %q, want %q", tt.addr, tt.port, got, tt.want)
		}
	}
}

func TestSizeBytes(t *testing.T) {
	for n, want := range map[int]string{
		0: "", 512: "512 bytes", 4096: "4096 bytes (4 KiB)", 1 << 20: "1048576 bytes (1024 KiB)", 100000: "100000 bytes (97.7 KiB)",
	} {
		if got := sizeBytes(n); got != want {
			t.Errorf("sizeBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRTT(t *testing.T) {
	for us, want := range map[int64]string{
		0: "0us", 71: "71us", 999: "999us", 1000: "1.0ms", 1234: "1.2ms",
		99_949: "99.9ms", 100_000: "100ms", 250_400: "250ms", 1_500_000: "1.50s",
	} {
		if got := RTT(us); got != want {
			t.Errorf("RTT(%d) = %q, want %q", us, got, want)
		}
	}
}

func TestReason(t *testing.T) {
	for _, tt := range []struct {
		reason, remote, want string
	}{
		{"", "", ""},
		{"peer-silent", "", "peer-silent"},
		{"peer-silent", "carrier-lost", "peer-silent (peer: carrier-lost)"},
		{"", "lossy", "(peer: lossy)"},
		{"peer-silent", "peer-silent", "peer-silent"},
	} {
		if got := Reason(status.Link{Reason: tt.reason, RemoteReason: tt.remote}); got != tt.want {
			t.Errorf("Reason(%q, %q) = %q, want %q", tt.reason, tt.remote, got, tt.want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	st := fixture()
	var got status.Status
	if err := json.Unmarshal([]byte(renderString(t, JSON, st)), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, &got); diff != "" {
		t.Errorf("JSON round trip differs (-want +got):\n%s", diff)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestWriteErrorsReturned(t *testing.T) {
	st := fixture()
	for name, f := range map[string]func(io.Writer, *status.Status) error{
		"Nodes": Nodes, "NodesVerbose": NodesVerbose, "Networks": Networks,
		"ConfigInfo": ConfigInfo, "Counters": Counters, "JSON": JSON, "Connections": Connections,
	} {
		if err := f(failWriter{}, st); err == nil {
			t.Errorf("%s ignored a write error", name)
		}
	}
	if _, err := Brief(failWriter{}, st); err == nil {
		t.Error("Brief ignored a write error")
	}
}

// "Which one is the primary heartbeat?": the network messages prefer,
// and when it has no usable link, the one they use instead.
func TestPrimaryHeartbeat(t *testing.T) {
	st := fixture()
	if got, want := primaryLine(st), "Primary heartbeat: hb0 (messages prefer it); then hb1, pub (lowpri)"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	for i := range st.Nodes {
		for j := range st.Nodes[i].Links {
			if l := &st.Nodes[i].Links[j]; l.Network == "hb0" && !st.Nodes[i].Local {
				l.State = status.LinkDown
			}
		}
	}
	if got, want := primaryLine(st), "Primary heartbeat: hb0 (messages prefer it); then hb1, pub (lowpri); hb0 has no usable link now: messages use hb1"; got != want {
		t.Errorf("primary down: got %q\nwant %q", got, want)
	}
}
