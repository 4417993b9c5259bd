package testbed

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// maxHosts is how many hosts fit the address plan (10.77.<k>.201..254).
const maxHosts = 54

// Host is an extra namespace plugged into some of the bed's networks
// without tetherd, e.g. a rogue frame injector or a capture point. On
// network k its interface is eth<k+1> (the same name a node uses), its MAC
// 02:74:68:01:<k+1>:<j+1> and its IP 10.77.<k>.<201+j>/24, where j is the
// host's index in the order AddHost was called.
type Host struct {
	NS   string // network namespace name
	Name string

	b    *Bed
	idx  int
	nets []string
}

// AddHost creates a host namespace named <prefix>-h<name> (name:
// [a-z0-9]+, unique in the bed) cabled to the bridges of nets (all
// bridged networks when none are given; routed networks cannot take
// hosts). It is deleted at cleanup.
func (b *Bed) AddHost(name string, nets ...string) *Host {
	b.t.Helper()
	if !nameRE.MatchString(name) {
		b.t.Fatalf("testbed: AddHost %q: want a name of [a-z0-9]+", name)
	}
	if len(nets) == 0 {
		for _, n := range b.opt.Networks {
			if !n.Routed {
				nets = append(nets, n.Name)
			}
		}
	}
	for _, n := range nets {
		if b.opt.Networks[b.net(n)].Routed {
			b.t.Fatalf("testbed: AddHost %q: network %q is routed; hosts can join bridged networks only", name, n)
		}
	}
	for _, n := range nets {
		if p := fmt.Sprintf("h%d-%s", maxHosts-1, n); len(p) > 15 {
			b.t.Fatalf("testbed: AddHost %q: switch port name %q would be longer than 15 characters", name, p)
		}
	}
	h := &Host{NS: fmt.Sprintf("%s-h%s", b.prefix, name), Name: name, b: b, nets: slices.Clone(nets)}
	b.mu.Lock()
	dup := slices.ContainsFunc(b.hosts, func(o *Host) bool { return o.Name == name })
	full := len(b.hosts) >= maxHosts
	if !dup && !full {
		h.idx = len(b.hosts)
		b.hosts = append(b.hosts, h)
	}
	b.mu.Unlock()
	if dup {
		b.t.Fatalf("testbed: AddHost %q: a host of that name exists", name)
	}
	if full {
		b.t.Fatalf("testbed: AddHost %q: at most %d hosts", name, maxHosts)
	}
	s := b.addNamespaces(h.NS)[0]
	b.prepareNS(s)
	var cables []cable
	for _, n := range nets {
		k := b.netIdx[n]
		c := cable{ns: s, iface: ifaceName(k), port: h.Port(n)}
		b.plug(c, h.MAC(n), h.IP(n), "br-"+n, b.opt.Networks[k].MTU)
		cables = append(cables, c)
	}
	if err := b.settle(cables...); err != nil {
		b.t.Fatalf("testbed: AddHost %q: %v", name, err)
	}
	return h
}

// Iface returns the host's interface on net, eth<k+1>.
func (h *Host) Iface(net string) string { return ifaceName(h.netIdx(net)) }

// Port returns the switch-side name of the host's cable on net, h<j>-<net>.
func (h *Host) Port(net string) string { h.netIdx(net); return fmt.Sprintf("h%d-%s", h.idx, net) }

// MAC returns the host's MAC on net.
func (h *Host) MAC(net string) net.HardwareAddr { return mac(1, h.netIdx(net), h.idx) }

// IP returns the host's address on net.
func (h *Host) IP(net string) netip.Addr { return ipAddr(h.netIdx(net), 201+h.idx) }

func (h *Host) netIdx(net string) int {
	h.b.t.Helper()
	if !slices.Contains(h.nets, net) {
		h.b.t.Fatalf("testbed: host %s is not on network %q", h.Name, net)
	}
	return h.b.netIdx[net]
}
