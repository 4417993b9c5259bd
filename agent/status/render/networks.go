package render

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-ha/tether/agent/status"
)

// Networks writes the interconnect networks as seen by the local node
// (tetherstat -l): Network, Interface, Channels, Lowpri, MTU, Carrier,
// Driver, MAC, EtherType, Address (with the tcp channel's port when the
// network has one: 192.168.10.1:7947). Empty values are "-" so that every
// column holds a word; a network that is not usable has its error on the
// line below, indented under Interface, and so has a configured MTU that
// the interface does not have.
func Networks(w io.Writer, st *status.Status) error {
	var b bytes.Buffer
	b.WriteString("tether network information:\n")
	t := table{right: []bool{false, false, false, false, true}}
	t.add(indent, "Network", "Interface", "Channels", "Lowpri", "MTU", "Carrier", "Driver", "MAC", "EtherType", "Address")
	for _, n := range st.Networks {
		t.add(indent,
			n.Name,
			dash(n.Interface),
			dash(strings.Join(n.Channels, ",")),
			yesNo(n.Lowpri),
			mtu(n.MTU),
			carrier(n.Carrier),
			dash(n.Driver),
			dash(n.MAC),
			dash(n.EtherType),
			dash(address(n)),
		)
		if n.Error != "" {
			t.addNote(indent, 1, "error: "+n.Error)
		}
		if n.ConfigMTU > 0 && n.MTU > 0 && n.ConfigMTU != n.MTU {
			t.addNote(indent, 1, "mtu: configured "+strconv.Itoa(n.ConfigMTU)+", interface has "+strconv.Itoa(n.MTU))
		}
		for _, r := range n.Reasons {
			if r.Reason == "carrier-lost" && n.Error != "" {
				continue // the error line says it
			}
			t.addNote(indent, 1, r.Reason+": "+r.Detail)
		}
	}
	t.write(&b)
	if line := primaryLine(st); line != "" {
		b.WriteString(indent + line + "\n")
	}
	return flush(w, &b)
}

// primaryLine answers "which one is the primary heartbeat?": the network
// messages prefer, and the order after it; a primary without a usable link
// says which network messages use instead.
func primaryLine(st *status.Status) string {
	nets := append([]status.Network(nil), st.Networks...)
	slices.SortFunc(nets, func(a, b status.Network) int { return a.Order - b.Order })
	var rest []string
	var primary status.Network
	for _, n := range nets {
		switch {
		case n.Order <= 0:
		case n.Primary:
			primary = n
		case n.Lowpri:
			rest = append(rest, n.Name+" (lowpri)")
		default:
			rest = append(rest, n.Name)
		}
	}
	if primary.Name == "" {
		return ""
	}
	line := "Primary heartbeat: " + primary.Name + " (messages prefer it)"
	if len(rest) > 0 {
		line += "; then " + strings.Join(rest, ", ")
	}
	if !usableNetwork(st, primary.Name) {
		for _, n := range nets {
			if n.Order > 0 && !n.Primary && usableNetwork(st, n.Name) {
				return line + "; " + primary.Name + " has no usable link now: messages use " + n.Name
			}
		}
		return line + "; no network has a usable link now"
	}
	return line
}

// usableNetwork reports whether some peer's link on net is UP or TROUBLE.
func usableNetwork(st *status.Status, net string) bool {
	for _, n := range st.Nodes {
		if n.Local {
			continue
		}
		for _, l := range n.Links {
			if l.Network == net && (l.State == status.LinkUp || l.State == status.LinkTrouble) {
				return true
			}
		}
	}
	return false
}

// address is the network's IP address, joined with its tcp port if set.
func address(n status.Network) string {
	if n.Address == "" || n.TCPPort <= 0 {
		return n.Address
	}
	return net.JoinHostPort(n.Address, strconv.Itoa(n.TCPPort))
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func mtu(v int) string {
	if v <= 0 {
		return "-"
	}
	return strconv.Itoa(v)
}

func carrier(up bool) string {
	if up {
		return "up"
	}
	return "DOWN"
}
