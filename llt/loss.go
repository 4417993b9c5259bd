package llt

import "time"

// lossBuckets is the number of buckets of a loss window.
const lossBuckets = 10

// lossWindow counts a session's accepted and lost frames over the last
// LossWindow, in buckets, so the loss ratio slides with time. Only gaps
// seen while the session was Up count: the frames a link missed while it
// was down are not loss of a working link.
type lossWindow struct {
	cur        int64 // index of the newest bucket (time since epoch / bucket)
	recv, lost [lossBuckets]int32
}

// bucketOf is the bucket index of now.
func bucketOf(now, epoch time.Time, window time.Duration) int64 {
	return int64(now.Sub(epoch) / max(window/lossBuckets, time.Millisecond))
}

// roll moves the window to bucket idx, zeroing the buckets it passes.
func (w *lossWindow) roll(idx int64) {
	if idx <= w.cur {
		return
	}
	for i := w.cur + 1; i <= idx && i <= w.cur+lossBuckets; i++ {
		b := i % lossBuckets
		w.recv[b], w.lost[b] = 0, 0
	}
	w.cur = idx
}

// add counts one accepted frame and lost (negative: a frame counted lost
// that came late) at bucket idx.
func (w *lossWindow) add(idx int64, lost int) {
	w.roll(idx)
	b := w.cur % lossBuckets
	w.recv[b]++
	w.lost[b] += int32(lost)
}

// percent returns the loss over the window at bucket idx, rounded up so
// that any loss shows, and the number of frames it is taken over
// (accepted plus lost). LossUnknown when there is nothing to measure.
func (w *lossWindow) percent(idx int64) (pct uint8, samples int) {
	w.roll(idx)
	var recv, lost int
	for i := range lossBuckets {
		recv += int(w.recv[i])
		lost += int(w.lost[i])
	}
	lost = max(lost, 0)
	samples = recv + lost
	if samples == 0 {
		return LossUnknown, 0
	}
	return uint8((100*lost + samples - 1) / samples), samples
}

// reset forgets everything (the peer restarted).
func (w *lossWindow) reset() { *w = lossWindow{cur: w.cur} }

// minLossSamples is how many frames a window needs before its loss can
// make a link lossy: a handful of frames say nothing about a rate.
const minLossSamples = 20

// lossOf returns the link's loss both ways: rx, the peer's frames we
// missed (our ether session's window), and tx, ours the peer missed (its
// report in the link vector). Either is LossUnknown when not known.
func (m *Machine) lossOf(now time.Time, l *link) (rx, tx uint8, rxSamples int) {
	rx, tx = LossUnknown, LossUnknown
	if s := l.sess[ChannelEther]; s != nil {
		rx, rxSamples = s.loss.percent(bucketOf(now, m.cfg.Epoch, m.diag.LossWindow))
	}
	if m.remoteFresh(now, l) {
		tx = l.remote.Loss
	}
	return rx, tx, rxSamples
}

// lossy reports whether l loses more than the threshold either way. Once
// lossy, it stays so until the loss falls below half the threshold, so a
// link near the threshold does not flap between reasons.
func (m *Machine) lossy(now time.Time, l *link) bool {
	rx, tx, n := m.lossOf(now, l)
	thr := m.diag.LossThreshold
	if l.reason == ReasonLossy {
		thr = max(thr/2, 1)
	}
	over := func(p uint8) bool { return p != LossUnknown && int(p) > thr }
	return (over(rx) && n >= minLossSamples) || over(tx)
}
