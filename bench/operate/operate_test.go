package main

import (
	"testing"
)

// The formula gives docs/METRICS.md's worked example, 467 with no drop
// cause seen (587 with all 24 of each of its 5 channels), and 509 for the
// scrape bed (3 networks, each with ether and tcp) with none seen.
func TestFormula(t *testing.T) {
	for _, c := range []struct {
		s    Shape
		want int
	}{
		{Shape{P: 2, W: 3, E: 2, T: 3}, 467},
		{Shape{P: 2, W: 3, E: 2, T: 3, D: 5 * 24}, 587},
		{Shape{P: 2, W: 3, E: 3, T: 3}, 509},
		{Shape{P: 2, W: 2, E: 2, T: 2, G: 1, D: 7}, 2*2*24 + 2*4*19 + 2*9 + 2*10 + 4*4 + 7 + 6*2*2 + 31},
	} {
		if got := sumTerms(c.s.terms()); got != c.want {
			t.Errorf("%+v: %d series, want %d", c.s, got, c.want)
		}
	}
}

func TestCountSeries(t *testing.T) {
	text := `# HELP tether_link_up x
# TYPE tether_link_up gauge
tether_link_up{network="hb0",node="node0",peer="node1"} 1
tether_link_loss_ratio{direction="rx",network="hb0",node="node0",peer="node1"} 0
tether_link_rtt_seconds_bucket{channel="ether",le="5e-05"} 3
tether_link_rtt_seconds_sum{channel="ether"} 0.1
tether_link_rtt_seconds_count{channel="ether"} 3
tether_network_frames_dropped_total{cause="other"} 0
tether_network_carrier{network="hb0"} 1
tether_build_info{version="v"} 1
go_goroutines 12
`
	s := countSeries([]byte(text))
	if s.Total != 8 || s.Other != 1 {
		t.Errorf("total %d other %d, want 8 and 1", s.Total, s.Other)
	}
	for g, want := range map[string]int{grpLink: 2, grpLinkLoss: 1, grpLinkCh: 3, grpNetCh: 1, grpNetChDrops: 1, grpNet: 1, grpAgent: 1} {
		if s.Groups[g] != want {
			t.Errorf("group %q: %d, want %d", g, s.Groups[g], want)
		}
	}
}
