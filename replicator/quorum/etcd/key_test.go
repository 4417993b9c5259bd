package etcd

import "testing"

func TestHolderRoundTrip(t *testing.T) {
	h := holder{Node: "node0", ID: 7, Epoch: 3}
	got, err := decodeHolder([]byte(h.encode()))
	if err != nil || got != h {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "{}", `{"node":"a"}`, `{"node":"a","id":1,"epoch":1,"x":2}`, `node0 3`, `{"node":"a","id":70000,"epoch":1}`} {
		if _, err := decodeHolder([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func FuzzDecodeHolder(f *testing.F) {
	f.Add([]byte(holder{Node: "node0", ID: 1, Epoch: 2}.encode()))
	f.Add([]byte(`{"node":"","epoch":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHolder(b)
		if err != nil {
			return
		}
		if h.Node == "" || h.Epoch == 0 {
			t.Fatalf("accepted %+v from %q", h, b)
		}
		again, err := decodeHolder([]byte(h.encode()))
		if err != nil || again != h {
			t.Fatalf("re-encoding %+v: %+v, %v", h, again, err)
		}
	})
}
