package llt

import "time"

// flapState damps a link that keeps going down and coming back: after
// FlapCount downs within FlapWindow the link is flapping, and each time it
// comes back it is held DOWN (reason flapping) until it has stayed up for
// the hold, which doubles with every further down up to FlapHoldMax
// (kronosnet's backoff on links that flap), so traffic does not keep
// moving onto a link that will fail again.
type flapState struct {
	downs   [16]time.Time // the latest downs, a ring
	n       int           // downs recorded in the ring
	hold    time.Duration // 0: not flapping
	upSince time.Time     // the link is usable underneath since; zero while down
}

// noteDown records that the link went down at now and returns whether it
// is now flapping.
func (f *flapState) noteDown(now time.Time, d *Diagnostics) {
	prev := f.last()
	f.downs[f.n%len(f.downs)] = now
	f.n++
	f.upSince = time.Time{}
	if f.count(now, d.FlapWindow) < d.FlapCount {
		f.hold = 0
		return
	}
	if f.hold == 0 || now.Sub(prev) > d.FlapWindow {
		f.hold = d.FlapHold
	} else {
		f.hold = min(2*f.hold, d.FlapHoldMax)
	}
}

// noteUp records that the link is usable underneath from now.
func (f *flapState) noteUp(now time.Time) {
	if f.upSince.IsZero() {
		f.upSince = now
	}
}

// last is the time of the latest down (zero if none).
func (f *flapState) last() time.Time {
	if f.n == 0 {
		return time.Time{}
	}
	return f.downs[(f.n-1)%len(f.downs)]
}

// count is the number of downs within window before now.
func (f *flapState) count(now time.Time, window time.Duration) int {
	c := 0
	for i := 0; i < min(f.n, len(f.downs)); i++ {
		if t := f.downs[i]; !t.IsZero() && now.Sub(t) < window {
			c++
		}
	}
	return c
}

// flapping reports whether the link went down FlapCount times within the
// window.
func (f *flapState) flapping(now time.Time, d *Diagnostics) bool {
	return f.hold > 0 && f.count(now, d.FlapWindow) >= d.FlapCount
}

// heldUntil is when a link that is usable underneath is released (zero:
// not held).
func (f *flapState) heldUntil() time.Time {
	if f.hold == 0 || f.upSince.IsZero() {
		return time.Time{}
	}
	return f.upSince.Add(f.hold)
}

// held reports whether a link usable underneath is still held down.
func (f *flapState) held(now time.Time) bool {
	u := f.heldUntil()
	return !u.IsZero() && now.Before(u)
}
