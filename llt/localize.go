package llt

import "slices"

// Fault localisation on the link matrix, per network. A fault leaves a
// pattern in who cannot reach whom:
//
//   - every pair of nodes on the network broken (three nodes or more):
//     that network's switch or VLAN;
//   - every pair of one node broken while other pairs work: that node's
//     NIC, cable or switch port (named by what it says of itself:
//     carrier-lost, nic-silent);
//   - one pair broken, both ends working with others: that path;
//   - a node that says its two networks share a segment, or whose frames
//     land on the wrong network: its cabling (swapped cables, a port in
//     the wrong VLAN);
//   - MTU mismatches, loss and flapping, attributed the same way (one
//     node's port, the network, or a path).
//
// A pair is broken when neither end says the link is usable (an end
// without a fresh table counts for nothing); when the ends disagree it is
// a one-way fault, and the direction is given.

// SuspectKind says what kind of thing a Suspect names.
type SuspectKind uint8

// Suspect kinds.
const (
	SuspectNode     SuspectKind = iota + 1 // a node's NIC, cable or switch port on the network
	SuspectNetwork                         // the network's switch or VLAN
	SuspectPath                            // the path between two nodes
	SuspectCabling                         // a node's cable in the wrong switch or VLAN, or swapped with another
	SuspectNodeDown                        // a node no one reaches on any network: down, stopped, or cut off
)

func (k SuspectKind) String() string {
	switch k {
	case SuspectNode:
		return "node"
	case SuspectNetwork:
		return "network"
	case SuspectPath:
		return "path"
	case SuspectCabling:
		return "cabling"
	case SuspectNodeDown:
		return "node-down"
	}
	return "unknown"
}

// Suspect is the most likely place of one fault.
type Suspect struct {
	Network int // our network index
	Kind    SuspectKind
	Nodes   []NodeID // node, cabling: the node; path: the two ends (the sender first when one-way)
	Reason  Reason   // what the links say: carrier-lost, nic-silent, mtu-mismatch, cross-connected, ...
	// Others lists the other networks a cabling suspect involves (shared
	// segment, swapped cables).
	Others []int
	OneWay bool // path: frames are lost from Nodes[0] to Nodes[1] only
}

// pairState is what both ends say of one pair on one network.
type pairState struct {
	a, b      int // indexes in the matrix
	known     bool
	broken    bool
	oneWayAB  bool // a's frames do not reach b, b's reach a
	oneWayBA  bool
	reason    Reason // the most telling reason either end gives
	mtu       bool
	lossy     bool
	flapping  bool
	crossed   bool
	bothKnown bool
}

// Localize finds the suspects of a matrix. A node suspected on every
// network, silent or stopped, is one suspect: the node itself is down,
// stopped or cut off (Network -1).
func Localize(mx *Matrix) []Suspect {
	var out []Suspect
	for n := range mx.Networks {
		out = append(out, localizeNetwork(mx, n)...)
	}
	for _, id := range mx.Nodes {
		nets, reason := 0, ReasonNone
		for _, s := range out {
			if s.Kind == SuspectNode && s.Nodes[0] == id && (s.Reason == ReasonPeerSilent || s.Reason == ReasonPeerStopped) {
				nets++
				reason = s.Reason
			}
		}
		if nets < len(mx.Networks) {
			continue
		}
		out = slices.DeleteFunc(out, func(s Suspect) bool { return s.Kind == SuspectNode && s.Nodes[0] == id })
		out = append(out, Suspect{Network: -1, Kind: SuspectNodeDown, Nodes: []NodeID{id}, Reason: reason})
	}
	return out
}

