package llt

import (
	"fmt"
	"slices"
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
//
// The serial grows only when the content changed since the last table
// built (tabledigest.go).
func (m *Machine) LinkTable(now time.Time) []LinkTable {
	var nets []TableNetwork
	for i := range m.nets {
		ns := &m.nets[i]
		nets = append(nets, TableNetwork{Name: ns.cfg.Name, Carrier: ns.carrier, Silent: ns.ev.silent,
			Reasons: append([]Reason(nil), ns.ev.reasons...)})
	}
	var parts []LinkTable
	cur := LinkTable{Origin: m.cfg.Self, Incarnation: m.cfg.Incarnation, Networks: nets}
	for _, p := range m.peers {
		if len(cur.Links)+len(p.links) > maxTableLinks {
			parts = append(parts, cur)
			cur = LinkTable{Origin: m.cfg.Self, Incarnation: m.cfg.Incarnation, Networks: nets}
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
	serial := m.noteTableContent(parts)
	for i := range parts {
		parts[i].Serial = serial
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

// Matrix is the cluster link matrix as this node knows it: every node's
// view of each of its links (its own view live, the peers' from their
// link tables), and the suspects localised from it.
type Matrix struct {
	Self     NodeID
	Networks []string // our networks, by index
	Nodes    []NodeID // every node, this one included, by id
	Views    []MatrixView
	Suspects []Suspect
	// Settling: our links changed after some peer's table was sent; its
	// view (and the suspects) may not show the change yet. Tables follow
	// a change within a few hundred milliseconds.
	Settling bool
}

// MatrixView is one node's view.
type MatrixView struct {
	Node  NodeID
	Known bool           // its table is fresh (always, for this node)
	Age   time.Duration  // age of its table
	Stale bool           // its table came before our links last changed
	Nets  []MatrixNet    // by our network index
	Cells [][]MatrixCell // [index in Nodes][network]: its link to that node
}

// MatrixNet is a node's view of one of its networks.
type MatrixNet struct {
	Known   bool // it has a network of that name
	Carrier bool
	Silent  bool
	Reasons []Reason
}

// MatrixCell is one node's view of its link to another on one network.
type MatrixCell struct {
	Known        bool
	State        LinkState
	Reason       Reason
	RemoteReason Reason
	Hears        bool // it hears the other node
	HeardBy      bool // the other node says it hears it
	RxLoss       uint8
	TxLoss       uint8
	// Disagree: the other end's view of the same link says otherwise
	// (one thinks it usable, the other not, or one hears the other and
	// not the reverse): the signature of a one-way fault.
	Disagree bool
}

// Matrix assembles the matrix now.
func (m *Machine) Matrix(now time.Time) Matrix {
	mx := Matrix{Self: m.cfg.Self}
	for i := range m.nets {
		mx.Networks = append(mx.Networks, m.nets[i].cfg.Name)
	}
	mx.Nodes = append(mx.Nodes, m.cfg.Self)
	for _, p := range m.peers {
		mx.Nodes = append(mx.Nodes, p.id)
	}
	slices.Sort(mx.Nodes)
	pos := map[NodeID]int{}
	for i, id := range mx.Nodes {
		pos[id] = i
	}
	for _, id := range mx.Nodes {
		v := MatrixView{Node: id, Nets: make([]MatrixNet, len(m.nets)), Cells: make([][]MatrixCell, len(mx.Nodes))}
		for j := range v.Cells {
			v.Cells[j] = make([]MatrixCell, len(m.nets))
		}
		if id == m.cfg.Self {
			v.Known = true
			for i := range m.nets {
				ns := &m.nets[i]
				v.Nets[i] = MatrixNet{Known: true, Carrier: ns.carrier, Silent: ns.ev.silent, Reasons: append([]Reason(nil), ns.ev.reasons...)}
			}
			for _, p := range m.peers {
				for _, l := range p.links {
					rx, tx, _ := m.lossOf(now, l)
					v.Cells[pos[p.id]][l.net] = MatrixCell{Known: true, State: l.state, Reason: l.reason, RemoteReason: l.remoteReason,
						Hears: m.hearingAny(now, l), HeardBy: m.remoteFresh(now, l) && l.remote.HearsYou, RxLoss: rx, TxLoss: tx}
				}
			}
		} else if pt := m.tables[id]; pt != nil {
			m.fillView(now, &v, pt, pos)
		}
		mx.Views = append(mx.Views, v)
	}
	// Mark where the two ends disagree.
	for a := range mx.Views {
		for b := range mx.Views {
			for n := range m.nets {
				ca, cb := &mx.Views[a].Cells[b][n], mx.Views[b].Cells[a][n]
				if a == b || !ca.Known || !cb.Known {
					continue
				}
				ca.Disagree = ca.State.Usable() != cb.State.Usable() || ca.Hears != cb.Hears
			}
		}
	}
	for _, v := range mx.Views {
		mx.Settling = mx.Settling || v.Stale
	}
	mx.Suspects = Localize(&mx)
	return mx
}

// fillView fills v from a peer's fresh table parts.
func (m *Machine) fillView(now time.Time, v *MatrixView, pt *peerTable, pos map[NodeID]int) {
	oldest := time.Duration(-1)
	for _, part := range pt.parts {
		age := now.Sub(part.at)
		if age >= m.diag.TableTTL {
			continue
		}
		v.Known = true
		oldest = max(oldest, age)
		if part.at.Before(m.linkChangedAt) {
			v.Stale = true
		}
		t := &part.table
		idx := make([]int, len(t.Networks)) // their network index -> ours
		for i, tn := range t.Networks {
			idx[i] = -1
			if ni, ok := m.netIndex[tn.Name]; ok {
				idx[i] = ni
				v.Nets[ni] = MatrixNet{Known: true, Carrier: tn.Carrier, Silent: tn.Silent, Reasons: tn.Reasons}
			}
		}
		for _, tl := range t.Links {
			j, ok := pos[tl.Peer]
			if !ok || idx[tl.Net] < 0 {
				continue
			}
			v.Cells[j][idx[tl.Net]] = MatrixCell{Known: true, State: tl.State, Reason: tl.Reason, RemoteReason: tl.RemoteReason,
				Hears: tl.Hears, HeardBy: tl.HeardBy, RxLoss: tl.RxLoss, TxLoss: tl.TxLoss}
		}
	}
	if oldest >= 0 {
		v.Age = oldest
	}
}
