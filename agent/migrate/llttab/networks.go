package llttab

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate"
)

// lltEtherType is LLT's default SAP.
const lltEtherType = 0xCAFE

// networks turns the link lines into tether networks, in llttab order.
func (c *converter) networks() {
	links := c.tab.Links
	if len(links) == 0 {
		c.tabFail(0, "no link: the llttab must have at least one link or link-lowpri line")
		return
	}
	if !slices.ContainsFunc(links, func(l Link) bool { return !l.Lowpri }) {
		c.tabFail(links[0].Line, "every link is link-lowpri: tether needs at least one full-rate network (a link line)")
	}
	tags := map[string]int{}   // tag -> line
	ifaces := map[string]int{} // interface -> index in links
	for i, l := range links {
		if i == config.MaxNetworks {
			c.tabFail(l.Line, "more than %d links: LLT and tether support at most %d", config.MaxNetworks, config.MaxNetworks)
			break
		}
		if first, dup := tags[l.Tag]; dup {
			c.tabFail(l.Line, "link tag %q is given twice (first at line %d): each link needs its own tag", l.Tag, first)
			continue
		}
		tags[l.Tag] = l.Line
		n := migrate.Network{Name: l.Tag, Lowpri: l.Lowpri, Comment: fmt.Sprintf("from %s:%d, device %s", c.tab.File, l.Line, l.Device)}
		if l.Nodes != "-" {
			c.tabNote(l.Line, "link %s is for nodes %s only: tether runs every network between all the nodes", l.Tag, l.Nodes)
		}
		var ok bool
		if l.IsIP() {
			ok = c.ipNetwork(l, i, &n)
		} else {
			ok = c.etherNetwork(l, i, &n)
		}
		if !ok {
			continue
		}
		if first, dup := ifaces[n.Interface]; dup {
			c.tabFail(l.Line, "link %s is on interface %s, as link %s is (line %d): tether needs one interface per network",
				l.Tag, n.Interface, links[first].Tag, links[first].Line)
			continue
		}
		ifaces[n.Interface] = i
		c.d.Networks = append(c.d.Networks, n)
	}
	c.addresses()
	if slices.ContainsFunc(c.d.Networks, func(n migrate.Network) bool {
		return n.EtherType == 0 && slices.Contains(n.Channels, config.ChannelEther)
	}) {
		c.notef("", 0, "ether networks use tether's EtherType 0x%04X, not LLT's 0x%04X: let it through any switch ACL or ebtables rule written for LLT (LLT and tether can then run side by side during the move)",
			config.DefaultEtherType, lltEtherType)
	}
}

// etherNetwork converts an ether link: its device, SAP and MTU.
func (c *converter) etherNetwork(l Link, i int, n *migrate.Network) bool {
	n.Channels = []string{config.ChannelEther}
	iface, ok := c.etherInterface(l, i, n)
	if !ok {
		return false
	}
	n.Interface = iface
	switch {
	case l.SAP < 0 || l.SAP == lltEtherType:
		// tether's own EtherType: LLT and tether then never read each
		// other's frames (the general note says so once).
	case acceptsEtherType(uint16(l.SAP)):
		n.EtherType = uint16(l.SAP)
		c.tabNote(l.Line, "link %s: SAP 0x%04X is carried over as ethertype: stop LLT on this network before tether starts there, or each will receive the other's frames", l.Tag, l.SAP)
	default:
		c.tabNote(l.Line, "link %s: SAP 0x%04X cannot be a tether EtherType (below 0x0600, or one the host or switches use): tether's default 0x%04X is used", l.Tag, l.SAP, config.DefaultEtherType)
	}
	switch {
	case l.MTU < 0:
	case l.MTU >= 68 && l.MTU <= 65535:
		n.MTU = l.MTU
	default:
		c.tabNote(l.Line, "link %s: MTU %d is outside tether's 68 to 65535: not carried over, the interface's MTU is used", l.Tag, l.MTU)
	}
	return true
}

// etherInterface is the Linux interface an ether link's device names:
//
//	eth1                   the name itself
//	eth-00:11:22:33:44:55  the local interface with that MAC (Linux
//	                       installers write this form: names may change
//	                       across boots, MACs do not)
//	/dev/e1000g:0, lan:1   Solaris, HP-UX and AIX DLPI devices: name and
//	                       instance joined (e1000g0), to be checked
func (c *converter) etherInterface(l Link, i int, n *migrate.Network) (string, bool) {
	dev := l.Device
	if mac, ok := macDevice(dev); ok {
		return c.interfaceByMAC(l, i, mac, n)
	}
	if strings.HasPrefix(dev, "/") || strings.Contains(dev, ":") {
		base := dev[strings.LastIndex(dev, "/")+1:]
		if name, inst, ok := strings.Cut(base, ":"); ok && inst != "" && strings.Trim(inst, "0123456789") == "" {
			base = name + inst
		}
		if err := checkIfName(base); err != nil {
			c.tabFail(l.Line, "device %s: %v", dev, err)
			return "", false
		}
		c.tabNote(l.Line, "link %s: device %s is a Solaris, HP-UX or AIX name: interface %s is a guess, check the Linux name of that NIC", l.Tag, dev, base)
		return base, true
	}
	if err := checkIfName(dev); err != nil {
		c.tabFail(l.Line, "device %s: %v", dev, err)
		return "", false
	}
	return dev, true
}

