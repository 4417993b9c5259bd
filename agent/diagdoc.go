package agent

import (
	"fmt"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/llt"
)

// The status document's diagnostics: network-wide reasons, the link
// matrix and its suspects, in words an operator reads at 3 a.m.

// netName returns our network i's name, "?" out of range.
func (a *Agent) netName(i int) string {
	if i < 0 || i >= len(a.nets) {
		return "?"
	}
	return a.nets[i].cfg.Name
}

// networkDiag fills the diagnostics of the doc d of network i from the
// machine's snapshot of it; order is its place in the message route order.
func (a *Agent) networkDiag(d *status.Network, i int, ns llt.NetworkSnapshot, order int) {
	d.Order, d.Primary = order, order == 1
	if a.nets[i].ether != nil {
		d.ProbeMTU = ns.MTU
	}
	d.Reasons = []status.NetworkReason{}
	for _, j := range ns.SharedWith {
		d.SharedWith = append(d.SharedWith, a.netName(j))
	}
	for _, f := range ns.Foreign {
		d.Foreign = append(d.Foreign, status.ForeignCluster{Cluster: f.Cluster, Node: uint16(f.Node), From: f.From, Count: f.Count, LastSeen: f.Last})
	}
	for _, x := range ns.Duplicates {
		d.Duplicates = append(d.Duplicates, status.Duplicate{Node: uint16(x.Node), From: formatAddr(llt.ChannelEther, x.From),
			Incarnation: fmt.Sprintf("%016x", x.Incarnation), Count: x.Count, LastSeen: x.Last})
	}
	if ns.Auth.Count > 0 {
		d.AuthFailures = &status.AuthFailures{Count: ns.Auth.Count, LastSeen: ns.Auth.Last, Node: uint16(ns.Auth.Node), From: ns.Auth.From}
	}
	for _, r := range ns.Reasons {
		nr := status.NetworkReason{Reason: r.String()}
		switch r {
		case llt.ReasonCarrierLost:
			nr.Detail = fmt.Sprintf("%s has no carrier: cable, switch port or NIC", d.Interface)
			nr.Since = ns.CarrierSince
		case llt.ReasonNICSilent:
			nr.Detail = fmt.Sprintf("%s has carrier but passes nothing: no peer hears us on %s and we hear no one, while the peers hear each other there: our NIC (firmware?), cable or switch port", d.Interface, d.Name)
			nr.Since = ns.SilentSince
		case llt.ReasonSharedSegment:
			nr.Detail = fmt.Sprintf("%s and %s are one broadcast domain (one switch or VLAN): our frames, or a peer's, arrive on both; the redundancy is not real", d.Name, strings.Join(d.SharedWith, ", "))
		case llt.ReasonForeignCluster:
			var ids []string
			for _, f := range d.Foreign {
				ids = append(ids, fmt.Sprintf("cluster %d (node %d at %s)", f.Cluster, f.Node, f.From))
			}
			nr.Detail = "frames of another cluster arrive here: " + strings.Join(ids, ", ") + ": two clusters share this VLAN; they are counted and ignored"
		case llt.ReasonAuthFailure:
			nr.Detail = fmt.Sprintf("%d frames or handshakes failed authentication (the last claiming node %d, from %s): a wrong cluster key, or forgery",
				ns.Auth.Count, ns.Auth.Node, ns.Auth.From)
		case llt.ReasonDuplicateNodeID:
			var who []string
			for _, x := range d.Duplicates {
				what := "our node id"
				if x.Node != a.cfg.Node.ID {
					what = "the node id of " + a.peerName(llt.NodeID(x.Node))
				}
				who = append(who, fmt.Sprintf("%s uses %s (%d, incarnation %s)", x.From, what, x.Node, x.Incarnation))
			}
			nr.Detail = "a node id is used twice: " + strings.Join(who, "; ")
		}
		d.Reasons = append(d.Reasons, nr)
	}
}

