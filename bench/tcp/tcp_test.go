package main

import (
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/bench/internal/idle"
)

func TestParseGoroutines(t *testing.T) {
	n, err := parseGoroutines("goroutine profile: total 42\n7 @ 0x43a 0x40b\n")
	if err != nil || n != 42 {
		t.Fatalf("parseGoroutines = %d, %v; want 42", n, err)
	}
	for _, bad := range []string{"", "heap profile: 1: 2 [3: 4] @ heap/1048576\n", "goroutine profile: total many\n"} {
		if _, err := parseGoroutines(bad); err == nil {
			t.Errorf("parseGoroutines(%q) accepted it", bad)
		}
	}
}

func TestParseVars(t *testing.T) {
	doc := `{"cmdline": ["tetherd"], "memstats": {"Alloc": 1, "Sys": 9000, "HeapAlloc": 1500, "HeapInuse": 2048, "StackInuse": 512, "NumGC": 3, "BySize": []}}`
	m, err := parseVars([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if want := (memStats{HeapAlloc: 1500, HeapInuse: 2048, StackInuse: 512, Sys: 9000, NumGC: 3}); m != want {
		t.Fatalf("parseVars = %+v, want %+v", m, want)
	}
	if _, err := parseVars([]byte(`{"cmdline": ["tetherd"]}`)); err == nil {
		t.Fatal("parseVars accepted a document without memstats")
	}
}

// cpuRunOf builds a CPURun whose agents use cpu % of a core and send and
// receive the given frames per second per channel.
func cpuRunOf(channels string, cpu float64, perChannel map[string]float64) *CPURun {
	var chs []idle.Channel
	var total float64
	for ch, fps := range perChannel {
		chs = append(chs, idle.Channel{Network: "hb0", Channel: ch, TxPerS: fps, RxPerS: fps})
		total += 2 * fps
	}
	n := idle.Node{Channels: chs, TxPerS: total / 2, RxPerS: total / 2}
	return &CPURun{Channels: strings.Split(channels, "+"), Idle: &idle.Result{
		Nodes: []idle.Node{n}, MeanSchedCPU: cpu, TxPerS: total / 2, RxPerS: total / 2, CPUPerFrameMicros: cpu / 100 * 1e6 / total}}
}

func TestTCPCost(t *testing.T) {
	runs := []*CPURun{
		cpuRunOf("ether", 0.4, map[string]float64{"ether": 45}),
		cpuRunOf("tcp", 0.55, map[string]float64{"tcp": 90}),
		cpuRunOf("ether+tcp", 0.6, map[string]float64{"ether": 45, "tcp": 90}),
	}
	c, err := tcpCost("default", runs)
	if err != nil {
		t.Fatal(err)
	}
	// tcp adds 0.2 % of a core = 2000 µs/s for 180 more frames/s (90 sent,
	// 90 received): 11.1 µs per frame; 2 tcp frames per ether heartbeat;
	// 2000 µs/s over 45 heartbeats/s = 44.4 µs per heartbeat.
	approx := func(got, want float64) bool { return math.Abs(got-want) < 0.01 }
	if !approx(c.ExtraCPUPercent, 0.2) || !approx(c.MarginalMicrosPerFrame, 11.111) || !approx(c.TCPFramesPerHeartbeat, 2) || !approx(c.MicrosPerHeartbeat, 44.444) {
		t.Fatalf("tcpCost = %+v", c)
	}
	if _, err := tcpCost("default", runs[:2]); err == nil {
		t.Fatal("tcpCost derived a cost without the [ether, tcp] run")
	}
}

func TestMemFits(t *testing.T) {
	var points []MemPoint
	for _, n := range []int{2, 8, 16, 32} {
		peers := uint64(n - 1)
		points = append(points,
			MemPoint{Channel: "tcp", Nodes: n, Peers: n - 1, Bytes: map[string]uint64{memHeapInuse: 1_000_000 + 50_000*peers}},
			MemPoint{Channel: "ether", Nodes: n, Peers: n - 1, Bytes: map[string]uint64{memHeapInuse: 1_000_000 + 10_000*peers}})
	}
	points = append(points, MemPoint{Channel: "tcp", Nodes: 64, Peers: 63, Error: "links not all up", Bytes: map[string]uint64{memHeapInuse: 1}})
	fits, per := memFits(points)
	if got := per[memHeapInuse]; math.Abs(got-20_000) > 1 {
		t.Fatalf("bytes per connection = %v, want 20000 ((50000 − 10000) / 2); fits %+v", got, fits)
	}
	for _, f := range fits {
		if f.Metric == memHeapInuse && f.Channel == "tcp" && (f.Fit.N != 4 || math.Abs(f.Fit.Intercept-1_000_000) > 1) {
			t.Fatalf("tcp fit %+v: want 4 points (the failed one left out), intercept 1000000", f.Fit)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-only", "mem", "-nodes", "8,2,8", "-settle", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.has(partMem) || o.has(partCPU) || len(o.nodes) != 2 || o.nodes[0] != 2 || o.nodes[1] != 8 || o.settle != time.Second {
		t.Fatalf("parseFlags = %+v", o)
	}
	for _, args := range [][]string{
		{"-only", "disk"}, {"-nodes", "1,8"}, {"-nodes", "201,2"}, {"-only", "mem", "-nodes", "8"},
		{"-profiles", "slow"}, {"-count", "10"}, {"-window", "10ms"}, {"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted it", args)
		}
	}
}
