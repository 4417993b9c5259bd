package failover

import (
	"testing"
	"time"
)

// Node ids of the tests: a the primary, b the mirror, w the witness.
const (
	idA uint16 = 1
	idB uint16 = 2
	idW uint16 = 3
)

func electorate(self uint16) Electorate {
	return Electorate{Self: self, Voters: []uint16{idA, idB, idW}, Witness: map[uint16]bool{idW: true},
		Names: map[uint16]string{idA: "a", idB: "b", idW: "w"}}
}

// answer is voter's view of self (seen in state, echoing seq) holding the
// resource at epoch with primary.
func answer(self uint16, state string, echo uint64, epoch uint32, primary uint16) View {
	return View{Peers: []PeerView{{ID: self, State: state, Echo: echo}},
		Resources: []ResourceView{{Name: "r", Epoch: epoch, Primary: primary}}}
}

func TestLeaseNeedsAFreshMajority(t *testing.T) {
	c := cfg()
	sent := NewSentLog(1000)
	l := NewLease(c)
	e := electorate(idA)
	s1 := sent.Next(t0)
	heard := map[uint16]Heard{idW: {View: answer(idA, NodeOpen, s1, 4, idA), At: t0.Add(10 * time.Millisecond)}}
	// A new supporter counts only after a term of support.
	if g := l.Evaluate(t0.Add(20*time.Millisecond), e, "r", 4, heard, sent, External{}); !g.Until.IsZero() {
		t.Fatalf("lease from a supporter of 20 ms: %+v", g)
	}
	now := t0.Add(c.Term())
	s2 := sent.Next(now)
	heard[idW] = Heard{View: answer(idA, NodeOpen, s2, 4, idA), At: now.Add(20 * time.Millisecond)}
	g := l.Evaluate(now.Add(30*time.Millisecond), e, "r", 4, heard, sent, External{})
	if want := now.Add(c.Term()); !g.Until.Equal(want) || g.Quorum.Votes != 2 || !g.Quorum.Witness {
		t.Fatalf("lease with the witness's fresh answer: %+v, want until %v", g, want)
	}
	// The lease is dated by the echoed view, not by when the answer came.
	later := now.Add(c.Term() + time.Millisecond)
	if g := l.Evaluate(later, e, "r", 4, heard, sent, External{}); !g.Until.IsZero() {
		t.Fatalf("no fresh answer for a term: %+v", g)
	}
	for name, v := range map[string]View{
		"sees a DOWN":      answer(idA, NodeDown, s2, 4, idA),
		"another primary":  answer(idA, NodeOpen, s2, 4, idB),
		"old epoch":        answer(idA, NodeOpen, s2, 3, idA),
		"unknown echo":     answer(idA, NodeOpen, 77, 4, idA),
		"no word of a":     {Resources: []ResourceView{{Name: "r", Epoch: 4, Primary: idA}}},
		"no such resource": {Peers: []PeerView{{ID: idA, State: NodeOpen, Echo: s2}}},
	} {
		l := NewLease(c)
		h := map[uint16]Heard{idW: {View: v, At: now}}
		l.Evaluate(now, e, "r", 4, h, sent, External{})
		if g := l.Evaluate(now.Add(c.Term()), e, "r", 4, h, sent, External{}); !g.Until.IsZero() || g.Why == "" {
			t.Errorf("%s: lease %+v", name, g)
		}
	}
}

func TestLeaseSeesHigherEpoch(t *testing.T) {
	sent := NewSentLog(1)
	s := sent.Next(t0)
	l := NewLease(cfg())
	heard := map[uint16]Heard{idW: {View: answer(idA, NodeOpen, s, 5, idB), At: t0}}
	g := l.Evaluate(t0, electorate(idA), "r", 4, heard, sent, External{})
	if g.Higher == nil || g.Higher.Epoch != 5 || g.Higher.Primary != idB || g.HigherFrom != idW || !g.Until.IsZero() {
		t.Fatalf("a witness relaying epoch 5: %+v", g)
	}
}

func TestLeaseEndsAtPause(t *testing.T) {
	c := cfg()
	sent := NewSentLog(1)
	l := NewLease(c)
	e := electorate(idA)
	heard := map[uint16]Heard{}
	var g Grant
	for d := time.Duration(0); d <= time.Second; d += 100 * time.Millisecond {
		s := sent.Next(t0.Add(d))
		heard[idW] = Heard{View: answer(idA, NodeOpen, s, 1, idA), At: t0.Add(d)}
		g = l.Evaluate(t0.Add(d), e, "r", 1, heard, sent, External{})
	}
	if g.Until.IsZero() {
		t.Fatalf("no lease after a second of support: %+v", g)
	}
	// Paused for 80 ms only, with an answer that arrived during it: it
	// answers a view sent before the pause, so it does not count.
	l.Paused(t0.Add(time.Second + 80*time.Millisecond))
	if g := l.Evaluate(t0.Add(time.Second+80*time.Millisecond), e, "r", 1, heard, sent, External{}); !g.Until.IsZero() {
		t.Fatalf("lease right after a pause: %+v", g)
	}
}

