package failover

import (
	"strings"
	"testing"
	"time"
)

// twoNodes is a and b with an etcd lease as the third vote.
func twoNodes(self uint16) Electorate {
	return Electorate{Self: self, Voters: []uint16{idA, idB}, Names: map[uint16]string{idA: "a", idB: "b"}, External: "etcd"}
}

func TestExternalVoteKeepsThePrimarysLease(t *testing.T) {
	c := cfg()
	sent := NewSentLog(1)
	e := twoNodes(idA)
	renewed := t0
	mine := External{Held: true, Holder: idA, Epoch: 4, Revision: 9, Mine: true, Renewed: renewed, ReadAt: renewed}
	// The interconnect is cut: b answers nothing, etcd alone backs a.
	l := NewLease(c)
	g := l.Evaluate(t0.Add(100*time.Millisecond), e, "r", 4, map[uint16]Heard{}, sent, mine)
	if want := renewed.Add(c.Term()); !g.Until.Equal(want) || g.Quorum.Votes != 2 || g.Quorum.Voters != 3 || !g.Quorum.Witness {
		t.Fatalf("lease on the etcd vote: %+v, want until %v with 2 of 3 votes", g, want)
	}
	for name, tc := range map[string]struct {
		x   External
		at  time.Time
		why string
	}{
		"renewal older than a term": {mine, t0.Add(c.Term()), "last renewal was"},
		"key free":                  {External{ReadAt: t0}, t0, "the key is free"},
		"key of b":                  {External{Held: true, Holder: idB, Epoch: 5, ReadAt: t0}, t0, "names b at epoch 5"},
		"key of a's earlier epoch":  {External{Held: true, Holder: idA, Epoch: 3, Mine: true, Renewed: t0, ReadAt: t0}, t0, "at epoch 3, not 4"},
		"etcd unreachable":          {External{Err: "context deadline exceeded"}, t0, "deadline exceeded"},
	} {
		g := NewLease(c).Evaluate(tc.at, e, "r", 4, map[uint16]Heard{}, sent, tc.x)
		if !g.Until.IsZero() || g.Quorum.Votes != 1 || !strings.Contains(g.Why, tc.why) {
			t.Errorf("%s: %+v, want no lease because %q", name, g, tc.why)
		}
	}
	// b promoted: its epoch in the key tells a it is no longer primary.
	g = NewLease(c).Evaluate(t0, e, "r", 4, map[uint16]Heard{}, sent, External{Held: true, Holder: idB, Epoch: 5, ReadAt: t0})
	if g.Higher == nil || g.Higher.Epoch != 5 || g.Higher.Primary != idB {
		t.Fatalf("the key's higher epoch was not reported: %+v", g)
	}
	// A pause after the renewal voids it: the renewal is no proof of
	// what etcd thinks now.
	l = NewLease(c)
	l.Paused(t0.Add(time.Millisecond))
	if g := l.Evaluate(t0.Add(2*time.Millisecond), e, "r", 4, map[uint16]Heard{}, sent, mine); !g.Until.IsZero() {
		t.Fatalf("lease on a renewal made before the pause: %+v", g)
	}
}

func TestExternalVoteConfirmsOnlyAFreedKey(t *testing.T) {
	c := cfg()
	sent := NewSentLog(1)
	e := twoNodes(idB)
	now := t0.Add(10 * time.Second)
	for name, tc := range map[string]struct {
		x     External
		votes int
		why   string
	}{
		"freed, fresh read":        {External{ReadAt: now.Add(-200 * time.Millisecond)}, 2, "confirms"},
		"freed, stale read":        {External{ReadAt: now.Add(-ConfirmFresh - time.Millisecond)}, 1, "stale"},
		"held by the primary":      {External{Held: true, Holder: idA, Epoch: 4, Revision: 9, ReadAt: now}, 1, "lease is alive"},
		"never read":               {External{Err: "connection refused"}, 1, "connection refused"},
		"taken by b (promoting)":   {External{Held: true, Holder: idB, Epoch: 5, Mine: true, Renewed: now, ReadAt: now}, 2, "confirms"},
		"freed, stale, last error": {External{ReadAt: now.Add(-5 * time.Second), Err: "timeout"}, 1, "stale: timeout"},
	} {
		got := Confirm(c, now, e, idA, map[uint16]Heard{}, sent, tc.x)
		if got.Quorum.Votes != tc.votes || got.Quorum.Voters != 3 || !strings.Contains(got.Witness, tc.why) {
			t.Errorf("%s: %+v, want %d of 3 votes, answer %q", name, got, tc.votes, tc.why)
		}
		if got.Quorum.Has() != (tc.votes == 2) {
			t.Errorf("%s: quorum %v with %d votes", name, got.Quorum.Has(), got.Quorum.Votes)
		}
	}
}

// The interconnect between a and b is cut, both reach etcd: a keeps its
// lease on etcd's vote, b sees a DOWN past grace but has no majority: no
// failover and one primary.
func TestExternalVoteInterconnectCut(t *testing.T) {
	c := cfg()
	now := t0.Add(10 * time.Second)
	key := External{Held: true, Holder: idA, Epoch: 4, Revision: 9, Mine: true, Renewed: now.Add(-100 * time.Millisecond), ReadAt: now}
	g := NewLease(c).Evaluate(now, twoNodes(idA), "r", 4, map[uint16]Heard{}, NewSentLog(1), key)
	if g.Until.IsZero() {
		t.Fatalf("a lost its lease: %+v", g)
	}
	theirs := key
	theirs.Mine, theirs.Renewed = false, time.Time{}
	conf := Confirm(c, now, twoNodes(idB), idA, map[uint16]Heard{}, NewSentLog(1), theirs)
	d := Decide(c, Inputs{Now: now, IsMirror: true, Epoch: 4, EpochSeen: 4,
		Primary: Primary{State: NodeDown, Since: now.Add(-time.Minute)}, Quorum: conf.Quorum,
		Mirror: Mirror{Usable: true, SampledAt: now.Add(-time.Minute)}})
	if d.Promote || d.Reason != ReasonNoQuorum {
		t.Fatalf("b decided %+v, want %s", d, ReasonNoQuorum)
	}
}
