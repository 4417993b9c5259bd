// Command reasons benchmarks how fast tetherd names each failure reason:
// for every reason of DESIGN.md, on a network-namespace test bed (root
// needed), it injects the fault that causes it, at least 20 times, and
// measures from the fault to the moment every node that must name the
// reason has logged it (link.down, link.reason, link.trouble or
// network.reason events with that reason). Target: 2 × peerinact for
// every reason but lossy and flapping, which are named within their
// windows (loss window, flap window). It prints a table and writes
// reasons.json, reasons.md and the agents' logs to -out. make bench runs
// it; docs/BENCHMARKS.md records the results.
//
//	go run ./bench/reasons -bin bin -out bench/results [-trials 20] [-only carrier-lost,mtu-mismatch,...]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/report"
	"github.com/tether-ha/tether/testbed"
)

type options struct {
	bin, out string
	trials   int
	only     []string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("reasons", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "`dir`ectory holding tetherd (make build)")
	fs.StringVar(&o.out, "out", "bench/results", "`dir`ectory for reasons.json, reasons.md and logs/")
	fs.IntVar(&o.trials, "trials", 20, "fault injections per reason")
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	only := fs.String("only", strings.Join(names, ","), "comma-separated `reasons` to measure")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.only, err = bedutil.Parts(*only, names...); err != nil {
		return o, err
	}
	if o.trials < 1 {
		return o, fmt.Errorf("-trials %d: want at least 1", o.trials)
	}
	return o, nil
}

func main() { bedutil.Main("reasons", parseFlags, run) }

func run(t testbed.T, o options) {
	o.bin = bedutil.Prepare(t, o.bin, o.out)
	res := &Results{Run: bedutil.StartRun(o.bin)}
	save := func() {
		if err := report.Write(o.out, "reasons", "Time to name each reason", res, tables(res)); err != nil {
			t.Fatalf("write results: %v", err)
		}
	}
	t.Logf("machine: %s", res.Run.Machine)
	for _, sc := range scenarios() {
		if !slices.Contains(o.only, sc.name) {
			continue
		}
		t.Logf("%s: %d trials", sc.name, o.trials)
		rr := runScenario(t, o, sc)
		res.Reasons = append(res.Reasons, rr)
		t.Logf("%s: %s", sc.name, rr.summary())
		save()
	}
	res.Run.End()
	save()
	report.Print(os.Stdout, tables(res))
	var errs []string
	for _, r := range res.Reasons {
		if r.Error != "" {
			errs = append(errs, r.Reason+": "+r.Error)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("the benchmark could not measure everything:\n  %s", strings.Join(errs, "\n  "))
	}
}

// settle is how long a bed rests after a fault is undone and every link
// is healthy again, before the next trial.
const settle = 500 * time.Millisecond
