package llt

import (
	"testing"
	"time"
)

// pauseEvents returns node's EventPause events after t.
func (s *sim) pauseEvents(node int, after time.Time) []Event {
	var out []Event
	for _, e := range s.nodes[node].events {
		if e.Kind == EventPause && !e.At.Before(after) {
			out = append(out, e)
		}
	}
	return out
}

// linkChanges returns every link and node event of node after t.
func (s *sim) linkChanges(node int, after time.Time) []Event {
	var out []Event
	for _, e := range s.nodes[node].events {
		if (e.Kind == EventLink || e.Kind == EventNode) && !e.At.Before(after) {
			out = append(out, e)
		}
	}
	return out
}

// The whole machine stops (a VM paused by its hypervisor, as seen on the
// benchmark machine: every agent stalled ~25 ms at once). When it resumes,
// each node either reads the frames that waited in its sockets first (its
// echo of our old frames then looks stale: one-way-out) or runs its timers
// first (every peer looks silent): without pause detection, links go down
// either way. No link may change state; each node reports the pause.
func TestWholeMachinePauseChangesNoLink(t *testing.T) {
	for _, c := range []struct {
		name        string
		tm          Timers
		timersFirst bool
		pauses      []time.Duration
	}{
		{"fast/frames-first", fastTimers, false, []time.Duration{25 * ms, 40 * ms, 200 * ms}},
		{"fast/timers-first", fastTimers, true, []time.Duration{25 * ms, 40 * ms, 200 * ms}},
		{"default/frames-first", DefaultTimers(), false, []time.Duration{250 * ms, 700 * ms, 5 * time.Second}},
		{"default/timers-first", DefaultTimers(), true, []time.Duration{250 * ms, 700 * ms, 5 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSim(t, 3, ether("hb0", "hb1"), c.tm)
			s.run(time.Second)
			s.assertAllOpen()
			for _, p := range c.pauses {
				start := s.now
				// They resume a little apart, so that a node can find a
				// frame sent after the pause by a peer that resumed first.
				for i, n := range s.nodes {
					n.pausedUntil, n.timersFirst = start.Add(p+time.Duration(i)*100*time.Microsecond), c.timersFirst
				}
				s.run(p + 3*c.tm.PeerInact)
				for i := range s.nodes {
					if ch := s.linkChanges(i, start); len(ch) > 0 {
						t.Fatalf("pause %v: node %d: %d link/node changes, first %+v", p, i, len(ch), ch[0])
					}
					pe := s.pauseEvents(i, start)
					if len(pe) != 1 {
						t.Fatalf("pause %v: node %d reported %d pauses, want 1", p, i, len(pe))
					}
					// Measured from the heartbeat it owed: the pause, plus up
					// to the heartbeat interval that was left when it began.
					if pe[0].Pause < p-c.tm.Heartbeat || pe[0].Pause > p+ms {
						t.Errorf("pause %v: node %d reported %v", p, i, pe[0].Pause)
					}
				}
				s.assertAllOpen()
			}
			if ps := s.nodes[0].m.Pauses(); ps.Count != uint64(len(c.pauses)) || ps.Longest < c.pauses[len(c.pauses)-1]-c.tm.Heartbeat {
				t.Errorf("pause stats %+v", ps)
			}
		})
	}
}

// Delays shorter than the threshold are ordinary scheduling latency: no
// pause is reported, nothing is discounted. Just over it, a pause is.
func TestPauseThreshold(t *testing.T) {
	tm := DefaultTimers() // threshold (peertrouble - heartbeat) / 2 = 100 ms
	s := newSim(t, 2, ether("hb0"), tm)
	s.run(time.Second)
	n := s.nodes[0]
	due := n.m.NextDeadline(s.now)
	n.m.Advance(due.Add(100 * ms))
	if pe := n.drain(); len(pe) != 0 {
		t.Fatalf("Advance 100 ms late: events %+v, want none", pe)
	}
	due = n.m.NextDeadline(due.Add(100 * ms))
	n.m.Advance(due.Add(100*ms + 1))
	if ev := n.drain(); len(ev) != 1 || ev[0].Kind != EventPause || ev[0].Pause != 100*ms+1 {
		t.Fatalf("Advance 100 ms + 1 ns late: events %+v, want one pause of that length", ev)
	}
	n.m.ResetExtremes(due)
	if ps := n.m.Pauses(); ps.Count != 1 || ps.Longest != 0 {
		t.Errorf("pauses after ResetExtremes: %+v, want the count kept (a Prometheus counter) and the longest restarted", ps)
	}
}

// The first Advance after start owes nothing yet: however late it is (a
// slow start), it is not a pause.
func TestFirstAdvanceIsNotAPause(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), fastTimers)
	n := s.nodes[0]
	n.m.Advance(s.now.Add(time.Second))
	for _, e := range n.drain() {
		if e.Kind == EventPause {
			t.Fatalf("pause reported at the first Advance: %+v", e)
		}
	}
}

// A peer that dies while this node is paused is still detected: the pause
// only delays it, by at most the pause. The peers that stayed alive come
// back to OPEN (they did see this node silent and took its links down).
func TestPeerDiesDuringOwnPause(t *testing.T) {
	tm := DefaultTimers()
	s := newSim(t, 3, ether("hb0", "hb1"), tm)
	s.run(time.Second)
	s.assertAllOpen()
	start := s.now
	s.nodes[0].pausedUntil = start.Add(2 * time.Second)
	s.run(500 * ms)
	s.nodes[1].down = true // crashes while node 0 is paused
	s.run(1500 * ms)
	resume := s.now
	s.run(3 * time.Second)
	if pe := s.pauseEvents(0, start); len(pe) != 1 {
		t.Fatalf("node 0 reported %d pauses, want 1", len(pe))
	}
	if st := s.peer(0, 1).State; st != NodeDown {
		t.Fatalf("node 0 sees the crashed node 1 %v, want DOWN", st)
	}
	for net := range 2 {
		dn, ok := s.firstLinkState(0, 1, net, start, LinkDown)
		if !ok {
			t.Fatalf("node 0 never took its link to node 1 on %s down", s.nets[net].Name)
		}
		// Node 1's frames from before its crash waited in node 0's socket
		// and are read just after the resume: they count as heard then.
		if d := dn.At.Sub(resume); d > tm.PeerInact+ms {
			t.Errorf("link to the dead node 1 went down %v after the resume, want within peerinact", d)
		}
	}
	if st := s.peer(0, 2).State; st != NodeOpen {
		t.Errorf("node 0 sees node 2 %v, want OPEN again", st)
	}
	if st := s.peer(2, 0).State; st != NodeOpen {
		t.Errorf("node 2 sees node 0 %v, want OPEN again", st)
	}
}
