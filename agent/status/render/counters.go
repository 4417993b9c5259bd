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
// dropped frames, sorted by cause within each network and channel.
//
//	tether statistics (since 2025-06-01T10:00:00Z, 30m5s ago):
//	    Network  Channel  TxFrames  TxBytes  TxErrors  RxFrames  RxBytes  RxQueueDrops  Dropped
//	    hb0      ether       18050  2166000         0     18047  2165640             0        4
//	tether dropped frames:
//	    hb0      ether    bad-tag   3
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
	t := table{right: []bool{false, false, true, true, true, true, true, true, true}}
	t.add(indent, "Network", "Channel", "TxFrames", "TxBytes", "TxErrors", "RxFrames", "RxBytes", "RxQueueDrops", "Dropped")
	u := strconv.FormatUint
	for _, c := range st.Counters.Networks {
		t.add(indent, c.Network, c.Channel,
			u(c.TxFrames, 10), u(c.TxBytes, 10), u(c.TxErrors, 10),
			u(c.RxFrames, 10), u(c.RxBytes, 10), u(c.RxQueueDrops, 10),
			u(droppedTotal(c), 10))
	}
	t.write(&b)

	b.WriteString("tether dropped frames:\n")
	// Network and Channel line up with the table above.
	d := table{min: t.widths()[:2], right: []bool{false, false, false, true}}
	for _, c := range st.Counters.Networks {
		causes := make([]string, 0, len(c.Dropped))
		for cause, n := range c.Dropped {
			if n > 0 {
				causes = append(causes, cause)
			}
		}
		sort.Strings(causes)
		for _, cause := range causes {
			d.add(indent, c.Network, c.Channel, cause, u(c.Dropped[cause], 10))
		}
	}
	if len(d.rows) == 0 {
		d.add(indent, "none")
	}
	d.write(&b)
	return flush(w, &b)
}

func droppedTotal(c status.NetworkCounters) uint64 {
	var n uint64
	for _, v := range c.Dropped {
		n += v
	}
	return n
}
