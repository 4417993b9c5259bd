package logstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func mustOpen(t testing.TB, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// readAll reads every batch from LogStartOffset to LogEndOffset.
func readAll(t testing.TB, l *Log) []Batch {
	t.Helper()
	var out []Batch
	off := l.LogStartOffset()
	for off < l.LogEndOffset() {
		raw, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(raw) == 0 {
			t.Fatalf("read %d: nothing before the end %d", off, l.LogEndOffset())
		}
		for len(raw) > 0 {
			b, n, err := DecodeBatch(raw, 0)
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			if b.BaseOffset != off {
				t.Fatalf("batch at %d, want %d", b.BaseOffset, off)
			}
			out = append(out, b)
			off = b.NextOffset()
			raw = raw[n:]
		}
	}
	return out
}

func TestAppendReadAcrossRolls(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 8 << 10, IndexInterval: 512}
	l := mustOpen(t, dir, o)
	var want [][]byte
	for i := range 200 {
		rs := recs(1+i%5, 100, "a")
		base, err := l.Append(rs, 1, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := EncodeBatch(base, 1, int64(i), rs)
		want = append(want, raw)
	}
	if len(l.segs) < 5 {
		t.Fatalf("only %d segments", len(l.segs))
	}
	check := func(l *Log) {
		t.Helper()
		got := readAll(t, l)
		if len(got) != len(want) {
			t.Fatalf("%d batches, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i].Raw, want[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
		// Reading from any offset inside a batch returns that batch first.
		for off := uint64(0); off < l.LogEndOffset(); off += 7 {
			raw, err := l.Read(off, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, n, err := DecodeBatch(raw, 0)
			if err != nil || n != len(raw) || off < b.BaseOffset || off >= b.NextOffset() {
				t.Fatalf("read %d: batch [%d,%d) n=%d/%d err=%v", off, b.BaseOffset, b.NextOffset(), n, len(raw), err)
			}
		}
	}
	check(l)
	if _, err := l.Read(l.LogEndOffset()+1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v", err)
	}
	if raw, err := l.Read(l.LogEndOffset(), 100); err != nil || raw != nil {
		t.Fatalf("read at end: %d bytes, %v", len(raw), err)
	}
	end := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		if _, ok := parseSegmentName(n.Name(), ".log"); ok && len(n.Name()) != 24 {
			t.Fatalf("bad segment name %s", n.Name())
		}
	}
	l = mustOpen(t, dir, o)
	defer l.Close()
	if l.LogEndOffset() != end || l.Recovery().Cut != nil {
		t.Fatalf("reopen: end %d want %d, recovery %+v", l.LogEndOffset(), end, l.Recovery())
	}
	check(l)
}

func TestIndexLookup(t *testing.T) {
	es := []indexEntry{{rel: 10, pos: 100}, {rel: 20, pos: 200}, {rel: 35, pos: 300}}
	for _, c := range []struct {
		rel  uint64
		want uint32
	}{{0, 0}, {9, 0}, {10, 100}, {19, 100}, {20, 200}, {34, 200}, {35, 300}, {1000, 300}} {
		if got := lookup(es, c.rel).pos; got != c.want {
			t.Errorf("lookup %d = %d, want %d", c.rel, got, c.want)
		}
	}
	if _, err := decodeIndex(encodeIndex(es), 301); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeIndex(encodeIndex(es), 300); err == nil {
		t.Fatal("entry beyond the log accepted")
	}
	if _, err := decodeIndex(encodeIndex([]indexEntry{es[1], es[0]}), 1000); err == nil {
		t.Fatal("unordered index accepted")
	}
}

func TestStaleOrMissingIndexRebuilt(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 4 << 10, IndexInterval: 256}
	l := mustOpen(t, dir, o)
	for i := range 100 {
		if _, err := l.Append(recs(2, 50, "i"), 0, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	want := readAll(t, l)
	l.Close()
	first := filepath.Join(dir, segmentName(0)+".index")
	os.Remove(first)
	second := filepath.Join(dir, segmentName(l.segs[1].base)+".index")
	os.WriteFile(second, []byte("garbage garbage!"), 0o644)
	l = mustOpen(t, dir, o)
	defer l.Close()
	if r := l.Recovery(); r.IndexesRebuilt < 2 || r.Cut != nil {
		t.Fatalf("recovery %+v", r)
	}
	got := readAll(t, l)
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	if len(l.segs[0].index) == 0 {
		t.Fatal("first index not rebuilt")
	}
}

func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 2 << 10, IndexInterval: 300}
	l := mustOpen(t, dir, o)
	var bases []uint64
	for i := range 60 {
		b, err := l.Append(recs(3, 40, "t"), uint32(i/20), int64(i))
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, b)
	}
	nsegs := len(l.segs)
	if err := l.Truncate(bases[30] + 1); !errors.Is(err, ErrNotBoundary) {
		t.Fatalf("truncate inside a batch: %v", err)
	}
	if err := l.Truncate(l.LogEndOffset() + 3); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("truncate past end: %v", err)
	}
	if err := l.Truncate(bases[30]); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != bases[30] || len(l.segs) >= nsegs {
		t.Fatalf("end %d, %d segments (had %d)", l.LogEndOffset(), len(l.segs), nsegs)
	}
	if got := l.Epochs(); !slices.Equal(got, []EpochEntry{{0, 0}, {1, bases[20]}}) {
		t.Fatalf("epochs %v", got)
	}
	// Appending continues at the cut; truncating at a segment base works.
	if _, err := l.Append(recs(1, 10, "n"), 1, 99); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(bases[20]); err != nil {
		t.Fatal(err)
	}
	if got := l.Epochs(); !slices.Equal(got, []EpochEntry{{0, 0}}) {
		t.Fatalf("epochs %v", got)
	}
	l.Close()
	l = mustOpen(t, dir, o)
	defer l.Close()
	if l.LogEndOffset() != bases[20] || len(readAll(t, l)) != 20 {
		t.Fatalf("after reopen: end %d", l.LogEndOffset())
	}
	if err := l.Truncate(0); err != nil || l.LogEndOffset() != 0 {
		t.Fatalf("truncate all: %v, end %d", err, l.LogEndOffset())
	}
}

