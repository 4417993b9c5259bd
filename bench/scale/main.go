// Command scale benchmarks tetherd at cluster scale on a network-namespace
// test bed (root needed): -nodes real tetherd processes (default 64) on
// -networks interconnect networks (default 2), at the default timers
// (heartbeat 100 ms, peertrouble 300 ms, peerinact 600 ms). It measures
//
//   - the bed: the time to build it (namespaces, bridges, veth pairs) and
//     to start every agent;
//   - the time until every node reports every link to every other node
//     healthy (all OPEN), with a timeline; if that never happens within
//     -up-timeout it reports what every node sees instead (links by state
//     and reason, peers by state, pauses) and measures no faults;
//   - an idle window (-idle): CPU (utime+stime of /proc/<pid>/stat) and
//     RSS of every agent (min / median / max, and all of them as a share
//     of the machine), and false DOWNs: every link that went down or
//     changed state while nothing was injected, from the agents' own
//     counters and from their logs;
//   - -trials silent switch-port blackholes (testbed's Blackhole) and as
//     many cable pulls (CablePull), each on a random node and network:
//     the latency from the fault to each involved link's link.down in the
//     agents' logs, at both ends (the faulted node about each peer, each
//     peer about it), p50 / p99 / max; the reason at link.down; once the
//     reasons settle, the faulted node's and a few peers' status against
//     the reasons the fault must end with; links of others that went down.
//
// It writes the results to -out (JSON; the agents' logs go to logs/ beside
// it) and prints them as Markdown tables on stdout; progress goes to
// stderr. The goals (idle CPU ≤ 2 % of one core per agent, blackhole p99
// ≤ 700 ms) are reported, not asserted; the exit status is 1 when the run
// could not measure everything (e.g. the cluster never came up).
//
//	go run ./bench/scale -bin bin -out bench/results/scale.json [-nodes 64] [-networks 2]
//	    [-idle 5m] [-trials 20] [-up-timeout 5m] [-stagger 0] [-seed N]
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/testbed"
)

// Goals of the issue (reported, not asserted).
const (
	goalIdleCPU     = 2.0 // % of one core per idle agent
	goalBlackholeMs = 700 // blackhole detection p99
)

// options are the command-line flags.
type options struct {
	bin, out  string
	nodes     int
	networks  int
	idle      time.Duration
	trials    int
	upTimeout time.Duration
	stagger   time.Duration
	seed      uint64
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "`dir`ectory holding tetherd (make build; not the race build)")
	fs.StringVar(&o.out, "out", "bench/results/scale.json", "results `file` (JSON); the agents' logs go to logs/ beside it")
	fs.IntVar(&o.nodes, "nodes", 64, "number of nodes")
	fs.IntVar(&o.networks, "networks", 2, "number of interconnect networks (hb0, hb1, ...)")
	fs.DurationVar(&o.idle, "idle", 5*time.Minute, "idle window: CPU, RSS and false DOWNs")
	fs.IntVar(&o.trials, "trials", 20, "blackhole trials, and as many cable-pull trials (0: none)")
	fs.DurationVar(&o.upTimeout, "up-timeout", 5*time.Minute, "how long to wait for every link to be up, at the start and after each fault")
	fs.DurationVar(&o.stagger, "stagger", 0, "pause between two agents' starts (0: start them back to back)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the fault placement and pre-fault delays; 0: from the clock")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.nodes < 3 || o.nodes > testbed.MaxNodes:
		return o, fmt.Errorf("-nodes %d: want 3..%d (a blackhole is told from a dead NIC with 3 nodes or more)", o.nodes, testbed.MaxNodes)
	case o.networks < 2 || o.networks > 10:
		return o, fmt.Errorf("-networks %d: want 2..10 (a fault on one network is reported over another)", o.networks)
	case o.idle < time.Second:
		return o, fmt.Errorf("-idle %v: want at least 1s", o.idle)
	case o.trials < 0:
		return o, fmt.Errorf("-trials %d: want 0 or more", o.trials)
	case o.upTimeout < time.Second:
		return o, fmt.Errorf("-up-timeout %v: want at least 1s", o.upTimeout)
	case o.stagger < 0:
		return o, fmt.Errorf("-stagger %v: want 0 or more", o.stagger)
	case filepath.Ext(o.out) != ".json":
		return o, fmt.Errorf("-out %q: want a .json file", o.out)
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

