package topicapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/topics"
)

// serve starts a server on 127.0.0.1:0 over a fresh store.
func serve(t *testing.T) (*Client, string) {
	t.Helper()
	st, err := topics.Open(t.TempDir(), topics.Options{Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("127.0.0.1:0", st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		st.Close()
	})
	base := "http://" + srv.Addr().String()
	return NewClient(base), base
}

// raw sends a request and returns status and decoded error text.
func raw(t *testing.T, method, url, body string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var er ErrorResponse
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &er); err != nil || er.Error == "" {
			t.Fatalf("%s %s: %d body %q is not a JSON error", method, url, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, er.Error, data
}

func TestEndpoints(t *testing.T) {
	c, base := serve(t)
	ctx := context.Background()

	tp, err := c.CreateTopic(ctx, "orders")
	if err != nil || tp.Name != "orders" || tp.Role != "primary" || tp.LogEndOffset != 0 {
		t.Fatalf("create: %+v %v", tp, err)
	}
	_, err = c.CreateTopic(ctx, "orders")
	if !IsStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := c.CreateTopic(ctx, "../x"); !IsStatus(err, 400) {
		t.Fatalf("bad name: %v", err)
	}
	pr, err := c.Produce(ctx, "orders", [][]byte{[]byte("a"), []byte("b")})
	if err != nil || pr.BaseOffset != 0 || pr.Count != 2 {
		t.Fatalf("produce: %+v %v", pr, err)
	}
	bin := []byte{0xff, 0x00, 0xfe, 'x'}
	if pr, err = c.Produce(ctx, "orders", [][]byte{bin, {}}); err != nil || pr.BaseOffset != 2 {
		t.Fatalf("produce binary: %+v %v", pr, err)
	}
	f, err := c.Consume(ctx, "orders", 0, 0, 0)
	if err != nil || len(f.Records) != 4 || f.NextOffset != 4 || f.HighWatermark != 4 {
		t.Fatalf("consume: %+v %v", f, err)
	}
	if string(f.Records[1].Value) != "b" || !bytes.Equal(f.Records[2].Value, bin) || len(f.Records[3].Value) != 0 || f.Records[2].Offset != 2 {
		t.Fatalf("values: %+v", f.Records)
	}
	if d := time.Since(f.Records[0].Timestamp); d < 0 || d > time.Minute {
		t.Fatalf("timestamp %v", f.Records[0].Timestamp)
	}
	// The wire form: text as value, binary as value_b64, RFC 3339 ms.
	_, _, body := raw(t, "GET", base+"/v1/topics/orders/records?offset=1&max_bytes=1", "")
	var cr ConsumeResponse
	json.Unmarshal(body, &cr)
	if len(cr.Records) != 1 || *cr.Records[0].Value != "b" || cr.Records[0].ValueB64 != nil || len(cr.Records[0].Timestamp) != len("2006-01-02T15:04:05.000Z") {
		t.Fatalf("wire: %s", body)
	}
	_, _, body = raw(t, "GET", base+"/v1/topics/orders/records?offset=2&max_bytes=1", "")
	if !strings.Contains(string(body), `"value_b64":"/wD+eA=="`) {
		t.Fatalf("wire b64: %s", body)
	}

	_, err = c.Consume(ctx, "orders", 9, 0, 0)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 416 || ae.LogStart != 0 || ae.LogEnd != 4 || !strings.Contains(ae.Message, "out of range") {
		t.Fatalf("out of range: %v", err)
	}
	if _, err := c.Consume(ctx, "nope", 0, 0, 0); !IsStatus(err, 404) {
		t.Fatalf("consume unknown: %v", err)
	}
	if _, err := c.Produce(ctx, "nope", [][]byte{[]byte("x")}); !IsStatus(err, 404) {
		t.Fatalf("produce unknown: %v", err)
	}
	if _, err := c.Produce(ctx, "orders", nil); !IsStatus(err, 400) || !strings.Contains(err.Error(), "no records") {
		t.Fatalf("produce empty: %v", err)
	}
	big := make([]byte, MaxProduceBytes/2+1)
	if _, err := c.Produce(ctx, "orders", [][]byte{big, big}); !IsStatus(err, 400) || !strings.Contains(err.Error(), "exceed") {
		t.Fatalf("produce too large: %v", err)
	}

	c.CreateTopic(ctx, "b")
	list, err := c.ListTopics(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "b" || list[1].Name != "orders" || list[1].LogEndOffset != 4 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := c.DescribeTopic(ctx, "nope"); !IsStatus(err, 404) {
		t.Fatalf("describe unknown: %v", err)
	}

	if _, err := c.Committed(ctx, "g", "orders"); !IsStatus(err, 404) {
		t.Fatalf("committed before commit: %v", err)
	}
	if err := c.Commit(ctx, "g", "orders", 3); err != nil {
		t.Fatal(err)
	}
	if o, err := c.Committed(ctx, "g", "orders"); err != nil || o != 3 {
		t.Fatalf("committed: %d %v", o, err)
	}
	if err := c.Commit(ctx, "g", "orders", 5); !IsStatus(err, 400) {
		t.Fatalf("commit past end: %v", err)
	}
	if err := c.Commit(ctx, "g", "nope", 0); !IsStatus(err, 404) {
		t.Fatalf("commit unknown topic: %v", err)
	}
	if err := c.Commit(ctx, "g", "", 0); !IsStatus(err, 400) {
		t.Fatalf("commit no topic: %v", err)
	}
	if tp, err := c.DescribeTopic(ctx, "orders"); err != nil || tp.Groups["g"] != 3 || tp.Segments != 1 || tp.Epoch != 1 {
		t.Fatalf("describe: %+v %v", tp, err)
	}
}

func TestErrorStatuses(t *testing.T) {
	c, base := serve(t)
	c.CreateTopic(context.Background(), "t")
	for _, tc := range []struct {
		method, path, body string
		status             int
		text               string
	}{
		{"POST", "/v1/topics", `{"name": "x", "extra": 1}`, 400, "unknown field"},
		{"POST", "/v1/topics", `{"name": `, 400, "bad create topic request"},
		{"POST", "/v1/topics", ``, 400, "empty"},
		{"POST", "/v1/topics", `{"name": "x"} {}`, 400, "data after"},
		{"POST", "/v1/topics", `{"name": "t"}`, 409, "already exists"},
		{"POST", "/v1/topics/t/records", `{"records": [{"value": "a", "value_b64": "YQ=="}]}`, 400, "exactly one"},
		{"POST", "/v1/topics/t/records", `{"records": [{}]}`, 400, "exactly one"},
		{"POST", "/v1/topics/t/records", `{"records": [{"value_b64": "!!"}]}`, 400, "base64"},
		{"POST", "/v1/topics/t/records", `{"records": [], "x": 1}`, 400, "unknown field"},
		{"POST", "/v1/topics/t/records", `[1]`, 400, "bad produce request"},
		{"GET", "/v1/topics/t/records", ``, 400, "offset is required"},
		{"GET", "/v1/topics/t/records?offset=x", ``, 400, "not an integer"},
		{"GET", "/v1/topics/t/records?offset=0&max_bytes=-1", ``, 400, "negative"},
		{"GET", "/v1/topics/t/records?offset=0&wait_ms=-1", ``, 400, "negative"},
		{"GET", "/v1/topics/t/records?offset=-1", ``, 416, "out of range"},
		{"GET", "/v1/topics/zz", ``, 404, "no such topic"},
		{"GET", "/v1/groups/g/offsets", ``, 400, "topic is required"},
		{"GET", "/v1/groups/g/offsets?topic=t", ``, 404, "no committed offset"},
		{"POST", "/v1/groups/g/offsets", `{"topic": "t", "offset": 0, "x": 0}`, 400, "unknown field"},
		{"POST", "/v1/groups/b%2Fad/offsets", `{"topic": "t", "offset": 0}`, 400, "consumer group name"},
		{"DELETE", "/v1/topics/t", ``, 405, "not allowed"},
		{"GET", "/v2/nothing", ``, 404, "no such endpoint"},
	} {
		status, msg, _ := raw(t, tc.method, base+tc.path, tc.body)
		if status != tc.status || !strings.Contains(msg, tc.text) {
			t.Errorf("%s %s %s: %d %q, want %d %q", tc.method, tc.path, tc.body, status, msg, tc.status, tc.text)
		}
	}
	status, msg, _ := raw(t, "POST", base+"/v1/topics", `{"name": "`+strings.Repeat("x", maxSmallBody)+`"}`)
	if status != 400 || !strings.Contains(msg, "exceeds") {
		t.Errorf("large body: %d %q", status, msg)
	}
}

func TestLongPollHTTP(t *testing.T) {
	c, _ := serve(t)
	ctx := context.Background()
	c.CreateTopic(ctx, "t")

	t0 := time.Now()
	f, err := c.Consume(ctx, "t", 0, 0, 100*time.Millisecond)
	if err != nil || len(f.Records) != 0 || f.NextOffset != 0 || time.Since(t0) < 100*time.Millisecond {
		t.Fatalf("timeout: %+v %v %v", f, err, time.Since(t0))
	}
	got := make(chan Fetch, 1)
	go func() {
		f, err := c.Consume(ctx, "t", 0, 0, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- f
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Produce(ctx, "t", [][]byte{[]byte("hi")}); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-got:
		if len(f.Records) != 1 || string(f.Records[0].Value) != "hi" {
			t.Fatalf("woken: %+v", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long-poll not woken")
	}
}

func TestShutdownEndsLongPoll(t *testing.T) {
	st, _ := topics.Open(t.TempDir(), topics.Options{})
	defer st.Close()
	st.Create("t")
	srv, err := Listen("127.0.0.1:0", st)
	if err != nil {
		t.Fatal(err)
	}
	// A taken address is an error naming it.
	if _, err := Listen(srv.Addr().String(), st); err == nil || !strings.Contains(err.Error(), srv.Addr().String()) {
		t.Fatalf("taken address: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	c := NewClient(srv.Addr().String())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Consume(context.Background(), "t", 0, 0, 25*time.Second)
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if err := <-errc; !IsStatus(err, 503) && !errors.Is(err, ErrUnreachable) {
		t.Fatalf("long-poll at shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", srv.Addr().String()); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

// Both produce bodies reach the same log: the binary one (the client's)
// and JSON (curl's); a binary body that lies about a length is a 400.
func TestProduceBodies(t *testing.T) {
	c, _ := serve(t)
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	bin := []byte{0, 0xff, 'x'}
	if r, err := c.Produce(ctx, "b", [][]byte{[]byte("text"), bin}); err != nil || r.BaseOffset != 0 || r.Count != 2 {
		t.Fatalf("binary produce: %+v %v", r, err)
	}
	if r, err := c.ProduceJSON(ctx, "b", [][]byte{[]byte("json"), bin}); err != nil || r.BaseOffset != 2 {
		t.Fatalf("JSON produce: %+v %v", r, err)
	}
	f, err := c.Consume(ctx, "b", 0, 0, 0)
	if err != nil || len(f.Records) != 4 || string(f.Records[0].Value) != "text" || !bytes.Equal(f.Records[1].Value, bin) ||
		string(f.Records[2].Value) != "json" || !bytes.Equal(f.Records[3].Value, bin) {
		t.Fatalf("consumed %+v %v", f.Records, err)
	}
	err = c.send(ctx, http.MethodPost, "/v1/topics/b/records", ContentTypeRecords, []byte{10, 'a'}, nil)
	if !IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("a short record: %v", err)
	}
}