// macDevice parses LLT's eth-<MAC> device form.
func macDevice(dev string) (net.HardwareAddr, bool) {
	rest, ok := strings.CutPrefix(dev, "eth-")
	if !ok {
		return nil, false
	}
	mac, err := net.ParseMAC(rest)
	if err != nil || len(mac) != 6 {
		return nil, false
	}
	return mac, true
}

func (c *converter) interfaceByMAC(l Link, i int, mac net.HardwareAddr, n *migrate.Network) (string, bool) {
	if c.o.InterfacesByMAC == nil {
		return c.placeholder(l, i, n, fmt.Sprintf("device %s was not looked up (run the import on the node itself)", l.Device)), true
	}
	names, err := c.o.InterfacesByMAC(mac)
	if err != nil {
		c.tabFail(l.Line, "device %s: looking up the interface with MAC %s: %v", l.Device, mac, err)
		return "", false
	}
	if len(names) == 0 {
		return c.placeholder(l, i, n, fmt.Sprintf("no interface of this host has MAC %s (device %s)", mac, l.Device)), true
	}
	if err := checkIfName(names[0]); err != nil {
		c.tabFail(l.Line, "device %s: %v", l.Device, err)
		return "", false
	}
	if len(names) > 1 {
		c.tabNote(l.Line, "link %s: interfaces %s all have MAC %s: %s is used, check it is the one LLT ran on", l.Tag, strings.Join(names, ", "), mac, names[0])
	}
	n.Comment += ", which is " + names[0] + " here"
	return names[0], true
}

// placeholder is a marked interface name for a link whose interface is
// not known: the configuration validates, and tetherd refuses to start
// until the operator sets the real one (interface not found).
func (c *converter) placeholder(l Link, i int, n *migrate.Network, why string) string {
	used := func(s string) bool {
		return slices.ContainsFunc(c.d.Networks, func(x migrate.Network) bool { return x.Interface == s }) ||
			slices.ContainsFunc(c.tab.Links, func(x Link) bool { return x.Device == s })
	}
	name := "FIXME-" + l.Tag
	for k := i; len(name) > 15 || used(name); k++ {
		name = fmt.Sprintf("FIXME-%d", k)
	}
	n.Comment += "; PLACEHOLDER: set the interface"
	c.tabNote(l.Line, "link %s: %s: interface %s is a placeholder, set the real interface before starting tetherd", l.Tag, why, name)
	return name
}

// acceptsEtherType reports whether tether's configuration takes v as a
// network's ethertype; asking config.Parse keeps its rules in one place.
func acceptsEtherType(v uint16) bool {
	d := migrate.Draft{KeyFile: "/k", NodeName: "a", Nodes: []migrate.Node{{Name: "a"}},
		Networks: []migrate.Network{{Name: "n", Interface: "i", Channels: []string{config.ChannelEther}, EtherType: v}}}
	_, err := config.Parse(d.Render(), "")
	return err == nil
}

// ipNetwork converts an LLT-over-UDP (or RDMA) link: tether's tcp channel
// between the same addresses. Its channels are chosen by addresses, once
// every set-addr is known.
func (c *converter) ipNetwork(l Link, i int, n *migrate.Network) bool {
	if c.o.InterfaceByIP == nil {
		n.Interface = c.placeholder(l, i, n, fmt.Sprintf("the interface holding %s was not looked up (run the import on the node itself)", l.IP))
	} else {
		iface, err := c.o.InterfaceByIP(l.IP)
		switch {
		case err != nil:
			c.tabFail(l.Line, "link %s: looking up the interface holding %s: %v", l.Tag, l.IP, err)
			return false
		case iface == "":
			n.Interface = c.placeholder(l, i, n, fmt.Sprintf("no interface of this host holds %s", l.IP))
		default:
			if err := checkIfName(iface); err != nil {
				c.tabFail(l.Line, "link %s: %v", l.Tag, err)
				return false
			}
			n.Interface = iface
			n.Comment += ", IP " + l.IP.String() + " is on " + iface + " here"
		}
	}
	if l.Type == TypeRDMA {
		c.tabNote(l.Line, "link %s: LLT over RDMA: tether has no RDMA channel, it runs its tcp channel between the same addresses", l.Tag)
	}
	port := "(its default)"
	if l.SAP > 0 {
		port = fmt.Sprint(l.SAP)
	}
	c.tabNote(l.Line, "link %s: LLT's UDP port %s is not carried over: tether's tcp channel listens on TCP port %d (the network's port: key), open it between the nodes",
		l.Tag, port, config.DefaultTCPPort)
	if l.MTU > 0 {
		c.tabNote(l.Line, "link %s: MTU %d (LLT's UDP datagram size) is not carried over: tether sizes its messages by the interface's MTU", l.Tag, l.MTU)
	}
	return true
}

