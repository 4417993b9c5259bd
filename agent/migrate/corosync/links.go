package corosync

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate"
)

// link is one corosync link (ring) that becomes a tether network.
type link struct {
	number int
	name   string // tether network name: ring<N>
	line   int    // of the first ringN_addr
	// From the interface { } sections with this linknumber (0: not set,
	// as corosync reads a 0 too).
	priority     uint64
	pingInterval uint64
	pingTimeout  uint64
	pongCount    uint64
	timerLines   []int // lines of the knet_ping_* and knet_pong_count given
}

// readLinks returns the links every node has, in link order, with their
// interface { } settings. A link some node lacks is noted and left out:
// a tether network must reach every node.
func (c *converter) readLinks(nodes []*cnode) ([]*link, error) {
	var numbers []int
	for _, n := range nodes {
		for ring := range n.rings {
			if !slices.Contains(numbers, ring) {
				numbers = append(numbers, ring)
			}
		}
	}
	slices.Sort(numbers)
	var links []*link
	for _, ring := range numbers {
		l := &link{number: ring, name: fmt.Sprintf("ring%d", ring), line: math.MaxInt}
		var missing []string
		for _, n := range nodes {
			if it, ok := n.rings[ring]; ok {
				l.line = min(l.line, it.Line)
			} else {
				missing = append(missing, n.name)
			}
		}
		if len(missing) > 0 {
			c.notef(l.line, "ring%d is on %d of the %d nodes (not on %s): a tether network must reach every node, so ring%d is not converted; "+
				"give every node a ring%d_addr to keep it", ring, len(nodes)-len(missing), len(nodes), strings.Join(missing, ", "), ring, ring)
			continue
		}
		links = append(links, l)
	}
	if len(links) == 0 {
		return nil, c.errorf(sections(c.f.Root, "nodelist")[0].Line, "no ring is on every node: tether needs at least one network that reaches every node")
	}
	if err := c.readInterfaces(links); err != nil {
		return nil, err
	}
	return links, nil
}

// readInterfaces applies the totem interface { } sections to the links.
// Sections with the same linknumber add up, a later key winning, as in
// corosync.
func (c *converter) readInterfaces(links []*link) error {
	byNumber := map[uint64][]*Section{}
	var order []uint64
	for _, t := range c.totem {
		for _, s := range sections(t, "interface") {
			n, it, err := c.number([]*Section{s}, "linknumber", math.MaxUint8)
			if err != nil {
				return err
			}
			if it == nil {
				// corosync 2 named it ringnumber; corosync 3 ignores that
				// key and reads link 0.
				if n, it, err = c.number([]*Section{s}, "ringnumber", math.MaxUint8); err != nil {
					return err
				}
				if it != nil && n != 0 {
					c.notef(it.Line, "ringnumber is corosync 2's name for linknumber: read as link %d (corosync 3 ignores it and reads link 0)", n)
				}
			}
			if n > maxRing {
				return c.errorf(it.Line, "link number %d: corosync has links 0 to %d only (it refuses this too)", n, maxRing)
			}
			if _, seen := byNumber[n]; !seen {
				order = append(order, n)
			}
			byNumber[n] = append(byNumber[n], s)
		}
	}
	for _, n := range order {
		ss := byNumber[n]
		i := slices.IndexFunc(links, func(l *link) bool { return uint64(l.number) == n })
		if i < 0 {
			c.useAll(ss...)
			c.notef(ss[0].Line, "interface { } of link %d: no ring%d on every node, so no network to apply it to: not carried over", n, n)
			continue
		}
		if err := c.readInterface(links[i], ss); err != nil {
			return err
		}
	}
	return nil
}

