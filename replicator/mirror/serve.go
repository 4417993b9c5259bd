package mirror

import (
	"encoding/binary"
	"errors"

	"github.com/tether-ha/tether/replicator/logstore"
)

// DefaultMaxBytes is used when a request asks for 0 bytes.
const DefaultMaxBytes = 1 << 20

// Serve answers a mirror's fetch from the primary's log, as a Kafka leader
// answers a follower (KIP-101/279, with the diverging epoch of KIP-595's
// fetch): first the epoch check, then the offset range, then batches up to
// MaxBytes and never past the high watermark, so a mirror only ever holds
// what is durable on the primary. The caller fills in GroupOffsets when it
// wants them synced; Server's Lookup answers ErrUnknownTopic / ErrNotPrimary.
//
// The log's offsets are read one call at a time; a concurrent append only
// makes the answer slightly stale, which the next fetch corrects.
func Serve(log *logstore.Log, req FetchRequest) FetchResponse {
	resp := FetchResponse{
		Session:        req.Session,
		Correlation:    req.Correlation,
		HighWatermark:  log.DurableOffset(),
		LogStartOffset: log.LogStartOffset(),
		LogEndOffset:   log.LogEndOffset(),
	}
	if req.HasLastEpoch {
		if d := diverging(log, req, resp.LogEndOffset); d != nil {
			resp.Diverging = d
			return resp
		}
	}
	if req.FetchOffset < resp.LogStartOffset || req.FetchOffset > resp.LogEndOffset {
		resp.Error = ErrOffsetOutOfRange
		return resp
	}
	if req.FetchOffset >= resp.HighWatermark {
		return resp
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	raw, err := log.Read(req.FetchOffset, maxBytes)
	if err != nil {
		resp.Error = ErrStorage
		if errors.Is(err, logstore.ErrOffsetOutOfRange) {
			resp.Error = ErrOffsetOutOfRange
		}
		return resp
	}
	resp.Batches = belowWatermark(raw, resp.HighWatermark)
	return resp
}

// diverging is nil when the mirror's last epoch ends on the primary at or
// after the fetch offset; otherwise the point the mirror must go back to.
func diverging(log *logstore.Log, req FetchRequest, logEnd uint64) *DivergingEpoch {
	epoch, end, ok := log.EndOffsetFor(req.LastEpoch)
	if !ok {
		// The mirror's epoch is newer than all of ours (or we are empty):
		// our latest epoch, which ends at our log end, is the floor.
		latest, has := log.LatestEpoch()
		if !has {
			return &DivergingEpoch{Epoch: NoEpoch, EndOffset: logEnd}
		}
		return &DivergingEpoch{Epoch: latest, EndOffset: logEnd}
	}
	// A lower epoch means we never had the mirror's epoch: its batches of
	// that epoch are not ours even if the offsets would fit.
	if end < req.FetchOffset || epoch != req.LastEpoch {
		return &DivergingEpoch{Epoch: epoch, EndOffset: end}
	}
	return nil
}

// belowWatermark keeps the leading whole batches that end at or below hw.
// Read returns only batches it validated on disk, so headers are trusted.
func belowWatermark(raw []byte, hw uint64) []byte {
	pos := 0
	for pos+logstore.HeaderSize <= len(raw) {
		size, err := logstore.BatchSize(raw[pos:], len(raw)-pos)
		if err != nil {
			break
		}
		base := binary.BigEndian.Uint64(raw[pos:])
		count := uint64(binary.BigEndian.Uint32(raw[pos+20:]))
		if base+count > hw {
			break
		}
		pos += size
	}
	if pos == 0 {
		return nil
	}
	return raw[:pos:pos]
}
