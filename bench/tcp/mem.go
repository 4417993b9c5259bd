package main

import (
	"fmt"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// memChannels are the series of the mem part: the tcp series is what is
// asked; the ether series has the same peers without connections.
var memChannels = []string{"tcp", "ether"}

// runMem measures node 0 of a bed per size and series, then fits lines.
func runMem(t testbed.T, o options) *MemResult {
	r := &MemResult{SettleSeconds: o.settle.Seconds()}
	for _, ch := range memChannels {
		for _, n := range o.nodes {
			p := memPoint(t, o, ch, n)
			if p.Error == "" {
				t.Logf("mem %s %d nodes: %d connections, HeapInuse %d, StackInuse %d, Sys %d, RSS %d, live heap %d bytes, %d goroutines",
					ch, n, p.Connections, p.Bytes[memHeapInuse], p.Bytes[memStackInuse], p.Bytes[memSys], p.Bytes[memRSS], p.Bytes[memHeapAllocGC], p.Goroutines)
			} else {
				t.Logf("mem %s %d nodes: %s", ch, n, p.Error)
			}
			r.Points = append(r.Points, p)
		}
	}
	r.Fits, r.PerConnection = memFits(r.Points)
	return r
}

// memPoint starts a bed of n nodes with one network of channel ch, waits
// until every link (and channel) is up and o.settle more, and reads node
// 0's memory.
func memPoint(t testbed.T, o options, ch string, n int) MemPoint {
	p := MemPoint{Channel: ch, Nodes: n, Peers: n - 1, Bytes: map[string]uint64{}}
	b := testbed.New(t, testbed.Options{BinDir: o.bin, Nodes: n, Networks: []testbed.NetworkSpec{{Name: "hb0", Channels: []string{ch}}},
		ExtraArgs: []string{"--pprof", pprofAddr}})
	defer bedutil.Finish(t, b, o.out, fmt.Sprintf("tcp-mem-%s-%d", ch, n))
	b.StartAll()
	// Every node dials and accepts n-1 connections: allow for it.
	if err := bedutil.WaitAllChannelsUp(b, upTimeout+time.Duration(n)*time.Second); err != nil {
		p.Error = err.Error()
		return p
	}
	time.Sleep(o.settle)
	if err := readMem(b, &p); err != nil {
		p.Error = err.Error()
	}
	return p
}

// readMem reads node 0's memory into p.
func readMem(b *testbed.Bed, p *MemPoint) error {
	st, err := b.Status(0)
	if err != nil {
		return err
	}
	if !testbed.AllLinksUp(st, b.N()-1) {
		return fmt.Errorf("a link went down while settling: %s", testbed.Summary(st))
	}
	for _, c := range st.Connections {
		if c.State == status.ChannelUp {
			p.Connections++
		}
	}
	pids, err := bedutil.AgentPids(b)
	if err != nil {
		return err
	}
	c := newPprofClient(b.NodeNS(0), pprofAddr)
	ms, err := c.memstats()
	if err != nil {
		return fmt.Errorf("node 0 memstats: %w", err)
	}
	m, err := proc.ReadMem(pids[0])
	if err != nil {
		return err
	}
	p.Threads = m.Threads
	p.Bytes[memHeapInuse], p.Bytes[memStackInuse], p.Bytes[memSys] = ms.HeapInuse, ms.StackInuse, ms.Sys
	p.Bytes[memRSS] = uint64(m.RSSKiB) * 1024
	if p.Goroutines, err = c.goroutines(); err != nil {
		return fmt.Errorf("node 0 goroutines: %w", err)
	}
	if err := c.gc(); err != nil {
		return fmt.Errorf("node 0 forced GC: %w", err)
	}
	live, err := c.memstats()
	if err != nil {
		return fmt.Errorf("node 0 memstats after GC: %w", err)
	}
	if live.NumGC <= ms.NumGC {
		return fmt.Errorf("node 0: no GC ran when forced (NumGC %d → %d)", ms.NumGC, live.NumGC)
	}
	p.Bytes[memHeapAllocGC], p.Bytes[memHeapInuseGC] = live.HeapAlloc, live.HeapInuse
	return nil
}

// memFits fits every metric of each series against the number of peers,
// and derives the bytes per connection.
func memFits(points []MemPoint) ([]MemFit, map[string]float64) {
	var fits []MemFit
	slope := map[string]map[string]float64{} // channel → metric → bytes per peer
	for _, ch := range memChannels {
		for _, metric := range memMetrics {
			var xs, ys []float64
			for _, p := range points {
				if p.Channel == ch && p.Error == "" {
					xs = append(xs, float64(p.Peers))
					ys = append(ys, float64(p.Bytes[metric]))
				}
			}
			f, err := stats.LinearFit(xs, ys)
			if err != nil {
				continue
			}
			fits = append(fits, MemFit{Channel: ch, Metric: metric, Fit: f})
			if slope[ch] == nil {
				slope[ch] = map[string]float64{}
			}
			slope[ch][metric] = f.Slope
		}
	}
	per := map[string]float64{}
	for metric, s := range slope["tcp"] {
		if e, ok := slope["ether"][metric]; ok {
			per[metric] = (s - e) / 2
		}
	}
	return fits, per
}
