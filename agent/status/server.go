package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Provider is what the server publishes. Both methods are called from the
// server's goroutines and must be safe for concurrent use.
type Provider interface {
	Status(ctx context.Context) (*Status, error)
	ResetCounters(ctx context.Context) error
}

// Pinger is implemented by providers that can ping a peer through the
// message API.
type Pinger interface {
	Ping(ctx context.Context, req PingRequest) (*PingResult, error)
}

// Paths served on the socket.
const (
	PathStatus = "/v1/status"
	PathReset  = "/v1/counters/reset"
	PathPing   = "/v1/ping"
	// PathPingCluster runs ping-cluster (ClusterPinger).
	PathPingCluster = "/v1/ping-cluster"
	// PathHistory is the failover decision history (HistoryReader).
	PathHistory = "/v1/failover/history"
)

// HistoryReader is implemented by providers with a failover history: it
// returns the records (JSON-encodable), oldest first, and how many torn
// or unreadable lines were skipped.
type HistoryReader interface {
	History(ctx context.Context) (records any, skipped int, err error)
}

// HistoryReply is the answer on PathHistory.
type HistoryReply struct {
	Records json.RawMessage `json:"records"`
	Skipped int             `json:"skipped,omitempty"`
}

// Server serves the status document over HTTP on a unix socket.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	path string
}

// Listen creates the unix socket at path (mode 0660, parent directory
// created 0755) and returns a server ready to Serve. A stale socket left by
// a dead agent is replaced; a live one is an error, so two agents never
// share a socket.
func Listen(path string, p Provider, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		c, derr := net.DialTimeout("unix", path, time.Second)
		if derr == nil {
			c.Close()
			return nil, fmt.Errorf("status socket %s: another agent is listening on it", path)
		}
		if !errors.Is(derr, syscall.ECONNREFUSED) && !errors.Is(derr, syscall.ENOENT) {
			return nil, fmt.Errorf("status socket %s: %w", path, derr)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("status socket %s: removing stale socket: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathStatus, func(w http.ResponseWriter, r *http.Request) {
		st, err := p.Status(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
	mux.HandleFunc("POST "+PathReset, func(w http.ResponseWriter, r *http.Request) {
		if err := p.ResetCounters(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if pinger, ok := p.(Pinger); ok {
		mux.HandleFunc("POST "+PathPing, func(w http.ResponseWriter, r *http.Request) {
			var req PingRequest
			if !decodeRequest(w, r, "ping", &req) {
				return
			}
			res, err := pinger.Ping(r.Context(), req)
			reply(w, res, err)
		})
	}
	if cp, ok := p.(ClusterPinger); ok {
		mux.HandleFunc("POST "+PathPingCluster, func(w http.ResponseWriter, r *http.Request) {
			var req PingClusterRequest
			if !decodeRequest(w, r, "ping-cluster", &req) {
				return
			}
			res, err := cp.PingCluster(r.Context(), req)
			reply(w, res, err)
		})
	}
	if hr, ok := p.(HistoryReader); ok {
		mux.HandleFunc("GET "+PathHistory, func(w http.ResponseWriter, r *http.Request) {
			recs, skipped, err := hr.History(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			b, err := json.Marshal(recs)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(HistoryReply{Records: b, Skipped: skipped})
		})
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      10 * time.Minute, // a long ping
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return &Server{ln: ln, srv: srv, path: path}, nil
}

// decodeRequest reads a JSON request body into v; on failure it answers
// 400 and returns false. Unknown fields are refused, so a client newer
// than the agent learns that its request is not understood.
func decodeRequest(w http.ResponseWriter, r *http.Request, what string, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		http.Error(w, "bad "+what+" request: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// reply answers res as JSON, or the error: 400 for a RequestError, else
// 503.
func reply(w http.ResponseWriter, res any, err error) {
	switch {
	case IsBadRequest(err):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// Close closes a server that will not be served, and removes its socket.
func (s *Server) Close() {
	s.ln.Close()
	os.Remove(s.path)
}

// Serve serves until ctx is done, then shuts down and removes the socket.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		os.Remove(s.path)
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(sctx)
		<-errc
		os.Remove(s.path)
		return nil
	}
}
