package logstore

import (
	"encoding/binary"
	"hash/crc32"
	"iter"
	"math"
)

// Batch layout (big-endian), HeaderSize bytes then the records:
//
//	 0  base offset    uint64
//	 8  length         uint32  bytes after this field (BatchSize = 12 + length)
//	12  epoch          uint32
//	16  CRC32C         uint32  Castagnoli, over bytes 20 .. end
//	20  record count   uint32  >= 1; records take offsets base .. base+count-1
//	24  max timestamp  int64   unix milliseconds
//	32  records        count × (uvarint length, bytes)
const (
	HeaderSize     = 32
	lengthOffset   = 8
	crcOffset      = 16
	crcStart       = 20
	minLength      = HeaderSize - 12
	DefaultMaxSize = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch is a decoded view of one batch; Raw aliases the input bytes.
type Batch struct {
	BaseOffset   uint64
	Epoch        uint32
	CRC          uint32
	Count        uint32
	MaxTimestamp int64
	Raw          []byte
}

// NextOffset is the offset following the batch's last record.
func (b Batch) NextOffset() uint64 { return b.BaseOffset + uint64(b.Count) }

// Records yields each record with its offset. The batch was validated by
// DecodeBatch, so iteration cannot fail.
func (b Batch) Records() iter.Seq2[uint64, []byte] {
	return func(yield func(uint64, []byte) bool) {
		p := b.Raw[HeaderSize:]
		for i := uint64(0); i < uint64(b.Count); i++ {
			n, k := binary.Uvarint(p)
			rec := p[k : k+int(n)]
			p = p[k+int(n):]
			if !yield(b.BaseOffset+i, rec) {
				return
			}
		}
	}
}

// EncodeBatch builds a batch of records starting at base.
func EncodeBatch(base uint64, epoch uint32, maxTimestamp int64, records [][]byte) ([]byte, error) {
	if len(records) == 0 {
		return nil, ErrEmptyBatch
	}
	if uint64(len(records)) > math.MaxUint32 || base > math.MaxUint64-uint64(len(records)) {
		return nil, errf(ErrTooLarge, "%d records at base %d", len(records), base)
	}
	size := HeaderSize
	for _, r := range records {
		size += uvarintLen(uint64(len(r))) + len(r)
	}
	if size-12 > math.MaxUint32 {
		return nil, errf(ErrTooLarge, "%d bytes", size)
	}
	buf := make([]byte, HeaderSize, size)
	binary.BigEndian.PutUint64(buf[0:], base)
	binary.BigEndian.PutUint32(buf[lengthOffset:], uint32(size-12))
	binary.BigEndian.PutUint32(buf[12:], epoch)
	binary.BigEndian.PutUint32(buf[20:], uint32(len(records)))
	binary.BigEndian.PutUint64(buf[24:], uint64(maxTimestamp))
	for _, r := range records {
		buf = binary.AppendUvarint(buf, uint64(len(r)))
		buf = append(buf, r...)
	}
	binary.BigEndian.PutUint32(buf[crcOffset:], crc32.Checksum(buf[crcStart:], castagnoli))
	return buf, nil
}

// BatchSize reads the total size of the batch whose header starts buf,
// checking the length field against maxSize (DefaultMaxSize if <= 0).
func BatchSize(header []byte, maxSize int) (int, error) {
	if len(header) < lengthOffset+4 {
		return 0, errf(ErrTruncated, "%d header bytes", len(header))
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	l := uint64(binary.BigEndian.Uint32(header[lengthOffset:]))
	if l < minLength || l+12 > uint64(maxSize) {
		return 0, errf(ErrBadLength, "length %d", l)
	}
	return int(l) + 12, nil
}

// DecodeBatch validates the batch at the start of buf (length, CRC, records)
// and returns it with its size. Trailing bytes are left alone.
func DecodeBatch(buf []byte, maxSize int) (Batch, int, error) {
	size, err := BatchSize(buf, maxSize)
	if err != nil {
		return Batch{}, 0, err
	}
	if len(buf) < size {
		return Batch{}, 0, errf(ErrTruncated, "have %d of %d bytes", len(buf), size)
	}
	raw := buf[:size:size]
	b := Batch{
		BaseOffset:   binary.BigEndian.Uint64(raw[0:]),
		Epoch:        binary.BigEndian.Uint32(raw[12:]),
		CRC:          binary.BigEndian.Uint32(raw[crcOffset:]),
		Count:        binary.BigEndian.Uint32(raw[20:]),
		MaxTimestamp: int64(binary.BigEndian.Uint64(raw[24:])),
		Raw:          raw,
	}
	if got := crc32.Checksum(raw[crcStart:], castagnoli); got != b.CRC {
		return Batch{}, 0, errf(ErrBadCRC, "stored %08x, computed %08x", b.CRC, got)
	}
	if b.Count == 0 {
		return Batch{}, 0, errf(ErrBadRecords, "record count 0")
	}
	if b.BaseOffset > math.MaxUint64-uint64(b.Count) {
		return Batch{}, 0, errf(ErrBadRecords, "offsets overflow")
	}
	p := raw[HeaderSize:]
	for i := uint32(0); i < b.Count; i++ {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return Batch{}, 0, errf(ErrBadRecords, "record %d of %d overruns the batch", i, b.Count)
		}
		p = p[k+int(n):]
	}
	if len(p) != 0 {
		return Batch{}, 0, errf(ErrBadRecords, "%d bytes after the last record", len(p))
	}
	return b, size, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
