// Package e2e runs real tetherd processes in network namespaces (see
// testbed) and checks what an operator would see: link and node states,
// reasons, log events, tetherstat's output and exit codes.
//
// The tests need root. Outside CI they skip without it; with CI=true they
// fail, because there they must run.
package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// binDir holds tetherd and tetherstat: $TETHER_BIN_DIR (make e2e builds
// them there, with the race detector) or a fresh build.
var binDir string

// perfBinDir holds binaries built without the race detector, for the tests
// whose outcome depends on speed (a flood): $TETHER_PERF_BIN_DIR, else
// binDir.
var perfBinDir string

func TestMain(m *testing.M) {
	os.Exit(testbed.Main(func(t testbed.T) {
		binDir = os.Getenv("TETHER_BIN_DIR")
		if binDir == "" {
			binDir = testbed.Build(t)
		}
		perfBinDir = os.Getenv("TETHER_PERF_BIN_DIR")
		if perfBinDir == "" {
			perfBinDir = binDir
		}
		if code := m.Run(); code != 0 {
			t.Fatalf("tests failed (exit %d)", code)
		}
	}))
}

// Generous bounds for real-time behaviour: the machine may be loaded, and
// speed is measured by the benchmarks, not here.
const (
	upTimeout = 15 * time.Second
	// slack is added to timer-derived bounds.
	slack = 1 * time.Second
)

// newBed makes a started 3-node / 2-network cluster with every link UP.
func newBed(t *testing.T, o testbed.Options) *testbed.Bed {
	t.Helper()
	testbed.RequireRoot(t)
	if o.BinDir == "" {
		o.BinDir = binDir
	}
	b := testbed.New(t, o)
	b.StartAll()
	b.WaitAllUp(upTimeout)
	return b
}

// linkIs returns a WaitFor predicate: node's link to peer on net is in
// state with reason.
func linkIs(peer uint16, net, state, reason string) func(*status.Status) bool {
	return func(st *status.Status) bool {
		l := testbed.FindLink(st, peer, net)
		return l != nil && l.State == state && l.Reason == reason
	}
}

func nodeIs(peer uint16, state string) func(*status.Status) bool {
	return func(st *status.Status) bool {
		n := testbed.FindNode(st, peer)
		return n != nil && n.State == state
	}
}

// eventAfter matches event id for (peer, network) logged at or after t.
func eventAfter(t0 time.Time, id string, peer int, net string) func(testbed.Event) bool {
	return func(e testbed.Event) bool {
		return e.ID == id && !e.Time.Before(t0) && e.Str("peer_id") == fmt.Sprint(peer) &&
			(net == "" || e.Str("network") == net)
	}
}

// eventsBetween returns node i's events with ids in ids logged in [from, to).
func eventsBetween(b *testbed.Bed, i int, from, to time.Time, ids ...string) []testbed.Event {
	var out []testbed.Event
	for _, e := range b.Events(i) {
		if e.Time.Before(from) || !e.Time.Before(to) {
			continue
		}
		for _, id := range ids {
			if e.ID == id {
				out = append(out, e)
			}
		}
	}
	return out
}

// peersOf returns every node index but i.
func peersOf(b *testbed.Bed, i int) []int {
	var out []int
	for j := 0; j < b.N(); j++ {
		if j != i {
			out = append(out, j)
		}
	}
	return out
}
