package llt

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"time"
)

// Link tables cost O(peers × links) bytes a second per node if every node
// sends its whole table to every peer every second. Instead (the agent's
// schedule, agent/linktables.go) a node sends its table when it changed,
// and otherwise a TableDigest: which table it still holds (incarnation,
// serial, parts). A peer that holds that table takes the digest as a
// fresh copy of it; one that does not (it missed the table, or just
// started) pulls the table. The serial grows only when the content does.

// TableDigest names a node's current link table.
type TableDigest struct {
	Origin      NodeID
	Incarnation uint64
	Serial      uint64
	Parts       uint8
}

// tableState is what LinkTable last built.
type tableState struct {
	hash  uint64
	parts uint8
	built bool
}

// noteTableContent keeps the serial of parts if their content is that of
// the last table built, else bumps it; it returns the serial.
func (m *Machine) noteTableContent(parts []LinkTable) uint64 {
	h := fnv.New64a()
	var b []byte
	for i := range parts {
		p := parts[i]
		p.Serial = 0
		var err error
		if b, err = AppendLinkTable(b[:0], &p); err == nil {
			h.Write(b)
		}
	}
	sum := h.Sum64()
	if !m.table.built || sum != m.table.hash || uint8(len(parts)) != m.table.parts {
		m.tableSerial++
		m.table = tableState{hash: sum, parts: uint8(len(parts)), built: true}
	}
	return m.tableSerial
}

// TableDigest names the link table LinkTable last returned (zero Serial:
// none built yet).
func (m *Machine) TableDigest() TableDigest {
	return TableDigest{Origin: m.cfg.Self, Incarnation: m.cfg.Incarnation, Serial: m.tableSerial, Parts: m.table.parts}
}

// NoteTableDigest takes a peer's digest, received from node from. When we
// hold the table it names, the digest refreshes it (it is the peer's view
// now); otherwise pull is true: ask the peer for its table.
func (m *Machine) NoteTableDigest(now time.Time, from NodeID, d TableDigest) (pull bool, err error) {
	m.enter()
	m.checkPause(now)
	p := m.peerByID[from]
	switch {
	case p == nil:
		return false, fmt.Errorf("llt: table digest from unknown node %d", from)
	case d.Origin != from:
		return false, fmt.Errorf("llt: table digest of node %d sent by node %d", d.Origin, from)
	case d.Incarnation != p.inc:
		return false, fmt.Errorf("llt: table digest of node %d's incarnation %x, it is %x", from, d.Incarnation, p.inc)
	}
	pt := m.tables[from]
	if pt == nil || pt.inc != d.Incarnation || pt.serial < d.Serial {
		return true, nil
	}
	if pt.serial > d.Serial {
		return false, fmt.Errorf("llt: table digest %d of node %d older than %d", d.Serial, from, pt.serial)
	}
	if len(pt.parts) != int(d.Parts) {
		return true, nil // some part missing
	}
	for k, part := range pt.parts {
		part.at = now
		pt.parts[k] = part
	}
	m.evalNetworks(now)
	return false, nil
}

// Table digest wire format, version 1, big-endian:
//
//	"LD" version(1) origin(2) incarnation(8) serial(8) parts(1)
const tdLen = 2 + 1 + 2 + 8 + 8 + 1

// AppendTableDigest encodes d and appends it to dst.
func AppendTableDigest(dst []byte, d TableDigest) ([]byte, error) {
	if d.Origin > MaxNodeID || d.Parts == 0 || int(d.Parts) > maxTableParts {
		return dst, tableErr("digest of node %d, %d parts", d.Origin, d.Parts)
	}
	be := binary.BigEndian
	dst = append(dst, 'L', 'D', ltVersion)
	dst = be.AppendUint16(dst, uint16(d.Origin))
	dst = be.AppendUint64(dst, d.Incarnation)
	dst = be.AppendUint64(dst, d.Serial)
	return append(dst, d.Parts), nil
}

// DecodeTableDigest parses b: exactly what AppendTableDigest produces.
func DecodeTableDigest(b []byte) (TableDigest, error) {
	var d TableDigest
	if len(b) != tdLen || b[0] != 'L' || b[1] != 'D' || b[2] != ltVersion {
		return d, tableErr("digest of %d bytes", len(b))
	}
	be := binary.BigEndian
	d.Origin = NodeID(be.Uint16(b[3:]))
	d.Incarnation = be.Uint64(b[5:])
	d.Serial = be.Uint64(b[13:])
	d.Parts = b[21]
	if d.Origin > MaxNodeID || d.Parts == 0 || int(d.Parts) > maxTableParts {
		return d, tableErr("digest of node %d, %d parts", d.Origin, d.Parts)
	}
	return d, nil
}
