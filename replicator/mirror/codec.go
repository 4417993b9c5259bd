package mirror

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Wire layout, version 1, big-endian. Every message:
//
//	off len field
//	0   2   magic "TM"
//	2   1   version (1)
//	3   1   kind (1 fetch request, 2 fetch response)
//	4   4   body length: exactly the bytes that follow
//
// Fetch request body:
//
//	8   session id      uint64
//	8   correlation id  uint64
//	1   topic length (1..255), then the topic
//	8   fetch offset (the mirror's log end)
//	1   has last epoch (0 or 1; 0 for an empty mirror log)
//	4   last fetched epoch (0 when absent)
//	4   max bytes
//
// Fetch response body:
//
//	8   session id, 8 correlation id (echoed)
//	2   error code
//	8   high watermark (the primary's durable end)
//	8   log start offset
//	8   log end offset
//	1   has diverging epoch (0 or 1)
//	4   diverging epoch (NoEpoch: the primary has no epoch to offer)
//	8   diverging end offset
//	1   has group offsets (0 or 1: 0 means "not synced in this response",
//	    distinct from "no groups")
//	4   group count, then per group: 1 name length (1..255), name, 8 offset
//	4   batches length, then the raw batches, unchanged from the log
//
// Group offsets ride in the response rather than a message of their own:
// the primary reads them next to the high watermark they pair with, the
// mirror caps them at its log end right after appending, and the transport
// needs one exchange, not two. The caller decides how often to fill them in
// (Cluster Linking syncs them every few seconds, not on every fetch).
const (
	magic0, magic1 = 'T', 'M'
	Version        = 1
	headerSize     = 8

	kindFetchRequest  = 1
	kindFetchResponse = 2

	// MaxMessage bounds a decoded message; it leaves room for a fetch of
	// logstore.DefaultMaxSize batches plus group offsets.
	MaxMessage = 64 << 20
)

// NoEpoch in a diverging epoch means the primary has no epoch at or below
// the mirror's (an empty log); the mirror then truncates to the end offset.
const NoEpoch = math.MaxUint32

// ErrorCode is a fetch response's outcome.
type ErrorCode uint16

// Error codes.
const (
	ErrNone             ErrorCode = 0
	ErrOffsetOutOfRange ErrorCode = 1 // fetch offset outside [log start, log end]
	ErrUnknownTopic     ErrorCode = 2
	ErrNotPrimary       ErrorCode = 3 // the node asked is not the topic's primary
	ErrStorage          ErrorCode = 4 // the primary failed to read its log
)

func (c ErrorCode) String() string {
	switch c {
	case ErrNone:
		return "NONE"
	case ErrOffsetOutOfRange:
		return "OFFSET_OUT_OF_RANGE"
	case ErrUnknownTopic:
		return "UNKNOWN_TOPIC"
	case ErrNotPrimary:
		return "NOT_PRIMARY"
	case ErrStorage:
		return "STORAGE_ERROR"
	}
	return fmt.Sprintf("ERROR_%d", uint16(c))
}

// FetchRequest asks the primary for batches from FetchOffset.
type FetchRequest struct {
	Session      uint64
	Correlation  uint64
	Topic        string
	FetchOffset  uint64
	HasLastEpoch bool
	LastEpoch    uint32
	MaxBytes     uint32
}

// DivergingEpoch tells the mirror its last epoch or offset is not on the
// primary's log: the primary's largest epoch <= the mirror's and its end.
type DivergingEpoch struct {
	Epoch     uint32
	EndOffset uint64
}

// FetchResponse answers a FetchRequest.
type FetchResponse struct {
	Session        uint64
	Correlation    uint64
	Error          ErrorCode
	HighWatermark  uint64
	LogStartOffset uint64
	LogEndOffset   uint64
	Diverging      *DivergingEpoch
	GroupOffsets   map[string]int64 // nil: not synced in this response
	Batches        []byte           // whole raw batches; aliases the decoded input
}

