// Command suitereport summarises the failover suite's results
// (make failover-suite writes one JSON line per trial): per driver and
// fault, the trials, failovers, false failovers, split brain, writes lost,
// and the time from the fault to the new primary's first acknowledged
// write (p50, p99).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"text/tabwriter"
)

type trial struct {
	Driver     string  `json:"driver"`
	Public     *bool   `json:"public"` // absent: true (the suite's default)
	Fault      string  `json:"fault"`
	Failovers  int     `json:"failovers"`
	WritableMs float64 `json:"writable_ms"`
	FailoverMs float64 `json:"failover_ms"`
	Acked      int     `json:"acked"`
	Lost       int     `json:"lost"`
	LostLocal  int     `json:"lost_local"`
	SplitBrain int     `json:"split_brain"`
}

// failovers are the faults after which a failover is expected.
var failovers = map[string]bool{"kill": true, "pause": true, "isolate": true}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: suitereport RESULTS.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	type key struct {
		drv, fault string
		public     bool
	}
	groups := map[key][]trial{}
	var keys []key
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var t trial
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			fmt.Fprintln(os.Stderr, "bad line:", err)
			os.Exit(1)
		}
		k := key{t.Driver, t.Fault, t.Public == nil || *t.Public}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], t)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "driver\tpublic\tfault\ttrials\tfailovers\tfalse\tmissed\tsplit brain\tlost (mirror)\tlost (local)\tacked\twritable p50 ms\tp99 ms\tpromoted p50 ms\tp99 ms\t")
	total, brain := 0, 0
	for _, k := range keys {
		ts := groups[k]
		var fo, falseFO, missed, sb, lostM, lostL, acked int
		var ms, pms []float64
		for _, t := range ts {
			fo += min(t.Failovers, 1)
			switch {
			case failovers[k.fault] && t.Failovers == 0:
				missed++
			case !failovers[k.fault] && t.Failovers > 0:
				falseFO++
			}
			sb += t.SplitBrain
			lostM += t.Lost - t.LostLocal
			lostL += t.LostLocal
			acked += t.Acked
			if t.WritableMs > 0 {
				ms = append(ms, t.WritableMs)
			}
			if t.FailoverMs > 0 {
				pms = append(pms, t.FailoverMs)
			}
		}
		total += len(ts)
		brain += sb
		p50, p99 := pct(ms, 0.50), pct(ms, 0.99)
		fmt.Fprintf(tw, "%s\t%v\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", k.drv, k.public, k.fault, len(ts), fo, falseFO, missed, sb, lostM, lostL, acked, p50, p99,
			pct(pms, 0.50), pct(pms, 0.99))
	}
	tw.Flush()
	fmt.Printf("%d fault trials, %d writes acknowledged by an old primary after a promotion (split brain)\n", total, brain)
}

// pct is the q quantile (nearest rank), "-" without samples.
func pct(v []float64, q float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return fmt.Sprintf("%.0f", s[max(i, 0)])
}
