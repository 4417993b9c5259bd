// Command tcp benchmarks tetherd's tcp channel and message API on a
// network-namespace test bed (root needed):
//
//   - cpu: CPU per heartbeat: 3 idle agents × 2 networks with channels
//     [ether], [tcp] and [ether, tcp], at the default timers and at
//     10/20/30 ms; CPU from schedstat, frames sent and received per
//     channel from the status counters, CPU per frame, and what the tcp
//     channel adds per frame and per heartbeat.
//   - mem: memory per connection: node 0 of tcp-only beds of 2, 8, 16 and
//     32 nodes (and ether-only beds of the same sizes, to separate the
//     connections from the per-peer protocol state), memstats from
//     tetherd --pprof's /debug/vars, RSS from /proc; least-squares slopes.
//   - msg: the message API between two nodes (status.Client.Ping, echo
//     service): round-trip latency one at a time per payload size over
//     tcp and over ether (each measured -reps times), and throughput with
//     64 and 256 echoes in flight.
//
// It prints tables and writes tcp.json, tcp.md and the agents' logs to
// -out. make bench runs it; docs/BENCHMARKS.md records results.
//
//	go run ./bench/tcp -bin bin -out bench/results [-only cpu,mem,msg] [-profiles default,fast]
//	    [-window 60s] [-nodes 2,8,16,32] [-settle 10s] [-count 5000] [-reps 3] [-tput 5s]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/report"
	"github.com/tether-ha/tether/testbed"
)

// Parts (-only).
const (
	partCPU = "cpu"
	partMem = "mem"
	partMsg = "msg"
)

const (
	upTimeout     = 30 * time.Second
	startupSettle = 2 * time.Second
)

// profile is one set of timers.
type profile struct {
	name   string
	timers map[string]string // config timers section; nil: agent defaults
}

var allProfiles = []profile{
	{name: "default"},
	{name: "fast", timers: bedutil.FastTimers()},
}

// options are the command-line flags.
type options struct {
	bin, out string
	parts    []string
	profiles []profile
	window   time.Duration // cpu: measurement window
	nodes    []int         // mem: bed sizes
	settle   time.Duration // mem: after all links are up
	count    int           // msg: echoes per latency run
	reps     int           // msg: latency runs per size
	tput     time.Duration // msg: aimed length of a throughput run
}

func (o options) has(part string) bool { return slices.Contains(o.parts, part) }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("tcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "`dir`ectory holding tetherd (make build)")
	fs.StringVar(&o.out, "out", "bench/results", "`dir`ectory for tcp.json, tcp.md and logs/")
	only := fs.String("only", "cpu,mem,msg", "comma-separated `parts` to run: cpu, mem, msg")
	profs := fs.String("profiles", "default,fast", "cpu: comma-separated timer `profiles`: default (100/300/600 ms), fast (10/20/30 ms)")
	fs.DurationVar(&o.window, "window", 60*time.Second, "cpu: measurement window per configuration (≥ 60s for the record)")
	nodes := fs.String("nodes", "2,8,16,32", "mem: comma-separated bed `sizes` (2.."+strconv.Itoa(testbed.MaxNodes)+")")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "mem: wait after all links are up before reading memory")
	fs.IntVar(&o.count, "count", 5000, "msg: echoes per latency run (window 1)")
	fs.IntVar(&o.reps, "reps", 3, "msg: latency runs per payload size")
	fs.DurationVar(&o.tput, "tput", 5*time.Second, "msg: aimed duration of each throughput run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.parts, err = bedutil.Parts(*only, partCPU, partMem, partMsg); err != nil {
		return o, err
	}
	for name := range strings.SplitSeq(*profs, ",") {
		k := slices.IndexFunc(allProfiles, func(p profile) bool { return p.name == strings.TrimSpace(name) })
		if k < 0 {
			return o, fmt.Errorf("-profiles: unknown profile %q (want default, fast)", name)
		}
		o.profiles = append(o.profiles, allProfiles[k])
	}
	for s := range strings.SplitSeq(*nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 || n > testbed.MaxNodes {
			return o, fmt.Errorf("-nodes: %q: want a number of nodes in 2..%d", s, testbed.MaxNodes)
		}
		o.nodes = append(o.nodes, n)
	}
	slices.Sort(o.nodes)
	o.nodes = slices.Compact(o.nodes)
	switch {
	case o.has(partMem) && len(o.nodes) < 2:
		return o, fmt.Errorf("-nodes %s: want at least two sizes to fit a slope", *nodes)
	case o.window < time.Second:
		return o, fmt.Errorf("-window %v: want at least 1s", o.window)
	case o.settle < 0:
		return o, fmt.Errorf("-settle %v: want ≥ 0", o.settle)
	case o.count < 100:
		return o, fmt.Errorf("-count %d: want at least 100 (a p99 needs them)", o.count)
	case o.reps < 1:
		return o, fmt.Errorf("-reps %d: want at least 1", o.reps)
	case o.tput < 100*time.Millisecond:
		return o, fmt.Errorf("-tput %v: want at least 100ms", o.tput)
	}
	return o, nil
}

func main() { bedutil.Main("tcp", parseFlags, run) }

// run runs every part asked for and writes the results.
func run(t testbed.T, o options) {
	o.bin = bedutil.Prepare(t, o.bin, o.out)
	res := &Results{Run: bedutil.StartRun(o.bin)}
	save := func() {
		heading := fmt.Sprintf("tether tcp channel and message benchmarks, %s\n\n`%s`", res.Started.Format("2006-01-02"), res.Command)
		if err := report.Write(o.out, "tcp", heading, res, tables(res)); err != nil {
			t.Fatalf("write results: %v", err)
		}
	}
	t.Logf("machine: %s; load %s", res.Machine, res.Machine.LoadBefore)
	if o.has(partCPU) {
		res.CPU, res.CPUDerived = runCPU(t, o)
		for _, r := range res.CPU {
			if r.Error != "" {
				res.Errors = append(res.Errors, fmt.Sprintf("cpu %s %v: %s", r.Profile, r.Channels, r.Error))
			}
		}
		save()
	}
	if o.has(partMem) {
		res.Mem = runMem(t, o)
		for _, p := range res.Mem.Points {
			if p.Error != "" {
				res.Errors = append(res.Errors, fmt.Sprintf("mem %s %d nodes: %s", p.Channel, p.Nodes, p.Error))
			}
		}
		save()
	}
	if o.has(partMsg) {
		res.Msg = runMsg(t, o)
		res.Errors = append(res.Errors, res.Msg.Errors...)
		save()
	}
	res.End()
	save()
	report.Print(os.Stdout, tables(res))
	t.Logf("results in %s", filepath.Join(o.out, "tcp.json"))
	if len(res.Errors) > 0 {
		t.Fatalf("the benchmark could not measure everything:\n  %s", strings.Join(res.Errors, "\n  "))
	}
}
