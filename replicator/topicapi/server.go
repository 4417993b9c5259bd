package topicapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tether-ha/tether/replicator/logstore"
	"github.com/tether-ha/tether/replicator/topics"
)

// Consume parameters.
const (
	DefaultMaxBytes = 1 << 20
	MaxMaxBytes     = 16 << 20 // a larger max_bytes is lowered to this
	MaxWait         = 30 * time.Second
)

// Server serves a Store's topics on a TCP listener.
type Server struct {
	ln     net.Listener
	srv    *http.Server
	st     *topics.Store
	cancel context.CancelFunc // ends every request's context
	base   context.Context

	mirrors   Mirrors // nil: no resources on this node
	exportDir string  // where truncate-and-restore writes what it cuts
}

// Option configures a Server.
type Option func(*Server)

// WithMirrors serves the mirror commands of the builtin driver m;
// truncate-and-restore exports what it cuts under exportDir.
func WithMirrors(m Mirrors, exportDir string) Option {
	return func(s *Server) { s.mirrors, s.exportDir = m, exportDir }
}

// Listen listens on addr (host:port) and returns a server ready to Serve.
func Listen(addr string, st *topics.Store, opts ...Option) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("topic API: listen on %s: %w", addr, err)
	}
	// Request contexts derive from base, so shutting down ends long-polls
	// at once instead of waiting out their wait_ms.
	base, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, st: st, base: base, cancel: cancel}
	for _, o := range opts {
		o(s)
	}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      MaxWait + time.Minute, // a long-poll, then its answer
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	return s, nil
}

// Addr is the address listened on (with the port chosen for ":0").
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx is done, then shuts down: long-polls end at once,
// other requests get up to 5 s to finish.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		s.cancel()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		s.cancel()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.srv.Shutdown(sctx)
		<-errc
		if err != nil {
			s.srv.Close()
		}
		return nil
	}
}

// Close stops the server at once, closing its listener and connections.
func (s *Server) Close() {
	s.cancel()
	s.srv.Close()
	s.ln.Close()
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	// Methods are dispatched here, not by the mux, so 405s are JSON too.
	mux.HandleFunc("/v1/topics", methods(map[string]http.HandlerFunc{"GET": s.listTopics, "POST": s.createTopic}))
	mux.HandleFunc("/v1/topics/{name}", methods(map[string]http.HandlerFunc{"GET": s.describeTopic}))
	mux.HandleFunc("/v1/topics/{name}/records", methods(map[string]http.HandlerFunc{"GET": s.consume, "POST": s.produce}))
	mux.HandleFunc("/v1/groups/{group}/offsets", methods(map[string]http.HandlerFunc{"GET": s.committed, "POST": s.commit}))
	s.mirrorRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func methods(hs map[string]http.HandlerFunc) http.HandlerFunc {
	allow := ""
	for _, m := range []string{"GET", "POST"} {
		if hs[m] != nil {
			if allow != "" {
				allow += ", "
			}
			allow += m
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		h := hs[r.Method]
		if h == nil && r.Method == http.MethodHead {
			h = hs["GET"]
		}
		if h == nil {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; use %s", r.Method, r.URL.Path, allow))
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorResponse{Error: msg})
}

// fail answers err with the status its kind calls for.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *requestError
	var oe *topics.OutOfRangeError
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &re):
		status = re.status
	case errors.As(err, &oe):
		writeJSON(w, http.StatusRequestedRangeNotSatisfiable, ErrorResponse{Error: err.Error(), LogStartOffset: &oe.Start, LogEndOffset: &oe.End})
		return
	case errors.Is(err, topics.ErrInvalidName), errors.Is(err, topics.ErrNoRecords),
		errors.Is(err, topics.ErrInvalidOffset), errors.Is(err, logstore.ErrTooLarge):
		status = http.StatusBadRequest
	case errors.Is(err, topics.ErrUnknownTopic):
		status = http.StatusNotFound
	case errors.Is(err, topics.ErrTopicExists), errors.Is(err, logstore.ErrEpochRegression),
		errors.Is(err, topics.ErrNotWritable):
		status = http.StatusConflict
	case errors.Is(err, topics.ErrNotAcknowledged):
		status = http.StatusServiceUnavailable
	case errors.Is(err, topics.ErrClosed), errors.Is(err, logstore.ErrClosed):
		status = http.StatusServiceUnavailable
	case s.base.Err() != nil:
		status, err = http.StatusServiceUnavailable, errors.New("the topic API is shutting down")
	case r.Context().Err() != nil:
		// The client is gone; nobody reads this.
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, err.Error())
}