func TestConfirm(t *testing.T) {
	c := cfg()
	sent := NewSentLog(1)
	e := electorate(idB)
	now := t0.Add(10 * time.Second)
	s := sent.Next(now.Add(-100 * time.Millisecond))
	view := func(state string, forD time.Duration, echo uint64) View {
		return View{Peers: []PeerView{{ID: idB, State: NodeOpen, Echo: echo}, {ID: idA, State: state, For: forD}}}
	}
	hold := c.SelfFence + c.Margin
	for _, tc := range []struct {
		name  string
		h     Heard
		votes int
	}{
		{"witness sees a DOWN long enough", Heard{View: view(NodeDown, hold, s), At: now}, 2},
		{"not long enough", Heard{View: view(NodeDown, hold-time.Millisecond, s), At: now}, 1},
		{"counted from arrival", Heard{View: view(NodeDown, hold, s), At: now.Add(-50 * time.Millisecond)}, 2},
		{"witness sees a OPEN", Heard{View: view(NodeOpen, time.Hour, s), At: now}, 1},
		{"witness sees a PARTITIONED", Heard{View: view(NodePartitioned, time.Hour, s), At: now}, 1},
		{"stale answer", Heard{View: view(NodeDown, time.Hour, 0), At: now}, 1},
		{"not heard", Heard{}, 1},
	} {
		got := Confirm(c, now, e, idA, map[uint16]Heard{idW: tc.h}, sent, External{})
		if got.Quorum.Votes != tc.votes || got.Quorum.Voters != 3 || got.Witness == "" {
			t.Errorf("%s: %+v, want %d votes", tc.name, got, tc.votes)
		}
		if tc.votes == 2 && (!got.Quorum.Has() || !got.Quorum.Witness) {
			t.Errorf("%s: no quorum: %+v", tc.name, got)
		}
	}
	sent2 := NewSentLog(1)
	s2 := sent2.Next(now.Add(-ConfirmFresh - time.Millisecond))
	if got := Confirm(c, now, e, idA, map[uint16]Heard{idW: {View: view(NodeDown, time.Hour, s2), At: now}}, sent2, External{}); got.Quorum.Votes != 1 {
		t.Errorf("an answer to a view older than %v counted: %+v", ConfirmFresh, got)
	}
}

func TestViewRoundTrip(t *testing.T) {
	v := View{Seq: 1 << 40, Peers: []PeerView{{ID: 2, State: NodeDown, For: 1500 * time.Millisecond, Echo: 9}, {ID: 3, State: NodeOpen}},
		Resources: []ResourceView{{Name: "orders", Epoch: 7, Primary: 2}}}
	b, err := AppendView([]byte{0xee}, &v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeView(b[1:])
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != v.Seq || len(got.Peers) != 2 || got.Peers[0] != v.Peers[0] || got.Peers[1] != v.Peers[1] ||
		len(got.Resources) != 1 || got.Resources[0] != v.Resources[0] {
		t.Fatalf("round trip: %+v, want %+v", got, v)
	}
	for i := 0; i < len(b)-1; i++ {
		if _, err := DecodeView(b[1 : 1+i]); err == nil {
			t.Errorf("truncated at %d: no error", i)
		}
	}
	if _, err := DecodeView(append(b[1:], 0)); err == nil {
		t.Error("trailing byte: no error")
	}
}

func FuzzDecodeView(f *testing.F) {
	v := View{Seq: 3, Peers: []PeerView{{ID: 2, State: NodeDown, For: time.Second, Echo: 9}},
		Resources: []ResourceView{{Name: "r", Epoch: 1, Primary: 2}}}
	b, _ := AppendView(nil, &v)
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0})
	v.Resources = append(v.Resources, ResourceView{Name: "s", Epoch: 2, Primary: 1, Resigned: true, DownFor: time.Second, Promoting: true})
	b, _ = AppendView(nil, &v)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeView(b)
		if err != nil {
			return
		}
		out, err := AppendView(nil, &v)
		if err != nil {
			t.Fatalf("decoded view does not encode: %v", err)
		}
		v2, err := DecodeView(out)
		if err != nil || v2.Seq != v.Seq || len(v2.Peers) != len(v.Peers) || len(v2.Resources) != len(v.Resources) {
			t.Fatalf("re-encoded view differs: %v %+v %+v", err, v, v2)
		}
	})
}

func TestViewFlags(t *testing.T) {
	plain := View{Seq: 5, Resources: []ResourceView{{Name: "r", Epoch: 3, Primary: 1}}}
	b, _ := AppendView(nil, &plain)
	if b[0] != viewVersion {
		t.Fatalf("a view without flags is version %d: the previous release could not read it", b[0])
	}
	v := View{Seq: 6, Resources: []ResourceView{{Name: "r", Epoch: 3, Primary: 1, Resigned: true, DownFor: 3200 * time.Millisecond},
		{Name: "s", Epoch: 2, Primary: 2, Promoting: true}, {Name: "t", Epoch: 1, Primary: 1}}}
	b, err := AppendView(nil, &v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeView(b)
	if err != nil || b[0] != viewFlagged || len(got.Resources) != 3 {
		t.Fatalf("flagged view: %+v, %v", got, err)
	}
	for i := range v.Resources {
		if got.Resources[i] != v.Resources[i] {
			t.Errorf("resource %d: %+v, want %+v", i, got.Resources[i], v.Resources[i])
		}
	}
	for i := 1; i < len(b); i++ {
		if _, err := DecodeView(b[:i]); err == nil {
			t.Errorf("flagged view truncated at %d: no error", i)
		}
	}
	bad := append([]byte{}, b...)
	// The last resource's flags byte is the view's last byte.
	bad[len(bad)-1] = 0x80
	if _, err := DecodeView(bad); err == nil {
		t.Error("unknown flags: no error")
	}
}
