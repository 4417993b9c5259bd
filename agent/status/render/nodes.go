package render

import (
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/tether-ha/tether/agent/status"
)

// Node filters accepted after -nvv (lltstat's words).
const (
	FilterActive     = "active"     // nodes with a link up, plus the local node
	FilterConfigured = "configured" // every configured node
)

// Filter returns a copy of st whose Nodes are those selected by which:
// FilterActive keeps the local node and every node with at least one link
// up; FilterConfigured or "" keeps every node (the document lists all
// configured nodes). The rest of the document is shared with st.
func Filter(st *status.Status, which string) (*status.Status, error) {
	out := *st
	switch which {
	case "", FilterConfigured:
		return &out, nil
	case FilterActive:
		out.Nodes = nil
		for _, n := range st.Nodes {
			if n.Local || n.LinksUp > 0 {
				out.Nodes = append(out.Nodes, n)
			}
		}
		return &out, nil
	default:
		return nil, fmt.Errorf("unknown node filter %q (want %q or %q)", which, FilterActive, FilterConfigured)
	}
}

// Minimum column widths: the layout of `tetherstat -n` for ordinary names.
const (
	minNodeWidth  = 19
	minStateWidth = len(status.NodePartitioned)
)

// Nodes writes the node table (tetherstat -n):
//
//	tether node information:
//	    Node                 State        Links
//	  * 0 node0              OPEN         2
//	    1 node1              OPEN         2
//
// A "*" marks the local node; Links is the number of links up.
func Nodes(w io.Writer, st *status.Status) error {
	var b bytes.Buffer
	b.WriteString("tether node information:\n")
	t := table{min: []int{minNodeWidth, minStateWidth}}
	t.add(indent, "Node", "State", "Links")
	idw := idWidth(st.Nodes)
	for _, n := range st.Nodes {
		t.add(marker(n), nodeCell(n, idw), n.State, strconv.Itoa(n.LinksUp))
	}
	t.write(&b)
	return flush(w, &b)
}

// NodesVerbose writes the node table with one line per link under every
// node (tetherstat -nvv). Columns, in this order: Node, State, Link,
// Status, Address, RTT, Reason. RTT is blank when unknown, Reason when
// the link is healthy. The local node's links describe the local NICs.
func NodesVerbose(w io.Writer, st *status.Status) error {
	var b bytes.Buffer
	b.WriteString("tether node information:\n")
	t := table{
		min:   []int{minNodeWidth, minStateWidth, 4, len(status.LinkTrouble), 17, 6},
		right: []bool{false, false, false, false, false, true},
	}
	t.add(indent, "Node", "State", "Link", "Status", "Address", "RTT", "Reason")
	idw := idWidth(st.Nodes)
	for _, n := range st.Nodes {
		t.add(marker(n), nodeCell(n, idw), n.State)
		for _, l := range n.Links {
			t.add(indent, "", "", l.Network, l.State, l.PeerAddress, rttCell(l.RTTMicros), Reason(l))
		}
	}
	t.write(&b)
	return flush(w, &b)
}

// Reason is the reason shown for a link: its reason id, followed by
// " (peer: <id>)" when the peer reports a reason for its side. Empty for
// a healthy link.
func Reason(l status.Link) string {
	switch {
	case l.RemoteReason == "" || l.RemoteReason == l.Reason:
		// Both ends saying the same adds nothing.
		return l.Reason
	case l.Reason == "":
		return "(peer: " + l.RemoteReason + ")"
	default:
		return l.Reason + " (peer: " + l.RemoteReason + ")"
	}
}

// RTT formats a round-trip time given in microseconds: "71us", "1.2ms",
// "250ms", "1.50s".
func RTT(us int64) string {
	switch {
	case us < 1000:
		return strconv.FormatInt(us, 10) + "us"
	case us < 100_000:
		return strconv.FormatFloat(float64(us)/1000, 'f', 1, 64) + "ms"
	case us < 1_000_000:
		return strconv.FormatFloat(float64(us)/1000, 'f', 0, 64) + "ms"
	default:
		return strconv.FormatFloat(float64(us)/1e6, 'f', 2, 64) + "s"
	}
}

// rttCell is the RTT column: blank when the RTT is not known.
func rttCell(us int64) string {
	if us <= 0 {
		return ""
	}
	return RTT(us)
}

// marker is the row prefix: "  * " for the local node, else blanks.
func marker(n status.Node) string {
	if n.Local {
		return "  * "
	}
	return indent
}

// nodeCell is "<id> <name>" with the ids right-aligned to width idw.
func nodeCell(n status.Node, idw int) string {
	return fmt.Sprintf("%*d %s", idw, n.ID, n.Name)
}

func idWidth(nodes []status.Node) int {
	w := 1
	for _, n := range nodes {
		if l := len(strconv.Itoa(int(n.ID))); l > w {
			w = l
		}
	}
	return w
}
