package topicapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tether-ha/tether/replicator/driver/builtin"
)

// Mirrors is the builtin driver as the API serves it (*builtin.Manager).
type Mirrors interface {
	Status() []builtin.ResourceStatus
	StatusOf(name string) (builtin.ResourceStatus, error)
	Pause(name string, topics []string) error
	Resume(name string, topics []string) error
	Promote(ctx context.Context, name string, timeout time.Duration, reverse bool) (builtin.PromoteResult, error)
	Failover(ctx context.Context, name string) (builtin.PromoteResult, error)
	TruncateAndRestore(ctx context.Context, name, exportDir string, timeout time.Duration) (builtin.RestoreResult, error)
	AddTopic(ctx context.Context, name, topic string) error
}

// Mirror command bodies.
type (
	// MirrorTopicsRequest names topics of a resource (none: all).
	MirrorTopicsRequest struct {
		Topics []string `json:"topics,omitempty"`
	}
	// MirrorTimeoutRequest bounds promote and truncate-and-restore.
	MirrorTimeoutRequest struct {
		TimeoutMs int64 `json:"timeout_ms,omitempty"`
	}
	// AddTopicRequest adds a mirrored topic to a resource.
	AddTopicRequest struct {
		Topic string `json:"topic"`
	}
)

// Default and largest timeouts of promote and truncate-and-restore.
const (
	DefaultMirrorTimeout = 30 * time.Second
	MaxMirrorTimeout     = time.Minute // below the server's write timeout
)

func (s *Server) mirrorRoutes(mux *http.ServeMux) {
	h := func(f func(w http.ResponseWriter, r *http.Request, name string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if s.mirrors == nil {
				writeError(w, http.StatusNotFound, "this node has no resources: add resources to its configuration")
				return
			}
			f(w, r, r.PathValue("resource"))
		}
	}
	mux.HandleFunc("/v1/mirrors", methods(map[string]http.HandlerFunc{"GET": h(func(w http.ResponseWriter, r *http.Request, _ string) {
		writeJSON(w, http.StatusOK, s.mirrors.Status())
	})}))
	mux.HandleFunc("/v1/mirrors/{resource}", methods(map[string]http.HandlerFunc{"GET": h(func(w http.ResponseWriter, r *http.Request, name string) {
		st, err := s.mirrors.StatusOf(name)
		s.answerMirror(w, r, st, err)
	})}))
	for _, op := range []struct {
		path  string
		pause bool
	}{{"pause", true}, {"resume", false}} {
		mux.HandleFunc("/v1/mirrors/{resource}/"+op.path, methods(map[string]http.HandlerFunc{"POST": h(func(w http.ResponseWriter, r *http.Request, name string) {
			var req MirrorTopicsRequest
			if err := decodeJSON(r.Body, maxSmallBody, op.path, &req); err != nil {
				s.fail(w, r, err)
				return
			}
			f := s.mirrors.Resume
			if op.pause {
				f = s.mirrors.Pause
			}
			if err := f(name, req.Topics); err != nil {
				s.answerMirror(w, r, nil, err)
				return
			}
			st, err := s.mirrors.StatusOf(name)
			s.answerMirror(w, r, st, err)
		})}))
	}
	for _, op := range []struct {
		path    string
		reverse bool
	}{{"promote", false}, {"reverse-and-start", true}} {
		mux.HandleFunc("/v1/mirrors/{resource}/"+op.path, methods(map[string]http.HandlerFunc{"POST": h(func(w http.ResponseWriter, r *http.Request, name string) {
			timeout, err := mirrorTimeout(r, op.path)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			res, err := s.mirrors.Promote(r.Context(), name, timeout, op.reverse)
			s.answerMirror(w, r, res, err)
		})}))
	}
	mux.HandleFunc("/v1/mirrors/{resource}/failover", methods(map[string]http.HandlerFunc{"POST": h(func(w http.ResponseWriter, r *http.Request, name string) {
		res, err := s.mirrors.Failover(r.Context(), name)
		s.answerMirror(w, r, res, err)
	})}))
	mux.HandleFunc("/v1/mirrors/{resource}/truncate-and-restore", methods(map[string]http.HandlerFunc{"POST": h(func(w http.ResponseWriter, r *http.Request, name string) {
		timeout, err := mirrorTimeout(r, "truncate-and-restore")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.mirrors.TruncateAndRestore(r.Context(), name, s.exportDir, timeout)
		if err != nil && len(res.Cuts) > 0 {
			// What was cut before the failure is reported with it.
			writeJSON(w, mirrorStatus(err), map[string]any{"error": err.Error(), "cuts": res.Cuts})
			return
		}
		s.answerMirror(w, r, res, err)
	})}))
	mux.HandleFunc("/v1/mirrors/{resource}/topics", methods(map[string]http.HandlerFunc{"POST": h(func(w http.ResponseWriter, r *http.Request, name string) {
		var req AddTopicRequest
		if err := decodeJSON(r.Body, maxSmallBody, "mirror create", &req); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.mirrors.AddTopic(r.Context(), name, req.Topic); err != nil {
			s.answerMirror(w, r, nil, err)
			return
		}
		st, err := s.mirrors.StatusOf(name)
		s.answerMirror(w, r, st, err)
	})}))
}

func mirrorTimeout(r *http.Request, what string) (time.Duration, error) {
	var req MirrorTimeoutRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r.Body, maxSmallBody, what, &req); err != nil {
			return 0, err
		}
	}
	switch {
	case req.TimeoutMs < 0:
		return 0, badRequest("bad %s request: timeout_ms must not be negative", what)
	case req.TimeoutMs == 0:
		return DefaultMirrorTimeout, nil
	}
	return min(time.Duration(req.TimeoutMs)*time.Millisecond, MaxMirrorTimeout), nil
}

// mirrorStatus is the HTTP status of a driver error: a refusal that
// changed nothing is 409, an unreachable peer 503.
func mirrorStatus(err error) int {
	switch {
	case errors.Is(err, builtin.ErrUnknownResource):
		return http.StatusNotFound
	case errors.Is(err, builtin.ErrWrongRole), errors.Is(err, builtin.ErrPaused), errors.Is(err, builtin.ErrLagNotZero):
		return http.StatusConflict
	case errors.Is(err, builtin.ErrUnreachable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) answerMirror(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		writeError(w, mirrorStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}
