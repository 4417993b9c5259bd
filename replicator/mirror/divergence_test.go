package mirror

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tether-ha/tether/replicator/logstore"
)

func decodeFirst(raw []byte) (logstore.Batch, int, error) { return logstore.DecodeBatch(raw, 0) }

// copyLog appends src's batches below end to dst unchanged.
func copyLog(t *testing.T, dst, src *logstore.Log, end uint64) {
	t.Helper()
	bs, _ := batches(t, src)
	for _, b := range bs {
		if b.NextOffset() > end {
			return
		}
		if err := dst.AppendBatch(b.Raw); err != nil {
			t.Fatal(err)
		}
	}
}

// KIP-101: the primary lost its tail (it was truncated after a failover
// elsewhere) and wrote a new epoch; the mirror cuts exactly there.
func TestDivergenceKIP101(t *testing.T) {
	p, m := openLog(t), openLog(t)
	fill(t, p, 100, 10, 1) // batches of varying size; boundaries at fill's choice
	f := NewFetcher(m, Config{Topic: "t"}, t0)
	pump(t, f, p, t0)
	sameLog(t, p, m)

	bs, _ := batches(t, p)
	cut := bs[len(bs)/2].BaseOffset
	if err := p.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	fill(t, p, 70, 7, 2)

	st := pump(t, f, p, t0)
	if st.diverging != 1 {
		t.Fatalf("%d diverging answers, want 1", st.diverging)
	}
	sameLog(t, p, m)
	tr := f.Status(t0).Truncations
	if len(tr) != 1 || tr[0].From != 100 || tr[0].To != cut || tr[0].AckedRecords != 100-cut {
		t.Fatalf("truncations %+v, want 100 → %d", tr, cut)
	}
	if f.State() != Active {
		t.Fatalf("state %v", f.State())
	}
}

// KIP-279: the mirror holds an epoch the new primary never had, and the
// primary answers with one the mirror never had: the mirror walks back to
// the end of its epoch below, asks again, and then matches.
//
// History: A and B share epoch 1 [0,40). B led epoch 2 and wrote [40,60),
// which A missed; A led epoch 3 writing [40,100), which the mirror copied.
// Now B leads epoch 4 from 60 and the mirror fetches from B.
func TestDivergenceKIP279WalkBack(t *testing.T) {
	a, b, m := openLog(t), openLog(t), openLog(t)
	fill(t, a, 40, 10, 1)
	copyLog(t, b, a, 40)
	fill(t, a, 60, 10, 3)
	fill(t, b, 20, 10, 2)
	fill(t, b, 60, 10, 4)

	f := NewFetcher(m, Config{Topic: "t"}, t0)
	pump(t, f, a, t0)
	sameLog(t, a, m)

	// The first answer names epoch 2 (B's floor for 3), which the mirror
	// lacks: it cuts to the end of its epoch 1 (40), not to 60.
	req, _ := f.Next(t0)
	if !req.HasLastEpoch || req.LastEpoch != 3 || req.FetchOffset != 100 {
		t.Fatalf("request %+v", req)
	}
	resp := Serve(b, req)
	if resp.Diverging == nil || *resp.Diverging != (DivergingEpoch{2, 60}) {
		t.Fatalf("diverging %+v", resp.Diverging)
	}
	if err := f.Apply(t0, resp); err != nil {
		t.Fatal(err)
	}
	if m.LogEndOffset() != 40 {
		t.Fatalf("mirror cut to %d, want 40", m.LogEndOffset())
	}
	req, _ = f.Next(t0)
	if req.LastEpoch != 1 || req.FetchOffset != 40 {
		t.Fatalf("second request %+v", req)
	}
	if resp := Serve(b, req); resp.Diverging != nil || len(resp.Batches) == 0 {
		t.Fatalf("second answer %+v", resp)
	} else if err := f.Apply(t0, resp); err != nil {
		t.Fatal(err)
	}
	pump(t, f, b, t0)
	sameLog(t, b, m)
}

