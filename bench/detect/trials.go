package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// Fault kinds.
const (
	faultCarrier   = "carrier"
	faultBlackhole = "blackhole"
)

// Views of a detection.
const (
	viewFaulted = "faulted node" // the node whose cable or port failed, about each peer
	viewPeers   = "peers"        // each peer, about the faulted node
	viewAll     = "all"
)

// maxEvidence bounds the event lines kept as evidence.
const maxEvidence = 20

// linkKey names one observer's link to a peer on a network.
type linkKey struct {
	obs, peer int
	net       string
}

// eventLink returns the link a link.* event is about.
func eventLink(e testbed.Event) (linkKey, bool) {
	p, ok := e.Int("peer_id")
	net := e.Str("network")
	return linkKey{obs: e.Node, peer: int(p), net: net}, ok && net != ""
}

// trialPlan is what runTrials needs besides the bed.
type trialPlan struct {
	fault    string
	trials   int
	timers   bedutil.Timers
	targetMs float64
	rng      *rand.Rand
	logf     func(string, ...any)
}

// trial is one fault injection and what the agents logged about it.
type trial struct {
	k        int
	fault    string
	node     int
	net      string
	involved []linkKey // sorted
	at       time.Time // Fault.At
	undoAt   time.Time // zero until the undo starts

	down      map[linkKey]testbed.Event
	troubleAt map[linkKey]time.Time
	final     map[linkKey]string // reason last logged before the undo
	lastUp    time.Time          // last link.up of an involved link after the undo
	others    []testbed.Event    // link.down of links not involved, or repeated
}

func (tr *trial) isInvolved(l linkKey) bool { return slices.Contains(tr.involved, l) }

// handle takes one event logged after the fault.
func (tr *trial) handle(e testbed.Event) {
	l, ok := eventLink(e)
	if !ok || !e.Time.After(tr.at) {
		return
	}
	involved := tr.isInvolved(l)
	beforeUndo := tr.undoAt.IsZero() || e.Time.Before(tr.undoAt)
	_, seen := tr.down[l]
	switch {
	case e.ID == "link.up":
		if involved && !beforeUndo && e.Time.After(tr.lastUp) {
			tr.lastUp = e.Time
		}
	case e.ID == "link.reason":
		if involved && beforeUndo {
			tr.final[l] = reasonOf(e)
		}
	case e.ID == "link.down" && (!involved || seen):
		tr.others = append(tr.others, e)
	case e.ID == "link.down":
		tr.down[l] = e
		tr.final[l] = reasonOf(e)
	case e.ID == "link.trouble" && involved && !seen:
		if _, ok := tr.troubleAt[l]; !ok {
			tr.troubleAt[l] = e.Time
		}
	}
}

// runTrial injects the fault of trial k, waits for every involved link to
// go down (or timeout), holds the fault for hold, undoes it and waits for
// every link to be up again. The error is from that last wait.
func runTrial(b *testbed.Bed, cur *bedutil.Cursor, plan trialPlan, k int, timeout, hold time.Duration) (*trial, error) {
	nets := b.Networks()
	tr := &trial{k: k, fault: plan.fault, node: k % b.N(), net: nets[(k/b.N())%len(nets)].Name,
		down: map[linkKey]testbed.Event{}, troubleAt: map[linkKey]time.Time{}, final: map[linkKey]string{}}
	for obs := range b.N() {
		for peer := range b.N() {
			if obs != peer && (obs == tr.node || peer == tr.node) {
				tr.involved = append(tr.involved, linkKey{obs, peer, tr.net})
			}
		}
	}
	cur.Poll() // drop what happened before this trial
	hb := time.Duration(plan.timers.HeartbeatMs * float64(time.Millisecond))
	// Settle, then a random phase against the heartbeat schedule.
	time.Sleep(max(3*hb, 300*time.Millisecond) + time.Duration(plan.rng.Int64N(int64(hb))))

	var f testbed.Fault
	switch plan.fault {
	case faultCarrier:
		f = b.CablePull(tr.node, tr.net)
	case faultBlackhole:
		f = b.Blackhole(tr.node, tr.net)
	default:
		panic("unknown fault " + plan.fault)
	}
	tr.at = f.At
	deadline := f.At.Add(timeout)
	for len(tr.down) < len(tr.involved) && time.Now().Before(deadline) {
		time.Sleep(bedutil.PollEvery)
		for _, e := range cur.Poll() {
			tr.handle(e)
		}
	}
	// Keep the fault a while so that the reasons settle (the peers' views
	// arrive over the other network) before undoing it.
	time.Sleep(hold)
	for _, e := range cur.Poll() {
		tr.handle(e)
	}
	tr.undoAt = time.Now()
	f.Undo()
	err := bedutil.WaitAllUp(b, upTimeout)
	for _, e := range cur.Poll() {
		tr.handle(e)
	}
	return tr, err
}

