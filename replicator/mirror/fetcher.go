package mirror

import (
	"errors"
	"fmt"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
)

// State is a mirror topic's state, as `tetherctl mirror describe` shows it.
type State int

// States. PENDING_STOPPED and STOPPED belong to promote/failover, which
// live above the fetcher.
const (
	Active State = iota
	Paused
	SourceUnavailable
	Diverged
	Failed
)

func (s State) String() string {
	switch s {
	case Active:
		return "ACTIVE"
	case Paused:
		return "PAUSED"
	case SourceUnavailable:
		return "SOURCE_UNAVAILABLE"
	case Diverged:
		return "DIVERGED"
	case Failed:
		return "FAILED"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Config tunes a Fetcher; zero values take the defaults noted.
type Config struct {
	Topic       string
	Session     uint64        // identifies this fetcher's requests
	MaxBytes    uint32        // per fetch; DefaultMaxBytes
	MaxFailures int           // consecutive failures before SOURCE_UNAVAILABLE; 3
	Timeout     time.Duration // no answer this long: a failure, and SOURCE_UNAVAILABLE; 10s
	// StopOnAckedTruncation makes the fetcher stop in DIVERGED, without
	// cutting, when a divergence would remove records the primary had
	// reported durable (acknowledged): the operator exports them first
	// (truncate-and-restore) and calls Restore. By default the mirror
	// follows its source, cuts, and records the loss in Status.
	StopOnAckedTruncation bool
	// AckedEnd counts every record below it as acknowledged, whatever the
	// primary reported: an old primary being restored acknowledged its
	// whole log itself, so none of it may be cut unseen.
	AckedEnd uint64
}

// Truncation records one cut of the mirror's log.
type Truncation struct {
	At           time.Time
	From, To     uint64 // log end before, offset cut to
	AckedRecords uint64 // records cut that were below a high watermark seen before
}

// Status is a snapshot of a Fetcher.
type Status struct {
	Topic          string
	State          State
	LogEndOffset   uint64 // the mirror's (DestLogEndOffset)
	HighWatermark  uint64 // last seen on the primary (LastFetchSourceHighWatermark)
	LagRecords     uint64
	LagMs          int64
	SinceLastFetch time.Duration // -1 before the first answer
	Failures       int           // consecutive
	Err            error         // why FAILED, DIVERGED or the last failure
	Truncations    []Truncation
	Pending        *Truncation // DIVERGED: the cut Restore would make
}

// ErrUnexpected is returned for a response nobody is waiting for (stale
// correlation, paused, failed); it changes nothing.
var ErrUnexpected = errors.New("mirror: unexpected response")

// ErrCorrupt wraps a response that breaks the protocol (bad CRC, gap, data
// past the high watermark); it sets FAILED and nothing of it is appended.
var ErrCorrupt = errors.New("mirror: corrupt fetch response")

// hwSeen notes that offsets below hw existed on the primary at t: the
// ground for lag in milliseconds measured on our own clock only.
type hwSeen struct {
	hw uint64
	t  time.Time
}

const maxHWSeen = 1024

// Fetcher mirrors one topic into log. It is not safe for concurrent use;
// the loop that drives it owns it.
type Fetcher struct {
	cfg   Config
	log   *logstore.Log
	state State
	err   error

	corr     uint64
	inflight bool
	sentAt   time.Time

	lastAnswer time.Time // last successful response; zero before the first
	created    time.Time
	hw         uint64
	maxHW      uint64 // highest watermark ever seen: what the source acknowledged
	seen       []hwSeen
	failures   int

	groups      map[string]int64
	truncations []Truncation
	pending     *Truncation
}

// NewFetcher starts ACTIVE at the log's end.
func NewFetcher(log *logstore.Log, cfg Config, now time.Time) *Fetcher {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 3
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Fetcher{cfg: cfg, log: log, created: now, groups: map[string]int64{}, maxHW: cfg.AckedEnd}
}

// State is the current state.
func (f *Fetcher) State() State { return f.state }

// Next returns the request to send now, if any: none while paused, failed,
// diverged or while one is in flight (until it times out).
func (f *Fetcher) Next(now time.Time) (FetchRequest, bool) {
	f.Tick(now)
	if f.inflight || (f.state != Active && f.state != SourceUnavailable) {
		return FetchRequest{}, false
	}
	f.corr++
	f.inflight, f.sentAt = true, now
	req := FetchRequest{
		Session:     f.cfg.Session,
		Correlation: f.corr,
		Topic:       f.cfg.Topic,
		FetchOffset: f.log.LogEndOffset(),
		MaxBytes:    f.cfg.MaxBytes,
	}
	req.LastEpoch, req.HasLastEpoch = f.log.LatestEpoch()
	return req, true
}

// Tick applies timeouts: an answer overdue by Timeout is a failure, and no
// answer for Timeout since the last one is SOURCE_UNAVAILABLE.
func (f *Fetcher) Tick(now time.Time) {
	if f.inflight && now.Sub(f.sentAt) >= f.cfg.Timeout {
		f.inflight = false
		f.failure(now, fmt.Errorf("mirror: fetch %d unanswered after %v", f.corr, f.cfg.Timeout))
	}
	last := f.lastAnswer
	if last.IsZero() {
		last = f.created
	}
	if f.state == Active && now.Sub(last) >= f.cfg.Timeout {
		f.state = SourceUnavailable
	}
}

// Fail reports that the request in flight could not be delivered or
// answered (link down, peer gone).
func (f *Fetcher) Fail(now time.Time, err error) {
	if !f.inflight {
		return
	}
	f.inflight = false
	f.failure(now, err)
}

func (f *Fetcher) failure(now time.Time, err error) {
	f.failures++
	f.err = err
	if f.state == Active && f.failures >= f.cfg.MaxFailures {
		f.state = SourceUnavailable
	}
}

// Pause stops fetching; an answer in flight will be dropped.
func (f *Fetcher) Pause() {
	if f.state == Active || f.state == SourceUnavailable {
		f.state, f.inflight = Paused, false
	}
}

// Resume continues a paused fetcher from its log end.
func (f *Fetcher) Resume() {
	if f.state == Paused {
		f.state, f.failures = Active, 0
	}
}

// Apply applies the answer to the request in flight.
func (f *Fetcher) Apply(now time.Time, resp FetchResponse) error {
	if !f.inflight || resp.Correlation != f.corr || resp.Session != f.cfg.Session {
		return ErrUnexpected
	}
	f.inflight = false
	switch resp.Error {
	case ErrNone:
	case ErrOffsetOutOfRange:
		// Our log end is outside the primary's log and no epoch explains
		// it (retention passed us, or an empty mirror of a trimmed
		// topic): only a resync from the primary's log start can help.
		return f.fail(fmt.Errorf("mirror: fetch offset %d out of range [%d, %d] on the primary: needs a resync",
			f.log.LogEndOffset(), resp.LogStartOffset, resp.LogEndOffset))
	default:
		err := fmt.Errorf("mirror: primary answered %v", resp.Error)
		f.failure(now, err)
		return err
	}
	f.answered(now, resp.HighWatermark)
	if resp.Diverging != nil {
		return f.diverge(now, *resp.Diverging)
	}
	batches, err := f.check(resp)
	if err != nil {
		return f.fail(err)
	}
	for _, b := range batches {
		if err := f.log.AppendBatch(b.Raw); err != nil {
			return f.fail(fmt.Errorf("mirror: append at %d: %w", b.BaseOffset, err))
		}
	}
	f.dropSeen()
	if resp.GroupOffsets != nil {
		end := int64(f.log.LogEndOffset())
		f.groups = make(map[string]int64, len(resp.GroupOffsets))
		for g, off := range resp.GroupOffsets {
			// A consumer must never be sent past what the mirror holds.
			f.groups[g] = min(off, end)
		}
	}
	return nil
}

func (f *Fetcher) fail(err error) error {
	f.state, f.err = Failed, err
	return err
}

// answered notes a well-formed answer: the source is reachable.
func (f *Fetcher) answered(now time.Time, hw uint64) {
	f.lastAnswer, f.failures, f.err = now, 0, nil
	if f.state == SourceUnavailable {
		f.state = Active
	}
	f.hw = hw
	f.maxHW = max(f.maxHW, hw)
	if n := len(f.seen); n == 0 || hw > f.seen[n-1].hw {
		if n == maxHWSeen {
			// Keep the earlier time: lag is overstated a little, never lost.
			f.seen[n-1].hw = hw
		} else {
			f.seen = append(f.seen, hwSeen{hw, now})
		}
	}
}

// dropSeen forgets watermarks the mirror has reached.
func (f *Fetcher) dropSeen() {
	end := f.log.LogEndOffset()
	i := 0
	for i < len(f.seen) && f.seen[i].hw <= end {
		i++
	}
	f.seen = f.seen[i:]
}

// check validates the whole response before anything is appended: each
// batch whole and CRC-correct, contiguous from our log end, epochs never
// going back, nothing past the high watermark.
func (f *Fetcher) check(resp FetchResponse) ([]logstore.Batch, error) {
	next := f.log.LogEndOffset()
	epoch, hasEpoch := f.log.LatestEpoch()
	var out []logstore.Batch
	for p := resp.Batches; len(p) > 0; {
		b, n, err := logstore.DecodeBatch(p, logstore.DefaultMaxSize)
		if err != nil {
			return nil, fmt.Errorf("%w: batch at %d: %w", ErrCorrupt, next, err)
		}
		if b.BaseOffset != next {
			return nil, fmt.Errorf("%w: batch base offset %d, expected %d", ErrCorrupt, b.BaseOffset, next)
		}
		if hasEpoch && b.Epoch < epoch {
			return nil, fmt.Errorf("%w: batch %d epoch %d after epoch %d", ErrCorrupt, next, b.Epoch, epoch)
		}
		if b.NextOffset() > resp.HighWatermark {
			return nil, fmt.Errorf("%w: batch %d ends at %d, past the high watermark %d", ErrCorrupt, next, b.NextOffset(), resp.HighWatermark)
		}
		out = append(out, b)
		next, epoch, hasEpoch = b.NextOffset(), b.Epoch, true
		p = p[n:]
	}
	return out, nil
}

// diverge finds the cut point as a Kafka follower does (KIP-279): if we
// have the primary's epoch, cut to the smaller of both ends of it; if not,
// cut to the end of our largest epoch below it and ask again (walk back).
func (f *Fetcher) diverge(now time.Time, d DivergingEpoch) error {
	leo := f.log.LogEndOffset()
	to := min(d.EndOffset, leo)
	if d.Epoch != NoEpoch {
		if e, end, ok := f.log.EndOffsetFor(d.Epoch); ok {
			if e == d.Epoch {
				to = min(end, d.EndOffset, leo)
			} else {
				to = min(end, leo)
			}
		}
	}
	to, err := f.boundary(to)
	if err != nil {
		return f.fail(err)
	}
	if to == leo {
		// A legitimate divergence always cuts something; asking again
		// would loop forever.
		return f.fail(fmt.Errorf("%w: diverging epoch %d end %d leaves the log end %d uncut", ErrCorrupt, d.Epoch, d.EndOffset, leo))
	}
	t := Truncation{At: now, From: leo, To: to}
	if ack := min(f.maxHW, leo); ack > to {
		t.AckedRecords = ack - to
	}
	if t.AckedRecords > 0 && f.cfg.StopOnAckedTruncation {
		f.state, f.pending = Diverged, &t
		f.err = fmt.Errorf("mirror: diverged from the primary at %d: %d acknowledged records would be cut", to, t.AckedRecords)
		return f.err
	}
	return f.cut(t)
}

func (f *Fetcher) cut(t Truncation) error {
	if t.To == t.From {
		return nil
	}
	if err := f.log.Truncate(t.To); err != nil {
		return f.fail(fmt.Errorf("mirror: truncate to %d: %w", t.To, err))
	}
	f.truncations = append(f.truncations, t)
	return nil
}

// boundary moves offset back to the start of the batch holding it.
func (f *Fetcher) boundary(offset uint64) (uint64, error) {
	start, end := f.log.LogStartOffset(), f.log.LogEndOffset()
	if offset < start {
		return 0, fmt.Errorf("mirror: diverged at %d, below the mirror's log start %d: needs a resync", offset, start)
	}
	if offset == end {
		return offset, nil
	}
	raw, err := f.log.Read(offset, 1)
	if err != nil {
		return 0, fmt.Errorf("mirror: find batch at %d: %w", offset, err)
	}
	b, _, err := logstore.DecodeBatch(raw, len(raw))
	if err != nil {
		return 0, fmt.Errorf("mirror: find batch at %d: %w", offset, err)
	}
	return b.BaseOffset, nil
}

// Restore makes the cut a DIVERGED fetcher stopped before (after the
// operator saved the records beyond it) and fetches again.
func (f *Fetcher) Restore() error {
	if f.state != Diverged || f.pending == nil {
		return fmt.Errorf("mirror: restore: state %v", f.state)
	}
	t := *f.pending
	f.pending = nil
	if err := f.cut(t); err != nil {
		return err
	}
	f.state, f.err = Active, nil
	return nil
}

// GroupOffsets returns the mirrored consumer-group offsets, each capped at
// the mirror's log end when it was synced.
func (f *Fetcher) GroupOffsets() map[string]int64 {
	m := make(map[string]int64, len(f.groups))
	for g, o := range f.groups {
		m[g] = o
	}
	return m
}

// Status reports lag and state at now. Lag in ms is the age, on our clock,
// of the oldest record not yet mirrored: it existed when we first saw a
// high watermark beyond it.
func (f *Fetcher) Status(now time.Time) Status {
	f.Tick(now)
	end := f.log.LogEndOffset()
	s := Status{
		Topic:          f.cfg.Topic,
		State:          f.state,
		LogEndOffset:   end,
		HighWatermark:  f.hw,
		SinceLastFetch: -1,
		Failures:       f.failures,
		Err:            f.err,
		Truncations:    append([]Truncation(nil), f.truncations...),
	}
	if f.hw > end {
		s.LagRecords = f.hw - end
	}
	for _, e := range f.seen {
		if e.hw > end {
			s.LagMs = max(0, now.Sub(e.t).Milliseconds())
			break
		}
	}
	if !f.lastAnswer.IsZero() {
		s.SinceLastFetch = now.Sub(f.lastAnswer)
	}
	if f.pending != nil {
		p := *f.pending
		s.Pending = &p
	}
	return s
}
