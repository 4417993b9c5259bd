package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// The node the trials fault, and the nodes that observe it.
const victim = 2

var observers = []int{0, 1}

// Waits of one trial.
const (
	partitionTimeout = 10 * time.Second // blackhole → PARTITIONED at every observer
	downTimeout      = 20 * time.Second // SIGKILL → DOWN at every observer
	// partitionHold is how long the partition is kept after every
	// observer logged PARTITIONED, so that a wrong DOWN (memberlist's
	// timescale: seconds) would be seen before the undo.
	partitionHold = 4 * time.Second
	maxEvidence   = 20
)

// What the README states (issue 7), checked against the measurements.
var (
	readmePartitioned = [2]float64{600, 700}   // ms: peerinact + a heartbeat after the last private frame
	readmeDown        = [2]float64{2500, 3500} // ms: memberlist's failed probe + 4 × max(1, log10 N) × 500 ms
)

// trialPlan is what runTrials needs besides the bed.
type trialPlan struct {
	kind   string // partPartition or partDown
	trials int
	timers bedutil.Timers
	rng    *rand.Rand
	logf   func(string, ...any)
}

// trial is one fault and what the agents logged about it.
type trial struct {
	k      int
	at     time.Time // the fault: the later blackhole's Fault.At, or right before the SIGKILL
	undoAt time.Time // zero until the undo (partition) or restart (down)

	// First time each observer logged node.state PARTITIONED, DOWN for
	// the victim after at; the states it went through (before the undo).
	partitioned map[int]time.Time
	down        map[int]time.Time
	states      map[int][]string
	lastLinkDn  map[int]time.Time // last link.down about the victim, before the undo
	// The victim's own view in a partition: its first PARTITIONED of
	// each other node.
	victimView map[int]time.Time
	violations []testbed.Event // DOWN of the victim before the undo (partition)
}

func newTrial(k int) *trial {
	return &trial{k: k, partitioned: map[int]time.Time{}, down: map[int]time.Time{}, states: map[int][]string{},
		lastLinkDn: map[int]time.Time{}, victimView: map[int]time.Time{}}
}

// isObserver reports whether node i is an observer.
func isObserver(i int) bool { return i != victim }

// handle takes one event logged after the fault.
func (tr *trial) handle(kind string, e testbed.Event) {
	if e.Time.Before(tr.at) {
		return
	}
	beforeUndo := tr.undoAt.IsZero() || e.Time.Before(tr.undoAt)
	peer, _ := e.Int("peer_id")
	if !beforeUndo {
		return
	}
	switch {
	case e.ID == "node.state" && isObserver(e.Node) && peer == victim:
		state := e.Str("state")
		tr.states[e.Node] = append(tr.states[e.Node], state)
		switch state {
		case status.NodePartitioned:
			if _, ok := tr.partitioned[e.Node]; !ok {
				tr.partitioned[e.Node] = e.Time
			}
		case status.NodeDown:
			if _, ok := tr.down[e.Node]; !ok {
				tr.down[e.Node] = e.Time
			}
			if kind == partPartition {
				tr.violations = append(tr.violations, e)
			}
		}
	case e.ID == "node.state" && e.Node == victim && e.Str("state") == status.NodePartitioned:
		if _, ok := tr.victimView[int(peer)]; !ok {
			tr.victimView[int(peer)] = e.Time
		}
	case e.ID == "link.down" && isObserver(e.Node) && peer == victim:
		if e.Time.After(tr.lastLinkDn[e.Node]) {
			tr.lastLinkDn[e.Node] = e.Time
		}
	}
}

// complete reports whether every observer logged what the trial waits
// for.
func (tr *trial) complete(kind string) bool {
	got := tr.partitioned
	if kind == partDown {
		got = tr.down
	}
	for _, i := range observers {
		if _, ok := got[i]; !ok {
			return false
		}
	}
	return true
}

// runTrial injects the fault of trial k, waits for every observer to log
// the state (or timeout), undoes the fault and waits for the bed to be
// ready again. missing names what did not come; err is from the wait
// after the undo.
func runTrial(b *testbed.Bed, cur *bedutil.Cursor, plan trialPlan, k int) (tr *trial, missing string, err error) {
	tr = newTrial(k)
	cur.Poll() // drop what happened before this trial
	hb := time.Duration(plan.timers.HeartbeatMs * float64(time.Millisecond))
	// Settle, then a random phase against the heartbeat schedule.
	time.Sleep(max(3*hb, 300*time.Millisecond) + time.Duration(plan.rng.Int64N(int64(max(hb, time.Millisecond)))))

	timeout := partitionTimeout
	var undo func()
	switch plan.kind {
	case partPartition:
		var faults []testbed.Fault
		for _, n := range privateNets {
			f := b.Blackhole(victim, n)
			faults = append(faults, f)
			if f.At.After(tr.at) {
				tr.at = f.At
			}
		}
		undo = func() {
			for k := len(faults) - 1; k >= 0; k-- {
				faults[k].Undo()
			}
		}
	case partDown:
		timeout = downTimeout
		tr.at = time.Now()
		b.Kill(victim)
		undo = func() { b.Start(victim) }
	default:
		panic("unknown trial kind " + plan.kind)
	}
	poll := func() {
		for _, e := range cur.Poll() {
			tr.handle(plan.kind, e)
		}
	}
	deadline := tr.at.Add(timeout)
	for !tr.complete(plan.kind) && time.Now().Before(deadline) {
		time.Sleep(bedutil.PollEvery)
		poll()
	}
	if !tr.complete(plan.kind) {
		missing = tr.missing(b, plan.kind, timeout)
	}
	if plan.kind == partPartition {
		time.Sleep(partitionHold)
	}
	poll()
	tr.undoAt = time.Now()
	undo()
	err = waitReady(b, upTimeout, true)
	poll()
	return tr, missing, err
}

