package render

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

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
//
// When a network of the document carries the tcp channel, a Channels
// column comes before Reason with the state of each channel of the link,
// e.g. "ether:UP,tcp:TO-ONLY"; an ether-only cluster keeps the layout
// without it.
func NodesVerbose(w io.Writer, st *status.Status) error {
	var b bytes.Buffer
	b.WriteString("tether node information:\n")
	t := table{
		min:   []int{minNodeWidth, minStateWidth, 4, len(status.LinkTrouble), 17, 6},
		right: []bool{false, false, false, false, false, true},
	}
	channels := carriesTCP(st)
	header := []string{"Node", "State", "Link", "Status", "Address", "RTT", "Reason"}
	if channels {
		header = []string{"Node", "State", "Link", "Status", "Address", "RTT", "Channels", "Reason"}
	}
	t.add(indent, header...)
	idw := idWidth(st.Nodes)
	for _, n := range st.Nodes {
		t.add(marker(n), nodeCell(n, idw), n.State)
		for _, l := range n.Links {
			cells := []string{"", "", l.Network, l.State, l.PeerAddress, rttCell(l.RTTMicros)}
			if channels {
				cells = append(cells, channelsCell(l.Channels))
			}
			t.add(indent, append(cells, Reason(l))...)
		}
	}
	t.write(&b)
	return flush(w, &b)
}

// carriesTCP reports whether any network of the document has the tcp
// channel.
func carriesTCP(st *status.Status) bool {
	for _, n := range st.Networks {
		if slices.Contains(n.Channels, channelTCP) {
			return true
		}
	}
	return false
}

// channelsCell is a link's channel states, sorted by channel, as one word:
// "ether:UP,tcp:TO-ONLY". Blank when the link has none.
func channelsCell(channels map[string]string) string {
	parts := make([]string, 0, len(channels))
	for _, name := range slices.Sorted(maps.Keys(channels)) {
		parts = append(parts, name+":"+channels[name])
	}
	return strings.Join(parts, ",")
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
	return idName(n.ID, n.Name, idw)
}

// idName is "<id> <name>" with the id right-aligned to width idw.
func idName(id uint16, name string, idw int) string {
	return fmt.Sprintf("%*d %s", idw, id, name)
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