func localizeNetwork(mx *Matrix, n int) []Suspect {
	var out []Suspect
	nodes := len(mx.Nodes)
	// Cabling first: it explains the broken links it causes.
	explained := map[int]bool{} // nodes whose links on n are explained
	for i, v := range mx.Views {
		if !v.Known || !v.Nets[n].Known {
			continue
		}
		if slices.Contains(v.Nets[n].Reasons, ReasonSharedSegment) {
			s := Suspect{Network: n, Kind: SuspectCabling, Nodes: []NodeID{v.Node}, Reason: ReasonSharedSegment}
			for o := range mx.Networks {
				if o != n && v.Nets[o].Known && slices.Contains(v.Nets[o].Reasons, ReasonSharedSegment) {
					s.Others = append(s.Others, o)
				}
			}
			out = append(out, s)
			explained[i] = true
		}
	}
	var pairs []pairState
	for a := 0; a < nodes; a++ {
		for b := a + 1; b < nodes; b++ {
			pairs = append(pairs, pairOf(mx, a, b, n))
		}
	}
	// Nodes whose frames land elsewhere: every known pair of theirs on n
	// is cross-connected (by at least one end).
	for i := range mx.Views {
		if explained[i] {
			continue
		}
		all, any := true, false
		for _, p := range pairs {
			if (p.a != i && p.b != i) || !p.known {
				continue
			}
			any = true
			all = all && p.crossed
		}
		if any && all && crossedElsewhere(mx, pairs, i, n) {
			s := Suspect{Network: n, Kind: SuspectCabling, Nodes: []NodeID{mx.Nodes[i]}, Reason: ReasonCrossConnected}
			for o := range mx.Networks {
				if o != n && nodeCrossedOn(mx, i, o) {
					s.Others = append(s.Others, o)
				}
			}
			out = append(out, s)
			explained[i] = true
		}
	}
	out = append(out, attribute(mx, n, pairs, explained, func(p pairState) bool { return p.broken }, ReasonNone)...)
	out = append(out, attribute(mx, n, pairs, explained, func(p pairState) bool { return !p.broken && p.mtu }, ReasonMTUMismatch)...)
	out = append(out, attribute(mx, n, pairs, explained, func(p pairState) bool { return !p.broken && p.flapping }, ReasonFlapping)...)
	out = append(out, attribute(mx, n, pairs, explained, func(p pairState) bool { return !p.broken && p.lossy }, ReasonLossy)...)
	return out
}

// crossedElsewhere reports whether node i's frames are seen crossed by
// the others (the mark is on both ends, but a node that is crossed
// everywhere is the one whose cable moved only if at least one pair not
// involving it is fine on n). When no pair without i is known (i is cut
// off and only its own view is known: ether only, its cables swapped),
// two crossed pairs or more blame i: one fault, its cabling, explains
// them, where the alternative takes one per peer.
func crossedElsewhere(mx *Matrix, pairs []pairState, i, n int) bool {
	others, mine := 0, 0
	for _, p := range pairs {
		if !p.known {
			continue
		}
		if p.a == i || p.b == i {
			mine++
			continue
		}
		others++
		if p.crossed || p.broken {
			return false
		}
	}
	return others > 0 || len(mx.Nodes) == 2 || mine >= 2
}

// nodeCrossedOn reports whether some node's view calls a link of node i
// on network o cross-connected, node i's own view of its links included.
func nodeCrossedOn(mx *Matrix, i, o int) bool {
	for j, v := range mx.Views {
		if !v.Known {
			continue
		}
		if j == i {
			for k, row := range v.Cells {
				if c := row[o]; k != i && c.Known && c.Reason == ReasonCrossConnected {
					return true
				}
			}
			continue
		}
		if c := v.Cells[i][o]; c.Known && c.Reason == ReasonCrossConnected {
			return true
		}
	}
	return false
}