// Decode errors; test with errors.Is.
var (
	ErrTruncatedMessage = errors.New("mirror: message truncated")
	ErrBadMagic         = errors.New("mirror: not a mirror message")
	ErrBadVersion       = errors.New("mirror: unsupported version")
	ErrBadKind          = errors.New("mirror: unexpected message kind")
	ErrBadField         = errors.New("mirror: bad field")
	ErrTooLong          = errors.New("mirror: message too long")
)

func appendHeader(b []byte, kind byte) []byte {
	return append(b, magic0, magic1, Version, kind, 0, 0, 0, 0)
}

func finish(b []byte) ([]byte, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLong, len(b))
	}
	binary.BigEndian.PutUint32(b[4:], uint32(len(b)-headerSize))
	return b, nil
}

func appendName(b []byte, what, s string) ([]byte, error) {
	if len(s) == 0 || len(s) > 255 {
		return nil, fmt.Errorf("%w: %s length %d, want 1..255", ErrBadField, what, len(s))
	}
	return append(append(b, byte(len(s))), s...), nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// Encode marshals the request.
func (r FetchRequest) Encode() ([]byte, error) {
	b := appendHeader(make([]byte, 0, 64+len(r.Topic)), kindFetchRequest)
	b = binary.BigEndian.AppendUint64(b, r.Session)
	b = binary.BigEndian.AppendUint64(b, r.Correlation)
	b, err := appendName(b, "topic", r.Topic)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint64(b, r.FetchOffset)
	b = append(b, boolByte(r.HasLastEpoch))
	epoch := r.LastEpoch
	if !r.HasLastEpoch {
		epoch = 0
	}
	b = binary.BigEndian.AppendUint32(b, epoch)
	b = binary.BigEndian.AppendUint32(b, r.MaxBytes)
	return finish(b)
}

// Encode marshals the response. Group names are written in map order; the
// decoder does not depend on it.
func (r FetchResponse) Encode() ([]byte, error) {
	size := 96 + len(r.Batches)
	for g := range r.GroupOffsets {
		size += 9 + len(g)
	}
	if size > MaxMessage {
		return nil, fmt.Errorf("%w: about %d bytes", ErrTooLong, size)
	}
	b := appendHeader(make([]byte, 0, size), kindFetchResponse)
	b = binary.BigEndian.AppendUint64(b, r.Session)
	b = binary.BigEndian.AppendUint64(b, r.Correlation)
	b = binary.BigEndian.AppendUint16(b, uint16(r.Error))
	b = binary.BigEndian.AppendUint64(b, r.HighWatermark)
	b = binary.BigEndian.AppendUint64(b, r.LogStartOffset)
	b = binary.BigEndian.AppendUint64(b, r.LogEndOffset)
	var d DivergingEpoch
	if r.Diverging != nil {
		d = *r.Diverging
	}
	b = append(b, boolByte(r.Diverging != nil))
	b = binary.BigEndian.AppendUint32(b, d.Epoch)
	b = binary.BigEndian.AppendUint64(b, d.EndOffset)
	b = append(b, boolByte(r.GroupOffsets != nil))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.GroupOffsets)))
	for g, off := range r.GroupOffsets {
		if off < 0 {
			return nil, fmt.Errorf("%w: group %q offset %d", ErrBadField, g, off)
		}
		var err error
		if b, err = appendName(b, "group", g); err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint64(b, uint64(off))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Batches)))
	b = append(b, r.Batches...)
	return finish(b)
}

// reader consumes a body; the first short read sticks as err.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: need %d bytes, have %d", ErrTruncatedMessage, n, len(r.b))
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() byte {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) flag(what string) bool {
	v := r.u8()
	if r.err == nil && v > 1 {
		r.err = fmt.Errorf("%w: %s flag %d", ErrBadField, what, v)
	}
	return v == 1
}

func (r *reader) name(what string) string {
	n := int(r.u8())
	if r.err == nil && n == 0 {
		r.err = fmt.Errorf("%w: empty %s", ErrBadField, what)
	}
	return string(r.take(n))
}

