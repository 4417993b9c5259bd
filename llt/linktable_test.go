package llt

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func sampleTable() LinkTable {
	return LinkTable{Origin: 2, Incarnation: 0x0123456789abcdef, Serial: 9, Part: 0, Parts: 1,
		Networks: []TableNetwork{
			{Name: "hb0", Carrier: true},
			{Name: "hb1", Carrier: true, Silent: true, Reasons: []Reason{ReasonForeignCluster, ReasonNICSilent}},
		},
		Links: []TableLink{
			{Peer: 0, Net: 0, State: LinkUp, Hears: true, HeardBy: true, RxLoss: 0, TxLoss: 3},
			{Peer: 0, Net: 1, State: LinkDown, Reason: ReasonNICSilent, RemoteReason: ReasonPeerSilent, RxLoss: LossUnknown, TxLoss: LossUnknown},
		}}
}

func TestLinkTableRoundTrip(t *testing.T) {
	lt := sampleTable()
	b, err := AppendLinkTable(nil, &lt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeLinkTable(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lt, got, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	for n := range b {
		if _, err := DecodeLinkTable(b[:n]); err == nil {
			t.Fatalf("accepted a table cut to %d of %d bytes", n, len(b))
		}
	}
	if _, err := DecodeLinkTable(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("accepted a trailing byte")
	}
}

func TestLinkTableRefusesWhatItCannotCarry(t *testing.T) {
	for name, mod := range map[string]func(*LinkTable){
		"no network":       func(lt *LinkTable) { lt.Networks = nil },
		"bad name":         func(lt *LinkTable) { lt.Networks[0].Name = "hb 0" },
		"bad state":        func(lt *LinkTable) { lt.Links[0].State = 0 },
		"net out of range": func(lt *LinkTable) { lt.Links[0].Net = 2 },
		"bad loss":         func(lt *LinkTable) { lt.Links[0].RxLoss = 101 },
		"part":             func(lt *LinkTable) { lt.Part = 1 },
		"network reason":   func(lt *LinkTable) { lt.Networks[0].Reasons = []Reason{ReasonNone} },
	} {
		lt := sampleTable()
		mod(&lt)
		if _, err := AppendLinkTable(nil, &lt); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// A table is taken only from its origin, of the origin's current
// incarnation, and never older than the one before.
func TestNoteLinkTableChecksTheSender(t *testing.T) {
	s := newSim(t, 3, ether("hb0"), DefaultTimers())
	s.run(DefaultTableTTL)
	m0, m1 := s.nodes[0].m, s.nodes[1].m
	t1 := m1.LinkTable(s.now)[0]
	if err := m0.NoteLinkTable(s.now, 2, t1); err == nil {
		t.Error("node 1's table accepted from node 2")
	}
	old := t1
	old.Incarnation--
	if err := m0.NoteLinkTable(s.now, 1, old); err == nil {
		t.Error("a table of another incarnation accepted")
	}
	if err := m0.NoteLinkTable(s.now, 1, t1); err != nil {
		t.Fatal(err)
	}
	t0 := t1
	t0.Serial--
	if err := m0.NoteLinkTable(s.now, 1, t0); err == nil {
		t.Error("an older table accepted after a newer one")
	}
	s.collect(s.nodes[0])
}

func FuzzDecodeLinkTable(f *testing.F) {
	lt := sampleTable()
	b, _ := AppendLinkTable(nil, &lt)
	f.Add(b)
	f.Add([]byte("LT\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		lt, err := DecodeLinkTable(data)
		if err != nil {
			if !errors.Is(err, errTable) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Accepted means encodable, to the same bytes: one encoding per
		// table.
		again, err := AppendLinkTable(nil, &lt)
		if err != nil {
			t.Fatalf("accepted table does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, data)
		}
	})
}
