package render

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// Matrix writes the cluster link matrix (tetherstat -m): per network, a
// grid of every node's view of its link to every other (row: the node
// whose view it is; column: the node at the other end), a "!" where the
// two ends of a link disagree (one-way faults), "?" where a node's view is
// not known; then what is wrong with the links that are not healthy, and
// one line per suspect:
//
//	tether cluster link matrix (views of 3 of 3 nodes):
//	    hb0    node0  node1  node2
//	  * node0  -      UP     UP
//	    node1  UP     -      DOWN!
//	    node2  UP     DOWN!  -
//	    node1 -> node2: DOWN one-way-out (node2: one-way-in)
//	...
//	Suspects:
//	    hb0: the path from node2 to node1 loses node2's frames one way (one-way-out)
func Matrix(w io.Writer, st *status.Status) error {
	var b bytes.Buffer
	mx := st.Matrix
	known := 0
	for _, n := range mx.Nodes {
		if n.Known {
			known++
		}
	}
	fmt.Fprintf(&b, "tether cluster link matrix (views of %d of %d nodes):\n", known, len(mx.Nodes))
	names := map[uint16]string{}
	for _, n := range mx.Nodes {
		names[n.ID] = nodeLabel(n)
	}
	cell := matrixCells(mx)
	for _, net := range mx.Networks {
		t := table{}
		head := []string{net}
		for _, n := range mx.Nodes {
			head = append(head, names[n.ID])
		}
		t.add(indent, head...)
		var notes []string
		for _, from := range mx.Nodes {
			row := []string{names[from.ID]}
			for _, to := range mx.Nodes {
				if from.ID == to.ID {
					row = append(row, "-")
					continue
				}
				l, ok := cell[[2]uint16{from.ID, to.ID}][net]
				if !ok {
					row = append(row, "?")
					continue
				}
				c := l.State
				if l.Disagree {
					c += "!"
				}
				row = append(row, c)
				if l.State != status.LinkUp || l.Reason != "" {
					n := fmt.Sprintf("%s -> %s: %s %s", names[from.ID], names[to.ID], l.State, dash(l.Reason))
					if l.RemoteReason != "" {
						n += fmt.Sprintf(" (%s: %s)", names[to.ID], l.RemoteReason)
					}
					notes = append(notes, n)
				}
			}
			prefix := "    "
			if from.Local {
				prefix = "  * "
			}
			t.add(prefix, row...)
		}
		t.write(&b)
		for _, n := range notes {
			b.WriteString(indent + n + "\n")
		}
	}
	var stale []string
	for _, n := range mx.Nodes {
		switch {
		case n.Local:
		case !n.Known:
			stale = append(stale, names[n.ID]+" unknown (no link table: unreachable, or not sending)")
		case n.AgeMs >= 2000:
			stale = append(stale, names[n.ID]+" "+(time.Duration(n.AgeMs)*time.Millisecond).String()+" old")
		}
	}
	for _, s := range stale {
		b.WriteString("View of " + s + "\n")
	}
	if mx.Settling {
		var who []string
		for _, n := range mx.Nodes {
			if n.Stale {
				who = append(who, names[n.ID])
			}
		}
		b.WriteString("Settling: the views of " + strings.Join(who, ", ") + " predate this node's last link change; the suspects may lag (tables follow within a second)\n")
	}
	if len(mx.Suspects) == 0 {
		b.WriteString("Suspects: none: every known path works\n")
	} else {
		b.WriteString("Suspects:\n")
		for _, s := range mx.Suspects {
			b.WriteString(indent + s.Text + "\n")
		}
	}
	return flush(w, &b)
}

func nodeLabel(n status.MatrixNode) string {
	if n.Name != "" {
		return n.Name
	}
	return strconv.Itoa(int(n.ID))
}
