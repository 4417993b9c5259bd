package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// What the msg part sends.
var (
	latencySizes      = []int{64, 1024, 16384, 59000} // over tcp
	etherLatencySizes = []int{64, 1024}               // over ether (fit the 1500 MTU)
	tputSizes         = []int{64, 1024, 16384}
	tputWindows       = []int{64, 256}
)

// Bed names of the msg part: the channels of its one network.
const (
	bedEtherTCP = "ether+tcp"
	bedEther    = "ether"
)

// pingTimeout is how long an echo may take before it counts as lost.
const pingTimeout = time.Second

// runMsg measures the message API on a 2-node bed with one network
// [ether, tcp], then on one with [ether] only.
func runMsg(t testbed.T, o options) *MsgResult {
	r := &MsgResult{Reps: o.reps}
	for _, bed := range []string{bedEtherTCP, bedEther} {
		b := msgBed(t, o, bed)
		if err := bedutil.WaitAllChannelsUp(b, upTimeout); err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("msg %s bed: %v", bed, err))
			bedutil.Finish(t, b, o.out, "tcp-msg-"+bed)
			continue
		}
		time.Sleep(startupSettle)
		sizes := latencySizes
		if bed == bedEther {
			sizes = etherLatencySizes
		}
		// Repetitions interleaved, so that a slow moment of the machine
		// does not hit all runs of one size.
		for rep := 1; rep <= o.reps; rep++ {
			for _, size := range sizes {
				run := &MsgRun{Bed: bed, Rep: rep, Window: 1, Size: size, Count: o.count}
				ping(t, b, run)
				r.Latency = append(r.Latency, run)
			}
		}
		if bed == bedEtherTCP {
			for _, w := range tputWindows {
				for _, size := range tputSizes {
					r.Throughput = append(r.Throughput, throughput(t, b, o.tput, w, size))
				}
			}
		}
		bedutil.Finish(t, b, o.out, "tcp-msg-"+bed)
	}
	for _, run := range append(r.Latency, r.Throughput...) {
		if run.Error != "" {
			r.Errors = append(r.Errors, fmt.Sprintf("msg %s window %d size %d: %s", run.Bed, run.Window, run.Size, run.Error))
		}
	}
	return r
}

// msgBed starts a 2-node bed with one network hb0 for bed.
func msgBed(t testbed.T, o options, bed string) *testbed.Bed {
	b := testbed.New(t, testbed.Options{BinDir: o.bin, Nodes: 2,
		Networks: []testbed.NetworkSpec{{Name: "hb0", Channels: strings.Split(bed, "+")}}})
	b.StartAll()
	return b
}

// throughput runs echoes with window in flight for about dur: a short run
// estimates the rate, the measured run sends as many as that rate moves in
// dur.
func throughput(t testbed.T, b *testbed.Bed, dur time.Duration, window, size int) *MsgRun {
	probe := &MsgRun{Bed: bedEtherTCP, Window: window, Size: size, Count: 20 * window}
	ping(t, b, probe)
	count := 100 * window
	if probe.Error == "" && probe.Ping.PerSecond > 0 {
		count = int(probe.Ping.PerSecond * dur.Seconds())
	}
	count = max(count, 10*window)
	count = min(count, 1_000_000)
	run := &MsgRun{Bed: bedEtherTCP, Rep: 1, Window: window, Size: size, Count: count, Probe: probe}
	ping(t, b, run)
	return run
}

// ping runs one echo run from node 0 to node 1 and fills in run: the
// agent's result, payload throughput, both agents' CPU per echo and what
// they logged meanwhile. Lost echoes and logged events are results (the
// report shows them), not errors.
func ping(t testbed.T, b *testbed.Bed, run *MsgRun) {
	pids, err := bedutil.AgentPids(b)
	if err != nil {
		run.Error = err.Error()
		return
	}
	cur := bedutil.NewCursor(b)
	cur.Poll()
	w, err := proc.StartWindow(pids)
	if err != nil {
		run.Error = err.Error()
		return
	}
	// Generous: every echo may time out.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(run.Count/run.Window+1)*pingTimeout+time.Minute)
	defer cancel()
	res, err := status.NewClient(b.Socket(0)).Ping(ctx, status.PingRequest{Peer: 1, Count: run.Count, Size: run.Size, Window: run.Window, TimeoutMs: int(pingTimeout / time.Millisecond)})
	agents, busy, werr := w.Stop()
	run.SystemBusy = busy
	for _, e := range cur.Poll() {
		if e.ID != "" && e.ID != "frame.rejected" {
			if run.Events == nil {
				run.Events = map[string]int{}
			}
			run.Events[e.ID]++
		}
	}
	if err != nil {
		run.Error = err.Error()
		return
	}
	run.Ping = res
	run.MBPerS = stats.Round3(res.PerSecond * float64(run.Size) / 1e6)
	if werr == nil && res.Received > 0 {
		var cpu time.Duration
		for _, a := range agents {
			cpu += a.SchedCPU
		}
		run.CPUMicrosPerMsg = stats.Round3(float64(cpu) / 1e3 / float64(res.Received))
	}
	t.Logf("msg %s window %d size %d: %d/%d echoes, p50 %d µs, p99 %d µs, max %d µs, %.0f/s, %.1f MB/s, routes %v",
		run.Bed, run.Window, run.Size, res.Received, res.Sent, res.RTTP50Micros, res.RTTP99Micros, res.RTTMaxMicros, res.PerSecond, run.MBPerS, res.Routes)
}
