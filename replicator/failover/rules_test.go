package failover

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func cfg() Config { return Config{Auto: true}.WithDefaults() }

// dead is a primary DOWN for d with a healthy two-node-plus-witness quorum
// and a fresh, small lag: everything holds once d >= grace.
func dead(d time.Duration) Inputs {
	now := t0.Add(d)
	return Inputs{
		Now: now, IsMirror: true, Epoch: 3, EpochSeen: 3,
		Primary: Primary{State: NodeDown, Since: t0},
		Quorum:  Quorum{Voters: 3, Votes: 2, Witness: true},
		Mirror:  Mirror{Usable: true, LagRecords: 10, SampledAt: t0.Add(-50 * time.Millisecond)},
	}
}

func TestDecidePromotesOnlyWhenAllHold(t *testing.T) {
	c := cfg()
	if d := Decide(c, dead(c.Grace)); !d.Promote || d.Reason != ReasonPromote {
		t.Fatalf("DOWN for grace with quorum: %+v", d)
	}
	if d := Decide(c, dead(c.Grace-time.Millisecond)); d.Promote || d.Reason != ReasonGrace {
		t.Fatalf("DOWN 1 ms short of grace: %+v", d)
	}
	for _, tc := range []struct {
		name   string
		change func(*Inputs)
		reason string
		alert  bool
	}{
		{"auto off", func(in *Inputs) {}, ReasonAutoOff, false}, // with Auto false below
		{"not the mirror", func(in *Inputs) { in.IsMirror = false }, ReasonNotMirror, false},
		{"somebody promoted", func(in *Inputs) { in.EpochSeen = 4 }, ReasonEpochChanged, true},
		{"open", func(in *Inputs) { in.Primary.State = NodeOpen }, ReasonPrimaryUp, false},
		{"jeopardy", func(in *Inputs) { in.Primary.State = NodeJeopardy }, ReasonJeopardy, true},
		{"partitioned", func(in *Inputs) { in.Primary.State = NodePartitioned }, ReasonPartitioned, true},
		{"never seen", func(in *Inputs) { in.Primary.State = NodeConnWait }, ReasonNeverSeen, false},
		{"one-way", func(in *Inputs) { in.Primary.OneWay = true }, ReasonOneWay, true},
		{"flapping", func(in *Inputs) { in.Primary.Flapping = true }, ReasonFlapping, true},
		{"two nodes, no witness", func(in *Inputs) { in.Quorum = Quorum{Voters: 2, Votes: 1} }, ReasonNoQuorumPossible, true},
		{"minority", func(in *Inputs) { in.Quorum.Votes = 1 }, ReasonNoQuorum, true},
		{"mirror diverged", func(in *Inputs) { in.Mirror.Usable = false }, ReasonMirrorUnusable, true},
		{"the mirror had stalled before", func(in *Inputs) { in.Mirror.SampledAt = in.Primary.Since.Add(-time.Minute) }, ReasonLagStale, true},
		{"lag above max", func(in *Inputs) { in.Mirror.LagRecords = DefaultMaxLag + 1 }, ReasonLagTooHigh, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg()
			if tc.reason == ReasonAutoOff {
				c.Auto = false
			}
			in := dead(time.Minute) // long past grace: only the change refuses
			tc.change(&in)
			d := Decide(c, in)
			if d.Promote || d.Reason != tc.reason || d.Alert != tc.alert || d.Detail == "" {
				t.Fatalf("got %+v, want no promote, reason %s, alert %v", d, tc.reason, tc.alert)
			}
		})
	}
}

// A PARTITIONED primary is never failed over, however long it lasts:
// the split-brain case.
// A dead primary is PARTITIONED until the public channel declares it
// dead: the mirror's last sample is judged against its last frame, not
// against when it became DOWN.
func TestLagFreshAgainstLastHeard(t *testing.T) {
	c := cfg()
	in := dead(c.Grace)
	in.Primary.Since = t0.Add(3 * time.Second) // DOWN 3s after its last frame
	in.Primary.LastHeard = t0
	in.Now = in.Primary.Since.Add(c.Grace)
	in.Mirror.SampledAt = t0.Add(-100 * time.Millisecond)
	if d := Decide(c, in); !d.Promote {
		t.Fatalf("sample 100ms before the last frame: %+v", d)
	}
	in.Mirror.SampledAt = t0.Add(-c.LagFresh - time.Millisecond)
	if d := Decide(c, in); d.Reason != ReasonLagStale {
		t.Fatalf("sample older than lag_fresh before the last frame: %+v", d)
	}
}

func TestPartitionedNeverFailsOver(t *testing.T) {
	c := cfg()
	for _, d := range []time.Duration{0, c.Grace, time.Hour} {
		in := dead(d)
		in.Primary.State = NodePartitioned
		if got := Decide(c, in); got.Promote {
			t.Fatalf("PARTITIONED for %v: %+v", d, got)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := cfg().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := cfg()
	c.Grace = c.SelfFence + c.Margin
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "must be more than selffence") {
		t.Errorf("grace = selffence + margin: %v", err)
	}
	c = cfg()
	c.SelfFence = 0
	if err := c.Validate(); err == nil {
		t.Error("selffence 0 accepted")
	}
	c = cfg()
	c.LagFresh = -time.Second
	if err := c.Validate(); err == nil {
		t.Error("a negative lag freshness accepted")
	}
}
