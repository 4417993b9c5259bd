package render

import (
	"bytes"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// Connections writes the tcp channel's connections (tetherstat -L), like
// Redis CLUSTER LINKS: one row per direction, peer and network, sorted by
// network (in the order of the document's networks), peer id, then "to"
// (we dialled) before "from" (the peer dialled).
//
//	tether tcp connections:
//	    Dir   Peer     Network  State  Session  Local               Remote                  Age  Events   SendBuf  LastFrame   RTT
//	    to    1 node1  hb0      UP     UP       192.168.10.1:41234  192.168.10.2:7947      5m3s  r            0/0       12ms  71us
//	    from  1 node1  hb0      DOWN   DOWN     -                   192.168.10.2              -  -              -          -     -
//	          last error: the peer has not connected
//
// Session is the state of the heartbeat session carried on the
// connection, Age how long the connection has been up, SendBuf the bytes queued /
// allocated for sending, LastFrame the age of the last frame received. A
// connection that is down has its last error, if known, on the line below.
func Connections(w io.Writer, st *status.Status) error {
	var b bytes.Buffer
	b.WriteString("tether tcp connections:\n")
	conns := sortedConnections(st)
	if len(conns) == 0 {
		b.WriteString(indent + "none\n")
		return flush(w, &b)
	}
	t := table{right: []bool{false, false, false, false, false, false, false, true, false, true, true, true}}
	t.add(indent, "Dir", "Peer", "Network", "State", "Session", "Local", "Remote", "Age", "Events", "SendBuf", "LastFrame", "RTT")
	idw := 1
	for _, c := range conns {
		idw = max(idw, len(strconv.Itoa(int(c.Peer))))
	}
	for _, c := range conns {
		t.add(indent, c.Direction, idName(c.Peer, c.PeerName, idw), c.Network, c.State, dash(c.Session),
			dash(c.LocalAddress), dash(c.RemoteAddress), ageCell(st, c), dash(c.Events),
			sendBufCell(c), lastFrameCell(c.LastFrameMs), dash(rttCell(c.RTTMicros)))
		if c.State != status.LinkUp && c.LastError != "" {
			t.addNote(indent, 1, lastError(st, c))
		}
	}
	t.write(&b)
	return flush(w, &b)
}

// sortedConnections returns a sorted copy of the document's connections.
func sortedConnections(st *status.Status) []status.Connection {
	order := make(map[string]int, len(st.Networks))
	for i, n := range st.Networks {
		order[n.Name] = i
	}
	rank := func(network string) int {
		if i, ok := order[network]; ok {
			return i
		}
		return len(order) // unlisted networks last, by name
	}
	conns := append([]status.Connection(nil), st.Connections...)
	sort.SliceStable(conns, func(i, j int) bool {
		a, b := conns[i], conns[j]
		if ra, rb := rank(a.Network), rank(b.Network); ra != rb {
			return ra < rb
		}
		if a.Network != b.Network {
			return a.Network < b.Network
		}
		if a.Peer != b.Peer {
			return a.Peer < b.Peer
		}
		return directionRank(a.Direction) < directionRank(b.Direction)
	})
	return conns
}

// directionRank puts "to" before "from", and anything else after both.
func directionRank(dir string) int {
	switch dir {
	case "to":
		return 0
	case "from":
		return 1
	default:
		return 2
	}
}

// ageCell is how long the connection has been up, "-" when it is not.
func ageCell(st *status.Status, c status.Connection) string {
	if c.CreateTime.IsZero() {
		return "-"
	}
	return ago(st, c.CreateTime)
}

// sendBufCell is "used/allocated" in bytes, "-" for a connection that is
// down.
func sendBufCell(c status.Connection) string {
	if c.State != status.LinkUp {
		return "-"
	}
	return strconv.Itoa(c.SendBufferUsed) + "/" + strconv.Itoa(c.SendBufferAllocated)
}

// lastFrameCell is the age of the last frame received, "-" when none.
func lastFrameCell(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// lastError is the note under a connection that is down, e.g.
// "last error 3s ago: handshake refused by the peer: bad-proof".
func lastError(st *status.Status, c status.Connection) string {
	if c.LastErrorAt == nil || c.LastErrorAt.IsZero() {
		return "last error: " + c.LastError
	}
	return "last error " + ago(st, *c.LastErrorAt) + " ago: " + c.LastError
}
