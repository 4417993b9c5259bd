package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// DefaultSocket is where tetherd serves status unless configured otherwise.
const DefaultSocket = "/run/tether/tether.sock"

// ErrUnreachable wraps every failure to talk to the agent at all (no
// socket, connection refused, timeout), as opposed to an agent that
// answered with an error. tetherstat -b exits 2 on it.
var ErrUnreachable = errors.New("agent unreachable")

// Client reads the status of one agent over its unix socket.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the agent serving on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr}}
}

// Socket returns the socket path the client talks to.
func (c *Client) Socket() string { return c.socket }

// Status fetches the agent's status document.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	body, err := c.do(ctx, http.MethodGet, PathStatus)
	if err != nil {
		return nil, err
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("agent at %s: bad status document: %w", c.socket, err)
	}
	return &st, nil
}

// ResetCounters asks the agent to zero its counters.
func (c *Client) ResetCounters(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, PathReset)
	return err
}

// Ping asks the agent to ping a peer through the message API.
func (c *Client) Ping(ctx context.Context, req PingRequest) (*PingResult, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	body, err := c.doBody(ctx, http.MethodPost, PathPing, b)
	if err != nil {
		return nil, err
	}
	var res PingResult
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("agent at %s: bad ping result: %w", c.socket, err)
	}
	return &res, nil
}

// PingCluster asks the agent to test every path to every peer
// (ping-cluster). It takes about two echo timeouts.
func (c *Client) PingCluster(ctx context.Context, req PingClusterRequest) (*PingClusterResult, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	body, err := c.doBody(ctx, http.MethodPost, PathPingCluster, b)
	if err != nil {
		return nil, err
	}
	var res PingClusterResult
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("agent at %s: bad ping-cluster result: %w", c.socket, err)
	}
	return &res, nil
}

// AgentError is an error answer of an agent that was reached: its HTTP
// status and its message.
type AgentError struct {
	Socket     string
	StatusCode int
	Status     string // "400 Bad Request"
	Message    string // the agent's text, trimmed
}

func (e *AgentError) Error() string {
	return fmt.Sprintf("agent at %s: %s: %s", e.Socket, e.Status, e.Message)
}

// requestTimeout bounds a status read or a counter reset: an agent that
// does not answer in this time is as good as unreachable.
const requestTimeout = 5 * time.Second

func (c *Client) do(ctx context.Context, method, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return c.doBody(ctx, method, path, nil)
}

func (c *Client) doBody(ctx context.Context, method, path string, payload []byte) ([]byte, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://tether"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, c.socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, c.socket, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &AgentError{Socket: c.socket, StatusCode: resp.StatusCode, Status: resp.Status, Message: string(bytes.TrimSpace(body))}
	}
	return body, nil
}

// History fetches the failover decision history.
func (c *Client) History(ctx context.Context) (*HistoryReply, error) {
	b, err := c.do(ctx, http.MethodGet, PathHistory)
	if err != nil {
		return nil, err
	}
	var h HistoryReply
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("agent at %s: bad history: %w", c.socket, err)
	}
	return &h, nil
}
