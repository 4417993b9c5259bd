package nicwatch

import (
	"context"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/tether-ha/tether/testbed"
)

// TestWatchFollowsCarrier watches node 0's eth1 in a test bed: a pulled
// cable (switch side down) drops carrier while the interface stays up, the
// node's own "ip link set down" drops both, and both come back.
func TestWatchFollowsCarrier(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t, testbed.Options{Nodes: 2})
	ns, err := netns.GetFromName(b.NodeNS(0))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()

	ctx, cancel := context.WithCancel(context.Background())
	states := make(chan State, 64)
	done := make(chan error, 1)
	go func() {
		done <- WatchIn(ctx, ns, []string{"eth1", "eth2", "eth9"}, func(s State) { states <- s })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()

	next := func(what string, ok func(State) bool) State {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case s := <-states:
				if ok(s) {
					return s
				}
			case <-deadline:
				t.Fatalf("no state update: %s", what)
			}
		}
	}
	// Initial states: every name reported once, the missing one as absent.
	seen := map[string]State{}
	for len(seen) < 3 {
		s := next("initial state", func(State) bool { return true })
		seen[s.Name] = s
	}
	if s := seen["eth1"]; !s.Exists || !s.Carrier || !s.AdminUp || s.MTU != 1500 || s.MAC.String() != b.MAC(0, "hb0").String() {
		t.Fatalf("eth1 initial state %+v", s)
	}
	if s := seen["eth9"]; s.Exists || s.Carrier {
		t.Fatalf("missing interface reported as %+v", s)
	}

	f := b.CablePull(0, "hb0")
	s := next("carrier lost on cable pull", func(s State) bool { return s.Name == "eth1" && !s.Carrier })
	if !s.AdminUp {
		t.Errorf("cable pull reported the interface admin down: %+v", s)
	}
	f.Undo()
	next("carrier back", func(s State) bool { return s.Name == "eth1" && s.Carrier })

	f = b.IfDown(0, "hb1")
	s = next("eth2 down", func(s State) bool { return s.Name == "eth2" && !s.Carrier })
	if s.AdminUp {
		t.Errorf("ip link set down reported admin up: %+v", s)
	}
	f.Undo()
	next("eth2 up", func(s State) bool { return s.Name == "eth2" && s.Carrier && s.AdminUp })

	if _, err := b.Exec(b.NodeNS(0), "ip", "link", "set", "dev", "eth1", "mtu", "1400"); err != nil {
		t.Fatal(err)
	}
	next("MTU change", func(s State) bool { return s.Name == "eth1" && s.MTU == 1400 })
}
