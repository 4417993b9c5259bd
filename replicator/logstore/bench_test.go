package logstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAppend: 1 KiB records in batches of 64, synced every 1 MiB.
func BenchmarkAppend(b *testing.B) {
	l := mustOpen(b, b.TempDir(), Options{SyncBytes: 1 << 20})
	defer l.Close()
	rs := recs(64, 1024, "bench")
	b.SetBytes(64 * 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(rs, 1, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReopen: open a 256 MiB log of 64 KiB batches after a crash (no
// Close: the active segment is scanned from the recovery point).
func BenchmarkReopen(b *testing.B) {
	dir := b.TempDir()
	o := Options{SegmentBytes: 64 << 20}
	l := mustOpen(b, dir, o)
	rs := recs(64, 1024, "reopen")
	for l.Size() < 256<<20 {
		if _, err := l.Append(rs, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
	l.Sync() // simulated crash: files left open, no recovery point at the end
	for _, full := range []bool{false, true} {
		name := "from-recovery-point"
		if full {
			name = "full-scan"
		}
		b.Run(name, func(b *testing.B) { benchOpen(b, dir, o, full) })
	}
}

func benchOpen(b *testing.B, dir string, o Options, full bool) {
	for i := 0; i < b.N; i++ {
		if full { // no recovery point: every segment is validated
			os.Remove(filepath.Join(dir, RecoveryPointFile))
		}
		t0 := time.Now()
		l2, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "ms/open")
		if full && l2.Recovery().ScannedFrom != 0 {
			b.Fatal("not a full scan")
		}
		for _, s := range l2.segs {
			s.close()
		}
	}
}
