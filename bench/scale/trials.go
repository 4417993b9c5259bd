package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// Fault kinds.
const (
	faultBlackhole = "blackhole"
	faultCable     = "cable-pull"
)

// Views of a detection.
const (
	viewFaulted = "faulted node" // the node whose port or cable failed, about each peer
	viewPeers   = "peers"        // each peer, about the faulted node
	viewAll     = "all"
)

const (
	// followEvery is how often a trial reads what the logs gained;
	// latencies come from the logs' timestamps, so it only bounds how soon
	// a trial notices that every link is down.
	followEvery = 25 * time.Millisecond
	// reasonTimeout bounds the wait for the reasons a fault ends with
	// (the faulted node's nic-silent needs its peers' link tables, sent
	// about once a second).
	reasonTimeout = 10 * time.Second
	// checkEvery is how often one node's status is read while its
	// reasons settle.
	checkEvery = 250 * time.Millisecond
	// checkPeers is how many peers of the faulted node have their status
	// checked per trial (besides the faulted node).
	checkPeers = 3
)

// trialPlan is what runTrials needs besides the bed.
type trialPlan struct {
	fault     string
	trials    int
	timers    bedutil.Timers
	upTimeout time.Duration
	place     *placer
}

// flapSpacing is how long a (node, network) that was faulted is left
// alone: longer than the flap window (3 downs within 10 s make a link
// flapping, DefaultFlapWindow), so that no link goes down three times
// within it. A link that does is named flapping, which is right but not
// what a trial measures.
const flapSpacing = 12 * time.Second

// placer picks the node and network of each trial at random, never one
// faulted less than flapSpacing ago, and the random phases.
type placer struct {
	rng  *rand.Rand
	last map[string]time.Time // "node/network" → last fault
}

func newPlacer(rng *rand.Rand) *placer { return &placer{rng: rng, last: map[string]time.Time{}} }

// pick returns a node and a network not faulted within flapSpacing,
// waiting for one if every pair was (a bed too small for the pace).
func (p *placer) pick(nodes int, nets []testbed.NetworkSpec) (int, string) {
	for {
		for range 1000 {
			n, net := p.rng.IntN(nodes), nets[p.rng.IntN(len(nets))].Name
			key := fmt.Sprintf("%d/%s", n, net)
			if at, ok := p.last[key]; !ok || time.Since(at) > flapSpacing {
				p.last[key] = time.Now()
				return n, net
			}
		}
		time.Sleep(time.Second)
	}
}

// linkKey names one observer's link to a peer on a network.
type linkKey struct {
	obs, peer int
	net       string
}

// expectation is what one end of a faulted link must say once the fault
// has settled.
type expectation struct {
	atDown       string // primary reason at link.down
	reason       string // once settled
	remoteReason string
}

// expectations returns what the faulted node (about each peer) and each
// peer (about it) must say for fault.
func expectations(fault string) (faulted, peers expectation) {
	switch fault {
	case faultBlackhole:
		// The faulted node hears no one on the network, while the peers
		// say over another that they do not hear it and they hear each
		// other: its NIC (or its switch port) is silent. Each end shows
		// the other's reason as the remote one.
		return expectation{atDown: "peer-silent", reason: "nic-silent", remoteReason: "peer-silent"},
			expectation{atDown: "peer-silent", reason: "peer-silent", remoteReason: "nic-silent"}
	case faultCable:
		return expectation{atDown: "carrier-lost", reason: "carrier-lost", remoteReason: "peer-silent"},
			expectation{atDown: "peer-silent", reason: "peer-silent", remoteReason: "carrier-lost"}
	}
	panic("unknown fault " + fault)
}

func (e expectation) String() string {
	s := "DOWN " + e.reason
	if e.remoteReason != "" {
		s += " (peer: " + e.remoteReason + ")"
	}
	return fmt.Sprintf("%s at link.down, %s once settled", e.atDown, s)
}

