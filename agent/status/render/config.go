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

// ConfigInfo writes the effective configuration (tetherstat -c): a header
// line, then one "name: value" line per value, like lltstat -c. Timers are
// Go durations ("100ms", "2s"), the form the config file accepts; empty
// values are "-".
func ConfigInfo(w io.Writer, st *status.Status) error {
	var b bytes.Buffer
	c := st.Config
	b.WriteString("tether configuration information:\n")
	kv := func(name, value string) {
		fmt.Fprintf(&b, "%s%s: %s\n", indent, name, dash(value))
	}
	kv("node", strconv.Itoa(int(st.LocalNode)))
	kv("name", st.LocalName)
	kv("cluster", strconv.Itoa(int(st.Cluster)))
	kv("cluster name", st.ClusterName)
	kv("version", st.Version)
	kv("incarnation", st.Incarnation)
	kv("started", timestamp(st.StartedAt)+" ("+ago(st, st.StartedAt)+" ago)")
	kv("config file", c.ConfigFile)
	kv("max node id", strconv.Itoa(int(c.MaxNodeID)))
	kv("heartbeat", millis(c.HeartbeatMs))
	kv("peertrouble", millis(c.PeerTroubleMs))
	kv("peerinact", millis(c.PeerInactMs))
	kv("heartbeatlo", millis(c.HeartbeatLoMs))
	kv("peertroublelo", millis(c.PeerTroubleLoMs))
	kv("peerinactlo", millis(c.PeerInactLoMs))
	kv("key ids", keyIDs(c.KeyIDs))
	kv("status socket", c.StatusSocket)
	kv("metrics listen", c.MetricsListen)
	kv("networks", networksSummary(st.Networks))
	return flush(w, &b)
}

// millis formats a timer given in (possibly fractional) milliseconds.
func millis(ms float64) string {
	return time.Duration(ms * float64(time.Millisecond)).String()
}

// keyIDs lists the key ids, the first one (used to send) marked.
func keyIDs(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	parts := append([]string{ids[0] + " (send)"}, ids[1:]...)
	return strings.Join(parts, ", ")
}

// networksSummary is e.g. "hb0 (eth1 ether,tcp), pub (eth0 tcp lowpri)".
func networksSummary(nets []status.Network) string {
	parts := make([]string, 0, len(nets))
	for _, n := range nets {
		s := n.Name + " (" + dash(n.Interface) + " " + dash(strings.Join(n.Channels, ","))
		if n.Lowpri {
			s += " lowpri"
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, ", ")
}
