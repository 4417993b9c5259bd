// Command operate benchmarks the operational side of tetherd (issue 7) on
// a network-namespace test bed (root needed):
//
//   - scrape: the latency of GET /metrics on node 0 of a 3-node × 3-network
//     bed (ether and tcp on every network), its body size and the number
//     of tether_ series against docs/METRICS.md's formula;
//   - idle: CPU and memory of idle agents with a public channel
//     (memberlist) on a network of its own and /metrics scraped every 15 s
//     from it (the interval of Prometheus's example configuration); with
//     -compare also unscraped, and without the public channel, to show
//     where the CPU goes;
//   - partition: every private network of node 2 blackholed: the time until
//     its peers log it PARTITIONED (never DOWN, since it is alive on the
//     public channel);
//   - down: node 2 killed (SIGKILL): the time until its peers log it
//     PARTITIONED (its private links silent) and then DOWN (memberlist
//     declared it dead).
//
// It prints a table and writes operate.json, operate.md and the agents'
// logs to -out. make bench runs it; docs/BENCHMARKS.md records results.
//
//	go run ./bench/operate -bin bin -out bench/results [-only scrape,idle,partition,down]
//	    [-trials 20] [-scrapes 2000] [-gap 10ms] [-idle 60s] [-compare=true]
//	    [-private-channels ether,tcp] [-pprof file] [-seed N]
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/report"
	"github.com/tether-ha/tether/testbed"
)

// What can be run (-only).
const (
	partScrape    = "scrape"
	partIdle      = "idle"
	partPartition = "partition"
	partDown      = "down"
)

// Targets of issue 7.
const (
	scrapeP99Ms        = 5.0  // GET /metrics, p99
	idleCPUTarget      = 0.6  // % of one core, idle, with the public channel and scrapes
	idleRSSTarget      = 40.0 // MiB
	partitionTargetMs  = 1000 // blackhole of every private network → PARTITIONED, every trial
	downTargetMs       = 4000 // SIGKILL → DOWN, every trial
	promScrapeInterval = 15 * time.Second
	upTimeout          = 30 * time.Second
	startupSettle      = 2 * time.Second
)

// options are the command-line flags.
type options struct {
	bin, out string
	parts    []string
	trials   int
	scrapes  int
	gap      time.Duration
	idle     time.Duration
	compare  bool
	channels []string // of the public bed's private networks
	pprof    string
	seed     uint64
}

