package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/replicator/history"
)

// historyAgent is a fakeAgent with a failover history.
type historyAgent struct {
	*fakeAgent
	recs []history.Record
}

func (a historyAgent) History(context.Context) (any, int, error) { return a.recs, 1, nil }

func TestFailoverStatus(t *testing.T) {
	st := cluster()
	st.Failover = []status.Failover{
		{Resource: "orders", Role: "mirror", Epoch: 3, Primary: "node1", Auto: true, QuorumPossible: true, Voters: 3, Votes: 1,
			Reason: "primary-partitioned", Detail: "the primary is PARTITIONED", Alert: true, Witness: "w: sees node1 OPEN"},
		{Resource: "audit", Role: "primary", Epoch: 1, Primary: "node0", Auto: true, QuorumPossible: true, Voters: 3, Votes: 3, Quorum: true, LeaseLeft: 0.4},
	}
	socket := startAgent(t, &fakeAgent{st: st})
	code, out, errOut := tetherctl("--socket", socket, "failover", "status")
	if code != exitFailed || !strings.Contains(out, "primary-partitioned !") || !strings.Contains(out, "writable (lease 0.4s)") ||
		!strings.Contains(out, "1/3") {
		t.Fatalf("failover status: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = tetherctl("--socket", socket, "failover", "status", "--json")
	var got []status.Failover
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitFailed || len(got) != 2 || got[0].Witness == "" {
		t.Fatalf("failover status --json: exit %d, %v\n%s", code, err, out)
	}
	st2 := cluster()
	st2.Failover = []status.Failover{{Resource: "orders", Role: "none", Epoch: 1, Primary: "node0", Auto: true, Voters: 2,
		Detail: "automatic failover is off: a two-node cluster needs a witness"}}
	socket2 := startAgent(t, &fakeAgent{st: st2})
	if code, out, _ := tetherctl("--socket", socket2, "failover", "status"); code != exitFailed || !strings.Contains(out, "impossible") ||
		!strings.Contains(out, "needs a witness") {
		t.Errorf("no quorum possible: exit %d\n%s", code, out)
	}
	if code, _, errOut := tetherctl("--socket", socket, "failover", "now"); code != exitError || !strings.Contains(errOut, "tetherctl mirror failover") {
		t.Errorf("failover now: exit %d %s", code, errOut)
	}
}

func TestHistory(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	recs := []history.Record{
		{Time: t0, Resource: "orders", Node: "node1", Action: "refuse", Reason: "primary-partitioned", Detail: "PARTITIONED", EpochBefore: 1, EpochAfter: 1, Votes: 1, Voters: 3},
		{Time: t0.Add(time.Second), Resource: "audit", Node: "node1", Action: "fence", Reason: "no-quorum", EpochBefore: 1, EpochAfter: 1},
		{Time: t0.Add(2 * time.Second), Resource: "orders", Node: "node1", Action: "promoted", Reason: "primary-dead", EpochBefore: 1, EpochAfter: 2,
			LagGivenUp: 7, Votes: 2, Voters: 3, Witness: "w: confirms", Links: map[string]map[string]string{"hb0": {"node0": "DOWN (peer-silent)"}}},
	}
	socket := startAgent(t, historyAgent{fakeAgent: &fakeAgent{st: cluster()}, recs: recs})
	code, out, errOut := tetherctl("--socket", socket, "history")
	if code != exitOK || !strings.Contains(out, "1->2") || !strings.Contains(out, "w: confirms") || !strings.Contains(errOut, "1 torn") ||
		strings.Count(out, "\n") != 4 {
		t.Fatalf("history: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = tetherctl("--socket", socket, "history", "--json", "--resource", "orders", "--last", "1")
	var got []history.Record
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitOK || len(got) != 1 || got[0].LagGivenUp != 7 ||
		got[0].Links["hb0"]["node0"] != "DOWN (peer-silent)" {
		t.Fatalf("history --json: exit %d %v\n%s", code, err, out)
	}
	if code, _, errOut := tetherctl("--socket", socket, "history", "--last", "-1"); code != exitError || !strings.Contains(errOut, "--last") {
		t.Errorf("--last -1: exit %d %s", code, errOut)
	}
}