// attribute localises the pairs that match: the whole network, a node, or
// paths. reason is the suspects' reason, or ReasonNone to take the ends'.
func attribute(mx *Matrix, n int, pairs []pairState, explained map[int]bool, match func(pairState) bool, reason Reason) []Suspect {
	var bad []pairState
	known := 0
	for _, p := range pairs {
		if !p.known || explained[p.a] || explained[p.b] {
			continue
		}
		known++
		if match(p) {
			bad = append(bad, p)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	pick := func(p pairState) Reason {
		if reason != ReasonNone {
			return reason
		}
		return p.reason
	}
	if len(bad) == known && known >= 3 {
		return []Suspect{{Network: n, Kind: SuspectNetwork, Reason: pick(bad[0])}}
	}
	var out []Suspect
	done := map[int]bool{} // pairs explained by a node
	for i := range mx.Nodes {
		mine, all := 0, true
		for _, p := range pairs {
			if !p.known || (p.a != i && p.b != i) || explained[p.a] || explained[p.b] {
				continue
			}
			mine++
			all = all && match(p)
		}
		// Every pair of the node, and (with three nodes or more) at least
		// two of them, so that one broken path is not blamed on a node.
		if mine < 2 || !all {
			continue
		}
		s := Suspect{Network: n, Kind: SuspectNode, Nodes: []NodeID{mx.Nodes[i]}, Reason: nodeReason(mx, i, n, reason, bad)}
		out = append(out, s)
		for k, p := range pairs {
			if p.a == i || p.b == i {
				done[k] = true
			}
		}
	}
	for k, p := range pairs {
		if done[k] || !p.known || explained[p.a] || explained[p.b] || !match(p) {
			continue
		}
		s := Suspect{Network: n, Kind: SuspectPath, Nodes: []NodeID{mx.Nodes[p.a], mx.Nodes[p.b]}, Reason: pick(p)}
		switch {
		case p.oneWayAB:
			s.OneWay = true
		case p.oneWayBA:
			s.OneWay = true
			s.Nodes[0], s.Nodes[1] = s.Nodes[1], s.Nodes[0]
		}
		out = append(out, s)
	}
	return out
}

// nodeReason is the reason a node suspect is named with: what the node
// says of its own NIC if it says something, else the links'.
func nodeReason(mx *Matrix, i, n int, reason Reason, bad []pairState) Reason {
	if reason != ReasonNone {
		return reason
	}
	if v := mx.Views[i]; v.Known && v.Nets[n].Known {
		switch {
		case !v.Nets[n].Carrier:
			return ReasonCarrierLost
		case v.Nets[n].Silent:
			return ReasonNICSilent
		}
	}
	for _, p := range bad {
		if p.a == i || p.b == i {
			return p.reason
		}
	}
	return ReasonPeerSilent
}

// pairOf combines both ends' views of the link between nodes a and b on n.
func pairOf(mx *Matrix, a, b, n int) pairState {
	p := pairState{a: a, b: b}
	va, vb := mx.Views[a], mx.Views[b]
	ca, cb := va.Cells[b][n], vb.Cells[a][n]
	ka, kb := va.Known && ca.Known, vb.Known && cb.Known
	if !ka && !kb {
		return p
	}
	p.known, p.bothKnown = true, ka && kb
	usable := func(k bool, c MatrixCell) bool { return k && c.State.Usable() }
	p.broken = !usable(ka, ca) && !usable(kb, cb)
	if ka && kb {
		// a hears b but b does not hear a: a's frames are lost on the way.
		p.oneWayAB = ca.Hears && !cb.Hears
		p.oneWayBA = cb.Hears && !ca.Hears
		if !p.broken && usable(ka, ca) != usable(kb, cb) {
			p.broken = true // one end has given up on it
		}
	}
	for _, c := range []struct {
		k bool
		c MatrixCell
	}{{ka, ca}, {kb, cb}} {
		if !c.k {
			continue
		}
		switch c.c.Reason {
		case ReasonMTUMismatch:
			p.mtu = true
		case ReasonLossy:
			p.lossy = true
		case ReasonFlapping:
			p.flapping = true
		case ReasonCrossConnected:
			p.crossed = true
		}
		if p.reason == ReasonNone || rank(c.c.Reason) < rank(p.reason) {
			p.reason = c.c.Reason
		}
	}
	if p.reason == ReasonNone && p.broken {
		p.reason = ReasonPeerSilent
	}
	return p
}

// rank orders reasons for a pair: the most telling first.
func rank(r Reason) int {
	order := []Reason{ReasonCarrierLost, ReasonNICSilent, ReasonPeerStopped, ReasonSharedSegment, ReasonCrossConnected,
		ReasonDuplicateNodeID, ReasonFlapping, ReasonAuthFailure, ReasonOneWayOut, ReasonOneWayIn, ReasonMTUMismatch,
		ReasonTCPBlocked, ReasonLossy, ReasonPeerSilent}
	if i := slices.Index(order, r); i >= 0 {
		return i
	}
	return len(order)
}
