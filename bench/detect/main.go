// Command detect benchmarks tetherd on a network-namespace test bed (root
// needed): detection latency from fault to link DOWN for a cable pull
// (carrier loss) and a silent switch-port blackhole, at the default timers
// and at heartbeat 10 ms / peertrouble 20 ms / peerinact 30 ms; CPU and
// memory of idle agents; and a soak counting false DOWNs under random loss
// on every link with every CPU saturated. It prints a table and writes
// detect.json, detect.md and the agents' logs to -out. make bench runs it;
// docs/BENCHMARKS.md describes the method and records results.
//
//	go run ./bench/detect -bin bin -out bench/results [-trials 50] [-only carrier,blackhole,idle,soak]
//	    [-profiles default,fast] [-idle 60s] [-soak 5m] [-soak-profile default] [-loss 10] [-seed N]
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
	partCarrier   = faultCarrier
	partBlackhole = faultBlackhole
	partIdle      = "idle"
	partSoak      = "soak"
)

// Targets of the issue.
const (
	carrierTargetMs = 10  // carrier loss to link DOWN, p99
	fastTargetMs    = 35  // blackhole at 10/20/30 ms, p99
	idleRSSMiB      = 30  // idle agent RSS
	defaultIdleCPU  = 0.5 // % of one core, idle, default timers
	fastIdleCPU     = 4.6 // % of one core at 10/20/30 ms (FRR BFD at 10 ms × 3)
	upTimeout       = 30 * time.Second
	startupSettle   = 2 * time.Second
)

// profile is one set of timers to measure.
type profile struct {
	name   string
	timers map[string]string // config timers section; nil: agent defaults
	// blackholeTarget returns the p99 target from the effective timers.
	blackholeTarget func(bedutil.Timers) float64
	idleCPU         float64
}

func profiles() []profile {
	return []profile{
		{name: "default", idleCPU: defaultIdleCPU,
			blackholeTarget: func(t bedutil.Timers) float64 { return t.PeerInactMs + t.HeartbeatMs }},
		{name: "fast", timers: bedutil.FastTimers(),
			idleCPU: fastIdleCPU, blackholeTarget: func(bedutil.Timers) float64 { return fastTargetMs }},
	}
}

// options are the command-line flags.
type options struct {
	bin, out string
	trials   int
	parts    []string
	profiles []profile
	idle     time.Duration
	soak     time.Duration
	loss     int
	soakProf profile
	seed     uint64
	burn     int
}

func (o options) has(part string) bool { return slices.Contains(o.parts, part) }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "`dir`ectory holding tetherd (make build)")
	fs.StringVar(&o.out, "out", "bench/results", "`dir`ectory for detect.json, detect.md and logs/")
	fs.IntVar(&o.trials, "trials", 50, "fault injections per fault kind and timer profile")
	only := fs.String("only", "carrier,blackhole,idle,soak", "comma-separated `parts` to run: carrier, blackhole, idle, soak")
	profs := fs.String("profiles", "default,fast", "comma-separated timer `profiles`: default (100/300/600 ms), fast (10/20/30 ms)")
	fs.DurationVar(&o.idle, "idle", 60*time.Second, "idle CPU measurement window per profile (≥ 30s for the record)")
	fs.DurationVar(&o.soak, "soak", 5*time.Minute, "soak duration (loss and CPU saturation)")
	fs.IntVar(&o.loss, "loss", 10, "soak: random egress loss on every node's every network, `percent`")
	soakProf := fs.String("soak-profile", "default", "timer `profile` of the soak: default or fast")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the random pre-fault delays; 0: from the clock")
	fs.IntVar(&o.burn, burnFlag, 0, "internal: spin `n` threads until SIGTERM (the soak's CPU burner without stress-ng)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.burn > 0 {
		return o, nil
	}
	var err error
	if o.parts, err = bedutil.Parts(*only, partCarrier, partBlackhole, partIdle, partSoak); err != nil {
		return o, err
	}
	all := profiles()
	find := func(flag, name string) (profile, error) {
		k := slices.IndexFunc(all, func(p profile) bool { return p.name == strings.TrimSpace(name) })
		if k < 0 {
			return profile{}, fmt.Errorf("%s: unknown profile %q (want default, fast)", flag, name)
		}
		return all[k], nil
	}
	for name := range strings.SplitSeq(*profs, ",") {
		p, err := find("-profiles", name)
		if err != nil {
			return o, err
		}
		o.profiles = append(o.profiles, p)
	}
	if o.soakProf, err = find("-soak-profile", *soakProf); err != nil {
		return o, err
	}
	switch {
	case o.trials < 1:
		return o, fmt.Errorf("-trials %d: want at least 1", o.trials)
	case o.idle < time.Second:
		return o, fmt.Errorf("-idle %v: want at least 1s", o.idle)
	case o.soak < time.Second:
		return o, fmt.Errorf("-soak %v: want at least 1s", o.soak)
	case o.loss < 0 || o.loss > 100:
		return o, fmt.Errorf("-loss %d: want 0..100", o.loss)
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "detect:", err)
		os.Exit(2)
	}
	if o.burn > 0 {
		burn(o.burn)
		return
	}
	os.Exit(testbed.Main(func(t testbed.T) { run(t, o) }))
}

