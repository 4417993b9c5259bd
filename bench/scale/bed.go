package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/testbed"
)

// timelineEvery is how often the wait for every link is sampled.
const timelineEvery = 5 * time.Second

// startAndWait starts every agent (o.stagger apart) and waits until every
// link of every node is healthy, watching the logs (testbed's AllUp), so
// that the wait itself does not load the agents.
func startAndWait(t testbed.T, b *testbed.Bed, o options) (r UpResult, startSeconds float64) {
	t0 := time.Now()
	for i := range b.N() {
		if i > 0 && o.stagger > 0 {
			time.Sleep(o.stagger)
		}
		b.Start(i)
	}
	startSeconds = secs(time.Since(t0))
	t.Logf("start: %d agents started in %.2f s", b.N(), startSeconds)
	raisePriority(t) // after the agents' start: they keep nice 0
	pids := make([]int, b.N())
	for i := range pids {
		pids[i] = b.Pid(i)
	}
	var next time.Duration
	progress := func(p testbed.UpProgress) {
		if p.Elapsed < next {
			return
		}
		next = p.Elapsed + timelineEvery
		r.Timeline = append(r.Timeline, UpSample{Seconds: secs(time.Since(t0)), Healthy: p.Healthy, Links: p.Links, Confirmed: p.Confirmed, Nodes: p.Nodes})
		t.Logf("up: %5.1f s: %d of %d links healthy by the logs, %d of %d nodes confirmed; load %s",
			time.Since(t0).Seconds(), p.Healthy, p.Links, p.Confirmed, p.Nodes, proc.LoadAvg())
	}
	at, err := b.AllUp(o.upTimeout, progress)
	r.AgentCPUSeconds = agentCPU(pids).Seconds()
	r.Load = proc.LoadAvg()
	if err != nil {
		r.Error = err.Error()
		t.Logf("up: gave up after %v: %v", o.upTimeout, err)
		r.Census = census(b)
		return r, startSeconds
	}
	r.AllOpen = true
	r.Seconds = secs(at.Sub(t0))
	t.Logf("up: every link of every node healthy %.2f s after the first start (the agents used %.1f s of CPU until then)", r.Seconds, r.AgentCPUSeconds)
	return r, startSeconds
}

// agentCPU sums the CPU time of pids (the processes that exited count 0).
func agentCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		if st, err := proc.ReadStat(pid); err == nil {
			sum += st.CPU
		}
	}
	return sum
}

// readBudget bounds the status reads of one census or one round of
// statuses: on a saturated bed each read can take seconds (the agent
// builds a document of over a megabyte with little CPU), and what is not
// read in time is counted as unreadable.
const readBudget = 90 * time.Second

// census reads every node's status once (within readBudget) and sums what
// they see.
func census(b *testbed.Bed) *Census {
	c := &Census{Links: map[string]int{}, Peers: map[string]int{}}
	deadline := time.Now().Add(readBudget)
	for i := range b.N() {
		if !b.Running(i) || time.Now().After(deadline) {
			c.Unreachable++
			continue
		}
		st, err := b.Status(i)
		if err != nil {
			c.Unreachable++
			continue
		}
		c.Reachable++
		for k, n := range testbed.StatusCounts(st) {
			c.Links[k] += n
		}
		for _, nd := range st.Nodes {
			if !nd.Local {
				c.Peers[nd.State]++
			}
		}
		c.Pauses += st.Counters.Pauses.Count
		c.LongestPauseMs = max(c.LongestPauseMs, st.Counters.Pauses.LongestMs)
		c.LogDropped += st.Counters.LogDropped
	}
	c.Load = proc.LoadAvg()
	return c
}

// statuses reads every node's status (within readBudget); a node that
// cannot be read in time is nil and counted in failed.
func statuses(b *testbed.Bed) (out []*status.Status, failed int, firstErr error) {
	out = make([]*status.Status, b.N())
	deadline := time.Now().Add(readBudget)
	for i := range out {
		if time.Now().After(deadline) {
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("node %d and after: not read within %v", i, readBudget)
			}
			continue
		}
		st, err := b.Status(i)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out[i] = st
	}
	return out, failed, firstErr
}

// writeJSON writes v to path, indented, atomically enough for a results
// file (a temporary file renamed).
func writeJSON(path string, v any) error {
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
