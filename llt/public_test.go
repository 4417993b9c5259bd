package llt

import (
	"testing"
	"time"
)

// A peer whose private links are all lost is PARTITIONED while the public
// channel says it is alive, and DOWN only once that agrees it is gone.
func TestPublicChannelTellsPartitionedFromDown(t *testing.T) {
	s := newSim(t, 2, ether("hb0", "hb1"), DefaultTimers())
	obs := s.nodes[1]
	// Alive on the public channel before it was ever heard: CONNWAIT (it
	// joins before the private links come up).
	obs.m.SetPublic(s.now, 0, true)
	if st := s.peer(1, 0).State; st != NodeConnWait {
		t.Fatalf("never heard, alive on the public channel: %v, want CONNWAIT", st)
	}
	s.run(2 * time.Second)
	s.assertAllOpen()
	cut := s.now
	s.isolate(0, 0, true)
	s.isolate(0, 1, true)
	s.run(2 * time.Second)
	if st := s.peer(1, 0).State; st != NodePartitioned {
		t.Fatalf("every private link lost, alive on the public channel: %v, want PARTITIONED", st)
	}
	for _, e := range s.nodeEvents(1, 0, cut) {
		if e.Node == NodeDown {
			t.Errorf("went through DOWN on the way to PARTITIONED: %+v", e)
		}
	}
	gone := s.now
	obs.m.SetPublic(s.now, 0, false)
	if st := s.peer(1, 0).State; st != NodeDown {
		t.Fatalf("gone on the public channel too: %v, want DOWN", st)
	}
	s.collect(obs) // the events reach the sim's log
	if ev := s.nodeEvents(1, 0, gone); len(ev) != 1 || ev[0].PrevNode != NodePartitioned || ev[0].Node != NodeDown {
		t.Errorf("events %+v, want one PARTITIONED -> DOWN", ev)
	}
	// Back on the public channel, then on the private links: OPEN.
	obs.m.SetPublic(s.now, 0, true)
	s.isolate(0, 0, false)
	s.isolate(0, 1, false)
	s.run(2 * time.Second)
	if st := s.peer(1, 0).State; st != NodeOpen {
		t.Errorf("links back: %v, want OPEN", st)
	}
	// Without the public channel's word, losing every link is DOWN.
	obs.m.SetPublic(s.now, 0, false)
	s.isolate(0, 0, true)
	s.isolate(0, 1, true)
	s.run(2 * time.Second)
	if st := s.peer(1, 0).State; st != NodeDown {
		t.Errorf("every link lost, not on the public channel: %v, want DOWN", st)
	}
	// An unknown peer id changes nothing.
	obs.m.SetPublic(s.now, 9, true)
}