// addresses puts set-addr and the UDP links' own addresses into the nodes,
// then picks each IP network's channels: tcp when every node's address is
// known; else LLT found the peers by broadcast or multicast, so they share
// a segment and tether carries that network as raw Ethernet.
func (c *converter) addresses() {
	if c.kept == nil {
		return // no node (set-node failed)
	}
	type at struct {
		ip   netip.Addr
		line int
	}
	addrs := map[string]map[uint16]at{} // tag -> node -> address
	link := map[string]Link{}
	for _, l := range c.tab.Links {
		if _, dup := link[l.Tag]; !dup {
			link[l.Tag] = l
		}
		if l.IsIP() {
			addrs[l.Tag] = map[uint16]at{c.self.ID: {l.IP, l.Line}}
		}
	}
	for _, a := range c.tab.Addrs {
		h, ok := c.host(a.Node)
		l, isLink := link[a.Tag]
		switch {
		case !ok:
			c.tabFail(a.Line, "set-addr %s: no node %q in %s", a.Node, a.Node, c.hosts.File)
			continue
		case !isLink:
			c.tabFail(a.Line, "set-addr %s %s: no link has the tag %q", a.Node, a.Tag, a.Tag)
			continue
		case !c.kept[h.ID]:
			c.tabNote(a.Line, "set-addr %s %s: node %s is left out of nodes: ignored", a.Node, a.Tag, h.Name)
			continue
		case !l.IsIP():
			c.tabNote(a.Line, "set-addr %s %s: a static address for node %s on ether link %s: not carried over, tether learns peers' MAC addresses from their heartbeats", a.Node, a.Tag, h.Name, a.Tag)
			continue
		case a.MAC != nil, l.Type == TypeUDP && !a.IP.Is4(), l.Type == TypeUDP6 && !a.IP.Is6():
			c.tabFail(a.Line, "set-addr %s %s: link %s is %s, so the address must be the node's %s address on it", a.Node, a.Tag, a.Tag, l.Type, ipFamily(l.Type))
			continue
		case h.ID == c.self.ID:
			if a.IP != l.IP {
				c.tabNote(a.Line, "set-addr %s %s: this node's address on %s is %s (line %d): %s is ignored", a.Node, a.Tag, a.Tag, l.IP, l.Line, a.IP)
			}
			continue
		}
		if prev, dup := addrs[a.Tag][h.ID]; dup {
			c.tabFail(a.Line, "set-addr %s %s: node %s's address on %s is already given (line %d)", a.Node, a.Tag, h.Name, a.Tag, prev.line)
			continue
		}
		for id, x := range addrs[a.Tag] {
			if x.ip == a.IP {
				c.tabFail(a.Line, "set-addr %s %s: %s is already node %d's address on %s (line %d)", a.Node, a.Tag, a.IP, id, a.Tag, x.line)
			}
		}
		addrs[a.Tag][h.ID] = at{a.IP, a.Line}
	}
	for i := range c.d.Networks {
		n := &c.d.Networks[i]
		l := link[n.Name]
		if !l.IsIP() {
			continue
		}
		var missing []string
		for _, node := range c.d.Nodes {
			if x, ok := addrs[n.Name][node.ID]; ok {
				c.node(node.ID).Addresses[n.Name] = x.ip.String()
			} else {
				missing = append(missing, node.Name)
			}
		}
		switch {
		case len(missing) == 0:
			n.Channels = []string{config.ChannelTCP}
		case l.Type == TypeUDP && (l.Bcast == "-"):
			c.tabFail(l.Line, "link %s has no broadcast address and no set-addr for %s: LLT could not reach them; add set-addr lines (set-addr NODE-ID %s IP)",
				l.Tag, strings.Join(missing, ", "), l.Tag)
		default:
			n.Channels = []string{config.ChannelEther}
			how := "broadcast to " + l.Bcast
			if l.Type != TypeUDP {
				how = "multicast"
			}
			c.tabNote(l.Line, "link %s: LLT found %s by %s (no set-addr): tether's tcp channel needs every node's address, so this network carries raw Ethernet (ether channel), as the nodes share its segment; to keep it on IP, add every node's address on %s to nodes[].addresses and set channels: [tcp]",
				l.Tag, strings.Join(missing, ", "), how, l.Tag)
		}
	}
}

// ipFamily names the addresses an IP link type takes.
func ipFamily(typ string) string {
	switch typ {
	case TypeUDP:
		return "IPv4"
	case TypeUDP6:
		return "IPv6"
	}
	return "IP"
}
