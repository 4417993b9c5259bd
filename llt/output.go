package llt

import "fmt"

// Output is what the Machine's calls produced: frames to send, state
// changes to report and messages to deliver. It belongs to the Machine and
// has a lifetime, as etcd raft's Ready does: Ready hands it out, the
// caller reads it, and Release gives it back. While it is out, every call
// that feeds the Machine panics, so no call can rewrite an Output that is
// still being read (a handler that sends while frames are being encoded);
// Release zeroes it, so a slice kept past Release reads as empty frames
// that the codec refuses, not as stale data.
type Output struct {
	Frames   []Outgoing
	Events   []Event
	Messages []Message // application messages received; Payload aliases the inbound frame

	vecs []VectorEntry // storage of the Frames' link vectors
}

// Empty reports whether o holds nothing.
func (o *Output) Empty() bool {
	return len(o.Frames) == 0 && len(o.Events) == 0 && len(o.Messages) == 0
}

// Ready returns what the calls since the last Release produced. The caller
// must Release it before feeding the Machine again.
func (m *Machine) Ready() *Output {
	if m.held {
		panic("llt: Ready called while the previous Output is still held")
	}
	m.held = true
	return &m.out
}

// Release returns the Output of Ready to the Machine, which reuses it.
func (m *Machine) Release(o *Output) {
	if o != &m.out || !m.held {
		panic(fmt.Sprintf("llt: Release of an Output that is not held (held %v)", m.held))
	}
	clear(o.Frames)
	clear(o.Events)
	clear(o.Messages)
	clear(o.vecs)
	o.Frames, o.Events, o.Messages, o.vecs = o.Frames[:0], o.Events[:0], o.Messages[:0], o.vecs[:0]
	m.held = false
}

// enter starts a call that changes the Machine's state.
func (m *Machine) enter() {
	if m.held {
		panic("llt: Machine fed while the Output of Ready is held: Release it first")
	}
}

func (m *Machine) emit(e Event) { m.out.Events = append(m.out.Events, e) }
