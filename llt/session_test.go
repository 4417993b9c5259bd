package llt

import "testing"

func TestAntiReplayWindow(t *testing.T) {
	var s session
	steps := []struct {
		seq  uint64
		ok   bool
		lost uint64
	}{
		{0, false, 0},   // sequence numbers start at 1
		{10, true, 0},   // first frame: the window starts here, nothing lost
		{10, false, 0},  // duplicate
		{11, true, 0},   // in order
		{14, true, 2},   // 12, 13 missing
		{12, true, 1},   // late, not a replay: no longer lost
		{12, false, 1},  // now it is
		{9, true, 0},    // older than the first but inside the window: late, not seen
		{100, true, 85}, // a jump beyond the window resets it
		{37, true, 84},  // 63 behind: inside
		{36, false, 84}, // 64 behind: too old
		{99, true, 83},
	}
	for i, st := range steps {
		if got, _ := s.acceptSeq(st.seq); got != st.ok {
			t.Fatalf("step %d seq %d: accepted=%v, want %v", i, st.seq, got, st.ok)
		}
		if s.stats.lost != st.lost {
			t.Fatalf("step %d seq %d: lost=%d, want %d", i, st.seq, s.stats.lost, st.lost)
		}
	}
}

func TestStepFollowsRFC5880(t *testing.T) {
	cases := []struct {
		local, remote SessionState
		want          SessionState
		diag          Diag
	}{
		{SessionDown, SessionDown, SessionInit, DiagTimeExpired},
		{SessionDown, SessionInit, SessionUp, DiagNone},
		{SessionDown, SessionUp, SessionDown, DiagTimeExpired},
		{SessionInit, SessionDown, SessionInit, DiagTimeExpired},
		{SessionInit, SessionInit, SessionUp, DiagNone},
		{SessionInit, SessionUp, SessionUp, DiagNone},
		{SessionUp, SessionDown, SessionDown, DiagNeighborDown},
		{SessionUp, SessionInit, SessionUp, DiagTimeExpired},
		{SessionUp, SessionUp, SessionUp, DiagTimeExpired},
	}
	for _, c := range cases {
		got, d := step(c.local, c.remote, DiagTimeExpired)
		if got != c.want || d != c.diag {
			t.Errorf("%v + remote %v: %v/%v, want %v/%v", c.local, c.remote, got, d, c.want, c.diag)
		}
	}
}
