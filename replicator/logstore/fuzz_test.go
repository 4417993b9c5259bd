package logstore

import (
	"bytes"
	"testing"
)

func seedBatches(f *testing.F) {
	good, _ := EncodeBatch(5, 1, 123, [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte("z"), 200)})
	two, _ := EncodeBatch(8, 1, 124, [][]byte{[]byte("next")})
	f.Add(good)
	f.Add(append(bytes.Clone(good), two...))
	f.Add(good[:len(good)-3])
	f.Add(good[:HeaderSize-1])
	flipped := bytes.Clone(good)
	flipped[40] ^= 0x10
	f.Add(flipped)
	huge := bytes.Clone(good)
	huge[8] = 0xff
	f.Add(huge)
	f.Add([]byte{})
}

// FuzzDecodeBatch: arbitrary bytes give an error or a batch that re-encodes
// to exactly the same bytes; never a panic.
func FuzzDecodeBatch(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, n, err := DecodeBatch(data, 1<<20)
		if err != nil {
			return
		}
		if n > len(data) || n != len(b.Raw) {
			t.Fatalf("size %d of %d", n, len(data))
		}
		var rs [][]byte
		for _, r := range b.Records() {
			rs = append(rs, r)
		}
		if uint32(len(rs)) != b.Count {
			t.Fatalf("%d records, count %d", len(rs), b.Count)
		}
		again, err := EncodeBatch(b.BaseOffset, b.Epoch, b.MaxTimestamp, rs)
		if err != nil {
			t.Fatal(err)
		}
		// Uvarint lengths may be non-minimal in the input; compare records.
		b2, _, err := DecodeBatch(again, 1<<20)
		if err != nil || b2.Count != b.Count {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

// FuzzScanSegment: the recovery scanner on arbitrary segment bytes stops
// with an error or reaches the end, having reported only valid, contiguous
// batches that lie inside the good prefix.
func FuzzScanSegment(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var expect uint64 = 5
		var last int64
		end, next, err := scanBatches(r, 0, int64(len(data)), 5, 1<<20, func(pos int64, b Batch) {
			if pos != last || b.BaseOffset != expect {
				t.Fatalf("batch at %d offset %d, want %d offset %d", pos, b.BaseOffset, last, expect)
			}
			if _, _, err := DecodeBatch(data[pos:], 1<<20); err != nil {
				t.Fatalf("reported batch at %d does not decode: %v", pos, err)
			}
			last, expect = pos+int64(len(b.Raw)), b.NextOffset()
		})
		if end != last || next != expect || end > int64(len(data)) {
			t.Fatalf("end %d next %d, last batch ended at %d offset %d", end, next, last, expect)
		}
		if err == nil && end != int64(len(data)) {
			t.Fatalf("no error but stopped at %d of %d", end, len(data))
		}
	})
}