// run runs every part asked for and writes the results.
func run(t testbed.T, o options) {
	o.bin = bedutil.Prepare(t, o.bin, o.out)
	res := &Results{Run: bedutil.StartRun(o.bin), Seed: o.seed}
	save := func() {
		if err := writeResults(o.out, res); err != nil {
			t.Fatalf("write results: %v", err)
		}
	}
	rng := rand.New(rand.NewPCG(o.seed, o.seed>>1|1))
	t.Logf("machine: %s, %d cores, kernel %s, %s; load %s", res.Machine.CPUModel, res.Machine.Cores, res.Machine.Kernel, res.Machine.GoVersion, res.Machine.LoadBefore)

	if o.has(partCarrier) || o.has(partBlackhole) || o.has(partIdle) {
		for _, p := range o.profiles {
			pr := runProfile(t, o, p, rng)
			res.Profiles = append(res.Profiles, pr)
			if pr.Error != "" {
				res.Errors = append(res.Errors, "profile "+p.name+": "+pr.Error)
			}
			for _, f := range pr.Faults {
				if f.Error != "" {
					res.Errors = append(res.Errors, fmt.Sprintf("profile %s, %s: %s", p.name, f.Fault, f.Error))
				}
			}
			save()
		}
	}
	if o.has(partSoak) {
		b := testbed.New(t, testbed.Options{BinDir: o.bin, Timers: o.soakProf.timers})
		b.StartAll()
		if err := bedutil.WaitAllUp(b, upTimeout); err != nil {
			res.Errors = append(res.Errors, "soak: "+err.Error())
		} else {
			time.Sleep(startupSettle)
			t.Logf("soak: %s timers, %v, %d%% loss on every egress, CPUs saturated", o.soakProf.name, o.soak, o.loss)
			sr, err := runSoak(t, b, soakPlan{dur: o.soak, lossPct: o.loss, logf: t.Logf})
			if sr != nil {
				sr.Profile = o.soakProf.name
			}
			if err != nil {
				if sr == nil {
					sr = &SoakResult{}
				}
				sr.Error = err.Error()
				res.Errors = append(res.Errors, "soak: "+err.Error())
			}
			res.Soak = sr
		}
		bedutil.Finish(t, b, o.out, "soak")
	}
	res.End()
	save()
	report.Print(os.Stdout, tables(res))
	t.Logf("results in %s", filepath.Join(o.out, "detect.json"))
	if len(res.Errors) > 0 {
		t.Fatalf("the benchmark could not measure everything:\n  %s", strings.Join(res.Errors, "\n  "))
	}
}

// runProfile measures one timer profile on a fresh bed.
func runProfile(t testbed.T, o options, p profile, rng *rand.Rand) *ProfileResult {
	pr := &ProfileResult{Name: p.name, Config: p.timers}
	t.Logf("profile %s: starting a 3-node, 2-network bed", p.name)
	b := testbed.New(t, testbed.Options{BinDir: o.bin, Timers: p.timers})
	defer bedutil.Finish(t, b, o.out, "profile-"+p.name)
	b.StartAll()
	if err := bedutil.WaitAllUp(b, upTimeout); err != nil {
		pr.Error = err.Error()
		return pr
	}
	tm, err := bedutil.EffectiveTimers(b)
	if err != nil {
		pr.Error = err.Error()
		return pr
	}
	pr.Timers = tm
	t.Logf("profile %s: timers heartbeat %v ms, peertrouble %v ms, peerinact %v ms", p.name, tm.HeartbeatMs, tm.PeerTroubleMs, tm.PeerInactMs)
	if o.has(partIdle) {
		time.Sleep(startupSettle)
		t.Logf("profile %s: idle CPU and memory over %v", p.name, o.idle)
		pr.Idle, err = measureIdle(b, o.idle, p.idleCPU, idleRSSMiB)
		if err != nil {
			pr.Error = "idle: " + err.Error()
			return pr
		}
		t.Logf("profile %s: idle CPU mean %.3f %% max %.3f %% of one core, max RSS %.1f MiB", p.name, pr.Idle.MeanCPU, pr.Idle.MaxCPU, pr.Idle.MaxRSSMiB)
	}
	for _, fault := range []string{faultCarrier, faultBlackhole} {
		if !o.has(fault) {
			continue
		}
		target := float64(carrierTargetMs)
		if fault == faultBlackhole {
			target = p.blackholeTarget(tm)
		}
		t.Logf("profile %s: %d %s trials", p.name, o.trials, fault)
		logf := func(format string, args ...any) { t.Logf("profile %s: "+format, append([]any{p.name}, args...)...) }
		fr := runTrials(b, trialPlan{fault: fault, trials: o.trials, timers: tm, targetMs: target, rng: rng, logf: logf})
		pr.Faults = append(pr.Faults, fr)
		if fr.Error != "" {
			break
		}
	}
	if rss, err := bedutil.RSS(b); err == nil {
		pr.RSSAfterKiB = rss
	}
	return pr
}