func main() { bedutil.Main("scale", parseFlags, run) }

// run builds the bed, waits for every link, measures the idle window and
// the faults, and writes the results.
func run(t testbed.T, o options) {
	outDir := filepath.Dir(o.out)
	o.bin = bedutil.Prepare(t, o.bin, outDir)
	res := &Results{Run: bedutil.StartRun(o.bin), Seed: o.seed, Nodes: o.nodes,
		GoalIdleCPU: goalIdleCPU, GoalBlackholeMs: goalBlackholeMs}
	save := func() {
		if err := writeJSON(o.out, res); err != nil {
			t.Fatalf("write results: %v", err)
		}
	}
	place := newPlacer(rand.New(rand.NewPCG(o.seed, o.seed>>1|1)))
	t.Logf("machine: %s; load %s", res.Machine, res.Machine.LoadBefore)

	var nets []testbed.NetworkSpec
	for k := range o.networks {
		name := fmt.Sprintf("hb%d", k)
		nets = append(nets, testbed.NetworkSpec{Name: name})
		res.Networks = append(res.Networks, name)
	}
	t0 := time.Now()
	b := testbed.New(t, testbed.Options{Nodes: o.nodes, Networks: nets, BinDir: o.bin})
	res.Bed = BedResult{Namespaces: o.nodes + 1, VethPairs: o.nodes * o.networks, BuildSeconds: secs(time.Since(t0)), StaggerMs: ms(o.stagger)}
	t.Logf("bed: %d nodes × %d networks (%d namespaces, %d veth pairs) built in %.2f s", o.nodes, o.networks, res.Bed.Namespaces, res.Bed.VethPairs, res.Bed.BuildSeconds)

	finished := false
	defer func() {
		if !finished { // a Fatalf: keep what was measured
			res.Errors = append(res.Errors, "the run was cut short (see the log)")
		}
		res.End()
		save()
		bedutil.Finish(t, b, outDir, "scale")
	}()

	up, started := startAndWait(t, b, o)
	res.Up, res.Bed.StartSeconds = up, started
	if tm, err := bedutil.EffectiveTimers(b); err == nil {
		res.Timers = tm
	} else {
		res.Errors = append(res.Errors, "timers: "+err.Error())
	}
	if !up.AllOpen {
		res.Errors = append(res.Errors, "not all links came up: "+up.Error)
	}
	save()

	time.Sleep(settle)
	res.Idle = measureIdle(t, b, o.idle, up.AllOpen)
	if res.Idle.Error != "" {
		res.Errors = append(res.Errors, "idle: "+res.Idle.Error)
	}
	save()

	if up.AllOpen && o.trials > 0 {
		for _, kind := range []string{faultBlackhole, faultCable} {
			fs := runTrials(t, b, trialPlan{fault: kind, trials: o.trials, timers: res.Timers, upTimeout: o.upTimeout, place: place})
			res.Faults = append(res.Faults, fs)
			if fs.Error != "" {
				res.Errors = append(res.Errors, kind+": "+fs.Error)
			}
			save()
			if fs.Error != "" {
				break
			}
		}
	} else if o.trials > 0 {
		t.Logf("faults: not measured: the cluster never had every link up")
	}
	res.Census = census(b)
	finished = true
	res.End()
	save()
	printMarkdown(os.Stdout, res)
	t.Logf("results in %s, logs in %s", o.out, filepath.Join(outDir, "logs"))
	if len(res.Errors) > 0 {
		t.Fatalf("the benchmark could not measure everything:\n  %s", strings.Join(res.Errors, "\n  "))
	}
}

// settle is the pause between every link up and the idle window.
const settle = 2 * time.Second

func secs(d time.Duration) float64 { return float64(d.Round(time.Millisecond)) / float64(time.Second) }
func ms(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}