// runTrials injects plan.fault plan.trials times, rotating over (node,
// network): trial k faults node k mod N on network (k/N) mod networks. It
// measures from the moment of injection (Fault.At, taken right before the
// netlink call) to the time tetherd logged link.down for each link
// involved.
func runTrials(b *testbed.Bed, plan trialPlan) *FaultResult {
	r := &FaultResult{Fault: plan.fault, TargetMs: plan.targetMs, TargetView: viewAll,
		Reasons: map[string]int{}, Corrected: map[string]int{}, LoadBefore: proc.LoadAvg()}
	if plan.fault == faultCarrier {
		r.TargetView = viewFaulted
	}
	hb := time.Duration(plan.timers.HeartbeatMs * float64(time.Millisecond))
	inact := time.Duration(plan.timers.PeerInactMs * float64(time.Millisecond))
	lat := map[string][]time.Duration{}
	var trouble, recovery []time.Duration
	cur := bedutil.NewCursor(b)
	for k := range plan.trials {
		tr, err := runTrial(b, cur, plan, k, 3*inact+2*time.Second, inact+2*hb)
		r.Trials = k + 1
		if !tr.lastUp.IsZero() {
			recovery = append(recovery, tr.lastUp.Sub(tr.undoAt))
		}
		for _, e := range tr.others {
			r.Collateral++
			if len(r.CollateralEvidence) < maxEvidence {
				r.CollateralEvidence = append(r.CollateralEvidence, fmt.Sprintf("trial %d (%s node%d %s): %s", k, plan.fault, tr.node, tr.net, e))
			}
		}
		for _, l := range tr.involved {
			view := viewPeers
			if l.obs == tr.node {
				view = viewFaulted
			}
			s := Sample{Trial: k, Faulted: tr.node, Network: tr.net, Observer: l.obs, Peer: l.peer, View: view, LatencyMs: -1}
			if ta, ok := tr.troubleAt[l]; ok {
				s.TroubleMs = stats.Ms(ta.Sub(tr.at))
				trouble = append(trouble, ta.Sub(tr.at))
			}
			e, ok := tr.down[l]
			if !ok {
				r.Missed++
				r.Reasons[view+": missed"]++
				r.Samples = append(r.Samples, s)
				continue
			}
			d := e.Time.Sub(tr.at)
			s.LatencyMs, s.Reason, s.FinalReason = stats.Ms(d), reasonOf(e), tr.final[l]
			r.Reasons[view+": "+s.Reason]++
			if s.FinalReason != s.Reason {
				r.Corrected[fmt.Sprintf("%s: %s → %s", view, s.Reason, s.FinalReason)]++
			}
			lat[view] = append(lat[view], d)
			if r.TargetView == viewAll {
				lat[viewAll] = append(lat[viewAll], d)
			}
			r.Samples = append(r.Samples, s)
		}
		if plan.logf != nil && (k+1)%10 == 0 {
			s := stats.Summarize(lat[r.TargetView])
			plan.logf("%s: %d/%d trials, %s p50 %.3f ms p99 %.3f ms max %.3f ms, %d missed",
				plan.fault, k+1, plan.trials, r.TargetView, s.P50Ms, s.P99Ms, s.MaxMs, r.Missed)
		}
		if err != nil {
			r.Error = fmt.Sprintf("trial %d (%s node%d %s): after the undo: %v", k, plan.fault, tr.node, tr.net, err)
			break
		}
	}
	r.Views = map[string]stats.Dist{}
	for v, ds := range lat {
		r.Views[v] = stats.Summarize(ds)
	}
	r.Trouble = stats.Summarize(trouble)
	r.Recovery = stats.Summarize(recovery)
	tv := r.Views[r.TargetView]
	r.Met = r.Error == "" && r.Missed == 0 && tv.N > 0 && tv.P99Ms <= r.TargetMs
	r.LoadAfter = proc.LoadAvg()
	return r
}

// reasonOf formats the reason of a link event, with the peer's own reason
// when it sent one: "peer-silent (peer: carrier-lost)".
func reasonOf(e testbed.Event) string {
	r := e.Str("reason")
	if rr := e.Str("remote_reason"); rr != "" {
		r += " (peer: " + rr + ")"
	}
	return r
}
