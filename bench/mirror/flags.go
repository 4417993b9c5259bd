package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
)

// options are the command-line flags.
type options struct {
	bin, out   string
	parts      []string
	gib        float64
	producers  int
	batch      int
	sustain    time.Duration
	idle       time.Duration
	rate       int
	records    int
	warmup     int
	reps       int
	trials     int
	control    bool
	pprof      string
	agentProcs int
}

// fillRecords is the number of 1 KiB records of -gib GiB of values.
func (o options) fillRecords() int64 {
	return int64(o.gib * (1 << 30) / recordSize)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("mirror", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", strings.Join(allParts, ","), "comma-separated `parts` to run: "+strings.Join(allParts, ", "))
	fs.Float64Var(&o.gib, "gib", 1, "throughput, redis, reopen: GiB of 1 KiB values to fill the topic (and Redis) with")
	fs.IntVar(&o.producers, "producers", 4, "throughput: concurrent producers over the topic API")
	fs.IntVar(&o.batch, "batch", 256, "throughput: records per produce request")
	fs.DurationVar(&o.sustain, "sustain", 20*time.Second, "throughput, redis: length of the sustained phase (producers at full speed, mirror active)")
	fs.DurationVar(&o.idle, "idle", 20*time.Second, "rtt: idle window for the baseline heartbeat RTT")
	fs.IntVar(&o.rate, "rate", 1000, "latency, acks: records per second, one per produce")
	fs.IntVar(&o.records, "records", 10000, "latency, acks: records measured (after -warmup more)")
	fs.IntVar(&o.warmup, "warmup", 200, "latency, acks: records sent first and not counted")
	fs.IntVar(&o.reps, "reps", 3, "latency, acks: runs of each, interleaved (the verdict is on all their records together)")
	fs.IntVar(&o.trials, "trials", 5, "reopen: kill -9 and restarts of the primary")
	fs.BoolVar(&o.control, "control", true, "latency: also run the producer against a bare HTTP server that appends and fsyncs (no tether code): what the machine costs a produce")
	fs.StringVar(&o.pprof, "pprof", "", "throughput, latency, acks: run tetherd with --pprof and write both agents' CPU profiles and this program's over the sustained phase and each paced run to `dir`")
	fs.StringVar(&o.bin, "bin", "bin", "`dir`ectory holding tetherd (make build)")
	fs.StringVar(&o.out, "out", "bench/results", "`dir`ectory for mirror.json, mirror.md and logs/")
	procs := fs.String("agent-procs", "", "GOMAXPROCS of the agents (`N`); empty: tetherd's own default (agent.Procs: 2 with a replicator)")
	err := fs.Parse(args)
	switch {
	case err != nil:
		return o, err
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.parts, err = bedutil.Parts(*only, allParts...); err != nil {
		return o, err
	}
	if *procs != "" {
		if o.agentProcs, err = strconv.Atoi(*procs); err != nil || o.agentProcs < 1 {
			return o, fmt.Errorf("-agent-procs %q: want a number ≥ 1", *procs)
		}
	}
	switch {
	case o.gib <= 0:
		return o, fmt.Errorf("-gib %g: want > 0", o.gib)
	case o.producers < 1 || o.batch < 1:
		return o, fmt.Errorf("-producers %d -batch %d: want at least 1 each", o.producers, o.batch)
	case o.batch*recordSize*2 > 4<<20:
		return o, fmt.Errorf("-batch %d: a produce holds at most 4 MiB of values as JSON text", o.batch)
	case o.sustain < 2*time.Second || o.idle < 2*time.Second:
		return o, fmt.Errorf("-sustain %v -idle %v: want at least 2s each", o.sustain, o.idle)
	case o.rate < 1 || o.records < 1 || o.warmup < 0 || o.reps < 1:
		return o, fmt.Errorf("-rate %d -records %d -warmup %d -reps %d: want ≥ 1, ≥ 1, ≥ 0, ≥ 1", o.rate, o.records, o.warmup, o.reps)
	case o.trials < 1:
		return o, fmt.Errorf("-trials %d: want at least 1", o.trials)
	}
	return o, nil
}
