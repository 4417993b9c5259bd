package logstore

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"
)

const crashDir = "/topic"

func crashOpts(fsys FS) Options {
	return Options{
		FS: fsys, SegmentBytes: 1 << 10, IndexInterval: 128, RetentionBytes: 3 << 10,
		Now: func() time.Time { return time.UnixMilli(1e6) },
	}
}

// model is what the workload knows: every batch it appended (raw, in log
// order) and how many of them are acknowledged (synced, or made durable by
// a returned Truncate).
type model struct {
	batches [][]byte
	acked   int
	lsoMax  uint64 // the highest log start offset the current step may reach
}

// workload runs a scripted sequence over a log on fsys, stopping at the first
// error (the crash). It appends, syncs, rolls, truncates, changes epoch,
// appends raw batches and applies retention.
func workload(fsys FS, m *model) error {
	l, err := Open(crashDir, crashOpts(fsys))
	if err != nil {
		return err
	}
	epoch := uint32(0)
	app := func(n int) error {
		for i := range n {
			// Recorded before the call: a failed append may still be there.
			rs := recs(1+i%3, 90, fmt.Sprint(len(m.batches)))
			ts := int64(len(m.batches))
			raw, _ := EncodeBatch(l.LogEndOffset(), epoch, ts, rs)
			m.batches = append(m.batches, raw)
			if _, err := l.Append(rs, epoch, ts); err != nil {
				return err
			}
		}
		return nil
	}
	sync := func() error {
		if err := l.Sync(); err != nil {
			return err
		}
		m.acked = len(m.batches)
		return nil
	}
	steps := []func() error{
		func() error { return app(3) },
		sync,
		func() error { return app(8) }, // rolls
		sync,
		func() error { epoch = 2; return app(4) },
		func() error { // truncate back 5 batches; until it returns, either log may be seen
			keep := len(m.batches) - 5
			b, _, _ := DecodeBatch(m.batches[keep], 0)
			m.acked = min(m.acked, keep)
			if err := l.Truncate(b.BaseOffset); err != nil {
				return err
			}
			m.batches, m.acked = m.batches[:keep], keep
			return nil
		},
		func() error { epoch = 3; return app(6) },
		func() error { // the mirror's path
			epoch = 4
			raw, _ := EncodeBatch(l.LogEndOffset(), epoch, 77, recs(2, 200, "raw"))
			m.batches = append(m.batches, raw)
			return l.AppendBatch(raw)
		},
		sync,
		func() error {
			m.lsoMax = l.LogEndOffset()
			_, err := l.ApplyRetention()
			return err
		},
		func() error { return app(5) },
		func() error { return l.Close() },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	m.acked = len(m.batches)
	return nil
}

// checkRecovered reopens fsys and checks the log against the model: the
// acknowledged batches still retained are there byte for byte, anything
// after them is batches the workload appended, and the log is clean.
func checkRecovered(t *testing.T, fsys FS, m *model, label string) {
	t.Helper()
	l, err := Open(crashDir, crashOpts(fsys))
	if err != nil {
		t.Fatalf("%s: reopen: %v", label, err)
	}
	defer l.Close()
	got := readAll(t, l)
	lso := l.LogStartOffset()
	if lso > m.lsoMax {
		t.Fatalf("%s: log start %d beyond %d", label, lso, m.lsoMax)
	}
	start := 0 // index in m.batches of the batch at lso
	for start < len(m.batches) {
		b, _, _ := DecodeBatch(m.batches[start], 0)
		if b.BaseOffset >= lso {
			break
		}
		start++
	}
	for i, b := range got {
		j := start + i
		if j >= len(m.batches) || !bytes.Equal(b.Raw, m.batches[j]) {
			t.Fatalf("%s: batch %d at offset %d is not the one appended (%d appended, %d acked)\n", label, i, b.BaseOffset, len(m.batches), m.acked)
		}
	}
	if start+len(got) < m.acked {
		t.Fatalf("%s: %d batches from %d, but %d acknowledged; recovery %+v", label, len(got), start, m.acked, l.Recovery())
	}
	// The epoch cache matches the batches.
	var want []EpochEntry
	for _, b := range got {
		if len(want) == 0 || b.Epoch > want[len(want)-1].Epoch {
			want = append(want, EpochEntry{b.Epoch, b.BaseOffset})
		}
	}
	if e := l.Epochs(); !slices.Equal(e, want) {
		t.Fatalf("%s: epochs %v, batches say %v", label, e, want)
	}
	// And it accepts appends at its end.
	if _, err := l.Append(recs(1, 10, "after"), 9, 0); err != nil {
		t.Fatalf("%s: append after recovery: %v", label, err)
	}
}

func TestCrashAtEveryOperation(t *testing.T) {
	// A run without crash counts the operations.
	full := newFakeFS()
	var m model
	if err := workload(full, &m); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, full.afterCrash(keepSynced), &m, "clean")
	n := full.ops
	if n < 50 {
		t.Fatalf("only %d operations", n)
	}
	for at := 0; at <= n; at++ {
		for _, mode := range []crashMode{keepSynced, keepTorn, keepAll} {
			fsys := newFakeFS()
			fsys.crashAt = at
			var m model
			if err := workload(fsys, &m); err == nil && at < n {
				t.Fatalf("crash at %d: workload did not fail", at)
			}
			label := fmt.Sprintf("crash at op %d/%d (%s) mode %d", at, n, opName(full, at), mode)
			checkRecovered(t, fsys.afterCrash(mode), &m, label)
		}
	}
	t.Logf("%d crash points × 3 modes", n+1)
}

func opName(f *fakeFS, i int) string {
	if i < len(f.log) {
		return f.log[i]
	}
	return "end"
}

// A crash during recovery itself (cutting a torn tail) must also be safe.
func TestCrashDuringRecovery(t *testing.T) {
	base := newFakeFS()
	var m model
	base.crashAt = 40
	workload(base, &m)
	torn := base.afterCrash(keepTorn)
	probe := torn.afterCrash(keepAll)
	if _, err := Open(crashDir, crashOpts(probe)); err != nil {
		t.Fatal(err)
	}
	for at := 0; at < probe.ops; at++ {
		fsys := torn.afterCrash(keepAll)
		fsys.crashAt = at
		Open(crashDir, crashOpts(fsys))
		for _, mode := range []crashMode{keepSynced, keepAll} {
			checkRecovered(t, fsys.afterCrash(mode), &m, fmt.Sprintf("recovery crash at %d mode %d", at, mode))
		}
	}
}
