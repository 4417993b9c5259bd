package topicapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Limits of requests.
const (
	MaxProduceBytes = 4 << 20 // values of one produce, decoded
	// A produce body may hold MaxProduceBytes as base64 (4/3) or escaped
	// text plus its JSON; beyond this it is refused unread.
	MaxProduceBody = 4 * MaxProduceBytes
	maxSmallBody   = 64 << 10 // every other request
)

// requestError is a refused request: answered 400 (or Status) with its text.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// decodeJSON reads one JSON value from r (at most limit bytes) into v,
// refusing unknown fields and trailing data: a client newer than the
// server learns its request is not understood.
func decodeJSON(r io.Reader, limit int64, what string, v any) error {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	if lr.N <= 0 {
		return badRequest("bad %s request: the body exceeds %d bytes", what, limit)
	}
	if errors.Is(err, io.EOF) {
		return badRequest("bad %s request: the body is empty", what)
	}
	if err != nil {
		return badRequest("bad %s request: %v", what, err)
	}
	return nil
}

// DecodeProduce decodes a produce request body into record values. Every
// error is a *requestError (400).
func DecodeProduce(r io.Reader) ([][]byte, error) {
	var req ProduceRequest
	if err := decodeJSON(r, MaxProduceBody, "produce", &req); err != nil {
		return nil, err
	}
	if len(req.Records) == 0 {
		return nil, badRequest("bad produce request: it has no records")
	}
	values := make([][]byte, len(req.Records))
	total := 0
	for i, rec := range req.Records {
		switch {
		case rec.Value != nil && rec.ValueB64 == nil:
			values[i] = []byte(*rec.Value)
		case rec.ValueB64 != nil && rec.Value == nil:
			v, err := base64.StdEncoding.DecodeString(*rec.ValueB64)
			if err != nil {
				return nil, badRequest("bad produce request: record %d: value_b64 is not valid base64: %v", i, err)
			}
			values[i] = v
		default:
			return nil, badRequest("bad produce request: record %d must have exactly one of value and value_b64", i)
		}
		total += len(values[i])
		if total > MaxProduceBytes {
			return nil, badRequest("bad produce request: the records exceed %d bytes", MaxProduceBytes)
		}
	}
	return values, nil
}
