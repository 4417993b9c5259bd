package failover

import (
	"testing"
	"time"
)

func TestResignedIn(t *testing.T) {
	now := t0.Add(time.Minute)
	rv := ResourceView{Name: "r", Epoch: 4, Primary: idA, Resigned: true, DownFor: 3 * time.Second}
	h := Heard{View: View{Resources: []ResourceView{rv}}, At: now.Add(-100 * time.Millisecond)}
	lost, ok := ResignedIn(h, now, idA, "r", 4)
	if want := h.At.Add(-3 * time.Second); !ok || !lost.Equal(want) {
		t.Fatalf("resigned: %v %v, want %v", lost, ok, want)
	}
	for name, tc := range map[string]struct {
		h       Heard
		primary uint16
		epoch   uint32
	}{
		"stale view":          {Heard{View: h.View, At: now.Add(-ConfirmFresh - time.Millisecond)}, idA, 4},
		"another epoch":       {h, idA, 5},
		"not the primary":     {h, idB, 4},
		"not resigned":        {Heard{View: View{Resources: []ResourceView{{Name: "r", Epoch: 4, Primary: idA}}}, At: now}, idA, 4},
		"never heard":         {Heard{}, idA, 4},
		"no word of resource": {Heard{View: View{}, At: now}, idA, 4},
	} {
		if _, ok := ResignedIn(tc.h, now, tc.primary, "r", tc.epoch); ok {
			t.Errorf("%s: taken as a resignation", name)
		}
	}
	// Decide fails over a resigned primary that is OPEN, at once.
	c := cfg()
	in := Inputs{Now: now, IsMirror: true, Epoch: 4, EpochSeen: 4, Quorum: Quorum{Voters: 3, Votes: 1},
		Primary: Primary{State: NodeOpen, Since: t0, Resigned: true, BackendLost: lost},
		Mirror:  Mirror{Usable: true, LagRecords: 10, SampledAt: lost.Add(-100 * time.Millisecond)}}
	if d := Decide(c, in); !d.Promote || d.Reason != ReasonResigned {
		t.Fatalf("resigned primary: %+v", d)
	}
	in.Mirror.SampledAt = lost.Add(-c.LagFresh - time.Second)
	if d := Decide(c, in); d.Promote || d.Reason != ReasonLagStale {
		t.Fatalf("resigned primary, stale lag: %+v", d)
	}
	in.Mirror.SampledAt, in.Quorum.Voters = lost, 2
	if d := Decide(c, in); d.Promote || d.Reason != ReasonNoQuorumPossible {
		t.Fatalf("resigned primary, two voters: %+v", d)
	}
}

func TestResumeConfirmed(t *testing.T) {
	mirror := func(echo uint64, epoch uint32, primary uint16, promoting bool) Heard {
		return Heard{View: View{Peers: []PeerView{{ID: idA, State: NodeOpen, Echo: echo}},
			Resources: []ResourceView{{Name: "r", Epoch: epoch, Primary: primary, Promoting: promoting}}}, At: t0}
	}
	if !ResumeConfirmed(mirror(12, 4, idA, false), idA, "r", 4, 12) {
		t.Fatal("a mirror answering the unflagged view, holding a at 4, does not confirm")
	}
	for name, h := range map[string]Heard{
		"answers an older view": mirror(11, 4, idA, false),
		"promoting":             mirror(12, 4, idA, true),
		"promoted":              mirror(12, 5, idB, false),
	} {
		if ResumeConfirmed(h, idA, "r", 4, 12) {
			t.Errorf("%s: confirmed", name)
		}
	}
	// A voter failing over backs no lease of the primary.
	sent := NewSentLog(1)
	s := sent.Next(t0)
	e := electorate(idA)
	l := NewLease(cfg())
	h := map[uint16]Heard{idB: {View: View{Peers: []PeerView{{ID: idA, State: NodeOpen, Echo: s}},
		Resources: []ResourceView{{Name: "r", Epoch: 4, Primary: idA, Promoting: true}}}, At: t0}}
	if g := l.Evaluate(t0.Add(10*time.Millisecond), e, "r", 4, h, sent, External{}); g.Quorum.Votes != 1 {
		t.Fatalf("a promoting mirror voted for the primary: %+v", g)
	}
}
