package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// Reopen polling.
const (
	reopenPoll    = 2 * time.Millisecond
	reopenTimeout = time.Minute
	reopenSettle  = time.Second // after the bed is ready again, before the next kill
)

// ReopenResult is the primary killed and started again, trial by trial.
type ReopenResult struct {
	// The topic before the first kill.
	LogBytes     int64 `json:"log_bytes"`
	LogEndOffset int64 `json:"log_end_offset"`
	Segments     int   `json:"segments"`
	// Filled: what was produced first when the topic was smaller than
	// -gib.
	Filled *LoadResult `json:"filled,omitempty"`
	Trials []ReopenTry `json:"trials"`
	// Max is the slowest trial; the target applies to every one.
	Max     float64 `json:"max_s"`
	TargetS float64 `json:"target_s"`
	Met     bool    `json:"met"`
}

// ReopenTry is one kill and start.
type ReopenTry struct {
	Trial int `json:"trial"`
	// Seconds: from right before Start to the describe that showed the
	// whole log; FirstAnswerS: to the first answer of the topic API.
	Seconds      float64 `json:"seconds"`
	FirstAnswerS float64 `json:"first_answer_s"`
	Polls        int     `json:"polls"`
	// LinksUpS: from the start until every link and channel was up again.
	LinksUpS float64 `json:"links_up_again_s"`
}

// runReopen kills tetherd of the primary (SIGKILL) o.trials times and
// times each start until the topic API describes topicBulk with its whole
// log, filling the topic first up to o.gib GiB if needed.
func runReopen(t testbed.T, m *mirrorBed, o options) (*ReopenResult, error) {
	r := &ReopenResult{TargetS: reopenTargetS}
	p, err := m.topic(primary, topicBulk)
	if err != nil {
		return r, err
	}
	if want := int64(o.gib * (1 << 30)); p.SizeBytes < want {
		missing := (want-p.SizeBytes)/recordSize + 1
		t.Logf("reopen: filling %s with %d more records (mirror paused)", topicBulk, missing)
		if err := m.pauseMirror(topicBulk, true); err != nil {
			return r, err
		}
		if r.Filled, err = load(m, topicBulk, o.producers, o.batch, missing, time.Time{}); err != nil {
			return r, err
		}
		if err := m.pauseMirror(topicBulk, false); err != nil {
			return r, err
		}
		if p, err = m.topic(primary, topicBulk); err != nil {
			return r, err
		}
	}
	r.LogBytes, r.LogEndOffset, r.Segments = p.SizeBytes, p.LogEndOffset, p.Segments
	t.Logf("reopen: %s on node0 holds %d B in %d segments, log end %d; %d trials", topicBulk, p.SizeBytes, p.Segments, p.LogEndOffset, o.trials)
	for k := range o.trials {
		if _, err := m.waitCaughtUp(topicBulk, drainPoll, drainFloor); err != nil {
			return r, err
		}
		time.Sleep(reopenSettle)
		tr, err := reopenOnce(m, k, p.LogEndOffset)
		if err != nil {
			return r, fmt.Errorf("trial %d: %w", k, err)
		}
		r.Max = max(r.Max, tr.Seconds)
		t.Logf("reopen %d: the whole log described %.3f s after the start (the API's first answer at %.3f s)", k, tr.Seconds, tr.FirstAnswerS)
		up := time.Now()
		err = bedutil.WaitAllChannelsUp(m.Bed, upTimeout)
		tr.LinksUpS = stats.Round3(time.Since(up).Seconds() + tr.Seconds)
		r.Trials = append(r.Trials, tr)
		if err != nil {
			return r, err
		}
	}
	r.Met = len(r.Trials) == o.trials && r.Max <= reopenTargetS
	return r, nil
}

// reopenOnce kills node0's agent, starts it and polls its topic API.
func reopenOnce(m *mirrorBed, k int, want int64) (ReopenTry, error) {
	tr := ReopenTry{Trial: k}
	m.Kill(primary)
	c := m.client(primary) // new connections: the old ones died with it
	start := time.Now()
	m.Start(primary)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		tp, err := c.DescribeTopic(ctx, topicBulk)
		cancel()
		tr.Polls++
		el := time.Since(start)
		if err == nil && tr.FirstAnswerS == 0 {
			tr.FirstAnswerS = stats.Round3(el.Seconds())
		}
		if err == nil && tp.LogEndOffset == want {
			tr.Seconds = stats.Round3(el.Seconds())
			return tr, nil
		}
		if err == nil && tp.LogEndOffset > want {
			return tr, fmt.Errorf("log end %d after the restart, %d before", tp.LogEndOffset, want)
		}
		if el > reopenTimeout || !m.Running(primary) {
			return tr, fmt.Errorf("after %v (agent running: %v): %v, log end %d of %d", el, m.Running(primary), err, tp.LogEndOffset, want)
		}
		time.Sleep(reopenPoll)
	}
}