func topicJSON(t topics.TopicInfo) Topic {
	return Topic{
		Name: t.Name, Role: string(t.Role),
		LogStartOffset: t.LogStartOffset, LogEndOffset: t.LogEndOffset,
		SizeBytes: t.SizeBytes, Segments: t.Segments, Epoch: t.Epoch, Groups: t.Groups,
	}
}

func (s *Server) createTopic(w http.ResponseWriter, r *http.Request) {
	var req CreateTopicRequest
	if err := decodeJSON(r.Body, maxSmallBody, "create topic", &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Create(req.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	info, err := s.st.Describe(req.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, topicJSON(info))
}

func (s *Server) listTopics(w http.ResponseWriter, r *http.Request) {
	list := TopicList{Topics: []Topic{}}
	for _, t := range s.st.List() {
		list.Topics = append(list.Topics, topicJSON(t))
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) describeTopic(w http.ResponseWriter, r *http.Request) {
	info, err := s.st.Describe(r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, topicJSON(info))
}

func (s *Server) produce(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	// Unknown topics are refused before reading a large body.
	if _, err := s.st.Describe(name); err != nil {
		s.fail(w, r, err)
		return
	}
	decode := DecodeProduce
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) == ContentTypeRecords {
		decode = DecodeProduceBinary
	}
	values, err := decode(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base, err := s.st.Produce(r.Context(), name, values)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ProduceResponse{BaseOffset: base, Count: len(values)})
}

// intParam parses query parameter key as an int64 (def when absent).
func intParam(r *http.Request, key string, def int64) (int64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badRequest("query parameter %s=%q is not an integer", key, v)
	}
	return n, nil
}

func (s *Server) consume(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("offset") == "" {
		s.fail(w, r, badRequest("query parameter offset is required"))
		return
	}
	offset, err := intParam(r, "offset", 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	maxBytes, err := intParam(r, "max_bytes", DefaultMaxBytes)
	if err == nil && maxBytes < 0 {
		err = badRequest("query parameter max_bytes=%d is negative", maxBytes)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	waitMS, err := intParam(r, "wait_ms", 0)
	if err == nil && waitMS < 0 {
		err = badRequest("query parameter wait_ms=%d is negative", waitMS)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wait := min(time.Duration(min(waitMS, int64(MaxWait/time.Millisecond)))*time.Millisecond, MaxWait)
	f, err := s.st.Consume(r.Context(), r.PathValue("name"), offset, int(min(maxBytes, MaxMaxBytes)), wait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := ConsumeResponse{Records: make([]ConsumedRecord, len(f.Records)), NextOffset: f.NextOffset, HighWatermark: f.HighWatermark}
	for i, rec := range f.Records {
		c := ConsumedRecord{Offset: rec.Offset, Timestamp: rec.Timestamp.UTC().Format(TimestampFormat)}
		if utf8.Valid(rec.Value) {
			v := string(rec.Value)
			c.Value = &v
		} else {
			v := base64.StdEncoding.EncodeToString(rec.Value)
			c.ValueB64 = &v
		}
		resp.Records[i] = c
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) commit(w http.ResponseWriter, r *http.Request) {
	var req CommitRequest
	if err := decodeJSON(r.Body, maxSmallBody, "commit offset", &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Topic == "" {
		s.fail(w, r, badRequest("bad commit offset request: topic is required"))
		return
	}
	if err := s.st.Commit(r.PathValue("group"), req.Topic, req.Offset); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) committed(w http.ResponseWriter, r *http.Request) {
	group, topic := r.PathValue("group"), r.URL.Query().Get("topic")
	if topic == "" {
		s.fail(w, r, badRequest("query parameter topic is required"))
		return
	}
	o, ok := s.st.Committed(group, topic)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("consumer group %q has no committed offset for topic %q", group, topic))
		return
	}
	writeJSON(w, http.StatusOK, OffsetResponse{Offset: o})
}
