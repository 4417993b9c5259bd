package render

import (
	"strconv"
	"testing"

	"github.com/tether-ha/tether/agent/status"
)

// The systemd status line counts the links to peers that are up and names
// the worst one: a DOWN link before a TROUBLE one before an UP link with a
// reason, the first of its rank in the document's order.
func TestSummary(t *testing.T) {
	st := fixture()
	total, up := 0, 0
	for _, n := range st.Nodes {
		if n.Local {
			continue
		}
		for _, l := range n.Links {
			total++
			if l.State == status.LinkUp {
				up++
			}
		}
	}
	got := Summary(st)
	// fixture: node1 hb0 UP tcp-blocked, node1 hb1 TROUBLE lossy, then
	// node1 pub DOWN carrier-lost (the first DOWN link).
	want := strconv.Itoa(up) + "/" + strconv.Itoa(total) + " links up; worst: node1 pub DOWN carrier-lost"
	if got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}

	healthy := &status.Status{Nodes: []status.Node{
		{Name: "node0", Local: true, Links: []status.Link{{Network: "hb0", State: status.LinkDown, Reason: "carrier-lost"}}},
		{Name: "node1", Links: []status.Link{{Network: "hb0", State: status.LinkUp}, {Network: "hb1", State: status.LinkUp}}},
	}, Networks: []status.Network{{Name: "hb1", Reasons: []status.NetworkReason{{Reason: "foreign-cluster"}}}}}
	if got, want := Summary(healthy), "2/2 links up; hb1: foreign-cluster"; got != want {
		t.Errorf("healthy links, a network finding: %q, want %q (the local node's NICs are not links)", got, want)
	}
	healthy.Nodes[1].Links[1] = status.Link{Network: "hb1", State: status.LinkUp, Reason: "lossy"}
	healthy.Nodes[1].Links[0] = status.Link{Network: "hb0", State: status.LinkTrouble, Reason: "peer-silent"}
	if got, want := Summary(healthy), "1/2 links up; worst: node1 hb0 TROUBLE peer-silent"; got != want {
		t.Errorf("TROUBLE before UP lossy: %q, want %q", got, want)
	}
	if got, want := Summary(&status.Status{Claiming: true, LocalNode: 3}), "claiming node id 3 (no heartbeat sent yet)"; got != want {
		t.Errorf("claiming: %q, want %q", got, want)
	}
}