// missing describes the observers that did not log the state in time,
// with their status now.
func (tr *trial) missing(b *testbed.Bed, kind string, timeout time.Duration) string {
	want, got := status.NodePartitioned, tr.partitioned
	if kind == partDown {
		want, got = status.NodeDown, tr.down
	}
	var out []string
	for _, i := range observers {
		if _, ok := got[i]; ok {
			continue
		}
		desc := "no status"
		if st, err := b.Status(i); err == nil {
			desc = testbed.Summary(st)
		} else {
			desc = err.Error()
		}
		out = append(out, fmt.Sprintf("node%d logged no node.state %s for node%d within %v (states logged: %s); %s",
			i, want, victim, timeout, strings.Join(tr.states[i], " → "), desc))
	}
	return strings.Join(out, "; ")
}

// runTrials runs plan.trials trials of one kind on the public bed.
func runTrials(b *testbed.Bed, plan trialPlan) *TrialsResult {
	r := &TrialsResult{Kind: plan.kind, Victim: fmt.Sprintf("node%d", victim), Sequences: map[string]int{}, LoadBefore: proc.LoadAvg()}
	var partitioned, down, linkDown, afterLinkDown, victimView, recovery []time.Duration
	switch plan.kind {
	case partPartition:
		r.TargetMs, r.Readme = partitionTargetMs, readmePartitioned
	case partDown:
		r.TargetMs, r.Readme = downTargetMs, readmeDown
	}
	cur := bedutil.NewCursor(b)
	for k := range plan.trials {
		tr, missing, err := runTrial(b, cur, plan, k)
		r.Trials = k + 1
		recovery = append(recovery, time.Since(tr.undoAt))
		for _, e := range tr.violations {
			r.Violations++
			if len(r.Evidence) < maxEvidence {
				r.Evidence = append(r.Evidence, fmt.Sprintf("trial %d: %s", k, e))
			}
		}
		for _, i := range observers {
			s := Sample{Trial: k, Observer: fmt.Sprintf("node%d", i), PartitionedMs: -1, DownMs: -1,
				States: strings.Join(tr.states[i], " → ")}
			r.Sequences[s.States]++
			if t, ok := tr.partitioned[i]; ok {
				s.PartitionedMs = stats.Ms(t.Sub(tr.at))
				partitioned = append(partitioned, t.Sub(tr.at))
			}
			if t, ok := tr.down[i]; ok {
				s.DownMs = stats.Ms(t.Sub(tr.at))
				down = append(down, t.Sub(tr.at))
			}
			if t, ok := tr.lastLinkDn[i]; ok {
				s.LastLinkDownMs = stats.Ms(t.Sub(tr.at))
				linkDown = append(linkDown, t.Sub(tr.at))
				if p, ok := tr.partitioned[i]; ok {
					afterLinkDown = append(afterLinkDown, p.Sub(t))
				}
			}
			if plan.kind == partDown {
				_, p := tr.partitioned[i]
				d, ok := tr.down[i]
				if ok && (!p || tr.partitioned[i].After(d)) {
					r.NotPartitionedFirst++
				}
			}
			r.Samples = append(r.Samples, s)
		}
		for _, i := range observers {
			if t, ok := tr.victimView[i]; ok {
				victimView = append(victimView, t.Sub(tr.at))
			}
		}
		if missing != "" {
			r.Missed++
			r.Error = fmt.Sprintf("trial %d: %s", k, missing)
		}
		if plan.logf != nil && ((k+1)%5 == 0 || missing != "" || err != nil) {
			ds := stats.Summarize(partitioned)
			if plan.kind == partDown {
				ds = stats.Summarize(down)
			}
			plan.logf("%d/%d trials, p50 %.1f ms p99 %.1f ms max %.1f ms, %d violations", k+1, plan.trials, ds.P50Ms, ds.P99Ms, ds.MaxMs, r.Violations)
		}
		if err != nil && r.Error == "" {
			r.Error = fmt.Sprintf("trial %d: after the %s: %v", k, map[string]string{partPartition: "undo", partDown: "restart"}[plan.kind], err)
		}
		if r.Error != "" {
			break
		}
	}
	r.Partitioned, r.Down = stats.Summarize(partitioned), stats.Summarize(down)
	r.LastLinkDown, r.PartitionedAfterLinkDown = stats.Summarize(linkDown), stats.Summarize(afterLinkDown)
	r.VictimView, r.Recovery = stats.Summarize(victimView), stats.Summarize(recovery)
	measured := r.Partitioned
	if plan.kind == partDown {
		measured = r.Down
	}
	for _, s := range r.Samples {
		v := s.PartitionedMs
		if plan.kind == partDown {
			v = s.DownMs
		}
		if v >= r.Readme[0] && v <= r.Readme[1] {
			r.InReadme++
		}
	}
	r.Met = r.Error == "" && r.Missed == 0 && r.Violations == 0 && measured.N == len(observers)*r.Trials && measured.MaxMs <= r.TargetMs
	r.LoadAfter = proc.LoadAvg()
	return r
}
