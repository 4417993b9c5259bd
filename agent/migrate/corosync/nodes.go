package corosync

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-ha/tether/agent/config"
)

// maxRing is the highest corosync link number (INTERFACE_MAX 8).
const maxRing = 7

// cnode is a node of the nodelist.
type cnode struct {
	id    uint16 // tether id: corosync's nodeid (1..1023 are kept as they are)
	name  string // tether name
	cname string // corosync's name, "" if none
	line  int    // of its node {
	// nameLine is the line of its name, else its node {.
	nameLine int
	addrs    map[int]netip.Addr
	// rings are its ringX_addr items by link number; placeholder marks
	// the links whose address is not an IP literal (a placeholder was
	// written instead).
	rings       map[int]*Item
	placeholder map[int]bool
}

var (
	ringKey   = regexp.MustCompile(`^ring([0-9]+)_addr$`)
	validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`) // config's checkName
)

// readNodes reads the nodelist: ids, names and ring addresses.
func (c *converter) readNodes() ([]*cnode, error) {
	lists := sections(c.f.Root, "nodelist")
	switch {
	case len(lists) == 0:
		return nil, c.errorf(0, "no nodelist { } section: tether needs every node listed with its nodeid and addresses. "+
			"A corosync 2 configuration with transport udp, whose nodes find each other by multicast "+
			"(interface { bindnetaddr, mcastaddr }), cannot be converted: add a nodelist with nodeid, name and ring0_addr "+
			"for every node (corosync.conf(5)), and import that")
	case len(lists) > 1:
		return nil, c.errorf(lists[1].Line, "a second nodelist { } (the first is at line %d): corosync overwrites the first one's nodes "+
			"by position with the second's; write one nodelist", lists[0].Line)
	}
	list := lists[0]
	var nodes []*cnode
	byID := map[uint16]*cnode{}
	for _, s := range sections(list, "node") {
		n, err := c.readNode(s)
		if err != nil {
			return nil, err
		}
		if first, dup := byID[n.id]; dup {
			return nil, c.errorf(s.Line, "nodeid %d is also the node at line %d: node ids must be unique", n.id, first.line)
		}
		byID[n.id] = n
		nodes = append(nodes, n)
	}
	if len(nodes) == 0 {
		return nil, c.errorf(list.Line, "the nodelist has no node { }: tether needs every node listed with its nodeid and ring0_addr")
	}
	if err := c.nameNodes(nodes); err != nil {
		return nil, err
	}
	if err := c.checkAddresses(nodes); err != nil {
		return nil, err
	}
	c.placeholders(nodes)
	return nodes, nil
}

func (c *converter) readNode(s *Section) (*cnode, error) {
	ss := []*Section{s}
	id, it, err := c.number(ss, "nodeid", math.MaxUint32)
	switch {
	case err != nil:
		return nil, err
	case it == nil:
		return nil, c.errorf(s.Line, "this node { } has no nodeid: tether needs every node's id (knet requires one too; "+
			"with udp or udpu corosync derives it from the IPv4 ring0_addr, a 32-bit number out of tether's range): "+
			"add nodeid: N (1 to %d, the same on every node) to every node, and import that", config.MaxNodeID)
	case id == 0:
		return nil, c.errorf(it.Line, "nodeid 0 is reserved (corosync refuses it for knet): give this node an id from 1 to %d", config.MaxNodeID)
	case id > config.MaxNodeID:
		// Not renumbered: pacemaker, fencing and the logs know the nodes
		// by their corosync id, and a renumbering computed from one file
		// changes when a node is added to it.
		return nil, c.errorf(it.Line, "nodeid %d is above tether's largest node id (%d), and ids are not renumbered behind your back "+
			"(pacemaker and fencing know the nodes by them): give the nodes ids from 1 to %d in a copy of corosync.conf and import that",
			id, config.MaxNodeID, config.MaxNodeID)
	}
	n := &cnode{id: uint16(id), line: s.Line, addrs: map[int]netip.Addr{}, rings: map[int]*Item{}, placeholder: map[int]bool{}}
	n.nameLine = s.Line
	if it := c.value(ss, "name"); it != nil {
		n.cname, n.nameLine = it.Value, it.Line
	}
	var keys []string
	for _, it := range s.Items {
		if it.Section == nil && ringKey.MatchString(it.Key) && !slices.Contains(keys, it.Key) {
			keys = append(keys, it.Key)
		}
	}
	for _, k := range keys {
		ring, err := strconv.Atoi(ringKey.FindStringSubmatch(k)[1])
		it := c.value(ss, k)
		if err != nil || ring > maxRing {
			return nil, c.errorf(it.Line, "%s: corosync has links 0 to %d only (it refuses this too)", k, maxRing)
		}
		if k != fmt.Sprintf("ring%d_addr", ring) { // ring00_addr: corosync reads it as a second ring0 address
			return nil, c.errorf(it.Line, "%s: write it ring%d_addr", k, ring)
		}
		n.rings[ring] = it
		if a, ok := literal(it.Value); ok {
			n.addrs[ring] = a
		} else {
			n.placeholder[ring] = true
		}
	}
	if len(n.rings) == 0 {
		return nil, c.errorf(s.Line, "this node { } has no ring0_addr (no ringX_addr at all): corosync needs at least ring0_addr for every node, "+
			"and tether needs the addresses: add them, and import that")
	}
	return n, nil
}

// literal is v as a node address tether accepts: an IP, without a zone,
// unicast.
func literal(v string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, false
	}
	return a, true
}

// nameNodes gives every node a valid tether name: its corosync name, its
// short name (an FQDN longer than tether allows), or node<ID>.
func (c *converter) nameNodes(nodes []*cnode) error {
	byName := map[string]*cnode{}
	for _, n := range nodes {
		n.name = n.cname
		nameLine := n.nameLine
		switch short, _, _ := strings.Cut(n.cname, "."); {
		case n.cname == "":
			n.name = fmt.Sprintf("node%d", n.id)
			c.notef(n.line, "node %d has no name: named %s (corosync knows it by its nodeid)", n.id, n.name)
		case validName.MatchString(n.cname):
		case short != n.cname && validName.MatchString(short):
			n.name = short
			c.notef(nameLine, "node name %q is not a valid tether name (1 to 32 letters, digits, '.', '_' or '-'): named %s, its short name", n.cname, short)
		default:
			n.name = fmt.Sprintf("node%d", n.id)
			why := ""
			if quoted(n.cname) {
				why = "; corosync keeps the quotes as part of the name"
			}
			c.notef(nameLine, "node name %q is not a valid tether name (1 to 32 letters, digits, '.', '_' or '-'%s): named %s", n.cname, why, n.name)
		}
		if first, dup := byName[n.name]; dup {
			return c.errorf(nameLine, "node %d would be named %s like node %d (line %d): tether needs unique node names; "+
				"give them distinct names (1 to 32 letters, digits, '.', '_' or '-')", n.id, n.name, first.id, first.line)
		}
		byName[n.name] = n
	}
	return nil
}

// checkAddresses refuses two nodes with one address on a ring: tether
// could not tell them apart.
func (c *converter) checkAddresses(nodes []*cnode) error {
	type key struct {
		ring int
		addr netip.Addr
	}
	owner := map[key]*cnode{}
	for _, n := range nodes {
		for _, ring := range sortedRings(n.rings) {
			a, ok := n.addrs[ring]
			if !ok {
				continue
			}
			k := key{ring, a.Unmap()}
			if first, dup := owner[k]; dup {
				return c.errorf(n.rings[ring].Line, "ring%d_addr %s is also node %s's (line %d): every node needs its own address on each ring",
					ring, a, first.name, first.rings[ring].Line)
			}
			owner[k] = n
		}
	}
	return nil
}

// placeholders writes an address for every ring address that is not an
// IP literal (a host name, mostly: tether resolves no names, so that
// starting it does not depend on DNS). They come from the documentation
// ranges (RFC 5737, RFC 3849), so they route nowhere, and are the same
// for every node that imports the same file.
func (c *converter) placeholders(nodes []*cnode) {
	taken := map[netip.Addr]bool{}
	for _, n := range nodes {
		for _, a := range n.addrs {
			taken[a.Unmap()] = true
		}
	}
	next := placeholderSeq()
	for _, n := range nodes {
		for _, ring := range sortedRings(n.rings) {
			if !n.placeholder[ring] {
				continue
			}
			a := next()
			for taken[a] {
				a = next()
			}
			taken[a] = true
			n.addrs[ring] = a
			it := n.rings[ring]
			c.notef(it.Line, "node %s ring%d_addr %q is %s: tether needs IP addresses and resolves no names; wrote the placeholder %s: "+
				"replace it with %s's address on ring%d in every node's configuration", n.name, ring, it.Value, whyNotLiteral(it.Value), a, n.name, ring)
		}
	}
}

// placeholderSeq returns successive documentation addresses: 192.0.2.1-254,
// 198.51.100.1-254, 203.0.113.1-254, then 2001:db8::1 onwards.
func placeholderSeq() func() netip.Addr {
	nets := [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}
	i := 0
	return func() netip.Addr {
		i++
		if k := (i - 1) / 254; k < len(nets) {
			p := nets[k]
			return netip.AddrFrom4([4]byte{p[0], p[1], p[2], byte((i-1)%254 + 1)})
		}
		v := i - 3*254
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
}

func whyNotLiteral(v string) string {
	a, err := netip.ParseAddr(v)
	switch {
	case quoted(v):
		return "quoted (corosync keeps the quotes, and would look the quoted text up as a host name)"
	case err != nil:
		return "not an IP address (a host name?)"
	case a.Zone() != "":
		return "an address with a zone, which tether does not take"
	default:
		return "not a unicast address"
	}
}

// findSelf picks the node the configuration is for: --node, else the node
// with a ring address on this host, else the node named like this host.
func (c *converter) findSelf(nodes []*cnode) (*cnode, error) {
	if c.o.Node != "" {
		for _, n := range nodes {
			if c.o.Node == n.cname || c.o.Node == n.name || c.o.Node == strconv.Itoa(int(n.id)) {
				return n, nil
			}
		}
		return nil, c.errorf(0, "--node %s: no such node in the nodelist (nodes: %s)", c.o.Node, nodeList(nodes))
	}
	var mine []*cnode
	var addrs []string
	for _, n := range nodes {
		for _, ring := range sortedRings(n.rings) {
			if n.placeholder[ring] {
				continue
			}
			addrs = append(addrs, n.addrs[ring].String())
			if c.o.InterfaceOf(n.addrs[ring]) != "" && !slices.Contains(mine, n) {
				mine = append(mine, n)
			}
		}
	}
	switch {
	case len(mine) == 1:
		return mine[0], nil
	case len(mine) > 1:
		return nil, c.errorf(0, "ring addresses of several nodes (%s) are on this host: pass --node NAME|ID to say which one it is", nodeList(mine))
	}
	if n := byHostname(nodes, c.o.Hostname); n != nil {
		c.notef(n.line, "no ring address of the nodelist is on this host: the configuration is for node %s, named like this host (%s), as corosync would pick it", n.name, c.o.Hostname)
		return n, nil
	}
	return nil, c.errorf(0, "cannot tell which node this host is: none of the ring addresses (%s) is an address of this host%s: "+
		"run the import on each node, or pass --node NAME|ID (nodes: %s)", strings.Join(addrs, ", "), hostnameText(c.o.Hostname), nodeList(nodes))
}

func hostnameText(h string) string {
	if h == "" {
		return ""
	}
	return fmt.Sprintf(" and no node is named like it (%s)", h)
}

// byHostname is corosync's rule for finding the local node by name
// (corosync.conf(5), nodelist name): the host name, the host name without
// its domain, or a node name whose short form is the host's short name.
func byHostname(nodes []*cnode, host string) *cnode {
	if host == "" {
		return nil
	}
	short, _, _ := strings.Cut(host, ".")
	// corosync falls back to ring0_addr when a node has no name.
	name := func(n *cnode) string {
		if n.cname == "" && n.rings[0] != nil {
			return n.rings[0].Value
		}
		return n.cname
	}
	for _, want := range []func(n *cnode) bool{
		func(n *cnode) bool { return name(n) == host },
		func(n *cnode) bool { return name(n) == short },
		func(n *cnode) bool { s, _, _ := strings.Cut(name(n), "."); return name(n) != "" && s == short },
	} {
		var found []*cnode
		for _, n := range nodes {
			if want(n) {
				found = append(found, n)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
	}
	return nil
}

func nodeList(nodes []*cnode) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = fmt.Sprintf("%s (id %d)", n.name, n.id)
	}
	return strings.Join(parts, ", ")
}

func sortedRings[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
