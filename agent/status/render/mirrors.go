package render

import (
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/tether-ha/tether/agent/status"
)

// Mirrors writes the resources of the built-in replicator on this node,
// one row per topic, as tetherstat prints them after the counters and
// the node table (-n); nothing at all when the node has none, so that
// those views are unchanged on a cluster without resources.
//
//	tether mirror information:
//	    Resource  Role     Epoch  Peer   Topic     State   LogEnd  SourceHW  Lag  LagMs  SinceFetchMs
//	    orders    mirror       2  node0  orders    ACTIVE    1200      1200    0      0            12
//	    orders    mirror       2  node0  payments  ACTIVE      40        40    0      0            12
//
// Lag is in records: on a mirror the primary's high watermark (last
// seen, SourceHW) minus its log end, on the primary the records the
// mirror has not confirmed; LagMs the age of the oldest record not
// mirrored; SinceFetchMs the time since the last fetch answered ("-":
// never, and on the primary). Below a resource's rows, a line for each
// thing an operator must know: a divergence, writes frozen for a
// promote, a promote, restore or start in progress, the peer not heard, a
// topic's error or the cut a diverged topic waits to make.
func Mirrors(w io.Writer, st *status.Status) error {
	if len(st.Mirrors) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("tether mirror information:\n")
	t := table{right: []bool{false, false, true, false, false, false, true, true, true, true, true}}
	t.add(indent, "Resource", "Role", "Epoch", "Peer", "Topic", "State", "LogEnd", "SourceHW", "Lag", "LagMs", "SinceFetchMs")
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, m := range st.Mirrors {
		epoch := strconv.FormatUint(uint64(m.Epoch), 10)
		if len(m.Topics) == 0 {
			t.add(indent, m.Resource, m.Role, epoch, dash(m.Peer), "-")
		}
		for _, tp := range m.Topics {
			since := "-"
			if tp.SinceLastFetchMs >= 0 {
				since = strconv.FormatInt(tp.SinceLastFetchMs, 10)
			}
			t.add(indent, m.Resource, m.Role, epoch, dash(m.Peer), tp.Topic, tp.State,
				u(tp.LogEndOffset), u(tp.HighWatermark), u(tp.LagRecords), strconv.FormatInt(tp.LagMs, 10), since)
		}
		for _, n := range mirrorNotes(st, m) {
			t.addNote(indent, 0, n)
		}
	}
	t.write(&b)
	return flush(w, &b)
}

// mirrorNotes are the lines under a resource's rows: what needs an
// operator, or explains the rows.
func mirrorNotes(st *status.Status, m status.Mirror) []string {
	var out []string
	note := func(format string, a ...any) {
		out = append(out, m.Resource+": "+fmt.Sprintf(format, a...))
	}
	if d := m.Diverged; d != nil {
		note("DIVERGED: %s was promoted at epoch %d (%s, %s ago); read-only here until tetherctl mirror truncate-and-restore",
			d.Primary, d.Epoch, timestamp(d.At), ago(st, d.At))
	}
	if m.FrozenBy != "" {
		note("writes frozen: %s is being promoted", m.FrozenBy)
	}
	if m.Promoting {
		note("promote in progress: this node becomes the primary")
	}
	if m.Restoring {
		note("truncate-and-restore in progress")
	}
	if m.Starting {
		note("starting: checking with %s before it takes writes", dash(m.Peer))
	}
	if m.PeerError != "" {
		heard := "never heard"
		if !m.PeerSeen.IsZero() {
			heard = "last heard " + ago(st, m.PeerSeen) + " ago"
		}
		note("peer %s not answering: %s (%s)", dash(m.Peer), m.PeerError, heard)
	}
	for _, tp := range m.Topics {
		if p := tp.Pending; p != nil {
			note("topic %s: diverged: waits to cut its log from %d back to %d (%d records, %d of them below a high watermark seen before)",
				tp.Topic, p.From, p.To, p.From-min(p.To, p.From), p.AckedRecords)
		}
		if tp.Error != "" && tp.State != status.TopicActive && tp.State != status.TopicPrimary {
			note("topic %s: %s: %s", tp.Topic, tp.State, tp.Error)
		}
	}
	return out
}
