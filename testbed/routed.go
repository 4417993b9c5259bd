package testbed

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
)

// routedBase is the second octet of routed network 0's addresses: network
// k uses 10.<routedBase+k>.0.0/16, node i the /24 10.<routedBase+k>.<i>.0.
const routedBase = 80

// maxRoutedIndex is the largest index in Options.Networks a routed
// network may have (its second octet must fit a byte).
const maxRoutedIndex = 255 - routedBase

// routedAddr returns 10.<routedBase+k>.<i>.<last>.
func routedAddr(k, i int, last byte) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(routedBase + k), byte(i), last})
}

// routedRoute is the route node i needs on routed network k: the whole
// network's /16 through the router's leg.
func routedRoute(k, i, linkIndex int) *netlink.Route {
	return &netlink.Route{
		LinkIndex: linkIndex,
		Dst:       &net.IPNet{IP: net.IP(routedAddr(k, 0, 0).AsSlice()), Mask: net.CIDRMask(16, 32)},
		Gw:        net.IP(routedAddr(k, i, 254).AsSlice()),
	}
}

// prepareRouter prepares router namespace s like any other (prepareNS) and
// turns IPv4 forwarding on in it.
func (b *Bed) prepareRouter(s *nsState) {
	b.t.Helper()
	b.prepareNS(s)
	err := inNS(s.fd, s.name, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0); err != nil {
			return fmt.Errorf("enable IPv4 forwarding: %w", err)
		}
		return nil
	})
	if err != nil {
		b.t.Fatalf("testbed: %s: %v", s.name, err)
	}
}

// addLeg builds node i's leg of routed network k: a bridge b<i>-<net> in
// the switch joining the node's cable (eth<k+1> to port n<i>-<net>) and
// the router's (r<i>-<net> to port u<i>-<net>), the node's address
// 10.<80+k>.<i>.1/24, the router's 10.<80+k>.<i>.254/24 and the node's
// route to the rest of the network through the router. It returns both
// cables, for settle.
func (b *Bed) addLeg(i, k int) []cable {
	b.t.Helper()
	spec := b.opt.Networks[k]
	br := b.portBridge(i, k)
	b.addBridge(br, k)
	node := cable{ns: b.nodes[i].ns, iface: ifaceName(k), port: fmt.Sprintf("n%d-%s", i, spec.Name)}
	b.plug(node, mac(0, k, i), routedAddr(k, i, 1), br, spec.MTU)
	rt := cable{ns: b.routers[k], iface: fmt.Sprintf("r%d-%s", i, spec.Name), port: fmt.Sprintf("u%d-%s", i, spec.Name)}
	b.plug(rt, mac(2, k, i), routedAddr(k, i, 254), br, spec.MTU)
	b.addRoute(i, k)
	return []cable{node, rt}
}

// addRoute sets (adds or replaces) node i's route to routed network k
// through its router leg.
func (b *Bed) addRoute(i, k int) {
	b.t.Helper()
	if err := b.routeErr(i, k); err != nil {
		b.t.Fatalf("testbed: node%d: %v", i, err)
	}
}

// routeErr is addRoute returning its error.
func (b *Bed) routeErr(i, k int) error {
	s := b.nodes[i].ns
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return fmt.Errorf("namespace %s is closed", s.name)
	}
	l, err := s.h.LinkByName(ifaceName(k))
	if err != nil {
		return fmt.Errorf("%s in %s: %w", ifaceName(k), s.name, err)
	}
	r := routedRoute(k, i, l.Attrs().Index)
	if err := s.h.RouteReplace(r); err != nil {
		return fmt.Errorf("route %v via %v dev %s in %s: %w", r.Dst, r.Gw, ifaceName(k), s.name, err)
	}
	return nil
}
