// Package render formats the agent's status document the way tetherstat
// prints it. The layouts follow Veritas lltstat (header line, then aligned
// columns in a fixed order) so that operators' habits and grep/awk scripts
// carry over; --json is the machine-readable form.
//
// Every function renders from the document alone: durations such as "ago"
// are computed against Status.Now, never against the local clock, so the
// output is reproducible.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// indent starts every table row and "name: value" line, as in lltstat.
const indent = "    "

// channelTCP is the name of the tcp channel in Network.Channels and
// Link.Channels.
const channelTCP = "tcp"

// JSON writes the document indented, followed by a newline.
func JSON(w io.Writer, st *status.Status) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	return flush(w, bytes.NewBuffer(append(b, '\n')))
}

// flush writes the rendered text in one piece.
func flush(w io.Writer, b *bytes.Buffer) error {
	_, err := w.Write(b.Bytes())
	return err
}

// timestamp formats a time in the document for display; the zero time
// (never) is "-".
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// ago is the age of t relative to the document's own clock, rounded to
// seconds, e.g. "2h30m5s".
func ago(st *status.Status, t time.Time) string {
	if t.IsZero() || st.Now.IsZero() {
		return "unknown"
	}
	d := st.Now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String()
}

// dash stands in for an empty value in tables, so that every column of a
// row holds a word.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nodeName is how a node is named in one-line output: its name, else its id.
func nodeName(n status.Node) string {
	if n.Name != "" {
		return n.Name
	}
	return strconv.Itoa(int(n.ID))
}

// peerLinks calls fn for every link to a peer, in the document's order,
// with the peer's name; the local node's own links are NICs, not links.
func peerLinks(st *status.Status, fn func(peer string, l status.Link)) {
	for _, n := range st.Nodes {
		if n.Local {
			continue
		}
		for _, l := range n.Links {
			fn(nodeName(n), l)
		}
	}
}

// stateRank orders link states by how bad they are: UP 0, TROUBLE 1, DOWN 2.
func stateRank(state string) int {
	switch state {
	case status.LinkDown:
		return 2
	case status.LinkTrouble:
		return 1
	}
	return 0
}

// matrixCells indexes the matrix's links by (from, to) and network.
func matrixCells(mx status.Matrix) map[[2]uint16]map[string]status.MatrixLink {
	cell := map[[2]uint16]map[string]status.MatrixLink{}
	for _, l := range mx.Links {
		k := [2]uint16{l.From, l.To}
		if cell[k] == nil {
			cell[k] = map[string]status.MatrixLink{}
		}
		cell[k][l.Network] = l
	}
	return cell
}
