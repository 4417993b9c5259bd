package main

import (
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/tether-ha/tether/llt"
)

// The same seed gives the same run: every engine event at the same
// virtual time, in the same order; another seed gives another run.
func TestSeedReproducesTheRun(t *testing.T) {
	digest := func(seed uint64) uint64 {
		c, err := newCluster(6, 2, seed, llt.DefaultTimers(), netParams{Latency: 50 * time.Microsecond, Jitter: 50 * time.Microsecond, Loss: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		c.meter = newMeter()
		h := fnv.New64a()
		c.onEvent = func(n *node, e llt.Event) { fmt.Fprintf(h, "%d %v %+v\n", n.idx, e.At.Sub(epoch), e) }
		c.run(2 * time.Second)
		c.net.port[2][1].blackhole = true
		c.run(2 * time.Second)
		return h.Sum64()
	}
	a, b, other := digest(5), digest(5), digest(6)
	if a != b {
		t.Fatalf("seed 5 gave two different runs (%x, %x)", a, b)
	}
	if a == other {
		t.Fatalf("seeds 5 and 6 gave the same run")
	}
}

// The whole programme at 8 nodes: every fault detected within its bound
// and with its reason, no false DOWN idle or at 10 % loss.
func TestProgrammeAtEightNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	o, err := parseFlags([]string{"-nodes", "8", "-networks", "2", "-idle", "2s", "-loss", "10s", "-trials", "2"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := measure(o, 8)
	if err != nil {
		t.Fatal(err)
	}
	if r.FalseDownsIdle != 0 || r.FalseDownsLoss != 0 {
		t.Errorf("false DOWNs: %d idle, %d at 10 %% loss (%v)", r.FalseDownsIdle, r.FalseDownsLoss, r.FalseDownExamples)
	}
	if len(r.Faults) != 5 {
		t.Fatalf("%d faults run, want 5", len(r.Faults))
	}
	for _, f := range r.Faults {
		if f.Watched == 0 || f.Missed+f.Late+f.WrongCause != 0 {
			t.Errorf("%s: %d links watched, %d missed, %d late, %d wrong reason: %v", f.Fault, f.Watched, f.Missed, f.Late, f.WrongCause, f.Examples)
		}
	}
	if r.EngineNsPerLinkSec <= 0 || r.FramesPerNodeSec <= 0 || r.MemPerNodeKiB <= 0 {
		t.Errorf("no figures: %+v", r)
	}
}
