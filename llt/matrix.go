package llt

import (
	"fmt"
	"time"
)

// The cluster link matrix. Every node sends its link table (its view of
// every link it has, and of its networks) to every peer about once a
// second over the message API; the agent hands the ones it receives to
// NoteLinkTable. Together with our own view they are the matrix, from
// which a fault is localised (localize.go) and a NIC that passes nothing
// is told from a dead peer (netreason.go: nic-silent).

// peerTable is the newest link table of a peer, by part.
type peerTable struct {
	inc    uint64
	serial uint64
	parts  map[uint8]tablePart
}

type tablePart struct {
	at    time.Time
	table LinkTable
}

// LinkTable builds our link table: one part per maxTableLinks links.
func (m *Machine) LinkTable(now time.Time) []LinkTable {
	m.tableSerial++
	var nets []TableNetwork
	for i := range m.nets {
		ns := &m.nets[i]
		nets = append(nets, TableNetwork{Name: ns.cfg.Name, Carrier: ns.carrier, Silent: ns.ev.silent,
			Reasons: append([]Reason(nil), ns.ev.reasons...)})
	}
	var parts []LinkTable
	cur := LinkTable{Origin: m.cfg.Self, Incarnation: m.cfg.Incarnation, Serial: m.tableSerial, Networks: nets}
	for _, p := range m.peers {
		if len(cur.Links)+len(p.links) > maxTableLinks {
			parts = append(parts, cur)
			cur = LinkTable{Origin: m.cfg.Self, Incarnation: m.cfg.Incarnation, Serial: m.tableSerial, Networks: nets}
		}
		for _, l := range p.links {
			rx, tx, _ := m.lossOf(now, l)
			cur.Links = append(cur.Links, TableLink{Peer: p.id, Net: l.net, State: l.state, Reason: l.reason,
				RemoteReason: l.remoteReason, Hears: m.hearingAny(now, l),
				HeardBy: m.remoteFresh(now, l) && l.remote.HearsYou, RxLoss: rx, TxLoss: tx})
		}
	}
	parts = append(parts, cur)
	for i := range parts {
		parts[i].Part, parts[i].Parts = uint8(i), uint8(len(parts))
	}
	return parts
}

// NoteLinkTable takes a peer's link table, received from node from (the
// authenticated sender of the message that carried it).
func (m *Machine) NoteLinkTable(now time.Time, from NodeID, t LinkTable) error {
	m.enter()
	m.checkPause(now)
	p := m.peerByID[from]
	switch {
	case p == nil:
		return fmt.Errorf("llt: link table from unknown node %d", from)
	case t.Origin != from:
		return fmt.Errorf("llt: link table of node %d sent by node %d", t.Origin, from)
	case t.Incarnation != p.inc:
		return fmt.Errorf("llt: link table of node %d's incarnation %x, it is %x", from, t.Incarnation, p.inc)
	}
	pt := m.tables[from]
	if pt == nil || pt.inc != t.Incarnation {
		pt = &peerTable{inc: t.Incarnation, parts: map[uint8]tablePart{}}
		m.tables[from] = pt
	}
	if t.Serial < pt.serial {
		return fmt.Errorf("llt: link table %d of node %d older than %d", t.Serial, from, pt.serial)
	}
	if t.Serial > pt.serial {
		pt.serial = t.Serial
		for k := range pt.parts {
			if k >= t.Parts {
				delete(pt.parts, k)
			}
		}
	}
	pt.parts[t.Part] = tablePart{at: now, table: t}
	m.evalNetworks(now)
	return nil
}

// peerView returns what peer a's fresh table says of its link to b on our
// network net (matched by name).
func (m *Machine) peerView(now time.Time, a NodeID, b NodeID, net int) (TableLink, bool) {
	pt := m.tables[a]
	if pt == nil {
		return TableLink{}, false
	}
	name := m.nets[net].cfg.Name
	for _, part := range pt.parts {
		if now.Sub(part.at) >= m.diag.TableTTL {
			continue
		}
		t := &part.table
		for _, tl := range t.Links {
			if tl.Peer == b && tl.Net < len(t.Networks) && t.Networks[tl.Net].Name == name {
				return tl, true
			}
		}
	}
	return TableLink{}, false
}

// othersHearEachOther reports whether two peers of ours say, in their
// fresh link tables, that they hear each other on network net.
func (m *Machine) othersHearEachOther(now time.Time, net int) bool {
	for _, a := range m.peers {
		for _, b := range m.peers {
			if a == b {
				continue
			}
			if tl, ok := m.peerView(now, a.id, b.id, net); ok && tl.State.Usable() {
				return true
			}
		}
	}
	return false
}