func TestAppendBatchMirror(t *testing.T) {
	src := mustOpen(t, t.TempDir(), Options{SegmentBytes: 4 << 10})
	dst := mustOpen(t, t.TempDir(), Options{SegmentBytes: 3 << 10})
	defer src.Close()
	defer dst.Close()
	for i := range 50 {
		if _, err := src.Append(recs(1+i%3, 64, "m"), uint32(i/10), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	for off := uint64(0); off < src.LogEndOffset(); {
		raw, err := src.Read(off, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for len(raw) > 0 {
			_, n, _ := DecodeBatch(raw, 0)
			if err := dst.AppendBatch(raw[:n]); err != nil {
				t.Fatal(err)
			}
			raw = raw[n:]
		}
		off = dst.LogEndOffset()
	}
	a, b := readAll(t, src), readAll(t, dst)
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			t.Fatalf("batch %d differs", i)
		}
	}
	if !slices.Equal(src.Epochs(), dst.Epochs()) {
		t.Fatalf("epochs %v vs %v", src.Epochs(), dst.Epochs())
	}
	// Wrong base offset, damaged CRC, trailing bytes, old epoch: refused.
	wrong, _ := EncodeBatch(dst.LogEndOffset()+1, 9, 0, recs(1, 5, "w"))
	if err := dst.AppendBatch(wrong); !errors.Is(err, ErrBadOffset) {
		t.Fatalf("wrong base: %v", err)
	}
	good, _ := EncodeBatch(dst.LogEndOffset(), 9, 0, recs(1, 5, "w"))
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	if err := dst.AppendBatch(bad); !errors.Is(err, ErrBadCRC) {
		t.Fatalf("bad crc: %v", err)
	}
	if err := dst.AppendBatch(append(bytes.Clone(good), 0)); !errors.Is(err, ErrBadLength) {
		t.Fatalf("trailing: %v", err)
	}
	old, _ := EncodeBatch(dst.LogEndOffset(), 1, 0, recs(1, 5, "w"))
	if err := dst.AppendBatch(old); !errors.Is(err, ErrEpochRegression) {
		t.Fatalf("old epoch: %v", err)
	}
	if err := dst.AppendBatch(good); err != nil {
		t.Fatal(err)
	}
}

func TestRetention(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	o := Options{SegmentBytes: 1 << 10, Now: func() time.Time { return now }}
	dir := t.TempDir()
	l := mustOpen(t, dir, o)
	for i := range 40 {
		// Timestamps one second apart, ending at "now".
		if _, err := l.Append(recs(2, 100, "r"), uint32(i/10), now.UnixMilli()-int64(40-i)*1000); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()

	// By size: total stays >= the limit, within one segment of it.
	o.RetentionBytes = 4 << 10
	l = mustOpen(t, dir, o)
	n, err := l.ApplyRetention()
	if err != nil || n == 0 {
		t.Fatalf("size retention: %d, %v", n, err)
	}
	if sz := l.Size(); sz < o.RetentionBytes || sz > o.RetentionBytes+o.SegmentBytes {
		t.Fatalf("size %d after retention to %d", sz, o.RetentionBytes)
	}
	start := l.LogStartOffset()
	if start == 0 || start != l.segs[0].base {
		t.Fatalf("log start %d", start)
	}
	if e := l.Epochs(); e[0].StartOffset != start {
		t.Fatalf("epochs %v, start %d", e, start)
	}
	if _, err := l.Read(start-1, 10); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read before start: %v", err)
	}
	readAll(t, l)
	l.Close()

	// By age: everything older than 10 s goes, except the active segment.
	o.RetentionBytes, o.RetentionAge = 0, 10*time.Second
	l = mustOpen(t, dir, o)
	if l.LogStartOffset() != start {
		t.Fatalf("reopen: start %d want %d", l.LogStartOffset(), start)
	}
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	cutoff := now.Add(-10 * time.Second).UnixMilli()
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.maxTs < cutoff {
			t.Fatalf("segment %d (newest %d) kept, cutoff %d", s.base, s.maxTs, cutoff)
		}
	}
	if l.segs[0].base == start {
		t.Fatal("nothing deleted by age")
	}
	// Everything left is old enough to go later; the active segment stays.
	now = now.Add(time.Hour)
	l.ApplyRetention()
	if len(l.segs) != 1 {
		t.Fatalf("%d segments left", len(l.segs))
	}
	readAll(t, l)
	l.Close()
}

