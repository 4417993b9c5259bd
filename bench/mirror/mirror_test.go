package main

import (
	"io"
	"math"
	"testing"
	"time"
)

const exposition = `# HELP tether_link_rtt_seconds heartbeat round-trip times
# TYPE tether_link_rtt_seconds histogram
tether_link_rtt_seconds_bucket{channel="ether",network="hb0",node="node0",peer="node1",le="0.0001"} 10
tether_link_rtt_seconds_bucket{channel="ether",network="hb0",node="node0",peer="node1",le="0.00025"} 90
tether_link_rtt_seconds_bucket{channel="ether",network="hb0",node="node0",peer="node1",le="0.0005"} 100
tether_link_rtt_seconds_bucket{channel="ether",network="hb0",node="node0",peer="node1",le="+Inf"} 100
tether_link_rtt_seconds_sum{channel="ether",network="hb0",node="node0",peer="node1"} 0.02
tether_link_rtt_seconds_count{channel="ether",network="hb0",node="node0",peer="node1"} 100
`

func TestRTTHistogram(t *testing.T) {
	hs, err := parseRTT(exposition)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := hs[rttKey{Peer: "node1", Network: "hb0", Channel: "ether"}]
	if !ok || h.count != 100 || len(h.cum) != 4 {
		t.Fatalf("parsed %+v", hs)
	}
	// p50: rank 50 in (100 µs, 250 µs], 40 of its 80 samples in.
	if p50, up := h.quantile(0.5); math.Abs(p50-0.000175) > 1e-9 || up != 0.00025 {
		t.Errorf("p50 %g (bucket %g)", p50, up)
	}
	if p99, up := h.quantile(0.99); math.Abs(p99-0.000475) > 1e-9 || up != 0.0005 {
		t.Errorf("p99 %g (bucket %g)", p99, up)
	}
	if hi := h.highest(); hi != 0.0005 {
		t.Errorf("highest bucket %g", hi)
	}
	d := h.sub(hist{bounds: h.bounds, cum: []uint64{10, 50, 50, 50}, count: 50, sum: 0.01})
	if d.count != 50 || d.cum[0] != 0 || d.cum[1] != 40 || math.Abs(d.sum-0.01) > 1e-12 {
		t.Errorf("difference %+v", d)
	}
	if q, _ := (hist{}).quantile(0.99); !math.IsNaN(q) {
		t.Errorf("no samples: %g", q)
	}
}

func TestParseInfo(t *testing.T) {
	f := parseInfo("# Replication\r\nrole:master\r\nmaster_repl_offset:12345\r\nslave0:ip=10.77.0.2,port=6379,state=online,offset=12000,lag=0\r\n")
	if n, err := infoInt(f, "master_repl_offset"); err != nil || n != 12345 || f["role"] != "master" {
		t.Errorf("%v %d %v", f, n, err)
	}
	if _, err := infoInt(f, "slave_repl_offset"); err == nil {
		t.Error("missing field: no error")
	}
}

func TestTag(t *testing.T) {
	sent := time.Unix(0, 1795304245711970982)
	v := value([]byte("1795304245711970982 00000042 "))
	if len(v) != recordSize {
		t.Fatalf("value of %d bytes", len(v))
	}
	at, k, err := parseTag(v)
	if err != nil || k != 42 || !at.Equal(sent) {
		t.Errorf("%v %d %v", at, k, err)
	}
	if _, _, err := parseTag([]byte("short")); err == nil {
		t.Error("short value: no error")
	}
}

func TestPerSecond(t *testing.T) {
	t0 := time.Unix(0, 0)
	var at []time.Time
	for k := range 11 { // every 250 ms for 2.5 s
		at = append(at, t0.Add(time.Duration(k)*250*time.Millisecond))
	}
	var got [][2]int
	perSecond(len(at), func(i int) time.Time { return at[i] }, func(i, j int) { got = append(got, [2]int{i, j}) })
	if want := [][2]int{{0, 4}, {4, 8}, {8, 10}}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("intervals %v, want %v", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-only", "latency,reopen", "-gib", "0.5", "-agent-procs", "2"}, io.Discard)
	if err != nil || !o.has(partLatency) || o.has(partRedis) || o.fillRecords() != 1<<19 || o.agentProcs != 2 {
		t.Errorf("%+v %v", o, err)
	}
	for _, bad := range [][]string{{"-only", "nope"}, {"-gib", "0"}, {"-batch", "4096"}, {"-agent-procs", "x"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
