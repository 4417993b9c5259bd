package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// pollEvery is how often the benchmark looks at logs and status. Latencies
// come from the timestamps in the logs, so it only bounds how soon a trial
// notices that it is complete.
const pollEvery = 10 * time.Millisecond

// waitAllUp waits until every running node reports every link healthy. It
// returns an error naming the node and its last status instead of failing
// the run, so that a benchmark can report what it has.
func waitAllUp(b *testbed.Bed, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i := range b.N() {
		if !b.Running(i) {
			return fmt.Errorf("node %d is not running", i)
		}
		var last *status.Status
		var lastErr error
		for {
			st, err := b.Status(i)
			if err == nil {
				last, lastErr = st, nil
				if testbed.AllLinksUp(st, b.N()-1) {
					break
				}
			} else {
				lastErr = err
			}
			if time.Now().After(deadline) {
				if lastErr != nil {
					return fmt.Errorf("node %d: links not all up after %v: %v", i, timeout, lastErr)
				}
				return fmt.Errorf("node %d: links not all up after %v: %s", i, timeout, testbed.Summary(last))
			}
			time.Sleep(pollEvery)
		}
	}
	return nil
}

// statuses fetches every node's status.
func statuses(b *testbed.Bed) ([]*status.Status, error) {
	out := make([]*status.Status, b.N())
	for i := range out {
		st, err := b.Status(i)
		if err != nil {
			return nil, fmt.Errorf("status of node %d: %w", i, err)
		}
		out[i] = st
	}
	return out, nil
}

// effectiveTimers returns the timers node 0 reports.
func effectiveTimers(b *testbed.Bed) (Timers, error) {
	st, err := b.Status(0)
	if err != nil {
		return Timers{}, err
	}
	return Timers{HeartbeatMs: st.Config.HeartbeatMs, PeerTroubleMs: st.Config.PeerTroubleMs, PeerInactMs: st.Config.PeerInactMs}, nil
}

// agentPids returns each node's tetherd pid, checking that it is tetherd
// itself (ip netns exec execs it) and not a wrapper.
func agentPids(b *testbed.Bed) ([]int, error) {
	pids := make([]int, b.N())
	for i := range pids {
		pid := b.Pid(i)
		comm, err := procComm(pid)
		if err != nil {
			return nil, fmt.Errorf("node %d pid %d: %w", i, pid, err)
		}
		if comm != "tetherd" {
			return nil, fmt.Errorf("node %d pid %d is %q, not tetherd", i, pid, comm)
		}
		pids[i] = pid
	}
	return pids, nil
}

// stopAll stops every running agent of b, so that it uses no CPU while
// the next phase measures.
func stopAll(b *testbed.Bed) {
	for i := range b.N() {
		if b.Running(i) {
			b.Stop(i)
		}
	}
}

// saveLogs copies the node logs of b to dir/logs/<phase>-node<i>.log.
func saveLogs(b *testbed.Bed, dir, phase string) error {
	ldir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(ldir, 0o755); err != nil {
		return err
	}
	for i := range b.N() {
		data, err := os.ReadFile(b.LogPath(i))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(ldir, fmt.Sprintf("%s-node%d.log", phase, i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cursor hands out each node's log events once, in log order per node.
type cursor struct {
	b    *testbed.Bed
	next []int
}

func newCursor(b *testbed.Bed) *cursor { return &cursor{b: b, next: make([]int, b.N())} }

// poll returns the events logged since the last poll, all nodes.
func (c *cursor) poll() []testbed.Event {
	var out []testbed.Event
	for i := range c.next {
		evs := c.b.Events(i)
		out = append(out, evs[c.next[i]:]...)
		c.next[i] = len(evs)
	}
	return out
}

// isTransition reports whether e is a link or node state change.
func isTransition(e testbed.Event) bool {
	return strings.HasPrefix(e.ID, "link.") && e.ID != "link.reason" || e.ID == "node.state"
}