// runTrials injects plan.fault plan.trials times, each on a random node
// and network, and measures from the moment of injection (Fault.At, taken
// right before the netlink call) to the time each involved link's
// observer logged link.down.
func runTrials(t testbed.T, b *testbed.Bed, plan trialPlan) *FaultStats {
	ef, ep := expectations(plan.fault)
	fs := &FaultStats{Fault: plan.fault, Reasons: map[string]int{}, LoadBefore: proc.LoadAvg(),
		Expect: map[string]string{viewFaulted: ef.String(), viewPeers: ep.String()}}
	lat := map[string][]time.Duration{}
	var recovery []time.Duration
	cur := b.NewLogTail("link.down")
	t.Logf("%s: %d trials on random nodes and networks", plan.fault, plan.trials)
	for k := range plan.trials {
		s, d, err := runTrial(t, b, cur, plan, fs, k)
		fs.Trials = k + 1
		fs.Samples = append(fs.Samples, s)
		for v, ds := range d {
			lat[v] = append(lat[v], ds...)
			lat[viewAll] = append(lat[viewAll], ds...)
		}
		if s.Recovery >= 0 {
			recovery = append(recovery, time.Duration(s.Recovery*float64(time.Millisecond)))
		}
		if (k+1)%5 == 0 || k+1 == plan.trials {
			a := stats.Summarize(lat[viewAll])
			t.Logf("%s: %d/%d trials: p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d detections; %d missed, %d wrong reasons, %d of %d state checks failed, %d collateral downs; load %s",
				plan.fault, k+1, plan.trials, a.P50Ms, a.P99Ms, a.MaxMs, a.N, fs.Missed, fs.WrongReasons, fs.StateFailed, fs.StateChecks, fs.Collateral, proc.LoadAvg())
		}
		if err != nil {
			fs.Error = fmt.Sprintf("trial %d (%s node%d %s): %v", k, plan.fault, s.Node, s.Network, err)
			break
		}
	}
	fs.Views = map[string]stats.Dist{}
	for v, ds := range lat {
		fs.Views[v] = stats.Summarize(ds)
	}
	fs.Recovery = stats.Summarize(recovery)
	fs.LoadAfter = proc.LoadAvg()
	return fs
}

// runTrial runs trial k: a random phase against the heartbeat schedule,
// the fault, the wait for every involved link's link.down, the check of
// the settled reasons, the undo and the wait for every link up again. It
// returns the sample, the latencies per view, and an error if the
// cluster did not come back.
func runTrial(t testbed.T, b *testbed.Bed, cur *testbed.LogTail, plan trialPlan, fs *FaultStats, k int) (Sample, map[string][]time.Duration, error) {
	nets := b.Networks()
	node, net := plan.place.pick(b.N(), nets)
	s := Sample{Trial: k, Node: node, Network: net, Recovery: -1}
	involved := map[linkKey]bool{}
	for p := range b.N() {
		if p != node {
			involved[linkKey{node, p, net}] = true
			involved[linkKey{p, node, net}] = true
		}
	}
	if _, err := cur.Poll(); err != nil { // what happened before this trial
		return s, nil, err
	}
	hb := time.Duration(plan.timers.HeartbeatMs * float64(time.Millisecond))
	inact := time.Duration(plan.timers.PeerInactMs * float64(time.Millisecond))
	time.Sleep(max(3*hb, 300*time.Millisecond) + time.Duration(plan.place.rng.Int64N(int64(max(hb, time.Millisecond)))))

	var f testbed.Fault
	if plan.fault == faultBlackhole {
		f = b.Blackhole(node, net)
	} else {
		f = b.CablePull(node, net)
	}
	ef, ep := expectations(plan.fault)
	downs := map[linkKey]testbed.Event{}
	handle := func(e testbed.Event) {
		if e.ID != "link.down" || e.Time.Before(f.At) {
			return
		}
		p, ok := e.Int("peer_id")
		if !ok {
			return
		}
		l := linkKey{e.Node, int(p), e.Str("network")}
		if _, seen := downs[l]; involved[l] && !seen {
			downs[l] = e
			return
		}
		fs.Collateral++ // another link, or an involved one down again
		if len(fs.Evidence) < maxEvidence {
			fs.Evidence = append(fs.Evidence, fmt.Sprintf("trial %d (%s node%d %s): %s", k, plan.fault, node, net, e))
		}
	}
	poll := func() {
		evs, err := cur.Poll()
		if err != nil {
			t.Fatalf("%v", err) // a log that cannot be read: nothing to measure
		}
		for _, e := range evs {
			handle(e)
		}
	}
	deadline := f.At.Add(3*inact + 5*time.Second)
	for len(downs) < len(involved) && time.Now().Before(deadline) {
		time.Sleep(followEvery)
		poll()
	}

	d := map[string][]time.Duration{}
	record := func(l linkKey, view string, want expectation) float64 {
		e, ok := downs[l]
		if !ok {
			fs.Missed++
			fs.Reasons[view+": missed"]++
			return -1
		}
		lat := e.Time.Sub(f.At)
		d[view] = append(d[view], lat)
		r := e.Str("reason")
		if rr := e.Str("remote_reason"); rr != "" {
			r += " (peer: " + rr + ")"
		}
		fs.Reasons[view+": "+r]++
		if e.Str("reason") != want.atDown {
			fs.WrongReasons++
		}
		s.MaxMs = max(s.MaxMs, stats.Ms(lat))
		return stats.Ms(lat)
	}
	for p := range b.N() {
		if p != node {
			s.Faulted = append(s.Faulted, record(linkKey{node, p, net}, viewFaulted, ef))
			s.Peers = append(s.Peers, record(linkKey{p, node, net}, viewPeers, ep))
		}
	}

	// The reasons the fault ends with, on the faulted node and a few
	// peers (state, not logs).
	checked := []int{node}
	for _, p := range plan.place.rng.Perm(b.N()) {
		if p != node && len(checked) <= checkPeers {
			checked = append(checked, p)
		}
	}
	s.State = "ok"
	for _, obs := range checked {
		fs.StateChecks++
		if why := waitState(b, obs, node, net, len(nets), ef, ep, poll); why != "" {
			fs.StateFailed++
			if s.State == "ok" {
				s.State = why
			} else {
				s.State += "; " + why
			}
		}
	}

	undoAt := time.Now()
	f.Undo()
	at, err := b.AllUp(plan.upTimeout, nil)
	poll()
	if err != nil {
		return s, d, fmt.Errorf("after the undo: %v", err)
	}
	s.Recovery = stats.Ms(max(at.Sub(undoAt), 0))
	return s, d, nil
}