// Several epochs to walk over: the mirror has 1, 3, 5, 7 and the primary
// 1, 2, 4, 6, 8 from the same point; each answer names an epoch the
// mirror lacks until the shared epoch 1 is reached.
func TestDivergenceMultiEpochWalkBack(t *testing.T) {
	a, b, m := openLog(t), openLog(t), openLog(t)
	fill(t, a, 30, 10, 1)
	copyLog(t, b, a, 30)
	for _, e := range []uint32{3, 5, 7} {
		fill(t, a, 15, 5, e)
	}
	for _, e := range []uint32{2, 4, 6, 8} {
		fill(t, b, 12, 4, e)
	}
	f := NewFetcher(m, Config{Topic: "t"}, t0)
	pump(t, f, a, t0)
	pump(t, f, b, t0)
	sameLog(t, b, m)
	var tos []uint64
	for _, tr := range f.Status(t0).Truncations {
		tos = append(tos, tr.To)
	}
	// 7 → floor 6 (mirror lacks it): end of mirror's 5 = 60; then 5 → 4:
	// end of 3 = 45; then 3 → 2: end of 1 = 30, where both agree.
	if fmt.Sprint(tos) != "[60 45 30]" {
		t.Fatalf("truncations to %v, want [60 45 30]", tos)
	}
}

// A divergence point inside a mirror batch goes back to the batch's start.
func TestDivergenceBatchBoundary(t *testing.T) {
	p, m := openLog(t), openLog(t)
	for range 10 {
		if _, err := p.Append(make([][]byte, 10), 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	p.Sync()
	f := NewFetcher(m, Config{Topic: "t"}, t0)
	pump(t, f, p, t0)
	req, _ := f.Next(t0)
	resp := FetchResponse{Correlation: req.Correlation, HighWatermark: 100, LogEndOffset: 100, Diverging: &DivergingEpoch{1, 55}}
	if err := f.Apply(t0, resp); err != nil {
		t.Fatal(err)
	}
	if m.LogEndOffset() != 50 {
		t.Fatalf("cut to %d, want 50", m.LogEndOffset())
	}
}

// With StopOnAckedTruncation the fetcher stops DIVERGED, cuts nothing until
// Restore, then mirrors again.
func TestDivergedStopsForOperator(t *testing.T) {
	p, m := openLog(t), openLog(t)
	fill(t, p, 100, 10, 1)
	f := NewFetcher(m, Config{Topic: "t", StopOnAckedTruncation: true}, t0)
	pump(t, f, p, t0)
	bs, _ := batches(t, p)
	cut := bs[3].BaseOffset
	if err := p.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	fill(t, p, 30, 5, 2)
	req, _ := f.Next(t0)
	if err := f.Apply(t0, Serve(p, req)); err == nil || f.State() != Diverged {
		t.Fatalf("err %v state %v", err, f.State())
	}
	s := f.Status(t0)
	if m.LogEndOffset() != 100 || s.Pending == nil || s.Pending.To != cut || s.Pending.AckedRecords != 100-cut {
		t.Fatalf("end %d pending %+v", m.LogEndOffset(), s.Pending)
	}
	if _, ok := f.Next(t0); ok {
		t.Fatal("DIVERGED fetcher sent a request")
	}
	if err := f.Restore(); err != nil {
		t.Fatal(err)
	}
	pump(t, f, p, t0)
	sameLog(t, p, m)
	if err := f.Restore(); err == nil {
		t.Fatal("restore twice")
	}
}

func TestDivergenceBelowLogStartFails(t *testing.T) {
	m, err := logstore.Open(t.TempDir(), logstore.Options{InitialOffset: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	raw, _ := logstore.EncodeBatch(1000, 3, 0, [][]byte{[]byte("x")})
	if err := m.AppendBatch(raw); err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(m, Config{Topic: "t"}, t0)
	req, _ := f.Next(t0)
	err = f.Apply(t0, FetchResponse{Correlation: req.Correlation, Diverging: &DivergingEpoch{1, 500}})
	if err == nil || f.State() != Failed || m.LogEndOffset() != 1001 {
		t.Fatalf("err %v state %v end %d", err, f.State(), m.LogEndOffset())
	}
	if errors.Is(err, ErrCorrupt) {
		t.Fatal("a resync case reported as corruption")
	}
}
