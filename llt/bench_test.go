package llt

import (
	"testing"
	"time"
)

// BenchmarkIdleCluster is one simulated second of an idle 3-node ×
// 2-network cluster at default timers: every node's Receive, Advance and
// NextDeadline, the frames' encoding and decoding, and the simulator's own
// bookkeeping (about half of it, mostly address strings), reported per
// frame received. A regression guard for the engine's per-frame work, not
// the agent's CPU (bench/detect measures that).
func BenchmarkIdleCluster(b *testing.B) {
	s := newSim(b, 3, ether("hb0", "hb1"), DefaultTimers())
	s.run(5 * time.Second)
	rx0 := s.rxFrames()
	b.ResetTimer()
	for range b.N {
		s.run(time.Second)
	}
	b.StopTimer()
	if frames := s.rxFrames() - rx0; frames > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
		b.ReportMetric(float64(frames)/float64(b.N)/3, "frames/s/node")
	}
}

// rxFrames is the number of frames every node has processed.
func (s *sim) rxFrames() int {
	n := 0
	for _, nd := range s.nodes {
		for _, c := range nd.verdict {
			n += c
		}
	}
	return n
}