func (o options) has(part string) bool { return slices.Contains(o.parts, part) }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("operate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "`dir`ectory holding tetherd (make build)")
	fs.StringVar(&o.out, "out", "bench/results", "`dir`ectory for operate.json, operate.md and logs/")
	only := fs.String("only", "scrape,idle,partition,down", "comma-separated `parts` to run: scrape, idle, partition, down")
	fs.IntVar(&o.trials, "trials", 20, "partition and down: fault injections each")
	fs.IntVar(&o.scrapes, "scrapes", 2000, "scrape: GET /metrics requests in a row, per encoding (gzip, identity)")
	fs.DurationVar(&o.gap, "gap", 10*time.Millisecond, "scrape: pause between two requests")
	fs.DurationVar(&o.idle, "idle", 60*time.Second, "idle: measurement window (≥ 30s for the record)")
	fs.BoolVar(&o.compare, "compare", true, "idle: also measure the same bed unscraped, and without the public channel, to attribute the CPU")
	chans := fs.String("private-channels", "ether,tcp", "idle, partition, down: `channels` of the private networks hb0 and hb1")
	fs.StringVar(&o.pprof, "pprof", "", "scrape: run tetherd with --pprof and write node0's CPU profile over 20 s of back-to-back scrapes to `file` (after the measured runs)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the random pre-fault delays; 0: from the clock")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.parts, err = bedutil.Parts(*only, partScrape, partIdle, partPartition, partDown); err != nil {
		return o, err
	}
	for c := range strings.SplitSeq(*chans, ",") {
		c = strings.TrimSpace(c)
		if c != "ether" && c != "tcp" || slices.Contains(o.channels, c) {
			return o, fmt.Errorf("-private-channels %q: want ether, tcp or both", *chans)
		}
		o.channels = append(o.channels, c)
	}
	switch {
	case o.trials < 1:
		return o, fmt.Errorf("-trials %d: want at least 1", o.trials)
	case o.scrapes < 1:
		return o, fmt.Errorf("-scrapes %d: want at least 1", o.scrapes)
	case o.gap < 0:
		return o, fmt.Errorf("-gap %v: want ≥ 0", o.gap)
	case o.idle < time.Second:
		return o, fmt.Errorf("-idle %v: want at least 1s", o.idle)
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

func main() { bedutil.Main("operate", parseFlags, run) }

// run runs every part asked for and writes the results after each.
func run(t testbed.T, o options) {
	o.bin = bedutil.Prepare(t, o.bin, o.out)
	res := &Results{Run: bedutil.StartRun(o.bin), Seed: o.seed}
	save := func() {
		if err := writeResults(o.out, res); err != nil {
			t.Fatalf("write results: %v", err)
		}
	}
	rng := rand.New(rand.NewPCG(o.seed, o.seed>>1|1))
	t.Logf("machine: %s; load %s", res.Machine, res.Machine.LoadBefore)

	if o.has(partScrape) {
		res.Scrape = runScrape(t, o)
		if res.Scrape.Error != "" {
			res.Errors = append(res.Errors, "scrape: "+res.Scrape.Error)
		}
		save()
	}
	if o.has(partIdle) || o.has(partPartition) || o.has(partDown) {
		runPublic(t, o, res, rng, save)
	}
	if o.has(partIdle) && o.compare {
		runBaseline(t, o, res)
		save()
	}
	res.End()
	save()
	report.Print(os.Stdout, tables(res))
	t.Logf("results in %s", filepath.Join(o.out, "operate.json"))
	if len(res.Errors) > 0 {
		t.Fatalf("the benchmark could not measure everything, or tetherd misbehaved:\n  %s", strings.Join(res.Errors, "\n  "))
	}
}

// runPublic runs the parts that use the public bed, on one bed.
func runPublic(t testbed.T, o options, res *Results, rng *rand.Rand, save func()) {
	t.Logf("public bed: 3 nodes, private hb0 and hb1 (%s), pub (memberlist and metrics only)", strings.Join(o.channels, ", "))
	res.PrivateChannels = o.channels
	b := newPublicBed(t, o.bin, o.channels, true)
	defer bedutil.Finish(t, b, o.out, "public")
	b.StartAll()
	if err := waitReady(b, upTimeout, true); err != nil {
		res.Errors = append(res.Errors, "public bed: "+err.Error())
		return
	}
	tm, err := bedutil.EffectiveTimers(b)
	if err != nil {
		res.Errors = append(res.Errors, "public bed: "+err.Error())
		return
	}
	res.Timers = tm
	t.Logf("public bed: timers %s", tm)
	if o.has(partIdle) {
		time.Sleep(startupSettle)
		t.Logf("idle: CPU and memory over %v, /metrics of every agent scraped every %v", o.idle, promScrapeInterval)
		res.Idle, err = measureIdle(b, o.idle, cfgScraped, true)
		if err != nil {
			res.Errors = append(res.Errors, "idle: "+err.Error())
		} else {
			logIdle(t, res.Idle)
			res.IdleCompare = append(res.IdleCompare, res.Idle)
		}
		save()
		if o.compare && err == nil {
			t.Logf("idle: the same bed, nobody scraping, over %v", o.idle)
			if r, err := measureIdle(b, o.idle, cfgUnscraped, false); err != nil {
				res.Errors = append(res.Errors, "idle, unscraped: "+err.Error())
			} else {
				logIdle(t, r)
				res.IdleCompare = append(res.IdleCompare, r)
			}
			save()
		}
	}
	for _, part := range []string{partPartition, partDown} {
		if !o.has(part) {
			continue
		}
		t.Logf("%s: %d trials", part, o.trials)
		logf := func(format string, args ...any) { t.Logf(part+": "+format, args...) }
		tr := runTrials(b, trialPlan{kind: part, trials: o.trials, timers: tm, rng: rng, logf: logf})
		if part == partPartition {
			res.Partition = tr
		} else {
			res.Down = tr
		}
		if tr.Error != "" {
			res.Errors = append(res.Errors, part+": "+tr.Error)
		}
		save()
		if tr.Error != "" {
			break // the bed is in an unknown state
		}
	}
	if rss, err := bedutil.RSS(b); err == nil {
		res.RSSAfterKiB = rss
	}
}

// Idle configurations.
const (
	cfgScraped   = "public channel, scraped every 15 s"
	cfgUnscraped = "public channel, not scraped"
	cfgNoPublic  = "no public channel, not scraped"
)

func logIdle(t testbed.T, r *IdleResult) {
	t.Logf("idle (%s): CPU mean %.3f %% max %.3f %% of one core, max RSS %.1f MiB", r.Config, r.MeanCPU, r.MaxCPU, r.MaxRSSMiB)
}

// runBaseline measures the idle agents of the public bed without its
// public channel, nobody scraping: what the private links cost alone.
func runBaseline(t testbed.T, o options, res *Results) {
	t.Logf("idle baseline: the same bed without the public channel, over %v", o.idle)
	b := newPublicBed(t, o.bin, o.channels, false)
	defer bedutil.Finish(t, b, o.out, "nopublic")
	b.StartAll()
	if err := waitReady(b, upTimeout, false); err != nil {
		res.Errors = append(res.Errors, "idle baseline: "+err.Error())
		return
	}
	time.Sleep(startupSettle)
	r, err := measureIdle(b, o.idle, cfgNoPublic, false)
	if err != nil {
		res.Errors = append(res.Errors, "idle baseline: "+err.Error())
		return
	}
	logIdle(t, r)
	res.IdleCompare = append(res.IdleCompare, r)
}
