package mirror

import (
	"context"
	"sync"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
)

// ServerOptions tune a Server; zero values take the defaults noted.
type ServerOptions struct {
	// MaxWait is how long a fetch at the durable end waits for new data
	// before answering empty; 200ms. Negative: never wait. It is a server
	// option because the wire format has no field for it.
	MaxWait time.Duration
	// MaxBytes caps every request's MaxBytes (0: no cap), so a mirror
	// asking for more than the transport carries still gets an answer
	// that fits.
	MaxBytes uint32
}

// DefaultMaxWait is ServerOptions.MaxWait's default.
const DefaultMaxWait = 200 * time.Millisecond

// Server answers mirrors' fetches on the primary with a long-poll, so a
// caught-up mirror learns of a new batch as soon as it is durable instead
// of on its next poll. Safe for concurrent use.
type Server struct {
	lookup Lookup
	opt    ServerOptions

	mu   sync.Mutex
	wake chan struct{} // closed by Notify, then replaced
}

// Lookup finds the log a fetch of topic is served from, or says why not:
// ErrUnknownTopic, or ErrNotPrimary where this node holds the topic but
// is not its primary now.
type Lookup func(topic string) (*logstore.Log, ErrorCode)

// NewServer serves the logs lookup finds.
func NewServer(lookup Lookup, opt ServerOptions) *Server {
	if opt.MaxWait == 0 {
		opt.MaxWait = DefaultMaxWait
	}
	return &Server{lookup: lookup, opt: opt, wake: make(chan struct{})}
}

// Notify wakes every waiting fetch; the producer calls it after the durable
// offset of any topic moved (after Sync). Waiters re-check their own log,
// so one broadcast for all topics is enough and never loses a wake-up.
func (s *Server) Notify() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) waitChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// Answer serves req, waiting up to MaxWait while the fetch offset is at the
// primary's durable end. On ctx's end it returns the empty answer it has.
func (s *Server) Answer(ctx context.Context, req FetchRequest) FetchResponse {
	log, code := s.lookup(req.Topic)
	if code != ErrNone {
		return FetchResponse{Session: req.Session, Correlation: req.Correlation, Error: code}
	}
	if s.opt.MaxBytes > 0 && (req.MaxBytes == 0 || req.MaxBytes > s.opt.MaxBytes) {
		req.MaxBytes = s.opt.MaxBytes
	}
	var timer *time.Timer
	for {
		// Taken before Serve: a Notify between Serve and the wait below
		// closes this channel, so it is not missed.
		wake := s.waitChan()
		resp := Serve(log, req)
		if !atEnd(req, resp) || s.opt.MaxWait < 0 {
			return resp
		}
		if timer == nil {
			timer = time.NewTimer(s.opt.MaxWait)
			defer timer.Stop()
		}
		select {
		case <-wake:
		case <-timer.C:
			return resp
		case <-ctx.Done():
			return resp
		}
	}
}

// atEnd: a well-formed, empty answer because nothing durable is past the
// fetch offset; only such answers are worth waiting on.
func atEnd(req FetchRequest, resp FetchResponse) bool {
	return resp.Error == ErrNone && resp.Diverging == nil && len(resp.Batches) == 0 &&
		req.FetchOffset >= resp.HighWatermark
}

// Fetch makes Server a Transport endpoint: decode, Answer, encode. A
// request that does not decode is an error, not an answer: the codec has
// no correlation to answer it with.
func (s *Server) Fetch(ctx context.Context, msg []byte) ([]byte, error) {
	req, err := DecodeFetchRequest(msg)
	if err != nil {
		return nil, err
	}
	return s.Answer(ctx, req).Encode()
}
