package llt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// LinkTable is one node's view of its links and networks, or one part of
// it: every node sends it to every peer (matrix.go). Parts keep each
// message small enough for an Ethernet frame in large clusters.
type LinkTable struct {
	Origin      NodeID
	Incarnation uint64
	Serial      uint64 // grows with every table of one incarnation
	Part, Parts uint8  // this is part Part of Parts (0-based)
	Networks    []TableNetwork
	Links       []TableLink
}

// TableNetwork is the origin's view of one of its networks.
type TableNetwork struct {
	Name    string
	Carrier bool
	Silent  bool     // nic-silent
	Reasons []Reason // network-wide reasons (by id, after decoding)
}

// TableLink is the origin's view of one of its links.
type TableLink struct {
	Peer         NodeID
	Net          int // index into Networks
	State        LinkState
	Reason       Reason
	RemoteReason Reason
	Hears        bool  // the origin hears the peer on it
	HeardBy      bool  // the peer says it hears the origin on it
	RxLoss       uint8 // loss of the peer's frames at the origin (%, LossUnknown)
	TxLoss       uint8 // loss of the origin's frames at the peer
}

// Link table wire format, version 1, big-endian:
//
//	"LT" version(1) origin(2) incarnation(8) serial(8) part(1) parts(1)
//	networks(1) { name-length(1) name flags(1: carrier, silent) reasons(4: bit per Reason) }
//	links(2)    { peer(2) network(1) state(1) reason(1) remote-reason(1) flags(1: hears, heard-by) rx-loss(1) tx-loss(1) }
const (
	ltVersion     = 1
	ltHeader      = 2 + 1 + 2 + 8 + 8 + 1 + 1
	ltLinkLen     = 9
	maxTableLinks = 100 // per part: about 1.1 KB, within any Ethernet MTU
	maxTableParts = (int(MaxNodeID)+1)*MaxVector/maxTableLinks + 1
)

var errTable = errors.New("llt: bad link table")

func tableErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errTable, fmt.Sprintf(format, args...))
}

// AppendLinkTable encodes t and appends it to dst.
func AppendLinkTable(dst []byte, t *LinkTable) ([]byte, error) {
	if len(t.Networks) == 0 || len(t.Networks) > MaxVector || len(t.Links) > 0xFFFF || t.Parts == 0 || t.Part >= t.Parts {
		return dst, tableErr("%d networks, %d links, part %d of %d", len(t.Networks), len(t.Links), t.Part, t.Parts)
	}
	be := binary.BigEndian
	dst = append(dst, 'L', 'T', ltVersion)
	dst = be.AppendUint16(dst, uint16(t.Origin))
	dst = be.AppendUint64(dst, t.Incarnation)
	dst = be.AppendUint64(dst, t.Serial)
	dst = append(dst, t.Part, t.Parts, byte(len(t.Networks)))
	for _, n := range t.Networks {
		if !validName(n.Name) {
			return dst, tableErr("network name %q", n.Name)
		}
		var fl byte
		if n.Carrier {
			fl |= 1
		}
		if n.Silent {
			fl |= 2
		}
		var rs uint32
		for _, r := range n.Reasons {
			if !r.Valid() || r == ReasonNone {
				return dst, tableErr("network reason %d", r)
			}
			rs |= 1 << r
		}
		dst = append(dst, byte(len(n.Name)))
		dst = append(dst, n.Name...)
		dst = append(dst, fl)
		dst = be.AppendUint32(dst, rs)
	}
	dst = be.AppendUint16(dst, uint16(len(t.Links)))
	for _, l := range t.Links {
		if l.Net < 0 || l.Net >= len(t.Networks) || l.State < LinkDown || l.State > LinkUp ||
			!l.Reason.Valid() || !l.RemoteReason.Valid() || !validLoss(l.RxLoss) || !validLoss(l.TxLoss) || l.Peer > MaxNodeID {
			return dst, tableErr("link %+v", l)
		}
		var fl byte
		if l.Hears {
			fl |= 1
		}
		if l.HeardBy {
			fl |= 2
		}
		dst = be.AppendUint16(dst, uint16(l.Peer))
		dst = append(dst, byte(l.Net), byte(l.State), byte(l.Reason), byte(l.RemoteReason), fl, l.RxLoss, l.TxLoss)
	}
	return dst, nil
}

// DecodeLinkTable parses b. It accepts exactly what AppendLinkTable
// produces; anything else is an error wrapping a "bad link table".
func DecodeLinkTable(b []byte) (LinkTable, error) {
	var t LinkTable
	be := binary.BigEndian
	if len(b) < ltHeader+1 {
		return t, tableErr("%d bytes", len(b))
	}
	if b[0] != 'L' || b[1] != 'T' || b[2] != ltVersion {
		return t, tableErr("magic or version %x", b[:3])
	}
	t.Origin = NodeID(be.Uint16(b[3:]))
	t.Incarnation = be.Uint64(b[5:])
	t.Serial = be.Uint64(b[13:])
	t.Part, t.Parts = b[21], b[22]
	nn := int(b[23])
	if t.Origin > MaxNodeID || t.Parts == 0 || t.Part >= t.Parts || int(t.Parts) > maxTableParts || nn == 0 || nn > MaxVector {
		return t, tableErr("origin %d part %d of %d, %d networks", t.Origin, t.Part, t.Parts, nn)
	}
	off := ltHeader + 1
	for i := 0; i < nn; i++ {
		if off >= len(b) {
			return t, tableErr("network %d truncated", i)
		}
		n := int(b[off])
		if n == 0 || off+1+n+5 > len(b) {
			return t, tableErr("network %d truncated", i)
		}
		name := string(b[off+1 : off+1+n])
		if !validName(name) {
			return t, tableErr("network name %q", name)
		}
		fl := b[off+1+n]
		rs := be.Uint32(b[off+2+n:])
		if fl&^3 != 0 || rs&1 != 0 || rs>>NumReasons != 0 {
			return t, tableErr("network %s flags %x reasons %x", name, fl, rs)
		}
		tn := TableNetwork{Name: name, Carrier: fl&1 != 0, Silent: fl&2 != 0}
		for r := Reason(1); r < NumReasons; r++ {
			if rs&(1<<r) != 0 {
				tn.Reasons = append(tn.Reasons, r)
			}
		}
		t.Networks = append(t.Networks, tn)
		off += 1 + n + 5
	}
	if off+2 > len(b) {
		return t, tableErr("link count truncated")
	}
	nl := int(be.Uint16(b[off:]))
	off += 2
	if len(b)-off != nl*ltLinkLen {
		return t, tableErr("%d links in %d bytes", nl, len(b)-off)
	}
	for i := 0; i < nl; i++ {
		r := b[off : off+ltLinkLen]
		l := TableLink{Peer: NodeID(be.Uint16(r)), Net: int(r[2]), State: LinkState(r[3]), Reason: Reason(r[4]),
			RemoteReason: Reason(r[5]), Hears: r[6]&1 != 0, HeardBy: r[6]&2 != 0, RxLoss: r[7], TxLoss: r[8]}
		if l.Peer > MaxNodeID || l.Net >= nn || l.State < LinkDown || l.State > LinkUp || !l.Reason.Valid() ||
			!l.RemoteReason.Valid() || r[6]&^3 != 0 || !validLoss(l.RxLoss) || !validLoss(l.TxLoss) {
			return t, tableErr("link %d", i)
		}
		t.Links = append(t.Links, l)
		off += ltLinkLen
	}
	return t, nil
}
