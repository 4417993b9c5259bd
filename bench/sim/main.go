// Command sim runs clusters of real llt engines on a simulated network
// with a virtual clock, deterministically from a seed: N nodes × M
// networks, loss, latency, jitter, cable pulls, blackholes, one-way loss,
// partitions and node pauses. For each N it reports the engine's CPU per
// node and per link, frames and bytes per node, memory per node, and the
// detection time of every fault it injects, checked against the timer
// rules; and that 10 % loss takes no link DOWN.
//
//	go run ./bench/sim -nodes 8,32,64,128,256 -networks 4
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ha/tether/llt"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
}

type options struct {
	sizes      []int
	networks   int
	seed       uint64
	idle       time.Duration
	loss       time.Duration
	trials     int
	wire       netParams
	out        string
	cpuProfile string
	codec      bool
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	nodes := fs.String("nodes", "8,32,64,128,256", "cluster sizes, comma-separated")
	o := options{}
	fs.IntVar(&o.networks, "networks", 4, "networks per cluster (1..8)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the run: the same seed gives the same run")
	fs.DurationVar(&o.idle, "idle", 10*time.Second, "simulated idle time measured for CPU, frames and bytes")
	fs.DurationVar(&o.loss, "loss", 20*time.Second, "simulated time at 10 % loss (no link may go DOWN)")
	fs.IntVar(&o.trials, "trials", 3, "trials of each fault")
	fs.DurationVar(&o.wire.Latency, "latency", 50*time.Microsecond, "one-way latency")
	fs.DurationVar(&o.wire.Jitter, "jitter", 50*time.Microsecond, "jitter added to the latency")
	fs.StringVar(&o.out, "out", "", "write the results as JSON to this file")
	fs.BoolVar(&o.codec, "codec", true, "encode, sign, verify and decode every frame (false: hand over copies, twice as fast)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(*nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 3 || n > int(llt.MaxNodeID)+1 {
			return o, fmt.Errorf("-nodes: %q is not a cluster size of 3..%d", s, int(llt.MaxNodeID)+1)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.networks < 1 || o.networks > llt.MaxVector {
		return o, fmt.Errorf("-networks %d: want 1..%d", o.networks, llt.MaxVector)
	}
	if o.trials < 1 || o.idle <= 0 || o.loss < 0 {
		return o, fmt.Errorf("-trials, -idle must be positive, -loss not negative")
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var results []result
	for _, n := range o.sizes {
		r, err := measure(o, n)
		if err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "sim: %d nodes done in %vs\n", n, r.WallSeconds)
		// What is done is kept, should a larger size not finish.
		if err := writeResults(o.out, results); err != nil {
			return err
		}
	}
	printTable(os.Stdout, o, results)
	return nil
}

func writeResults(path string, results []result) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// measure runs one cluster size through its whole programme.
func measure(o options, n int) (result, error) {
	start := time.Now()
	runtime.LockOSThread() // one thread, whose CPU time scales the timings (meter.go)
	defer runtime.UnlockOSThread()
	timers := llt.DefaultTimers()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	c, err := newCluster(n, o.networks, o.seed, timers, o.wire)
	if err != nil {
		return result{}, err
	}
	c.meter = newMeter()
	c.noCodec = !o.codec
	tr := &tracker{history: map[[3]int][]time.Time{},
		diag: llt.Diagnostics{FlapCount: llt.DefaultFlapCount, FlapWindow: llt.DefaultFlapWindow}}
	c.onEvent = tr.onEvent(c)
	r := result{Nodes: n, Networks: o.networks, Seed: o.seed, Links: n * (n - 1) * o.networks}

	// Start: every link UP.
	up, err := c.runUntilUp(30 * time.Second)
	if err != nil {
		return r, err
	}
	r.AllUpMs = ms(up)

	// Idle: CPU, frames, bytes, false DOWNs.
	c.run(3 * time.Second) // past the start's extra frames
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	r.MemPerNodeKiB = float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc)) / float64(n) / 1024
	c.resetStats()
	tr.counting = true
	sp := startSpan()
	c.run(o.idle)
	r.OnCPU = sp.onCPU()
	tr.counting = false
	r.idle(c, o.idle)
	r.FalseDownsIdle = tr.downs

	// 10 % loss everywhere: lossy, never DOWN.
	if o.loss > 0 {
		tr.downs, tr.downsSeen = 0, nil
		c.net.p.Loss = 0.10
		tr.counting = true
		c.run(o.loss)
		tr.counting = false
		c.net.p.Loss = 0
		r.FalseDownsLoss = tr.downs
		for _, d := range tr.downsSeen {
			r.FalseDownExamples = append(r.FalseDownExamples, fmt.Sprintf("node%d's link to node%d on hb%d", d[0], d[1], d[2]))
		}
		if _, err := c.runUntilUp(30 * time.Second); err != nil {
			return r, fmt.Errorf("after the loss: %w", err)
		}
	}

	// Faults, each on a node and network the seed picks.
	for _, f := range faults(timers, o.wire) {
		fr := faultResult{Fault: f.Name, Trials: o.trials}
		var after []time.Duration
		for range o.trials {
			v, k := c.rng.IntN(n), c.rng.IntN(o.networks)
			ws := f.expect(c, v, k)
			longest := time.Duration(0)
			for _, w := range ws {
				longest = max(longest, w.bound)
			}
			tr.arm(c.now, ws)
			f.inject(c, v, k)
			c.run(longest + time.Second)
			f.undo(c, v, k)
			for _, d := range tr.dets {
				fr.add(d)
				if d.detected {
					after = append(after, d.after)
				}
			}
			tr.arm(c.now, nil)
			if _, err := c.runUntilUp(60 * time.Second); err != nil {
				return r, fmt.Errorf("after %s: %w", f.Name, err)
			}
		}
		fr.P50Ms, fr.P99Ms, fr.MaxMs = ms(percentile(after, 50)), ms(percentile(after, 99)), ms(percentile(after, 100))
		r.Faults = append(r.Faults, fr)
	}
	r.WallSeconds = time.Since(start).Round(time.Millisecond).Seconds()
	return r, nil
}

// runUntilUp runs until every node has every link UP, and returns how long
// that took.
func (c *cluster) runUntilUp(limit time.Duration) (time.Duration, error) {
	t0 := c.now
	const step = 100 * time.Millisecond
	for c.now.Sub(t0) < limit {
		c.run(step)
		if c.allUp() {
			return c.now.Sub(t0), nil
		}
	}
	return 0, fmt.Errorf("not every link UP after %v", limit)
}

func (c *cluster) allUp() bool { return c.notUp == 0 }
