package topicapi

// Wire types of the API.

type CreateTopicRequest struct {
	Name string `json:"name"`
}

type Topic struct {
	Name           string           `json:"name"`
	Role           string           `json:"role"`
	LogStartOffset int64            `json:"log_start_offset"`
	LogEndOffset   int64            `json:"log_end_offset"`
	SizeBytes      int64            `json:"size_bytes"`
	Segments       int              `json:"segments"`
	Epoch          uint32           `json:"epoch"`
	Groups         map[string]int64 `json:"consumer_groups"` // committed offset by group
}

type TopicList struct {
	Topics []Topic `json:"topics"`
}

// ProduceRecord carries exactly one of Value (text) and ValueB64 (any bytes).
type ProduceRecord struct {
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"`
}

type ProduceRequest struct {
	Records []ProduceRecord `json:"records"`
}

type ProduceResponse struct {
	BaseOffset int64 `json:"base_offset"`
	Count      int   `json:"count"`
}

// ConsumedRecord has Value when the bytes are valid UTF-8, else ValueB64.
type ConsumedRecord struct {
	Offset    int64   `json:"offset"`
	Timestamp string  `json:"timestamp"` // RFC 3339, milliseconds, UTC
	Value     *string `json:"value,omitempty"`
	ValueB64  *string `json:"value_b64,omitempty"`
}

type ConsumeResponse struct {
	Records       []ConsumedRecord `json:"records"`
	NextOffset    int64            `json:"next_offset"`
	HighWatermark int64            `json:"high_watermark"`
}

type CommitRequest struct {
	Topic  string `json:"topic"`
	Offset int64  `json:"offset"`
}

type OffsetResponse struct {
	Offset int64 `json:"offset"`
}

// ErrorResponse is every error's body.
type ErrorResponse struct {
	Error          string `json:"error"`
	LogStartOffset *int64 `json:"log_start_offset,omitempty"` // with 416
	LogEndOffset   *int64 `json:"log_end_offset,omitempty"`   // with 416
}

// TimestampFormat is RFC 3339 with milliseconds.
const TimestampFormat = "2006-01-02T15:04:05.000Z07:00"
