package llt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	keyA = []byte("0123456789abcdef0123456789abcdef")
	keyB = []byte("fedcba9876543210fedcba9876543210")
)

func sampleFrame() Frame {
	return Frame{
		Type: FrameHeartbeat, Flags: 0, State: SessionUp, Diag: DiagNone,
		Cluster: 7, Src: 3, Dst: 1,
		Heartbeat: 100 * time.Millisecond, PeerInact: 600 * time.Millisecond,
		Network: "hb0", Incarnation: 0x0123456789abcdef, Seq: 42, Timestamp: 123456789,
		Echo:     Echo{Incarnation: 0xfedcba9876543210, Seq: 41, Timestamp: 987654321, Hold: 1500 * time.Microsecond},
		ProbeAck: 40,
		Vector: []VectorEntry{
			{Network: "hb0", State: LinkUp, HearsYou: true, Carrier: true, Loss: 3},
			{Network: "hb1", State: LinkDown, Reason: ReasonCarrierLost, Loss: LossUnknown},
		},
		Payload: []byte("hello"),
		Pad:     3,
	}
}

func mustCodec(t testing.TB, keys ...[]byte) *Codec {
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return NewCodec(kr, "hb0", "hb1")
}

func TestCodecRoundTrip(t *testing.T) {
	c := mustCodec(t, keyA)
	f := sampleFrame()
	b, err := c.Append(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != f.EncodedLen() {
		t.Fatalf("encoded %d bytes, EncodedLen says %d", len(b), f.EncodedLen())
	}
	var g Frame
	if err := c.Decode(b, &g); err != nil {
		t.Fatal(err)
	}
	f.KeyID = KeyID(keyA)
	if diff := cmp.Diff(f, g); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	// Append appends: a prefix is kept and not authenticated.
	b2, err := c.Append([]byte("prefix"), &f)
	if err != nil || !bytes.Equal(b2[6:], b) {
		t.Fatalf("append with prefix: %v", err)
	}
}

func TestDecodeRejectsEveryTamperedByte(t *testing.T) {
	c := mustCodec(t, keyA)
	f := sampleFrame()
	b, err := c.Append(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	var g Frame
	for i := range b {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(b)
			bad[i] ^= flip
			err := c.Decode(bad, &g)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("byte %d ^%#x: accepted or untyped error %v", i, flip, err)
			}
		}
	}
}

func TestDecodeTruncatedAtEveryLength(t *testing.T) {
	c := mustCodec(t, keyA)
	f := sampleFrame()
	b, _ := c.Append(nil, &f)
	var g Frame
	for n := 0; n < len(b); n++ {
		err := c.Decode(b[:n], &g)
		if err == nil {
			t.Fatalf("accepted a frame cut to %d of %d bytes", n, len(b))
		}
		if n >= 3 && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) && !IsAuthError(err) {
			t.Fatalf("cut to %d bytes: %v, want a typed truncation/malformed/auth error", n, err)
		}
	}
	if err := c.Decode(append(bytes.Clone(b), 0), &g); err == nil {
		t.Fatal("accepted a frame with a trailing byte")
	}
}

