package render

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/tether-ha/tether/agent/status"
)

// Brief writes a one-line summary of the links to peers (the local node's
// own links are NICs, not links, and are not counted), then one line per
// link that is not healthy, ending with the link's detail sentence after
// a colon when it has one that says more than the reason id:
//
//	tether: 6 links, 3 healthy, 3 not healthy
//	node1 hb0 UP tcp-blocked: TCP on hb0 works one way only: ...
//	node1 hb1 TROUBLE lossy
//	node2 hb1 DOWN peer-silent (peer: carrier-lost): nothing from node2 on hb1 ...
//
// healthy reports whether every link is healthy (status.Link.Healthy).
func Brief(w io.Writer, st *status.Status) (healthy bool, err error) {
	var total, good int
	var bad bytes.Buffer
	peerLinks(st, func(name string, l status.Link) {
		total++
		if l.Healthy() {
			good++
			return
		}
		fmt.Fprintf(&bad, "%s %s %s %s%s\n", name, l.Network, l.State, dash(Reason(l)), detailSuffix(l))
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "tether: %d links, %d healthy, %d not healthy\n", total, good, total-good)
	b.Write(bad.Bytes())
	// Network-wide findings that no link shows (another cluster on the
	// VLAN, forged frames, a duplicate node id) are printed too; they do
	// not make the exit status unhealthy, which is about links.
	for _, n := range st.Networks {
		for _, r := range n.Reasons {
			fmt.Fprintf(&b, "network %s: %s: %s\n", n.Name, r.Reason, strings.Join(strings.Fields(r.Detail), " "))
		}
	}
	return good == total, flush(w, &b)
}

// detailSuffix is ": <detail>" for a link whose Detail adds something to
// its reason id, else "". The detail is kept on one line: scripts read -b
// line by line.
func detailSuffix(l status.Link) string {
	d := strings.TrimSpace(l.Detail)
	if d == "" || d == l.Reason {
		return ""
	}
	return ": " + strings.Join(strings.Fields(d), " ")
}
