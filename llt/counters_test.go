package llt

import (
	"testing"
	"time"
)

// RTT samples land in the first bucket whose bound is at least the sample
// (Prometheus's le), and past the last bound in +Inf.
func TestRTTHistogramBuckets(t *testing.T) {
	var s session
	for _, rtt := range []time.Duration{-time.Microsecond, 40 * time.Microsecond, 50 * time.Microsecond,
		51 * time.Microsecond, time.Millisecond, time.Second} {
		s.noteRTT(rtt)
	}
	want := map[int]uint64{0: 3, 1: 1, 4: 1, len(rttBuckets): 1}
	for b, n := range s.stats.rttHist {
		if n != want[b] {
			t.Errorf("bucket %d (le %v): %d samples, want %d (histogram %v)", b, bound(b), n, want[b], s.stats.rttHist)
		}
	}
	if s.stats.rttSamples != 6 || s.stats.rttSum != 40*time.Microsecond+50*time.Microsecond+51*time.Microsecond+time.Millisecond+time.Second {
		t.Errorf("samples %d sum %v", s.stats.rttSamples, s.stats.rttSum)
	}
}

func bound(b int) any {
	if b < len(rttBuckets) {
		return rttBuckets[b]
	}
	return "+Inf"
}

// Transitions and flap downs count since start; a peer's shutdown is a
// transition but not a flap; ResetExtremes keeps every counter.
func TestLinkCountersAreMonotonic(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), fastTimers)
	s.run(time.Second)
	up := s.link(0, 1, 0)
	if up.State != LinkUp || up.Transitions == 0 || up.FlapDowns != 0 {
		t.Fatalf("after start: %+v", up)
	}
	ss := up.Sessions[0]
	var total uint64
	for _, n := range ss.RTTHist {
		total += n
	}
	if ss.RTTSamples == 0 || total != ss.RTTSamples || ss.RTTSum <= 0 {
		t.Fatalf("RTT histogram %v holds %d of %d samples, sum %v", ss.RTTHist, total, ss.RTTSamples, ss.RTTSum)
	}
	s.cutLink(0, 1, 0, true)
	s.run(time.Second)
	s.cutLink(0, 1, 0, false)
	s.run(time.Second)
	back := s.link(0, 1, 0)
	if back.State != LinkUp || back.Transitions < up.Transitions+2 || back.FlapDowns != 1 || back.Downs != up.Downs+1 {
		t.Fatalf("after a cut and a restore: transitions %d→%d, flap downs %d, downs %d→%d",
			up.Transitions, back.Transitions, back.FlapDowns, up.Downs, back.Downs)
	}
	s.nodes[0].m.ResetExtremes(s.now)
	reset := s.link(0, 1, 0)
	if reset.Transitions != back.Transitions || reset.Sessions[0].Sent < back.Sessions[0].Sent ||
		reset.Sessions[0].RTTSamples < back.Sessions[0].RTTSamples {
		t.Fatalf("ResetExtremes changed counters: %+v → %+v", back, reset)
	}
	if r := reset.Sessions[0]; r.RTTMin != r.RTT || r.RTTMax != r.RTT {
		t.Errorf("ResetExtremes left extremes %v..%v around %v", r.RTTMin, r.RTTMax, r.RTT)
	}
	n1 := s.nodes[1]
	n1.m.Shutdown(s.now)
	s.collect(n1)
	n1.down = true
	s.run(time.Second)
	if st := s.link(0, 1, 0); st.State != LinkDown || st.FlapDowns != 1 || st.Transitions <= back.Transitions {
		t.Fatalf("after the peer's shutdown: %+v, want DOWN, a transition and no flap", st)
	}
}
