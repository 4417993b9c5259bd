package mirror

import (
	"errors"
	"reflect"
	"testing"
)

func sampleResponse() FetchResponse {
	return FetchResponse{
		Session: 1, Correlation: 2, Error: ErrNone, HighWatermark: 30, LogStartOffset: 3, LogEndOffset: 40,
		Diverging:    &DivergingEpoch{Epoch: 4, EndOffset: 20},
		GroupOffsets: map[string]int64{"g1": 5, "g2": 0},
		Batches:      []byte("not checked by the codec"),
	}
}

func TestCodecRoundTrip(t *testing.T) {
	req := FetchRequest{Session: 9, Correlation: 10, Topic: "orders", FetchOffset: 1 << 40, HasLastEpoch: true, LastEpoch: 7, MaxBytes: 1 << 20}
	b, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFetchRequest(b)
	if err != nil || got != req {
		t.Fatalf("%+v %v", got, err)
	}
	for _, resp := range []FetchResponse{sampleResponse(), {Session: 1, GroupOffsets: map[string]int64{}}, {}} {
		b, err := resp.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeFetchResponse(b)
		if err != nil || !reflect.DeepEqual(got, resp) {
			t.Fatalf("%+v\n%+v %v", resp, got, err)
		}
		// Every strict prefix and every extension is refused.
		for i := range b {
			if _, err := DecodeFetchResponse(b[:i]); err == nil {
				t.Fatalf("prefix %d of %d accepted", i, len(b))
			}
		}
		if _, err := DecodeFetchResponse(append(b, 0)); err == nil {
			t.Fatal("trailing byte accepted")
		}
	}
	if _, err := DecodeFetchResponse(b); !errors.Is(err, ErrBadKind) {
		t.Fatalf("request decoded as response: %v", err)
	}
	b[2] = 2
	if _, err := DecodeFetchRequest(b); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("version 2: %v", err)
	}
	if _, err := (FetchRequest{}).Encode(); err == nil {
		t.Fatal("empty topic encoded")
	}
	if _, err := (FetchResponse{GroupOffsets: map[string]int64{"g": -1}}).Encode(); err == nil {
		t.Fatal("negative offset encoded")
	}
}

func FuzzDecodeFetchRequest(f *testing.F) {
	b, _ := FetchRequest{Topic: "t", FetchOffset: 5, HasLastEpoch: true, LastEpoch: 2, MaxBytes: 100}.Encode()
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := DecodeFetchRequest(data)
		if err != nil {
			return
		}
		out, err := q.Encode()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", q, err)
		}
		if string(out) != string(data) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzDecodeFetchResponse(f *testing.F) {
	b, _ := sampleResponse().Encode()
	f.Add(b)
	e, _ := FetchResponse{}.Encode()
	f.Add(e)
	f.Add(b[:20])
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeFetchResponse(data)
		if err != nil {
			return
		}
		out, err := r.Encode()
		if err != nil {
			t.Fatalf("decoded response does not encode: %v", err)
		}
		r2, err := DecodeFetchResponse(out)
		if err != nil || !reflect.DeepEqual(r, r2) || len(out) != len(data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
