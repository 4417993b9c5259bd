package render

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/tether-ha/tether/agent/status"
)

// Dot writes the cluster's link graph in Graphviz DOT (tetherstat --dot):
// one node per cluster node, coloured by its state as the local node sees
// it, and one edge per pair of nodes and network, coloured by the worse of
// the two ends' views of that link (from the link matrix) and labelled
// with the network, the state and the reasons. A link no end's view is
// known of is grey and dashed. Render it with
//
//	tetherstat --dot | dot -Tsvg > cluster.svg
func Dot(w io.Writer, st *status.Status) error {
	var b bytes.Buffer
	mx := st.Matrix
	title := fmt.Sprintf("tether cluster %s (%d) seen from %s, %s", st.ClusterName, st.Cluster, st.LocalName, st.Now.UTC().Format("2006-01-02 15:04:05 UTC"))
	if mx.Settling {
		title += " (settling)"
	}
	fmt.Fprintf(&b, "graph tether {\n")
	fmt.Fprintf(&b, "\tgraph [label=%s, labelloc=t, fontname=\"Helvetica\"];\n", dotQuote(title))
	fmt.Fprintf(&b, "\tnode [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n")
	fmt.Fprintf(&b, "\tedge [fontname=\"Helvetica\", fontsize=10];\n")
	states := map[uint16]string{}
	for _, n := range st.Nodes {
		states[n.ID] = n.State
	}
	names := map[uint16]string{}
	for _, n := range mx.Nodes {
		names[n.ID] = nodeLabel(n)
		attrs := fmt.Sprintf("label=%s, fillcolor=%q", dotQuote(names[n.ID]+"\n"+dash(states[n.ID])), nodeColor(states[n.ID]))
		if n.Local {
			attrs += ", penwidth=3"
		}
		if !n.Known {
			attrs += ", style=\"rounded,filled,dashed\""
		}
		fmt.Fprintf(&b, "\t%s [%s];\n", dotID(n.ID), attrs)
	}
	view := matrixCells(mx)
	for i, a := range mx.Nodes {
		for _, c := range mx.Nodes[i+1:] {
			for _, net := range mx.Networks {
				ab, okA := view[[2]uint16{a.ID, c.ID}][net]
				ba, okC := view[[2]uint16{c.ID, a.ID}][net]
				fmt.Fprintf(&b, "\t%s -- %s [%s];\n", dotID(a.ID), dotID(c.ID),
					edgeAttrs(net, names[a.ID], names[c.ID], ab, okA, ba, okC))
			}
		}
	}
	b.WriteString("}\n")
	return flush(w, &b)
}

// edgeAttrs describes the link between a and c on net from a's view (ab)
// and c's (ca), either of which may be unknown.
func edgeAttrs(net, a, c string, ab status.MatrixLink, okA bool, ca status.MatrixLink, okC bool) string {
	if !okA && !okC {
		return fmt.Sprintf("label=%s, color=\"gray60\", fontcolor=\"gray40\", style=dashed", dotQuote(net+" ?"))
	}
	state := status.LinkUp
	for _, v := range []struct {
		l  status.MatrixLink
		ok bool
	}{{ab, okA}, {ca, okC}} {
		if v.ok && stateRank(v.l.State) > stateRank(state) {
			state = v.l.State
		}
	}
	label := net + " " + state
	// Both ends saying the same reason: once; else each end's own.
	var reasons []string
	if okA && okC && ab.Reason == ca.Reason {
		if ab.Reason != "" {
			reasons = append(reasons, ab.Reason)
		}
	} else {
		if okA && ab.Reason != "" {
			reasons = append(reasons, a+": "+ab.Reason)
		}
		if okC && ca.Reason != "" {
			reasons = append(reasons, c+": "+ca.Reason)
		}
	}
	if len(reasons) > 0 {
		label += "\n" + strings.Join(reasons, "\n")
	}
	attrs := fmt.Sprintf("label=%s, color=%q, fontcolor=%q", dotQuote(label), linkColor(state), linkColor(state))
	if state != status.LinkUp {
		attrs += ", penwidth=2"
	}
	if ab.Disagree || ca.Disagree {
		attrs += ", style=bold"
	}
	return attrs
}

func linkColor(state string) string {
	switch state {
	case status.LinkDown:
		return "#c62828"
	case status.LinkTrouble:
		return "#ef6c00"
	}
	return "#2e7d32"
}

func nodeColor(state string) string {
	switch state {
	case status.NodeOpen:
		return "#c8e6c9"
	case status.NodeJeopardy:
		return "#ffe0b2"
	case status.NodeDown, status.NodePartitioned:
		return "#ffcdd2"
	}
	return "#eeeeee"
}

func dotID(id uint16) string { return fmt.Sprintf("n%d", id) }

// dotQuote makes s a DOT quoted string: quotes and backslashes escaped,
// newlines as DOT's centred line break.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
