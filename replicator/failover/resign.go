package failover

import "time"

// Resignation: a primary whose node is up but whose back end has not
// answered for grace gives the resource up. It records that (so that it
// holds across a restart), stays fenced at its epoch, and flags the
// resource Resigned in its views; the mirror, hearing that in a fresh
// view, fails over without waiting for the primary to be DOWN (the
// primary itself says it is fenced). The primary may take the resource
// back only when its back end answers again and the mirror, in a view
// that answers one sent after the primary stopped flagging, holds it as
// the primary at its epoch and is not failing over (Promoting): a
// promotion started on the flag shows in that view.

// ResignedIn reports whether h, heard from primary, says it resigned
// resource at epoch, fresh as of now; lost is when its back end stopped
// answering (as the primary measured it, on our clock).
func ResignedIn(h Heard, now time.Time, primary uint16, resource string, epoch uint32) (lost time.Time, ok bool) {
	if h.At.IsZero() || now.Sub(h.At) > ConfirmFresh {
		return time.Time{}, false
	}
	rv, ok := h.resource(resource)
	if !ok || !rv.Resigned || rv.Epoch != epoch || rv.Primary != primary {
		return time.Time{}, false
	}
	return h.At.Add(-rv.DownFor), true
}

// ResumeConfirmed reports whether the mirror's view h lets self, which
// resigned resource at epoch and stopped flagging it from its view
// number since on, take it back.
func ResumeConfirmed(h Heard, self uint16, resource string, epoch uint32, since uint64) bool {
	pv, ok := h.peer(self)
	if !ok || since == 0 || pv.Echo < since {
		return false
	}
	rv, ok := h.resource(resource)
	return ok && rv.Epoch == epoch && rv.Primary == self && !rv.Promoting
}