// readInterface reads one link's interface { } settings.
func (c *converter) readInterface(l *link, ss []*Section) error {
	var err error
	get := func(key string, max uint64) (uint64, *Item) {
		if err != nil {
			return 0, nil
		}
		var v uint64
		var it *Item
		v, it, err = c.number(ss, key, max)
		return v, it
	}
	var it *Item
	l.priority, _ = get("knet_link_priority", math.MaxUint8)
	for _, t := range []struct {
		key string
		dst *uint64
	}{{"knet_ping_interval", &l.pingInterval}, {"knet_ping_timeout", &l.pingTimeout}, {"knet_pong_count", &l.pongCount}} {
		if *t.dst, it = get(t.key, math.MaxUint32); it != nil {
			l.timerLines = append(l.timerLines, it.Line)
		}
	}
	if _, it = get("knet_ping_precision", math.MaxUint32); it != nil {
		c.notef(it.Line, "knet_ping_precision of %s (latency samples averaged): tether measures the round trip of every heartbeat: not carried over", l.name)
	}
	if p, it := get("mcastport", math.MaxUint16); it != nil {
		c.notef(it.Line, "mcastport %d of %s: corosync's UDP port; tether's tcp channel uses TCP port %d on every network (a network's port: key sets another)",
			p, l.name, config.DefaultTCPPort)
	}
	if _, it = get("ttl", math.MaxUint8); it != nil {
		c.notef(it.Line, "ttl of %s: the multicast TTL of transport udp; tether sends no multicast: not carried over", l.name)
	}
	if err != nil {
		return err
	}
	if it := c.value(ss, "knet_transport"); it != nil && it.Value != "udp" {
		c.notef(it.Line, "knet_transport %s of %s: tether carries heartbeats over TCP (its tcp channel) or raw Ethernet, not %s", it.Value, l.name, it.Value)
	}
	if it := c.value(ss, "bindnetaddr"); it != nil {
		c.notef(it.Line, "bindnetaddr %s of %s: with a nodelist corosync ignores it, and so does this import: the interface is the one holding this node's ring%d_addr",
			it.Value, l.name, l.number)
	}
	for _, k := range []string{"mcastaddr", "broadcast"} {
		if it := c.value(ss, k); it != nil {
			c.notef(it.Line, "%s of %s: multicast or broadcast of transport udp; tether connects to every node's address instead: not carried over", k, l.name)
		}
	}
	for _, s := range ss {
		for _, m := range sections(s, "member") {
			c.useAll(m)
			c.notef(m.Line, "member { } of %s: corosync 1's list of udpu members; the nodelist replaces it: not carried over", l.name)
		}
	}
	return nil
}

// networks makes one tcp network per link, on the interface that holds
// this node's address of that link.
func (c *converter) networks(links []*link, self *cnode) ([]migrate.Network, error) {
	c.orderLinks(links)
	mtu, mtuFrom, err := c.mtu()
	if err != nil {
		return nil, err
	}
	var out []migrate.Network
	usedBy := map[string]*link{}
	for _, l := range links {
		addr := self.addrs[l.number]
		iface := ""
		if !self.placeholder[l.number] {
			iface = c.o.InterfaceOf(addr)
		}
		switch {
		case iface != "" && !validIfName(iface):
			c.notef(self.rings[l.number].Line, "this host's interface holding %s is named %q, which tether cannot use as an interface name: wrote CHANGEME%d", addr, iface, l.number)
			iface = ""
		case iface == "" && !self.placeholder[l.number]:
			c.notef(self.rings[l.number].Line, "this node's (%s) ring%d address %s is on no interface of this host: wrote the placeholder interface CHANGEME%d "+
				"for network %s: replace it with the interface that holds %s", self.name, l.number, addr, l.number, l.name, addr)
		case iface == "":
			c.notef(self.rings[l.number].Line, "this node's (%s) ring%d address is a placeholder, so its interface is unknown: wrote the placeholder interface CHANGEME%d "+
				"for network %s: replace it with the interface of %s's ring%d address", self.name, l.number, l.number, l.name, self.name, l.number)
		}
		if iface == "" {
			iface = fmt.Sprintf("CHANGEME%d", l.number)
		}
		if first, dup := usedBy[iface]; dup {
			return nil, c.errorf(self.rings[l.number].Line, "ring%d and ring%d of node %s (%s and %s) are both on interface %s of this host: "+
				"tether needs one interface per network, and two links on one NIC are no redundancy; move one to its own interface "+
				"or remove it from corosync.conf, and import again",
				first.number, l.number, self.name, self.addrs[first.number], addr, iface)
		}
		usedBy[iface] = l
		comment := fmt.Sprintf("corosync link %d", l.number)
		if l.priority != 0 {
			comment += fmt.Sprintf(", knet_link_priority %d", l.priority)
		}
		if mtu != 0 {
			comment += ", mtu from " + mtuFrom
		}
		comment += fmt.Sprintf("; add ether to channels if %s is one Ethernet segment", l.name)
		out = append(out, migrate.Network{Name: l.name, Interface: iface, Channels: []string{config.ChannelTCP}, MTU: mtu, Comment: comment})
	}
	c.notef(0, "tether's tcp channel listens on TCP port %d of every node's address on each network (corosync used UDP, port 5405 by default): "+
		"open it between the nodes where a firewall filters the interconnect", config.DefaultTCPPort)
	return out, nil
}

