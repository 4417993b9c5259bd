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
