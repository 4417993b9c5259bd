package logstore

import (
	"slices"
	"testing"
)

// KIP-101/279 cases, as Kafka's LeaderEpochFileCache answers them.
func TestEndOffsetFor(t *testing.T) {
	c := &epochCache{entries: []EpochEntry{{1, 0}, {2, 10}, {4, 25}}}
	const end = 40
	for _, tc := range []struct {
		ask       uint32
		epoch     uint32
		offset    uint64
		undefined bool
	}{
		{ask: 4, epoch: 4, offset: end}, // latest: the log end
		{ask: 2, epoch: 2, offset: 25},  // start of the next higher epoch
		{ask: 1, epoch: 1, offset: 10},  //
		{ask: 3, epoch: 2, offset: 25},  // unknown epoch: largest below it, next higher's start
		{ask: 0, epoch: 0, offset: 0},   // below all: requested epoch, first start
		{ask: 5, undefined: true},       // above the latest
	} {
		e, o, ok := c.endOffsetFor(tc.ask, end)
		if ok == tc.undefined || (ok && (e != tc.epoch || o != tc.offset)) {
			t.Errorf("EndOffsetFor(%d) = %d, %d, %v; want %d, %d, %v", tc.ask, e, o, ok, tc.epoch, tc.offset, !tc.undefined)
		}
	}
	if _, _, ok := (&epochCache{}).endOffsetFor(0, 0); ok {
		t.Error("empty cache answered")
	}
}

func TestEpochCheckpointPersistAndTruncate(t *testing.T) {
	fsys := newFakeFS()
	c := &epochCache{fsys: fsys, dir: "/t", entries: []EpochEntry{{1, 0}, {2, 10}, {4, 25}}}
	if err := c.persist(); err != nil {
		t.Fatal(err)
	}
	d, err := loadEpochs(fsys.afterCrash(keepSynced), "/t")
	if err != nil || !slices.Equal(d.entries, c.entries) {
		t.Fatalf("reload %v, %v", d, err)
	}
	c.truncateFromEnd(25)
	if !slices.Equal(c.entries, []EpochEntry{{1, 0}, {2, 10}}) {
		t.Fatalf("truncateFromEnd: %v", c.entries)
	}
	c.truncateFromStart(12)
	if !slices.Equal(c.entries, []EpochEntry{{2, 12}}) {
		t.Fatalf("truncateFromStart: %v", c.entries)
	}
	for _, bad := range []string{"", "1\n0\n", "0\n2\n1 0\n", "0\n2\n2 5\n1 9\n", "0\n1\nx 1\n"} {
		if _, err := parseEpochs([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