func TestSyncPolicy(t *testing.T) {
	now := time.Unix(0, 0)
	for _, c := range []struct {
		name string
		o    Options
		want []bool // durable after each append
	}{
		{"none", Options{}, []bool{false, false, false, false}},
		{"every", Options{SyncEveryAppend: true}, []bool{true, true, true, true}},
		{"bytes", Options{SyncBytes: 250}, []bool{false, false, true, false}},
		{"interval", Options{SyncInterval: 1500 * time.Millisecond}, []bool{false, true, false, true}},
	} {
		c.o.Now = func() time.Time { return now }
		l := mustOpen(t, t.TempDir(), c.o)
		for i, w := range c.want {
			now = now.Add(time.Second)
			l.Append(recs(1, 80, "s"), 0, 0)
			if got := l.DurableOffset() == l.LogEndOffset(); got != w {
				t.Errorf("%s: append %d durable %v, want %v", c.name, i, got, w)
			}
		}
		if err := l.Sync(); err != nil || l.DurableOffset() != l.LogEndOffset() {
			t.Errorf("%s: Sync: %v", c.name, err)
		}
		l.Close()
	}
}

func TestRecoveryCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 4 << 10}
	l := mustOpen(t, dir, o)
	for i := range 80 {
		l.Append(recs(2, 60, "c"), 0, int64(i))
	}
	l.Sync()
	want := readAll(t, l)
	act := l.active()
	path, size, end := act.logPath, act.size, l.LogEndOffset()
	// Simulate a crash (no Close): a torn batch and garbage at the tail.
	torn, _ := EncodeBatch(end, 0, 0, recs(3, 100, "torn"))
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt(torn[:len(torn)-7], size)
	f.Close()
	l2 := mustOpen(t, dir, o)
	defer l2.Close()
	r := l2.Recovery()
	var ce *CorruptError
	if !errors.As(r.Cut, &ce) || !errors.Is(r.Cut, ErrTruncated) || ce.Pos != size || ce.Offset != end || ce.File != path {
		t.Fatalf("cut %v", r.Cut)
	}
	if l2.LogEndOffset() != end {
		t.Fatalf("end %d want %d", l2.LogEndOffset(), end)
	}
	if st, _ := os.Stat(path); st.Size() != size {
		t.Fatalf("file %d bytes, want %d", st.Size(), size)
	}
	if got := readAll(t, l2); len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	// Damage in the middle of an earlier segment cuts there and drops the rest.
	l2.Close()
	os.Remove(filepath.Join(dir, RecoveryPointFile)) // scan everything
	seg1 := filepath.Join(dir, segmentName(l2.segs[1].base)+".log")
	data, _ := os.ReadFile(seg1)
	data[HeaderSize+5] ^= 0xff
	os.WriteFile(seg1, data, 0o644)
	l3 := mustOpen(t, dir, o)
	defer l3.Close()
	if !errors.Is(l3.Recovery().Cut, ErrBadCRC) || l3.LogEndOffset() != l2.segs[1].base || len(l3.segs) != 2 {
		t.Fatalf("recovery %+v, end %d, %d segments", l3.Recovery(), l3.LogEndOffset(), len(l3.segs))
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(l2.segs[2].base)+".log")); !os.IsNotExist(err) {
		t.Fatal("later segment kept")
	}
}
