package mirror

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/logstore"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func openLog(t *testing.T) *logstore.Log {
	t.Helper()
	l, err := logstore.Open(t.TempDir(), logstore.Options{SegmentBytes: 32 << 10, IndexInterval: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// fill appends n records in batches of 1..maxBatch records at epoch and
// syncs, so all of it is below the high watermark.
func fill(t *testing.T, l *logstore.Log, n, maxBatch int, epoch uint32) {
	t.Helper()
	for n > 0 {
		k := min(n, 1+int(l.LogEndOffset()*7%uint64(maxBatch)))
		recs := make([][]byte, k)
		for i := range recs {
			recs[i] = fmt.Appendf(nil, "e%d-rec-%d-%s", epoch, l.LogEndOffset()+uint64(i), bytes.Repeat([]byte{'x'}, i%13))
		}
		if _, err := l.Append(recs, epoch, t0.UnixMilli()+int64(l.LogEndOffset())); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// batches reads every raw batch of l with its base offset.
func batches(t *testing.T, l *logstore.Log) ([]logstore.Batch, [32]byte) {
	t.Helper()
	var out []logstore.Batch
	h := sha256.New()
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		raw, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) == 0 {
			t.Fatalf("empty read at %d", off)
		}
		h.Write(raw)
		for p := raw; len(p) > 0; {
			b, n, err := logstore.DecodeBatch(p, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
			off = b.NextOffset()
			p = p[n:]
		}
	}
	return out, [32]byte(h.Sum(nil))
}

// sameLog fails unless the two logs hold the same batches (bytes, offsets,
// CRCs), the same whole-log checksum and the same epochs.
func sameLog(t *testing.T, want, got *logstore.Log) {
	t.Helper()
	if want.LogEndOffset() != got.LogEndOffset() || want.LogStartOffset() != got.LogStartOffset() {
		t.Fatalf("range: primary [%d, %d), mirror [%d, %d)", want.LogStartOffset(), want.LogEndOffset(), got.LogStartOffset(), got.LogEndOffset())
	}
	wb, wsum := batches(t, want)
	gb, gsum := batches(t, got)
	if len(wb) != len(gb) {
		t.Fatalf("%d batches on the primary, %d on the mirror", len(wb), len(gb))
	}
	for i := range wb {
		if wb[i].BaseOffset != gb[i].BaseOffset || wb[i].CRC != gb[i].CRC || !bytes.Equal(wb[i].Raw, gb[i].Raw) {
			t.Fatalf("batch %d differs: primary base %d crc %08x, mirror base %d crc %08x", i, wb[i].BaseOffset, wb[i].CRC, gb[i].BaseOffset, gb[i].CRC)
		}
	}
	if wsum != gsum {
		t.Fatal("whole-log checksums differ")
	}
	if fmt.Sprint(want.Epochs()) != fmt.Sprint(got.Epochs()) {
		t.Fatalf("epochs: primary %v, mirror %v", want.Epochs(), got.Epochs())
	}
}

// roundTrip sends req to primary and back through the wire codec.
func roundTrip(t *testing.T, primary *logstore.Log, req FetchRequest, groups map[string]int64) FetchResponse {
	t.Helper()
	wreq, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	req2, err := DecodeFetchRequest(wreq)
	if err != nil {
		t.Fatal(err)
	}
	if req2 != req {
		t.Fatalf("request %+v decoded as %+v", req, req2)
	}
	resp := Serve(primary, req2)
	resp.GroupOffsets = groups
	wresp, err := resp.Encode()
	if err != nil {
		t.Fatal(err)
	}
	resp2, err := DecodeFetchResponse(wresp)
	if err != nil {
		t.Fatal(err)
	}
	return resp2
}

type pumpStats struct {
	requests  int
	maxBytes  int // largest Batches seen
	diverging int
}

// pump fetches until an answer brings nothing new.
func pump(t *testing.T, f *Fetcher, primary *logstore.Log, now time.Time) pumpStats {
	t.Helper()
	var st pumpStats
	for range 100000 {
		req, ok := f.Next(now)
		if !ok {
			return st
		}
		st.requests++
		resp := roundTrip(t, primary, req, nil)
		st.maxBytes = max(st.maxBytes, len(resp.Batches))
		if resp.Diverging != nil {
			st.diverging++
		}
		if err := f.Apply(now, resp); err != nil {
			t.Fatalf("apply: %v (state %v)", err, f.State())
		}
		if len(resp.Batches) == 0 && resp.Diverging == nil {
			return st
		}
	}
	t.Fatal("pump did not settle")
	return st
}