// orderLinks puts the links in the order messages should prefer them.
// knet's default link_mode passive sends on the up link with the highest
// knet_link_priority (0 counts as 1; ties: the lowest link number), and
// tether's messages prefer the networks in configuration order.
func (c *converter) orderLinks(links []*link) {
	mode := "passive"
	if it := c.value(c.totem, "link_mode"); it != nil {
		mode = it.Value
		switch mode {
		case "passive":
		case "active", "rr":
			c.notef(it.Line, "link_mode %s: knet spreads traffic over every link; tether heartbeats on every network all the time and sends messages "+
				"over the best one: the networks keep the link order", mode)
		default:
			c.notef(it.Line, "link_mode %q is not one corosync knows (passive, active, rr): read as passive", mode)
			mode = "passive"
		}
	}
	if mode != "passive" {
		return
	}
	prio := func(l *link) uint64 { return max(l.priority, 1) }
	before := slices.Clone(links)
	slices.SortStableFunc(links, func(a, b *link) int {
		switch pa, pb := prio(a), prio(b); {
		case pa > pb:
			return -1
		case pa < pb:
			return 1
		}
		return a.number - b.number
	})
	if !slices.Equal(before, links) {
		names := make([]string, len(links))
		for i, l := range links {
			names[i] = fmt.Sprintf("%s (priority %d)", l.name, prio(l))
		}
		c.notef(links[0].line, "knet_link_priority (link_mode passive): the networks are in priority order, %s; messages prefer the first", strings.Join(names, ", "))
	}
}

// mtu is the mtu of every network, from knet_mtu (knet's fixed MTU,
// totem-wide) or, for udp and udpu, from netmtu; 0 leaves the interface's.
func (c *converter) mtu() (int, string, error) {
	knetMTU, kit, err := c.number(c.totem, "knet_mtu", math.MaxUint32)
	if err != nil {
		return 0, "", err
	}
	netMTU, nit, err := c.number(c.totem, "netmtu", math.MaxUint32)
	if err != nil {
		return 0, "", err
	}
	inRange := func(n uint64) bool { return n >= 68 && n <= 65535 }
	mtu, from := 0, ""
	if kit != nil && knetMTU != 0 {
		if inRange(knetMTU) {
			mtu, from = int(knetMTU), "knet_mtu"
		} else {
			c.notef(kit.Line, "knet_mtu %d is outside tether's MTU range (68 to 65535): not carried over, the interfaces' MTU is used", knetMTU)
		}
	}
	if nit != nil {
		switch {
		case c.transport == "knet":
			c.notef(nit.Line, "netmtu %d: with knet it is the largest message corosync hands to knet, not the network's MTU: not carried over "+
				"(tether uses the interface's MTU unless a network sets mtu)", netMTU)
		case mtu == 0 && inRange(netMTU):
			mtu, from = int(netMTU), "netmtu"
		default:
			c.notef(nit.Line, "netmtu %d: not carried over (outside tether's MTU range 68 to 65535, or knet_mtu given)", netMTU)
		}
	}
	return mtu, from, nil
}

// useAll marks every item of the sections, and of their subsections, as
// used.
func (c *converter) useAll(ss ...*Section) {
	for _, s := range ss {
		for _, it := range s.Items {
			c.used[it] = true
			if it.Section != nil {
				c.useAll(it.Section)
			}
		}
	}
}

// validIfName is config's interface name rule (the kernel's).
func validIfName(s string) bool {
	return len(s) > 0 && len(s) <= 15 && s != "." && s != ".." &&
		!strings.ContainsFunc(s, func(r rune) bool { return r == '/' || r == ':' || r == 0 || unicode.IsSpace(r) })
}
