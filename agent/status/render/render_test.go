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
		{"nodes_verbose", NodesVerbose, fixture()},
		{"nodes_verbose_active", NodesVerbose, mustFilter(t, fixture(), FilterActive)},
		{"nodes_wide", Nodes, wideFixture()},
		{"nodes_verbose_wide", NodesVerbose, wideFixture()},
		{"networks", Networks, fixture()},
		{"config", ConfigInfo, fixture()},
		{"counters", Counters, fixture()},
		{"counters_empty", Counters, &status.Status{}},
		{"brief", brief, fixture()},
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
// under its header's end), on node lines and link lines, with blank cells.
func TestNodesVerboseAligned(t *testing.T) {
	for _, st := range []*status.Status{fixture(), wideFixture()} {
		lines := strings.Split(strings.TrimSuffix(renderString(t, NodesVerbose, st), "\n"), "\n")
		header := lines[1]
		cols := columnStarts(t, header, "State", "Link", "Status", "Address", "RTT", "Reason")
		rttEnd, reason := cols[4]+len("RTT"), cols[5]
		starts := map[int]bool{cols[0]: true, cols[1]: true, cols[2]: true, cols[3]: true}
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
	st.Nodes = st.Nodes[:2]
	st.Nodes[1].Links = st.Nodes[1].Links[:1]
	var b bytes.Buffer
	healthy, err = Brief(&b, st)
	if err != nil || !healthy {
		t.Errorf("Brief(one healthy link) = %v, %v; want true, nil", healthy, err)
	}
	if got, want := b.String(), "tether: 1 links, 1 healthy, 0 not healthy\n"; got != want {
		t.Errorf("Brief output = %q, want %q", got, want)
	}

	// UP with a reason (e.g. lossy while still up) is not healthy.
	st.Nodes[1].Links[0].Reason = "lossy"
	if healthy, _ := Brief(io.Discard, st); healthy {
		t.Error("Brief with an UP link that has a reason reports healthy")
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
		"ConfigInfo": ConfigInfo, "Counters": Counters, "JSON": JSON,
	} {
		if err := f(failWriter{}, st); err == nil {
			t.Errorf("%s ignored a write error", name)
		}
	}
	if _, err := Brief(failWriter{}, st); err == nil {
		t.Error("Brief ignored a write error")
	}
}
