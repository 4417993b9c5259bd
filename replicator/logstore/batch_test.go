package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
)

func recs(n, size int, tag string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		r := bytes.Repeat([]byte{byte(i)}, size)
		copy(r, fmt.Sprintf("%s-%d", tag, i))
		out[i] = r
	}
	return out
}

func TestBatchRoundTrip(t *testing.T) {
	in := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("x"), 300)}
	raw, err := EncodeBatch(42, 7, 1700000000123, in)
	if err != nil {
		t.Fatal(err)
	}
	b, n, err := DecodeBatch(append(raw, 0xff), 0)
	if err != nil || n != len(raw) {
		t.Fatalf("decode: n=%d err=%v", n, err)
	}
	if b.BaseOffset != 42 || b.Epoch != 7 || b.Count != 3 || b.MaxTimestamp != 1700000000123 || b.NextOffset() != 45 {
		t.Fatalf("header %+v", b)
	}
	i := 0
	for off, r := range b.Records() {
		if off != 42+uint64(i) || !bytes.Equal(r, in[i]) {
			t.Fatalf("record %d: offset %d %q", i, off, r)
		}
		i++
	}
	if i != 3 {
		t.Fatalf("%d records", i)
	}
	if _, err := EncodeBatch(0, 0, 0, nil); !errors.Is(err, ErrEmptyBatch) {
		t.Fatalf("empty batch: %v", err)
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	raw, _ := EncodeBatch(0, 1, 2, recs(3, 10, "r"))
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(raw)) }
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short header", raw[:10], ErrTruncated},
		{"short body", raw[:len(raw)-1], ErrTruncated},
		{"length too small", mut(func(b []byte) []byte { b[11] = 3; b[10], b[9], b[8] = 0, 0, 0; return b }), ErrBadLength},
		{"length too large", mut(func(b []byte) []byte { b[8] = 0x7f; return b }), ErrBadLength},
		{"flipped record bit", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrBadCRC},
		{"flipped count", mut(func(b []byte) []byte { b[23] ^= 1; return b }), ErrBadCRC},
		{"flipped crc", mut(func(b []byte) []byte { b[16] ^= 1; return b }), ErrBadCRC},
	}
	for _, c := range cases {
		if _, _, err := DecodeBatch(c.in, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// A count that does not match the records, with a valid CRC.
	bad := bytes.Clone(raw)
	bad[23] = 4
	fixCRC(bad)
	if _, _, err := DecodeBatch(bad, 0); !errors.Is(err, ErrBadRecords) {
		t.Errorf("count mismatch: %v", err)
	}
	bad[20], bad[21], bad[22], bad[23] = 0, 0, 0, 0
	fixCRC(bad)
	if _, _, err := DecodeBatch(bad, 0); !errors.Is(err, ErrBadRecords) {
		t.Errorf("count 0: %v", err)
	}
}

func fixCRC(b []byte) {
	crc := crc32c(b[crcStart:])
	b[16], b[17], b[18], b[19] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
