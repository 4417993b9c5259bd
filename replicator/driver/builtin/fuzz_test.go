package builtin

import (
	"testing"
)

// A control message from a peer (it proved the cluster key, but may run
// another release, or be buggy) is decoded strictly and checked before
// anything acts on it: no panic, and what passes is well-formed.
func FuzzControl(f *testing.F) {
	for _, r := range []request{
		{Op: opView, Resource: "orders", From: "node1", View: &view{Epoch: 2, Primary: "node1", Role: "primary"}},
		{Op: opFreeze, Resource: "orders", From: "node1", Epoch: 1},
		{Op: opDemote, Resource: "orders", From: "node1", Epoch: 2, Primary: "node1", Reverse: true},
		{Op: opAddTopic, Resource: "orders", From: "node1", Topic: "refunds"},
	} {
		b, err := encodeControl(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("C{}"))
	f.Add([]byte(`C{"op":"view","resource":"r","from":"n","view":{"epoch":1}} {}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var r request
		if err := decodeControl(msg, &r); err != nil {
			return
		}
		if err := checkRequest(&r); err != nil {
			return
		}
		if r.Resource == "" || r.From == "" || (r.Op == opView && r.View == nil) ||
			(r.Op == opDemote && (r.Epoch == 0 || r.Primary == "")) {
			t.Fatalf("checked but malformed: %+v", r)
		}
		var rep reply
		_ = decodeControl(msg, &rep)
	})
}
