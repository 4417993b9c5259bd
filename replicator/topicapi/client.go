package topicapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tether-ha/tether/replicator/driver/builtin"
)

// ErrUnreachable wraps every failure to reach the API at all, as opposed
// to an answer that is an error (*APIError).
var ErrUnreachable = errors.New("topic API unreachable")

// APIError is an error answer of the API.
type APIError struct {
	Status  int    // HTTP status
	Message string // the server's sentence
	// With status 416: the topic's valid offsets.
	LogStart, LogEnd int64
}

func (e *APIError) Error() string { return fmt.Sprintf("topic API: %d: %s", e.Status, e.Message) }

// IsStatus reports whether err is an *APIError with that HTTP status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

// Client talks to one node's topic API.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client for the API at baseURL ("http://host:port";
// a bare "host:port" is taken as http).
func NewClient(baseURL string) *Client {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: &http.Client{}}
}

// WithHTTPClient makes c use hc (a dialer in another network namespace,
// timeouts).
func (c *Client) WithHTTPClient(hc *http.Client) *Client {
	c.hc = hc
	return c
}

// Record is a consumed record.
type Record struct {
	Offset    int64
	Timestamp time.Time
	Value     []byte
}

// Fetch is a Consume's answer.
type Fetch struct {
	Records       []Record
	NextOffset    int64
	HighWatermark int64
}

func (c *Client) CreateTopic(ctx context.Context, name string) (Topic, error) {
	var t Topic
	err := c.do(ctx, http.MethodPost, "/v1/topics", CreateTopicRequest{Name: name}, &t)
	return t, err
}

func (c *Client) ListTopics(ctx context.Context) ([]Topic, error) {
	var l TopicList
	err := c.do(ctx, http.MethodGet, "/v1/topics", nil, &l)
	return l.Topics, err
}

func (c *Client) DescribeTopic(ctx context.Context, name string) (Topic, error) {
	var t Topic
	err := c.do(ctx, http.MethodGet, "/v1/topics/"+url.PathEscape(name), nil, &t)
	return t, err
}

// Produce sends values as one batch; text goes as "value", other bytes as
// "value_b64".
func (c *Client) Produce(ctx context.Context, topic string, values [][]byte) (ProduceResponse, error) {
	body, err := EncodeProduceBinary(values)
	if err != nil {
		return ProduceResponse{}, err
	}
	var resp ProduceResponse
	err = c.send(ctx, http.MethodPost, "/v1/topics/"+url.PathEscape(topic)+"/records", ContentTypeRecords, body, &resp)
	return resp, err
}

// ProduceJSON produces values with the JSON body (what curl sends); Produce
// uses the binary one.
func (c *Client) ProduceJSON(ctx context.Context, topic string, values [][]byte) (ProduceResponse, error) {
	req := ProduceRequest{Records: make([]ProduceRecord, len(values))}
	for i, v := range values {
		s := string(v)
		if utf8.ValidString(s) {
			req.Records[i].Value = &s
		} else {
			s = base64.StdEncoding.EncodeToString(v)
			req.Records[i].ValueB64 = &s
		}
	}
	var resp ProduceResponse
	err := c.do(ctx, http.MethodPost, "/v1/topics/"+url.PathEscape(topic)+"/records", req, &resp)
	return resp, err
}

// Consume reads from offset, long-polling up to wait at the log end.
// maxBytes <= 0 takes the server's default.
func (c *Client) Consume(ctx context.Context, topic string, offset int64, maxBytes int, wait time.Duration) (Fetch, error) {
	q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
	if maxBytes > 0 {
		q.Set("max_bytes", strconv.Itoa(maxBytes))
	}
	if wait > 0 {
		q.Set("wait_ms", strconv.FormatInt(wait.Milliseconds(), 10))
	}
	var resp ConsumeResponse
	if err := c.do(ctx, http.MethodGet, "/v1/topics/"+url.PathEscape(topic)+"/records?"+q.Encode(), nil, &resp); err != nil {
		return Fetch{}, err
	}
	f := Fetch{Records: make([]Record, len(resp.Records)), NextOffset: resp.NextOffset, HighWatermark: resp.HighWatermark}
	for i, r := range resp.Records {
		ts, err := time.Parse(time.RFC3339Nano, r.Timestamp)
		if err != nil {
			return Fetch{}, fmt.Errorf("topic API: record %d: bad timestamp %q", r.Offset, r.Timestamp)
		}
		rec := Record{Offset: r.Offset, Timestamp: ts}
		switch {
		case r.Value != nil:
			rec.Value = []byte(*r.Value)
		case r.ValueB64 != nil:
			if rec.Value, err = base64.StdEncoding.DecodeString(*r.ValueB64); err != nil {
				return Fetch{}, fmt.Errorf("topic API: record %d: bad value_b64: %w", r.Offset, err)
			}
		}
		f.Records[i] = rec
	}
	return f, nil
}