func TestDecodeErrorKinds(t *testing.T) {
	c := mustCodec(t, keyA)
	f := sampleFrame()
	b, _ := c.Append(nil, &f)
	var g Frame
	mod := func(fn func(b []byte)) []byte { x := bytes.Clone(b); fn(x); return x }
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"bad magic", mod(func(b []byte) { b[0] = 'X' }), ErrBadMagic},
		{"bad version", mod(func(b []byte) { b[2] = 9 }), ErrBadVersion},
		{"bad type", mod(func(b []byte) { b[3] = 99 }), ErrMalformed},
		{"bad state", mod(func(b []byte) { b[5] = 0 }), ErrMalformed},
		{"zero name length", mod(func(b []byte) { b[7] = 0 }), ErrMalformed},
		{"too many vector entries", mod(func(b []byte) { b[82] = 9 }), ErrMalformed},
		{"reserved flag", mod(func(b []byte) { b[4] = 0x80 }), ErrMalformed},
		{"tag", mod(func(b []byte) { b[len(b)-1] ^= 1 }), ErrBadTag},
		{"key id", mod(func(b []byte) { b[len(b)-TagLen-1] ^= 1 }), ErrUnknownKey},
		{"payload", mod(func(b []byte) { b[len(b)-trailerLen-4] ^= 1 }), ErrBadTag},
	}
	for _, tc := range cases {
		if err := c.Decode(tc.in, &g); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestAuthErrorsKeepUnverifiedHeader(t *testing.T) {
	good := mustCodec(t, keyA)
	wrong := mustCodec(t, keyB)
	f := sampleFrame()
	b, _ := wrong.Append(nil, &f)
	var g Frame
	err := good.Decode(b, &g)
	if !errors.Is(err, ErrUnknownKey) || !IsAuthError(err) {
		t.Fatalf("frame signed with another key: %v, want unknown-key", err)
	}
	if g.Src != f.Src || g.Cluster != f.Cluster || g.Network != f.Network {
		t.Fatalf("unverified header not filled in: %+v", g)
	}
}

func TestKeyRotationTwoSlots(t *testing.T) {
	old := mustCodec(t, keyA)           // not yet rotated
	both := mustCodec(t, keyB, keyA)    // sends with B, still accepts A
	newOnly := mustCodec(t, keyB)       // rotation finished
	oldBoth := mustCodec(t, keyA, keyB) // sends with A, accepts B
	f := sampleFrame()
	var g Frame
	check := func(name string, from, to *Codec, ok bool) {
		b, _ := from.Append(nil, &f)
		err := to.Decode(b, &g)
		if ok && err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !ok && err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	check("old -> both", old, both, true)
	check("both -> old-and-new", both, oldBoth, true)
	check("both -> new", both, newOnly, true)
	check("new -> old", newOnly, old, false)
	if _, err := NewKeyring(keyA, keyA); err == nil {
		t.Error("two identical keys accepted")
	}
	if _, err := NewKeyring([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
	if _, err := NewKeyring(); err == nil {
		t.Error("no key accepted")
	}
	if ids := both.Keyring().IDs(); len(ids) != 2 || ids[0] != KeyID(keyB) {
		t.Errorf("IDs %x, want the send key first", ids)
	}
}

func TestAppendRejectsUnencodable(t *testing.T) {
	c := mustCodec(t, keyA)
	cases := map[string]func(f *Frame){
		"type":        func(f *Frame) { f.Type = 0 },
		"state":       func(f *Frame) { f.State = 7 },
		"name":        func(f *Frame) { f.Network = "" },
		"name chars":  func(f *Frame) { f.Network = "hb\x1b[0" },
		"long name":   func(f *Frame) { f.Network = string(bytes.Repeat([]byte("a"), 33)) },
		"vector":      func(f *Frame) { f.Vector = make([]VectorEntry, 9) },
		"vector item": func(f *Frame) { f.Vector[0].State = 0 },
		"payload":     func(f *Frame) { f.Payload = make([]byte, MaxPayload+1) },
		"pad":         func(f *Frame) { f.Pad = -1 },
		"incarnation": func(f *Frame) { f.Incarnation = 0 },
		"timestamp":   func(f *Frame) { f.Timestamp = -1 },
		"flags":       func(f *Frame) { f.Flags = 0x40 },
		"loss":        func(f *Frame) { f.Vector[0].Loss = 101 },
		"big pad":     func(f *Frame) { f.Pad = MaxPad + 1 },
	}
	for name, mod := range cases {
		f := sampleFrame()
		mod(&f)
		if _, err := c.Append(nil, &f); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

func TestDecodeDoesNotAllocateInSteadyState(t *testing.T) {
	c := mustCodec(t, keyA)
	f := sampleFrame()
	b, _ := c.Append(nil, &f)
	var g Frame
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = c.Append(buf[:0], &f)
		if err := c.Decode(b, &g); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per encode+decode, want 0", allocs)
	}
}

// Decode accepts exactly what Append produces: a validly signed frame
// whose payload or pad length is beyond what Append encodes is malformed
// (FuzzDecode's round trip found the gap).
func TestDecodeRejectsWhatAppendRefuses(t *testing.T) {
	c := mustCodec(t, keyA)
	for _, tc := range []struct {
		name     string
		pay, pad int
	}{{"payload", MaxPayload + 1, 0}, {"pad", 0, MaxPad + 1}} {
		f := sampleFrame()
		f.Vector, f.Payload, f.Pad = nil, nil, 0
		b, err := c.Append(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		// Splice in the oversized payload or pad and sign it again.
		body := bytes.Clone(b[:len(b)-trailerLen])
		binary.BigEndian.PutUint16(body[83:], uint16(tc.pay))
		binary.BigEndian.PutUint16(body[85:], uint16(tc.pad))
		body = append(body, make([]byte, tc.pay+tc.pad)...)
		body = binary.BigEndian.AppendUint32(body, KeyID(keyA))
		body = append(body, c.tag(0, body)...)
		var g Frame
		if err := c.Decode(body, &g); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s beyond the maximum: %v, want malformed", tc.name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	c := mustCodec(f, keyA)
	fr := sampleFrame()
	b, _ := c.Append(nil, &fr)
	f.Add(b)
	fr.Vector, fr.Payload, fr.Pad = nil, nil, 0
	b2, _ := c.Append(nil, &fr)
	f.Add(b2)
	f.Add([]byte("TH\x02"))
	fr.Type, fr.Flags, fr.Pad = FrameClaim, FlagProbe, 200
	b3, _ := c.Append(nil, &fr)
	f.Add(b3)
	f.Add([]byte{})
	check := func(t *testing.T, data []byte) {
		var g Frame
		err := c.Decode(data, &g)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Anything accepted must re-encode to the same bytes: there is one
		// encoding per frame, so nothing unauthenticated hides in it.
		again, err := c.Append(nil, &g)
		if err != nil {
			t.Fatalf("accepted frame does not re-encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data)
		// The same bytes with a valid key id and tag, so that the parser
		// behind the authentication gate is explored too.
		if len(data) >= trailerLen {
			signed := bytes.Clone(data)
			binary.BigEndian.PutUint32(signed[len(signed)-trailerLen:], KeyID(keyA))
			copy(signed[len(signed)-TagLen:], c.tag(0, signed[:len(signed)-TagLen]))
			check(t, signed)
		}
	})
}

// BenchmarkEncodeAuthDecode measures one heartbeat's cost at both ends:
// encode + HMAC-SHA256 sign, then verify + decode. Target ≤ 2 µs.
func BenchmarkEncodeAuthDecode(b *testing.B) {
	c := mustCodec(b, keyA)
	f := sampleFrame()
	f.Payload, f.Pad = nil, 0
	buf := make([]byte, 0, 512)
	var g Frame
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = c.Append(buf[:0], &f)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Decode(buf, &g); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeForged(b *testing.B) {
	c := mustCodec(b, keyA)
	f := sampleFrame()
	buf, _ := c.Append(nil, &f)
	buf[len(buf)-1] ^= 1
	var g Frame
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Decode(buf, &g); err == nil {
			b.Fatal("accepted")
		}
	}
}

func TestKeyringMACSeparatesDomains(t *testing.T) {
	kr, _ := NewKeyring(keyA, keyB)
	a, ok := kr.MAC(KeyID(keyA), "x", []byte("ab"), []byte("c"))
	if !ok || len(a) != 32 {
		t.Fatal("MAC with a loaded key failed")
	}
	b, _ := kr.MAC(KeyID(keyA), "x", []byte("a"), []byte("bc"))
	c, _ := kr.MAC(KeyID(keyA), "xa", []byte("b"), []byte("c"))
	d, _ := kr.MAC(KeyID(keyB), "x", []byte("ab"), []byte("c"))
	for _, o := range [][]byte{b, c, d} {
		if bytes.Equal(a, o) {
			t.Fatal("different inputs or keys gave the same MAC")
		}
	}
	if _, ok := kr.MAC(12345, "x"); ok {
		t.Fatal("MAC with an unknown key id")
	}
	if !kr.Has(KeyID(keyB)) || kr.Has(1) || kr.SendKeyID() != KeyID(keyA) {
		t.Fatal("Has/SendKeyID")
	}
}
