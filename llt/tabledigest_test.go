package llt

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// The serial grows when the table's content does, and only then.
func TestTableSerialFollowsContent(t *testing.T) {
	s := newSim(t, 3, ether("hb0", "hb1"), DefaultTimers())
	s.run(3 * time.Second)
	m := s.nodes[0].m
	a := m.LinkTable(s.now)[0].Serial
	s.run(time.Second)
	if b := m.LinkTable(s.now)[0].Serial; b != a {
		t.Fatalf("serial %d -> %d without a change", a, b)
	}
	s.cutLink(0, 1, 1, true)
	s.run(2 * time.Second)
	c := m.LinkTable(s.now)[0].Serial
	if c <= a {
		t.Fatalf("serial %d -> %d after a link went down", a, c)
	}
	if d := m.TableDigest(); d.Serial != c || d.Origin != 0 || d.Parts != 1 || d.Incarnation != m.Incarnation() {
		t.Fatalf("digest %+v, want serial %d of 1 part", d, c)
	}
}

// A digest of the table we hold refreshes it past TableTTL; a digest of
// another table asks for it; a digest of an older one, another sender or
// another incarnation is refused.
func TestNoteTableDigest(t *testing.T) {
	s := newSim(t, 3, ether("hb0"), DefaultTimers())
	s.run(3 * time.Second)
	m0, m1 := s.nodes[0].m, s.nodes[1].m
	if pull, err := m0.NoteTableDigest(s.now, 1, TableDigest{Origin: 1, Incarnation: m1.Incarnation(), Serial: 1, Parts: 1}); err != nil || !pull {
		t.Fatalf("digest of a table never received: pull %v, err %v; want a pull", pull, err)
	}
	parts := m1.LinkTable(s.now)
	if err := m0.NoteLinkTable(s.now, 1, parts[0]); err != nil {
		t.Fatal(err)
	}
	d := m1.TableDigest()
	// Past TableTTL the table is stale, unless a digest came.
	s.run(DefaultTableTTL - 500*time.Millisecond)
	if pull, err := m0.NoteTableDigest(s.now, 1, d); err != nil || pull {
		t.Fatalf("digest of the table held: pull %v, err %v", pull, err)
	}
	s.run(time.Second)
	if _, ok := m0.peerView(s.now, 1, 2, 0); !ok {
		t.Fatal("the table a digest refreshed is stale")
	}
	s.run(DefaultTableTTL)
	if _, ok := m0.peerView(s.now, 1, 2, 0); ok {
		t.Fatal("a table neither resent nor refreshed is still fresh")
	}
	newer := d
	newer.Serial++
	if pull, err := m0.NoteTableDigest(s.now, 1, newer); err != nil || !pull {
		t.Fatalf("digest of a newer table: pull %v, err %v; want a pull", pull, err)
	}
	older := d
	older.Serial--
	for name, c := range map[string]struct {
		from NodeID
		d    TableDigest
	}{
		"older":           {1, older},
		"other sender":    {2, d},
		"old incarnation": {1, TableDigest{Origin: 1, Incarnation: d.Incarnation - 1, Serial: d.Serial, Parts: 1}},
		"unknown node":    {9, TableDigest{Origin: 9, Incarnation: 1, Serial: 1, Parts: 1}},
	} {
		if pull, err := m0.NoteTableDigest(s.now, c.from, c.d); err == nil || pull {
			t.Errorf("%s: pull %v, err %v; want refused", name, pull, err)
		}
	}
	s.collect(s.nodes[0])
}

func FuzzDecodeTableDigest(f *testing.F) {
	b, _ := AppendTableDigest(nil, TableDigest{Origin: 3, Incarnation: 77, Serial: 9, Parts: 2})
	f.Add(b)
	f.Add([]byte("LD\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeTableDigest(data)
		if err != nil {
			if !errors.Is(err, errTable) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := AppendTableDigest(nil, d)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted digest does not re-encode to the same bytes: %v\n%x\n%x", err, again, data)
		}
	})
}
