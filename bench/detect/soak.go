package main

import (
	"fmt"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// soakPlan is what runSoak needs besides the bed.
type soakPlan struct {
	dur     time.Duration
	lossPct int
	logf    func(string, ...any)
}

// runSoak drops lossPct % of the frames every node sends on every network
// (nftables egress, so every frame crosses exactly one lossy hop), keeps
// every CPU busy with nice-0 burners, and counts the state changes the
// agents log meanwhile. The target is zero link.down.
func runSoak(t testbed.T, b *testbed.Bed, plan soakPlan) (*SoakResult, error) {
	r := &SoakResult{LossPct: plan.lossPct, Events: map[string]int{}, LoadBefore: proc.LoadAvg()}
	tm, err := bedutil.EffectiveTimers(b)
	if err != nil {
		return nil, err
	}
	r.Timers = tm
	pids, before, cur, err := bedutil.Begin(b)
	if err != nil {
		return nil, err
	}
	count := func(evs []testbed.Event, from, to time.Time) {
		for _, e := range evs {
			if e.Time.Before(from) || e.Time.After(to) {
				continue
			}
			r.Events[e.ID]++
			if (e.ID == "link.down" || e.ID == "node.state") && len(r.Evidence) < maxEvidence {
				r.Evidence = append(r.Evidence, e.String())
			}
		}
	}

	start := time.Now()
	var faults []testbed.Fault
	for i := range b.N() {
		for _, n := range b.Networks() {
			faults = append(faults, b.RandomLoss(i, n.Name, plan.lossPct))
		}
	}
	burner, err := startBurner(t)
	if err != nil {
		return nil, err
	}
	r.Burner = burner.desc
	w, err := proc.StartWindow(pids)
	if err != nil {
		burner.stop()
		return nil, err
	}
	end := start.Add(plan.dur)
	for now := time.Now(); now.Before(end); now = time.Now() {
		time.Sleep(min(10*time.Second, end.Sub(now)))
		count(cur.Poll(), start, end.Add(time.Hour))
		if plan.logf != nil {
			plan.logf("soak: %v of %v, load %s, link.down %d, link.trouble %d, node.state %d",
				time.Since(start).Round(time.Second), plan.dur, proc.LoadAvg(), r.Events["link.down"], r.Events["link.trouble"], r.Events["node.state"])
		}
	}
	after, statErr := bedutil.Statuses(b)
	agents, busy, cpuErr := w.Stop()
	r.LoadAfter = proc.LoadAvg()
	burner.stop()
	undoAt := time.Now()
	for k := len(faults) - 1; k >= 0; k-- {
		faults[k].Undo()
	}
	r.Seconds = stats.Round3(undoAt.Sub(start).Seconds())
	// A DOWN caused by the last lossy moments is logged up to peerinact
	// later.
	time.Sleep(time.Duration(tm.PeerInactMs*float64(time.Millisecond)) + time.Second)
	count(cur.Poll(), start, undoAt.Add(time.Duration(tm.PeerInactMs*float64(time.Millisecond))))
	r.Downs, r.Troubles, r.NodeDown = r.Events["link.down"], r.Events["link.trouble"], r.Events["node.state"]
	if cpuErr != nil {
		return r, cpuErr
	}
	if statErr != nil {
		return r, statErr
	}
	r.Agents, r.SystemBusy = agents, busy
	r.Links, r.Nets = soakCounters(before, after)
	r.Met = r.Downs == 0 && r.NodeDown == 0
	return r, nil
}

// soakCounters returns the per-link and per-network counter deltas.
func soakCounters(before, after []*status.Status) ([]SoakLink, []SoakNet) {
	var links []SoakLink
	var nets []SoakNet
	for i := range after {
		for _, n := range after[i].Nodes {
			if n.Local {
				continue
			}
			for _, l := range n.Links {
				var b0 status.Link
				if p := testbed.FindLink(before[i], n.ID, l.Network); p != nil {
					b0 = *p
				}
				sl := SoakLink{Observer: i, Peer: int(n.ID), Network: l.Network,
					Received: l.Received - b0.Received, Lost: l.Lost - b0.Lost, Downs: l.Downs - b0.Downs}
				if tot := sl.Received + sl.Lost; tot > 0 {
					sl.LossPct = stats.Round3(100 * float64(sl.Lost) / float64(tot))
				}
				links = append(links, sl)
			}
		}
		for _, c := range after[i].Counters.Networks {
			var c0 status.NetworkCounters
			for _, x := range before[i].Counters.Networks {
				if x.Network == c.Network && x.Channel == c.Channel {
					c0 = x
				}
			}
			nets = append(nets, SoakNet{Node: i, Network: fmt.Sprintf("%s/%s", c.Network, c.Channel),
				TxFrames: c.TxFrames - c0.TxFrames, TxErrors: c.TxErrors - c0.TxErrors})
		}
	}
	return links, nets
}
