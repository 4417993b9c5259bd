package llt

import (
	"strings"
	"testing"
	"time"
)

func mustPanic(t *testing.T, what, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("%s did not panic", what)
		}
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Fatalf("%s panicked with %v, want %q", what, r, want)
		}
	}()
	fn()
}

// The Output of Ready is the Machine's until Release: feeding the Machine
// while it is held (a handler that sends while the frames are still being
// encoded) fails loudly instead of rewriting the frames being read.
func TestOutputLifetime(t *testing.T) {
	s := newSim(t, 2, ether("hb0"), DefaultTimers())
	s.run(time.Second)
	m := s.nodes[0].m
	m.Advance(s.now.Add(100 * ms))
	out := m.Ready()
	if len(out.Frames) == 0 {
		t.Fatal("no frames to read")
	}
	kept := out.Frames
	for name, fn := range map[string]func(){
		"Advance":        func() { m.Advance(s.now) },
		"Receive":        func() { m.Receive(s.now, Inbound{Frame: &Frame{}}) },
		"SetCarrier":     func() { m.SetCarrier(s.now, 0, false) },
		"SendMessageVia": func() { _ = m.SendMessageVia(s.now, 1, Route{}, nil) },
		"Shutdown":       func() { m.Shutdown(s.now) },
		"Ready":          func() { m.Ready() },
	} {
		mustPanic(t, name+" while the Output is held", "held", fn)
	}
	// Reading is allowed while it is held.
	_ = m.Snapshot(s.now)
	m.Release(out)
	mustPanic(t, "a second Release", "not held", func() { m.Release(out) })
	// A slice kept past Release reads as frames the codec refuses.
	if kept[0].Frame.Type != 0 {
		t.Fatalf("a frame kept past Release still reads as %v", kept[0].Frame.Type)
	}
	if _, err := s.nodes[0].codec.Append(nil, &kept[0].Frame); err == nil {
		t.Fatal("a frame kept past Release encodes")
	}
}

// Every frame of one Output keeps its own link vector, however many frames
// the calls before Release produced (the vector used to be scratch space
// that a later frame rewrote).
func TestFramesOfOneOutputKeepTheirVectors(t *testing.T) {
	s := newSim(t, 2, ether("hb0", "hb1"), DefaultTimers())
	s.run(time.Second)
	m := s.nodes[0].m
	m.SetCarrier(s.now, 1, false) // frames on hb0 say hb1 has no carrier
	m.SetCarrier(s.now, 1, true)  // later frames say it has
	m.Advance(s.now.Add(100 * ms))
	out := m.Ready()
	defer m.Release(out)
	var sawDown, sawUp bool
	for _, o := range out.Frames {
		for _, v := range o.Frame.Vector {
			if v.Network == "hb1" {
				sawDown = sawDown || !v.Carrier
				sawUp = sawUp || v.Carrier
			}
		}
	}
	if !sawDown || !sawUp {
		t.Fatalf("frames of one Output share one vector: carrier-down seen %v, carrier-up seen %v", sawDown, sawUp)
	}
}