// linkDiag fills a link doc's diagnostics.
func (a *Agent) linkDiag(ld *status.Link, l llt.LinkSnapshot, now time.Time) {
	pct := func(v uint8) int {
		if v == llt.LossUnknown {
			return -1
		}
		return int(v)
	}
	ld.RxLossPct, ld.TxLossPct = pct(l.RxLoss), pct(l.TxLoss)
	ld.Flaps = l.Flaps
	if !l.HeldUntil.IsZero() {
		h := l.HeldUntil
		ld.HeldUntil = &h
	}
	ld.MTUOK = l.MTUOK
	if l.CrossArrives >= 0 {
		ld.CrossArrivesOn = a.netName(l.CrossArrives)
	}
	if l.CrossFrom >= 0 {
		ld.CrossFrom = a.netName(l.CrossFrom)
	}
}

// diagDetail is the sentence for the reasons detail() does not cover.
func diagDetail(peer string, net string, ld *status.Link, now time.Time) string {
	switch ld.Reason {
	case "nic-silent":
		return fmt.Sprintf("our %s NIC has carrier but passes nothing: %s does not hear us there and we do not hear it, while the other peers hear each other", net, peer)
	case "shared-segment":
		return fmt.Sprintf("our %s shares one broadcast domain with another network of ours: a cable or port is in the wrong switch or VLAN", net)
	case "cross-connected":
		var parts []string
		if ld.CrossArrivesOn != "" {
			parts = append(parts, fmt.Sprintf("%s's %s frames arrive on our %s", peer, net, ld.CrossArrivesOn))
		}
		if ld.CrossFrom != "" {
			parts = append(parts, fmt.Sprintf("our %s receives %s's %s frames", net, peer, ld.CrossFrom))
		}
		return strings.Join(parts, "; ") + ": swapped cables or a port in the wrong VLAN"
	case "mtu-mismatch":
		return fmt.Sprintf("small frames pass on %s but frames of its MTU do not reach %s: the largest that passes is %d bytes (a switch port or NIC with a smaller MTU)", net, peer, ld.MTUOK)
	case "flapping":
		s := fmt.Sprintf("%s to %s went down %d times lately", net, peer, ld.Flaps)
		if ld.HeldUntil != nil {
			s += fmt.Sprintf("; held down until it has been stable, %v more", ld.HeldUntil.Sub(now).Round(100*time.Millisecond))
		}
		return s + ": a loose cable, a flapping port or NIC"
	case "lossy":
		var dirs []string
		if ld.RxLossPct > 0 {
			dirs = append(dirs, fmt.Sprintf("%d%% of %s's frames lost on the way to us", ld.RxLossPct, peer))
		}
		if ld.TxLossPct > 0 {
			dirs = append(dirs, fmt.Sprintf("%d%% of ours lost on the way to %s", ld.TxLossPct, peer))
		}
		return fmt.Sprintf("%s loses frames (%s); still UP", net, strings.Join(dirs, ", "))
	case "duplicate-node-id":
		return fmt.Sprintf("two nodes use %s's node id on %s", peer, net)
	}
	return ld.Reason
}

// matrixDoc renders the machine's link matrix.
func (a *Agent) matrixDoc(mx llt.Matrix) status.Matrix {
	d := status.Matrix{Networks: mx.Networks, Nodes: []status.MatrixNode{}, Links: []status.MatrixLink{}, Suspects: []status.Suspect{},
		Settling: mx.Settling}
	pct := func(v uint8) int {
		if v == llt.LossUnknown {
			return -1
		}
		return int(v)
	}
	for i, v := range mx.Views {
		n := status.MatrixNode{ID: uint16(v.Node), Name: a.nodeName(v.Node), Local: v.Node == mx.Self, Known: v.Known, AgeMs: v.Age.Milliseconds(),
			Stale: v.Stale, Networks: []status.MatrixNetwork{}}
		for k, nv := range v.Nets {
			mn := status.MatrixNetwork{Network: mx.Networks[k], Known: nv.Known, Carrier: nv.Carrier, NICSilent: nv.Silent, Reasons: []string{}}
			for _, r := range nv.Reasons {
				mn.Reasons = append(mn.Reasons, r.String())
			}
			n.Networks = append(n.Networks, mn)
		}
		d.Nodes = append(d.Nodes, n)
		for j, row := range v.Cells {
			if i == j {
				continue
			}
			for k, c := range row {
				if !c.Known {
					continue
				}
				d.Links = append(d.Links, status.MatrixLink{From: uint16(v.Node), To: uint16(mx.Nodes[j]), Network: mx.Networks[k],
					State: c.State.String(), Reason: c.Reason.String(), RemoteReason: c.RemoteReason.String(), Hears: c.Hears, HeardBy: c.HeardBy,
					RxLossPct: pct(c.RxLoss), TxLossPct: pct(c.TxLoss), Disagree: c.Disagree})
			}
		}
	}
	for _, s := range mx.Suspects {
		d.Suspects = append(d.Suspects, a.suspectDoc(mx, s))
	}
	return d
}