// Commit commits group's offset for topic.
func (c *Client) Commit(ctx context.Context, group, topic string, offset int64) error {
	return c.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(group)+"/offsets", CommitRequest{Topic: topic, Offset: offset}, nil)
}

// Committed reads group's committed offset for topic; none is an
// *APIError with status 404.
func (c *Client) Committed(ctx context.Context, group, topic string) (int64, error) {
	var resp OffsetResponse
	err := c.do(ctx, http.MethodGet, "/v1/groups/"+url.PathEscape(group)+"/offsets?"+url.Values{"topic": {topic}}.Encode(), nil, &resp)
	return resp.Offset, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if in == nil {
		return c.send(ctx, method, path, "", nil, out)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.send(ctx, method, path, "application/json", b, out)
}

// send makes one request with body of type ctype (none when ctype is "")
// and decodes a JSON answer into out.
func (c *Client) send(ctx context.Context, method, path, ctype string, b []byte, out any) error {
	var body io.Reader
	if ctype != "" {
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4*MaxMaxBytes))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(data))}
		var er ErrorResponse
		if json.Unmarshal(data, &er) == nil && er.Error != "" {
			ae.Message = er.Error
			if er.LogStartOffset != nil && er.LogEndOffset != nil {
				ae.LogStart, ae.LogEnd = *er.LogStartOffset, *er.LogEndOffset
			}
		}
		return ae
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("topic API %s: bad answer to %s %s: %w", c.base, method, path, err)
	}
	return nil
}

// Mirrors describes every resource of the node.
func (c *Client) Mirrors(ctx context.Context) ([]builtin.ResourceStatus, error) {
	var out []builtin.ResourceStatus
	err := c.do(ctx, http.MethodGet, "/v1/mirrors", nil, &out)
	return out, err
}

// Mirror describes one resource.
func (c *Client) Mirror(ctx context.Context, resource string) (builtin.ResourceStatus, error) {
	var out builtin.ResourceStatus
	err := c.do(ctx, http.MethodGet, "/v1/mirrors/"+url.PathEscape(resource), nil, &out)
	return out, err
}

// PauseMirror pauses topics of resource (all when none is named).
func (c *Client) PauseMirror(ctx context.Context, resource string, topics []string) (builtin.ResourceStatus, error) {
	var out builtin.ResourceStatus
	err := c.do(ctx, http.MethodPost, "/v1/mirrors/"+url.PathEscape(resource)+"/pause", MirrorTopicsRequest{Topics: topics}, &out)
	return out, err
}

// ResumeMirror resumes topics of resource (all when none is named).
func (c *Client) ResumeMirror(ctx context.Context, resource string, topics []string) (builtin.ResourceStatus, error) {
	var out builtin.ResourceStatus
	err := c.do(ctx, http.MethodPost, "/v1/mirrors/"+url.PathEscape(resource)+"/resume", MirrorTopicsRequest{Topics: topics}, &out)
	return out, err
}

// Promote promotes the mirror gracefully (reverse: and makes the old
// primary its mirror); timeout 0 takes the server's default.
func (c *Client) Promote(ctx context.Context, resource string, timeout time.Duration, reverse bool) (builtin.PromoteResult, error) {
	op := "/promote"
	if reverse {
		op = "/reverse-and-start"
	}
	var out builtin.PromoteResult
	err := c.do(ctx, http.MethodPost, "/v1/mirrors/"+url.PathEscape(resource)+op, MirrorTimeoutRequest{TimeoutMs: timeout.Milliseconds()}, &out)
	return out, err
}

// Failover promotes the mirror at once, whatever its lag.
func (c *Client) Failover(ctx context.Context, resource string) (builtin.PromoteResult, error) {
	var out builtin.PromoteResult
	err := c.do(ctx, http.MethodPost, "/v1/mirrors/"+url.PathEscape(resource)+"/failover", nil, &out)
	return out, err
}

// TruncateAndRestore makes a stopped or diverged old primary the mirror.
func (c *Client) TruncateAndRestore(ctx context.Context, resource string, timeout time.Duration) (builtin.RestoreResult, error) {
	var out builtin.RestoreResult
	err := c.do(ctx, http.MethodPost, "/v1/mirrors/"+url.PathEscape(resource)+"/truncate-and-restore", MirrorTimeoutRequest{TimeoutMs: timeout.Milliseconds()}, &out)
	return out, err
}

// AddMirrorTopic adds topic to resource on both of its nodes.
func (c *Client) AddMirrorTopic(ctx context.Context, resource, topic string) (builtin.ResourceStatus, error) {
	var out builtin.ResourceStatus
	err := c.do(ctx, http.MethodPost, "/v1/mirrors/"+url.PathEscape(resource)+"/topics", AddTopicRequest{Topic: topic}, &out)
	return out, err
}
