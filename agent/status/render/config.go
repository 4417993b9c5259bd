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
// Go durations ("100ms", "2s"), the form the config file accepts; sizes
// are bytes, with KiB alongside; empty values are "-". The networks line
// names each network's tcp port when it has one.
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
	kv("tcp sendbuf limit", sizeBytes(c.TCPSendBufLimit))
	kv("tcp handshake timeout", millisSet(c.TCPHandshakeTimeoutMs))
	kv("tcp connect timeout", millisSet(c.TCPConnectTimeoutMs))
	kv("tcp backoff max", millisSet(c.TCPBackoffMaxMs))
	kv("status socket", c.StatusSocket)
	kv("metrics listen", c.MetricsListen)
	kv("networks", networksSummary(st.Networks))
	return flush(w, &b)
}

// millis formats a timer given in (possibly fractional) milliseconds.
func millis(ms float64) string {
	return time.Duration(ms * float64(time.Millisecond)).String()
}

// millisSet is millis for a value that is unset (shown "-") when zero.
func millisSet(ms float64) string {
	if ms == 0 {
		return ""
	}
	return millis(ms)
}

// sizeBytes is e.g. "1048576 bytes (1024 KiB)"; "" when zero (unset).
func sizeBytes(n int) string {
	switch {
	case n == 0:
		return ""
	case n < 1024:
		return strconv.Itoa(n) + " bytes"
	case n%1024 == 0:
		return fmt.Sprintf("%d bytes (%d KiB)", n, n/1024)
	default:
		return fmt.Sprintf("%d bytes (%.1f KiB)", n, float64(n)/1024)
	}
}

// keyIDs lists the key ids, the first one (used to send) marked.
func keyIDs(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	parts := append([]string{ids[0] + " (send)"}, ids[1:]...)
	return strings.Join(parts, ", ")
}

// networksSummary is e.g.
// "hb0 (eth1 ether,tcp port 7947), pub (eth0 tcp port 7947 lowpri)".
func networksSummary(nets []status.Network) string {
	parts := make([]string, 0, len(nets))
	for _, n := range nets {
		s := n.Name + " (" + dash(n.Interface) + " " + dash(strings.Join(n.Channels, ","))
		if n.TCPPort > 0 {
			s += " port " + strconv.Itoa(n.TCPPort)
		}
		if n.Lowpri {
			s += " lowpri"
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, ", ")
}