func (a *Agent) nodeName(id llt.NodeID) string {
	if id == llt.NodeID(a.cfg.Node.ID) {
		return a.cfg.Node.Name
	}
	return a.peerName(id)
}

// suspectDoc is one suspect, with the sentence that names it.
func (a *Agent) suspectDoc(mx llt.Matrix, s llt.Suspect) status.Suspect {
	d := status.Suspect{Kind: s.Kind.String(), Reason: s.Reason.String(), OneWay: s.OneWay, Nodes: []uint16{}, NodeNames: []string{}}
	if s.Network >= 0 {
		d.Network = mx.Networks[s.Network]
	}
	for _, id := range s.Nodes {
		d.Nodes = append(d.Nodes, uint16(id))
		d.NodeNames = append(d.NodeNames, a.nodeName(id))
	}
	for _, o := range s.Others {
		d.Others = append(d.Others, mx.Networks[o])
	}
	name := func(i int) string { return d.NodeNames[i] }
	switch s.Kind {
	case llt.SuspectNetwork:
		d.Text = fmt.Sprintf("%s: the switch or VLAN of %s: no node hears another there (%s)", d.Network, d.Network, d.Reason)
	case llt.SuspectNode:
		what := "NIC, cable or switch port"
		switch s.Reason {
		case llt.ReasonCarrierLost:
			what = "cable, switch port or NIC (no carrier)"
		case llt.ReasonNICSilent:
			what = "NIC, cable or switch port: carrier up but nothing passes"
		case llt.ReasonMTUMismatch:
			what = "NIC or switch port MTU: frames of the network's MTU do not pass"
		case llt.ReasonLossy:
			what = "NIC, cable or switch port: it loses frames"
		case llt.ReasonFlapping:
			what = "NIC, cable or switch port: its links keep going down"
		case llt.ReasonCrossConnected:
			what = "cable or switch port: its frames land on another network (wrong switch or VLAN)"
		}
		d.Text = fmt.Sprintf("%s: %s's %s %s", d.Network, name(0), d.Network, what)
		if s.Reason == llt.ReasonAuthFailure {
			// Not the NIC: every frame arrives, none authenticates.
			d.Text = fmt.Sprintf("%s: %s's key: its frames and handshakes fail authentication (a key file that is not the cluster's, or forgery)", d.Network, name(0))
		}
	case llt.SuspectPath:
		if s.OneWay {
			d.Text = fmt.Sprintf("%s: the path from %s to %s loses %s's frames one way (%s)", d.Network, name(0), name(1), name(0), d.Reason)
		} else {
			d.Text = fmt.Sprintf("%s: the path between %s and %s (%s); both reach the others", d.Network, name(0), name(1), d.Reason)
		}
	case llt.SuspectCabling:
		switch {
		case s.Reason == llt.ReasonSharedSegment:
			d.Text = fmt.Sprintf("%s: %s's %s and %s NICs are on one switch or VLAN: a cable or port in the wrong VLAN", d.Network, name(0), d.Network, strings.Join(d.Others, ", "))
		case len(d.Others) > 0:
			d.Text = fmt.Sprintf("%s: %s's %s and %s cables are swapped (or its ports in the wrong VLANs)", d.Network, name(0), d.Network, strings.Join(d.Others, ", "))
		default:
			d.Text = fmt.Sprintf("%s: %s's %s cable is in the wrong switch or VLAN", d.Network, name(0), d.Network)
		}
	case llt.SuspectNodeDown:
		if s.Reason == llt.ReasonPeerStopped {
			d.Text = fmt.Sprintf("%s: its agent stopped", name(0))
		} else {
			d.Text = fmt.Sprintf("%s: no link on any network: the node is down, or cut off from every interconnect", name(0))
		}
	}
	return d
}
