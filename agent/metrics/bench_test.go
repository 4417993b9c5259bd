package metrics

import (
	"io"
	"testing"

	"github.com/prometheus/common/expfmt"
)

// BenchmarkScrape is the collector's part of a scrape of a 3-node ×
// 3-network agent: const metrics from a snapshot, gathered and encoded as
// text (the snapshot itself is the agent's part).
func BenchmarkScrape(b *testing.B) {
	reg := registry(&testing.T{}, fixture())
	b.ReportAllocs()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
