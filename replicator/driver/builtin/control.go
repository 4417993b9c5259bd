package builtin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Control messages: 'C' then one JSON object. They are rare (a view a
// second per resource, a handful per promote), so JSON's clarity wins
// over a binary layout here; fetches use the binary mirror codec.
const (
	kindControl = 'C'
	kindFetch   = 'T' // the mirror codec's magic
)

// Control operations.
const (
	opView     = "view"     // here is my view of the resource; answer with yours
	opFreeze   = "freeze"   // primary: refuse writes for a promote, answer the final offsets
	opUnfreeze = "unfreeze" // primary: the promote gave up, write again
	opDemote   = "demote"   // old primary: the promote is done, here is the new epoch
	opAddTopic = "add-topic"
)

// view is what a node knows of a resource.
type view struct {
	Epoch     uint32 `json:"epoch"`
	Primary   string `json:"primary"`
	Role      string `json:"role"`
	Promoting bool   `json:"promoting,omitempty"` // a promote is in progress on the sender
}

type request struct {
	Op       string `json:"op"`
	Resource string `json:"resource"`
	From     string `json:"from"`
	View     *view  `json:"view,omitempty"`
	Epoch    uint32 `json:"epoch,omitempty"` // freeze/unfreeze: the epoch the sender mirrors; demote: the new one
	Primary  string `json:"primary,omitempty"`
	Reverse  bool   `json:"reverse,omitempty"` // demote: become the new primary's mirror at once
	Topic    string `json:"topic,omitempty"`
}

type reply struct {
	Error string `json:"error,omitempty"`
	View  *view  `json:"view,omitempty"`
	// freeze: per topic, the durable end once writes stopped, and the
	// consumer-group offsets for the final sync.
	Ends   map[string]uint64           `json:"ends,omitempty"`
	Groups map[string]map[string]int64 `json:"groups,omitempty"`
}

const maxControl = 1 << 20

func encodeControl(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{kindControl}, b...), nil
}

// decodeControl decodes a control message strictly: unknown fields and
// trailing data are errors, so a peer of another release is noticed.
func decodeControl(msg []byte, v any) error {
	if len(msg) == 0 || msg[0] != kindControl {
		return errors.New("builtin: not a control message")
	}
	if len(msg) > maxControl {
		return fmt.Errorf("builtin: control message of %d bytes", len(msg))
	}
	dec := json.NewDecoder(bytes.NewReader(msg[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("builtin: bad control message: %w", err)
	}
	if dec.More() {
		return errors.New("builtin: bad control message: trailing data")
	}
	return nil
}

func checkRequest(r *request) error {
	switch r.Op {
	case opView:
		if r.View == nil {
			return errors.New("view without a view")
		}
	case opFreeze, opUnfreeze:
	case opDemote:
		if r.Primary == "" || r.Epoch == 0 {
			return errors.New("demote without an epoch and primary")
		}
	case opAddTopic:
		if r.Topic == "" {
			return errors.New("add-topic without a topic")
		}
	default:
		return fmt.Errorf("unknown operation %q", r.Op)
	}
	if r.Resource == "" || r.From == "" {
		return errors.New("no resource or sender")
	}
	return nil
}
