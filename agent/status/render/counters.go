package render

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/tether-ha/tether/agent/status"
)

// Counters writes the statistics (tetherstat with no view flag), netstat -i
// style: one row per network and channel, then the non-zero causes of
// dropped frames and the tcp channel's connection events (accepted,
// dialled, refused-<reason>, reset-<reason>, ...), each sorted by cause
// within each network and channel.
//
//	tether statistics (since 2025-06-01T10:00:00Z, 30m5s ago):
//	    Network  Channel  TxFrames  TxBytes  TxErrors  RxFrames  RxBytes  Dropped
//	    hb0      ether       18050  2166000         0     18047  2165640        4
//	tether dropped frames:
//	    hb0      ether    bad-tag   3
//	tether connection events:
//	    hb0      tcp      accepted  2
//	tether messages: sent 0, received 0; refused: busy 0, no-route 0, too-large 0; echo replies shed 0; no handler 0
//	tether agent pauses (this node did not run): none
func Counters(w io.Writer, st *status.Status) error {
	var b bytes.Buffer
	since := st.Counters.ResetAt
	if since.IsZero() {
		since = st.StartedAt
	}
	if since.IsZero() {
		b.WriteString("tether statistics:\n")
	} else {
		fmt.Fprintf(&b, "tether statistics (since %s, %s ago):\n", timestamp(since), ago(st, since))
	}
	t := table{right: []bool{false, false, true, true, true, true, true, true}}
	t.add(indent, "Network", "Channel", "TxFrames", "TxBytes", "TxErrors", "RxFrames", "RxBytes", "Dropped")
	u := strconv.FormatUint
	for _, c := range st.Counters.Networks {
		t.add(indent, c.Network, c.Channel,
			u(c.TxFrames, 10), u(c.TxBytes, 10), u(c.TxErrors, 10),
			u(c.RxFrames, 10), u(c.RxBytes, 10),
			u(droppedTotal(c), 10))
	}
	t.write(&b)

	// Network and Channel of the sections line up with the table above.
	cols := t.widths()[:2]
	b.WriteString("tether dropped frames:\n")
	byCause(cols, st.Counters.Networks, func(c status.NetworkCounters) map[string]uint64 { return c.Dropped }).write(&b)
	b.WriteString("tether connection events:\n")
	byCause(cols, st.Counters.Networks, func(c status.NetworkCounters) map[string]uint64 { return c.Connections }).write(&b)
	m := st.Counters.Messages
	fmt.Fprintf(&b, "tether messages: sent %d, received %d; refused: busy %d, no-route %d, too-large %d; echo replies shed %d; no handler %d\n",
		m.Sent, m.Received, m.Busy, m.NoRoute, m.TooLarge, m.EchoShed, m.Unrouted)
	if p := st.Counters.Pauses; p.Count > 0 {
		fmt.Fprintf(&b, "tether agent pauses (this node did not run): %d, longest %.1f ms, last %.1f ms at %s (%s ago)\n",
			p.Count, p.LongestMs, p.LastMs, timestamp(p.LastAt), ago(st, p.LastAt))
	} else {
		b.WriteString("tether agent pauses (this node did not run): none\n")
	}
	return flush(w, &b)
}

// byCause is a section of the counters view: one row per network, channel
// and non-zero count of the map that counts picks, sorted by cause within
// each network and channel; "none" when every count is zero. cols are the
// minimum widths of the Network and Channel columns.
func byCause(cols []int, nets []status.NetworkCounters, counts func(status.NetworkCounters) map[string]uint64) *table {
	t := &table{min: cols, right: []bool{false, false, false, true}}
	for _, c := range nets {
		m := counts(c)
		causes := make([]string, 0, len(m))
		for cause, n := range m {
			if n > 0 {
				causes = append(causes, cause)
			}
		}
		sort.Strings(causes)
		for _, cause := range causes {
			t.add(indent, c.Network, c.Channel, cause, strconv.FormatUint(m[cause], 10))
		}
	}
	if len(t.rows) == 0 {
		t.add(indent, "none")
	}
	return t
}

func droppedTotal(c status.NetworkCounters) uint64 {
	var n uint64
	for _, v := range c.Dropped {
		n += v
	}
	return n
}
