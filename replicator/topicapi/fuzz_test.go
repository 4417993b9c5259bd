package topicapi

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzDecodeProduce(f *testing.F) {
	for _, s := range []string{
		`{"records": [{"value": "a"}, {"value_b64": "/wA="}]}`,
		`{"records": []}`, `{"records": [{}]}`, `{"records": [{"value": "a", "value_b64": ""}]}`,
		`{"x": 1}`, `{`, ``, `null`, `{"records": null}`, `{"records": [{"value": "\u0000"}]} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		vals, err := DecodeProduce(bytes.NewReader(body))
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.status != 400 || vals != nil {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if len(vals) == 0 {
			t.Fatal("accepted an empty produce")
		}
		total := 0
		for _, v := range vals {
			total += len(v)
		}
		if total > MaxProduceBytes {
			t.Fatalf("accepted %d bytes", total)
		}
	})
}

// The binary body: whatever arrives, a 400 or values within the limits
// that re-encode to exactly the body.
func FuzzDecodeProduceBinary(f *testing.F) {
	good, _ := EncodeProduceBinary([][]byte{[]byte("a"), {}, bytes.Repeat([]byte{0xff}, 300)})
	for _, b := range [][]byte{good, {}, {0x80}, {0x05, 'a'}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		vals, err := DecodeProduceBinary(bytes.NewReader(body))
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.status != 400 || vals != nil {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		total := 0
		for _, v := range vals {
			total += len(v)
		}
		if len(vals) == 0 || total > MaxProduceBytes {
			t.Fatalf("accepted %d records of %d bytes", len(vals), total)
		}
		again, err := EncodeProduceBinary(vals)
		if err != nil {
			t.Fatal(err)
		}
		// Uvarints decode from non-minimal forms too; compare the values.
		back, err := DecodeProduceBinary(bytes.NewReader(again))
		if err != nil || len(back) != len(vals) {
			t.Fatalf("re-encoded values do not decode: %v", err)
		}
		for i := range vals {
			if !bytes.Equal(back[i], vals[i]) {
				t.Fatalf("record %d changed", i)
			}
		}
	})
}
