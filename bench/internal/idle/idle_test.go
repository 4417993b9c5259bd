package idle

import (
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/proc"
)

// The tcp channel's sent frames come from its connections when its
// tx_frames counter does not move, counting a replaced connection's frames
// from zero; rates are per second of the status interval and CPU per
// frame is over frames sent and received.
func TestNodeCountsFramesPerChannel(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old, repl := t0.Add(-time.Hour), t0.Add(time.Second)
	before := &status.Status{Now: t0,
		Counters: status.Counters{Networks: []status.NetworkCounters{
			{Network: "hb0", Channel: "ether", TxFrames: 100, RxFrames: 90},
			{Network: "hb0", Channel: "tcp", TxFrames: 0, RxFrames: 500},
		}},
		Connections: []status.Connection{
			{Direction: "to", Peer: 1, Network: "hb0", CreateTime: old, FramesOut: 1000},
			{Direction: "from", Peer: 1, Network: "hb0", CreateTime: old, FramesOut: 2000},
		},
	}
	after := &status.Status{Now: t0.Add(10 * time.Second),
		Counters: status.Counters{Networks: []status.NetworkCounters{
			{Network: "hb0", Channel: "ether", TxFrames: 200, RxFrames: 190},
			{Network: "hb0", Channel: "tcp", TxFrames: 0, RxFrames: 700},
		}},
		Connections: []status.Connection{
			{Direction: "to", Peer: 1, Network: "hb0", CreateTime: old, FramesOut: 1100},  // +100
			{Direction: "from", Peer: 1, Network: "hb0", CreateTime: repl, FramesOut: 50}, // replaced: +50
		},
	}
	n, err := node(proc.Stat{SchedCPUPercent: 1}, before, after)
	if err != nil {
		t.Fatal(err)
	}
	want := []Channel{
		{Network: "hb0", Channel: "ether", TxFrames: 100, RxFrames: 100, TxPerS: 10, RxPerS: 10, TxSource: "counters"},
		{Network: "hb0", Channel: "tcp", TxFrames: 150, RxFrames: 200, TxPerS: 15, RxPerS: 20, TxSource: "connections"},
	}
	if len(n.Channels) != len(want) {
		t.Fatalf("channels = %+v, want %+v", n.Channels, want)
	}
	for k := range want {
		if n.Channels[k] != want[k] {
			t.Errorf("channel %d = %+v, want %+v", k, n.Channels[k], want[k])
		}
	}
	if n.TxPerS != 25 || n.RxPerS != 30 {
		t.Errorf("node rates tx %v rx %v, want 25 and 30", n.TxPerS, n.RxPerS)
	}
	// 1 % of a core is 10,000 µs per second, over 55 frames a second.
	if want := 181.818; n.CPUPerFrameMicros != want {
		t.Errorf("CPU per frame %v µs, want %v", n.CPUPerFrameMicros, want)
	}
	if _, err := node(proc.Stat{}, after, before); err == nil {
		t.Error("node accepted status documents out of order")
	}
}

func TestChannelRatesSumsNetworks(t *testing.T) {
	r := &Result{Nodes: []Node{
		{Channels: []Channel{{Network: "hb0", Channel: "tcp", TxFrames: 10, TxPerS: 1}, {Network: "hb1", Channel: "tcp", TxFrames: 30, TxPerS: 3}}},
		{Channels: []Channel{{Network: "hb0", Channel: "tcp", TxFrames: 20, TxPerS: 2}, {Network: "hb1", Channel: "ether", RxPerS: 4}}},
	}}
	got := r.ChannelRates()
	if c := got["tcp"]; c.TxFrames != 60 || c.TxPerS != 3 {
		t.Errorf("tcp = %+v, want 60 frames in all, 3 per second per node ((1+3+2)/2)", c)
	}
	if c := got["ether"]; c.RxPerS != 2 {
		t.Errorf("ether = %+v, want 2 received per second per node", c)
	}
}
