// Command mirror benchmarks the mirror replicator (issue 8) on a 2-node
// network-namespace test bed (root needed): networks hb0 and hb1, each with
// channels [ether, tcp], default timers, a replicator on each node in its
// own directory and three resources primary on node0 and mirrored to node1
// (as e2e/mirror_test.go's bed): bulk and lat (acks: local) and acked
// (acks: mirror). Parts (-only):
//
//   - throughput: the primary's topic filled with -gib GiB of 1 KiB records
//     by -producers concurrent producers over the topic API while the
//     mirror is paused (the produce rate), then the mirror resumed and its
//     drain timed (the catch-up rate); then producers at full speed with
//     the mirror active for -sustain: the mirror's append rate, its lag
//     over time and the CPU of both agents;
//   - redis: the same data with Redis (redis-server from PATH, primary in
//     node0's namespace on its hb0 address, replica in node1's): the full
//     sync of the filled dataset, and streaming replication while
//     redis-benchmark writes 1 KiB values at full speed for -sustain;
//   - latency: one producer at -rate records/s, one record per produce, on
//     the acks: local topic, and a consumer long-polling the mirror: from
//     the send time each record carries to its arrival on the mirror;
//   - acks: the same rate on the acks: mirror topic: the produce call;
//   - rtt: heartbeat RTT per link from the agents' RTT histograms
//     (/metrics), idle against during the sustained phase (which it runs
//     if throughput does not), and the link.trouble, link.down and
//     node.state events logged meanwhile;
//   - reopen: tetherd of the primary killed (SIGKILL) and started again,
//     -trials times: the time from the start until the topic API describes
//     the >= -gib GiB topic with its full log end offset.
//
// It prints the tables and writes mirror.json, mirror.md and the agents'
// logs to -out. make bench runs it; docs/BENCHMARKS.md records results.
//
//	go run ./bench/mirror -bin bin -out bench/results [-only throughput,redis,latency,acks,rtt,reopen]
//	    [-gib 1] [-producers 4] [-batch 256] [-sustain 20s] [-idle 20s] [-rate 1000]
//	    [-records 10000] [-reps 3] [-control=true] [-trials 5] [-pprof dir] [-agent-procs N]
package main

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/testbed"
)

// What can be run (-only).
const (
	partThroughput = "throughput" // fill with the mirror paused, drain, sustained
	partRedis      = "redis"      // the same with Redis replication
	partLatency    = "latency"    // produce → visible on the mirror
	partAcks       = "acks"       // the produce call with acks: mirror
	partRTT        = "rtt"        // heartbeat RTT idle and while mirroring
	partReopen     = "reopen"     // kill -9 and restart of the primary
)

var allParts = []string{partThroughput, partRedis, partLatency, partAcks, partRTT, partReopen}

// Targets of issue 8.
const (
	throughputTargetMBs = 150.0 // mirror throughput, 1 KiB records, MB/s (10^6 bytes)
	visibleP99Ms        = 5.0   // produce → visible on the mirror at 1,000 records/s
	acksP99Ms           = 3.0   // acks: mirror, the produce call
	rttFactor           = 2.0   // heartbeat RTT p99 under load ≤ this × idle
	reopenTargetS       = 2.0   // a 1 GiB topic after kill -9
	recordSize          = 1024  // bytes of every value
)

func (o options) has(part string) bool { return slices.Contains(o.parts, part) }

func main() {
	if len(os.Args) > 1 && os.Args[1] == controlArg {
		controlMain(os.Args[2:])
	}
	bedutil.Main("mirror", parseFlags, run)
}

// run runs every part asked for on one bed (Redis in its namespaces too)
// and writes the results after each.
func run(t testbed.T, o options) {
	o.bin = bedutil.Prepare(t, o.bin, o.out)
	if o.agentProcs > 0 {
		// ip netns exec and tetherd inherit this process's environment.
		os.Setenv("GOMAXPROCS", strconv.Itoa(o.agentProcs))
	}
	res := &Results{Run: bedutil.StartRun(o.bin), Options: o.record()}
	save := func() {
		if err := writeResults(o.out, res); err != nil {
			t.Fatalf("write results: %v", err)
		}
	}
	fail := func(part string, err error) {
		if err != nil {
			res.Errors = append(res.Errors, part+": "+err.Error())
			t.Logf("%s: %v", part, err)
		}
	}
	t.Logf("machine: %s; load %s", res.Machine, res.Machine.LoadBefore)
	m := newMirrorBed(t, o)
	defer bedutil.Finish(t, m.Bed, o.out, "mirror")
	if err := m.waitReady(); err != nil {
		t.Fatalf("mirror bed: %v", err)
	}
	tm, err := bedutil.EffectiveTimers(m.Bed)
	fail("bed", err)
	res.Timers = tm
	t.Logf("mirror bed: 2 nodes, hb0 and hb1 [ether, tcp], timers %s, agents' GOMAXPROCS %s", tm, res.Options.AgentProcs)

	// The paced parts first, on a bed that has written nothing yet, their
	// runs interleaved so that the machine's moods fall on all of them.
	if o.has(partLatency) {
		res.Latency = &PacedSeries{}
		if o.control {
			res.Control, res.Chained = &PacedSeries{}, &PacedSeries{}
		}
	}
	if o.has(partAcks) {
		res.Acks = &PacedSeries{}
	}
	runs := []struct {
		part   string
		series *PacedSeries
		run    func() (*PacedResult, error)
	}{
		{partLatency, res.Latency, func() (*PacedResult, error) { return runLatency(m, o) }},
		{partLatency + " (control)", res.Control, func() (*PacedResult, error) { return runControl(t, m, o, false) }},
		{partLatency + " (chained control)", res.Chained, func() (*PacedResult, error) { return runControl(t, m, o, true) }},
		{partAcks, res.Acks, func() (*PacedResult, error) { return runAcks(m, o) }},
	}
	for rep := range o.reps {
		for _, x := range runs {
			if x.series == nil {
				continue
			}
			t.Logf("%s %d/%d: %d records at %d/s, one per produce", x.part, rep+1, o.reps, o.records, o.rate)
			r, err := x.run()
			fail(x.part, err)
			if r == nil {
				continue
			}
			x.series.add(r)
			if r.Visible != nil {
				t.Logf("%s: produce → visible on the mirror p50 %.3f p99 %.3f ms", x.part, r.Visible.P50Ms, r.Visible.P99Ms)
			}
			t.Logf("%s: produce call (%s) p50 %.3f p99 %.3f ms", x.part, r.Acks, r.Produce.P50Ms, r.Produce.P99Ms)
		}
		save()
	}
	if o.has(partRTT) {
		t.Logf("rtt: idle heartbeat RTT over %v", o.idle)
		res.RTT = &RTTResult{}
		res.RTT.Idle, err = measureRTTIdle(m, o.idle)
		fail(partRTT, err)
		save()
	}
	if o.has(partThroughput) || o.has(partRTT) {
		res.Throughput, err = runThroughput(t, m, o, res.RTT)
		fail(partThroughput, err)
		if res.RTT != nil {
			res.RTT.judge()
		}
		save()
	}
	if o.has(partRedis) {
		res.Redis, err = runRedis(t, m, o)
		fail(partRedis, err)
		save()
	}
	if o.has(partReopen) {
		res.Reopen, err = runReopen(t, m, o)
		fail(partReopen, err)
		save()
	}
	res.End()
	save()
	printResults(t, o.out, res)
	if len(res.Errors) > 0 {
		t.Fatalf("the benchmark could not measure everything, or tetherd misbehaved:\n  %s", strings.Join(res.Errors, "\n  "))
	}
}
