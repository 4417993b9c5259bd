package render

import (
	"bytes"
	"io"
	"net"
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
	}
	t.write(&b)
	return flush(w, &b)
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
