package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// expect is one thing a node must say after a fault: the reason of its
// link to peer on net, or (peer < 0) a network-wide reason of its net.
type expect struct {
	node, peer int
	net        string
	reason     string
}

// downReasons are named only by a link that is DOWN: a TROUBLE link says
// peer-silent too, before it is down.
var downReasons = []string{"carrier-lost", "peer-silent", "nic-silent", "one-way-out", "one-way-in", "peer-stopped",
	"auth-failure", "flapping", "cross-connected"}

func (e expect) String() string {
	if e.peer < 0 {
		return fmt.Sprintf("node%d %s: %s", e.node, e.net, e.reason)
	}
	return fmt.Sprintf("node%d %s to node%d: %s", e.node, e.net, e.peer, e.reason)
}

// matches reports whether event ev says what e expects.
func (e expect) matches(ev testbed.Event) bool {
	if ev.Node != e.node || ev.Str("network") != e.net {
		return false
	}
	if e.peer < 0 {
		return ev.ID == "network.reason" && slices.Contains(strings.Split(ev.Str("reasons"), ","), e.reason)
	}
	switch ev.ID {
	case "link.down", "link.reason", "link.trouble", "link.up":
	default:
		return false
	}
	p, _ := ev.Int("peer_id")
	if slices.Contains(downReasons, e.reason) && ev.Str("state") != "DOWN" {
		return false
	}
	return int(p) == e.peer && ev.Str("reason") == e.reason
}

// fault is one injection: when it took effect, what must be named, and
// how to undo it.
type fault struct {
	at      time.Time
	expects []expect
	undo    func()
}

// runScenario runs the trials of one scenario on a bed of its own.
func runScenario(t testbed.T, o options, sc scenario) *ReasonResult {
	rr := &ReasonResult{Reason: sc.name, Fault: sc.fault}
	opts := sc.bed()
	opts.BinDir = o.bin
	b := testbed.New(t, opts)
	defer bedutil.Finish(t, b, o.out, sc.name)
	b.StartAll()
	if err := bedutil.WaitAllUp(b, 30*time.Second); err != nil {
		rr.Error = err.Error()
		return rr
	}
	tm, err := bedutil.EffectiveTimers(b)
	if err != nil {
		rr.Error = err.Error()
		return rr
	}
	rr.Target = sc.target(tm)
	rr.TargetMs = stats.Ms(rr.Target)
	cur := bedutil.NewCursor(b)
	var lat []time.Duration
	for k := range o.trials {
		if err := waitHealthy(b, 30*time.Second); err != nil {
			rr.Error = fmt.Sprintf("trial %d: not healthy before the fault: %v", k, err)
			break
		}
		time.Sleep(settle)
		cur.Poll()
		f := sc.inject(b, k)
		d, missing := await(b, cur, f, max(4*rr.Target, 10*time.Second))
		f.undo()
		if len(missing) > 0 {
			rr.Misses++
			rr.Missed = append(rr.Missed, fmt.Sprintf("trial %d: not named within %v: %s", k, max(4*rr.Target, 10*time.Second), strings.Join(missing, "; ")))
			continue
		}
		lat = append(lat, d)
		rr.TrialsMs = append(rr.TrialsMs, stats.Ms(d))
		if d > rr.Target {
			rr.OverTarget++
		}
	}
	rr.Trials = len(lat) + rr.Misses
	rr.Latency = stats.Summarize(lat)
	return rr
}

// await waits until every expectation of f is met by a logged event and
// returns the latest of those times since the fault, or the expectations
// still missing at timeout.
func await(b *testbed.Bed, cur *bedutil.Cursor, f fault, timeout time.Duration) (time.Duration, []string) {
	met := make([]time.Time, len(f.expects))
	deadline := time.Now().Add(timeout)
	for {
		for _, ev := range cur.Poll() {
			if ev.Time.Before(f.at) {
				continue
			}
			for i, e := range f.expects {
				if met[i].IsZero() && e.matches(ev) {
					met[i] = ev.Time
				}
			}
		}
		var missing []string
		var last time.Time
		for i, t := range met {
			if t.IsZero() {
				missing = append(missing, f.expects[i].String())
			} else if t.After(last) {
				last = t
			}
		}
		if len(missing) == 0 {
			return last.Sub(f.at), nil
		}
		if time.Now().After(deadline) {
			return 0, missing
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitHealthy waits until every node sees every link UP without a reason,
// no network-wide reason, and no link in its flap window: the faults of
// trials in a row on one link would otherwise be flapping, rightly, and
// the trial would measure the damping.
func waitHealthy(b *testbed.Bed, timeout time.Duration) error {
	return bedutil.WaitAll(b, timeout, "not healthy, or a link in its flap window",
		healthy)
}

// healthy reports whether a node sees every link to a peer UP without a
// reason and out of its flap window, and no network-wide reason.
func healthy(st *status.Status) bool {
	for _, n := range st.Nodes {
		for _, l := range n.Links {
			if !n.Local && (!l.Healthy() || l.Flaps > 0) {
				return false
			}
		}
	}
	for _, n := range st.Networks {
		if len(n.Reasons) > 0 {
			return false
		}
	}
	return true
}