// waitState reads obs's status (at most every checkEvery, up to
// reasonTimeout) until its view of the fault on node's network net is what
// it must be, and returns "" or what was off at the last read. poll takes
// the log events that arrive meanwhile.
func waitState(b *testbed.Bed, obs, node int, net string, networks int, ef, ep expectation, poll func()) string {
	deadline := time.Now().Add(reasonTimeout)
	for {
		why := ""
		st, err := b.Status(obs)
		if err != nil {
			why = fmt.Sprintf("node%d: status: %v", obs, err)
		} else {
			why = stateOff(st, obs, node, net, networks, ef, ep)
		}
		poll()
		if why == "" || time.Now().After(deadline) {
			return why
		}
		time.Sleep(checkEvery)
	}
}

// stateOff returns what is off in obs's status st for the fault on node's
// network net, or "".
func stateOff(st *status.Status, obs, node int, net string, networks int, ef, ep expectation) string {
	check := func(peer int, want expectation) string {
		l := testbed.FindLink(st, uint16(peer), net)
		switch {
		case l == nil:
			return fmt.Sprintf("node%d has no %s link to node%d", obs, net, peer)
		case l.State != status.LinkDown || l.Reason != want.reason || l.RemoteReason != want.remoteReason:
			return fmt.Sprintf("node%d's %s link to node%d is %s %q (peer: %q), want DOWN %q (peer: %q)", obs, net, peer, l.State, l.Reason, l.RemoteReason, want.reason, want.remoteReason)
		}
		return ""
	}
	// With two networks, one link left: JEOPARDY; with more, still OPEN.
	wantNode := status.NodeOpen
	if networks == 2 {
		wantNode = status.NodeJeopardy
	}
	if obs == node {
		for _, nd := range st.Nodes {
			if nd.Local {
				continue
			}
			if why := check(int(nd.ID), ef); why != "" {
				return why
			}
			if nd.State != wantNode {
				return fmt.Sprintf("node%d sees node%d %s, want %s", obs, nd.ID, nd.State, wantNode)
			}
		}
		return ""
	}
	if why := check(node, ep); why != "" {
		return why
	}
	if nd := testbed.FindNode(st, uint16(node)); nd == nil || nd.State != wantNode {
		return fmt.Sprintf("node%d does not see node%d %s", obs, node, wantNode)
	}
	return ""
}