// body checks the header and returns the body of exactly the stated length.
func body(msg []byte, kind byte) (*reader, error) {
	if len(msg) < headerSize {
		return nil, fmt.Errorf("%w: %d header bytes", ErrTruncatedMessage, len(msg))
	}
	if msg[0] != magic0 || msg[1] != magic1 {
		return nil, ErrBadMagic
	}
	if msg[2] != Version {
		return nil, fmt.Errorf("%w: %d", ErrBadVersion, msg[2])
	}
	if msg[3] != kind {
		return nil, fmt.Errorf("%w: %d, want %d", ErrBadKind, msg[3], kind)
	}
	if len(msg) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLong, len(msg))
	}
	if n := binary.BigEndian.Uint32(msg[4:]); uint64(n) != uint64(len(msg)-headerSize) {
		return nil, fmt.Errorf("%w: body length %d, have %d bytes", ErrTruncatedMessage, n, len(msg)-headerSize)
	}
	return &reader{b: msg[headerSize:]}, nil
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes after the last field", ErrBadField, len(r.b))
	}
	return r.err
}

// DecodeFetchRequest parses a request; any malformed input is an error.
func DecodeFetchRequest(msg []byte) (FetchRequest, error) {
	r, err := body(msg, kindFetchRequest)
	if err != nil {
		return FetchRequest{}, err
	}
	q := FetchRequest{Session: r.u64(), Correlation: r.u64(), Topic: r.name("topic")}
	q.FetchOffset = r.u64()
	q.HasLastEpoch = r.flag("last epoch")
	q.LastEpoch = r.u32()
	q.MaxBytes = r.u32()
	if err := r.end(); err != nil {
		return FetchRequest{}, err
	}
	if !q.HasLastEpoch && q.LastEpoch != 0 {
		return FetchRequest{}, fmt.Errorf("%w: last epoch %d without its flag", ErrBadField, q.LastEpoch)
	}
	return q, nil
}

// DecodeFetchResponse parses a response; Batches aliases msg. The batches
// themselves are checked (CRC, offsets) by the Fetcher, not here.
func DecodeFetchResponse(msg []byte) (FetchResponse, error) {
	r, err := body(msg, kindFetchResponse)
	if err != nil {
		return FetchResponse{}, err
	}
	p := FetchResponse{Session: r.u64(), Correlation: r.u64(), Error: ErrorCode(r.u16())}
	p.HighWatermark, p.LogStartOffset, p.LogEndOffset = r.u64(), r.u64(), r.u64()
	hasDiv := r.flag("diverging epoch")
	d := DivergingEpoch{Epoch: r.u32(), EndOffset: r.u64()}
	if hasDiv {
		p.Diverging = &d
	} else if r.err == nil && d != (DivergingEpoch{}) {
		return FetchResponse{}, fmt.Errorf("%w: diverging epoch without its flag", ErrBadField)
	}
	hasGroups := r.flag("group offsets")
	n := r.u32()
	// Each entry takes at least 10 bytes: bound the map before allocating.
	if r.err == nil && uint64(n)*10 > uint64(len(r.b)) {
		return FetchResponse{}, fmt.Errorf("%w: %d groups in %d bytes", ErrTruncatedMessage, n, len(r.b))
	}
	if r.err == nil && !hasGroups && n != 0 {
		return FetchResponse{}, fmt.Errorf("%w: %d groups without their flag", ErrBadField, n)
	}
	if hasGroups {
		p.GroupOffsets = make(map[string]int64, n)
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		g := r.name("group")
		off := r.u64()
		if r.err != nil {
			break
		}
		if off > math.MaxInt64 {
			return FetchResponse{}, fmt.Errorf("%w: group %q offset %d", ErrBadField, g, off)
		}
		if _, dup := p.GroupOffsets[g]; dup {
			return FetchResponse{}, fmt.Errorf("%w: group %q twice", ErrBadField, g)
		}
		p.GroupOffsets[g] = int64(off)
	}
	p.Batches = r.take(int(r.u32()))
	if err := r.end(); err != nil {
		return FetchResponse{}, err
	}
	if len(p.Batches) == 0 {
		p.Batches = nil
	}
	return p, nil
}
