package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tether-ha/tether/testbed"
)

func linkEvent(at time.Time, node int, id, net string, peer int, reason, remote string) testbed.Event {
	attrs := map[string]any{"network": net, "peer_id": json.Number(string(rune('0' + peer))), "reason": reason}
	if remote != "" {
		attrs["remote_reason"] = remote
	}
	return testbed.Event{Node: node, Time: at, ID: id, Attrs: attrs}
}

func TestTrialHandle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tr := &trial{node: 0, net: "hb0", at: t0,
		involved:  []linkKey{{0, 1, "hb0"}, {0, 2, "hb0"}, {1, 0, "hb0"}, {2, 0, "hb0"}},
		down:      map[linkKey]testbed.Event{},
		troubleAt: map[linkKey]time.Time{},
		final:     map[linkKey]string{},
	}
	l10 := linkKey{1, 0, "hb0"}
	for _, e := range []testbed.Event{
		linkEvent(t0.Add(-time.Millisecond), 1, "link.down", "hb0", 0, "peer-silent", ""), // before the fault
		linkEvent(ms(300), 1, "link.trouble", "hb0", 0, "peer-silent", ""),
		linkEvent(ms(600), 1, "link.down", "hb0", 0, "one-way-in", ""),
		linkEvent(ms(605), 1, "link.reason", "hb0", 0, "peer-silent", "peer-silent"),
		linkEvent(ms(610), 1, "link.down", "hb1", 0, "peer-silent", ""), // other network
		linkEvent(ms(620), 1, "link.trouble", "hb0", 0, "peer-silent", ""),
	} {
		tr.handle(e)
	}
	if got := tr.down[l10].Time; !got.Equal(ms(600)) {
		t.Fatalf("down of node1→node0 at %v, want the first link.down after the fault (%v)", got, ms(600))
	}
	if got := tr.troubleAt[l10]; !got.Equal(ms(300)) {
		t.Fatalf("trouble at %v, want %v", got, ms(300))
	}
	if got, want := tr.final[l10], "peer-silent (peer: peer-silent)"; got != want {
		t.Fatalf("final reason %q, want %q", got, want)
	}
	if len(tr.others) != 1 || tr.others[0].Str("network") != "hb1" {
		t.Fatalf("others = %v, want the hb1 down only", tr.others)
	}

	tr.undoAt = ms(1000)
	tr.handle(linkEvent(ms(1001), 1, "link.reason", "hb0", 0, "one-way-out", ""))
	tr.handle(linkEvent(ms(1030), 1, "link.up", "hb0", 0, "", ""))
	tr.handle(linkEvent(ms(1020), 2, "link.up", "hb0", 0, "", ""))
	tr.handle(linkEvent(ms(1040), 1, "link.down", "hb0", 0, "peer-silent", "")) // flap after recovery
	if got, want := tr.final[l10], "peer-silent (peer: peer-silent)"; got != want {
		t.Fatalf("a reason logged after the undo changed the final reason to %q", got)
	}
	if !tr.lastUp.Equal(ms(1030)) {
		t.Fatalf("lastUp = %v, want the latest involved link.up %v", tr.lastUp, ms(1030))
	}
	if len(tr.others) != 2 {
		t.Fatalf("a second link.down of an involved link was not counted: others = %v", tr.others)
	}
}
