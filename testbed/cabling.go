package testbed

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// SwapPorts swaps node i's cables on networks a and b at the switch: its
// a interface ends up on b's bridge and its b interface on a's, as when
// the two cables of a node are plugged into each other's switch ports.
// Both moves are made back to back (no moment where both NICs share one
// bridge lasts longer than one netlink call); SwapPorts and Undo return
// once both ports forward on their new bridges. Both networks must be
// bridged.
func (b *Bed) SwapPorts(i int, a, bNet string) Fault {
	b.t.Helper()
	if a == bNet {
		b.t.Fatalf("testbed: SwapPorts node%d %s with itself", i, a)
	}
	ka, kb := b.net(a), b.net(bNet)
	for _, k := range []int{ka, kb} {
		if b.opt.Networks[k].Routed {
			b.t.Fatalf("testbed: SwapPorts node%d %s %s: %s is routed", i, a, bNet, b.opt.Networks[k].Name)
		}
	}
	pa, pb := b.Port(i, a), b.Port(i, bNet)
	bra, brb := b.linkIndex(b.sw, b.Bridge(a)), b.linkIndex(b.sw, b.Bridge(bNet))
	ca, cb := b.nodeCable(i, a), b.nodeCable(i, bNet)
	move := func(port string, br int) error {
		_, err := linkOp(b.sw, port, func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetMasterByIndex(l, br) })
		return err
	}
	swap := func(toA, toB int) error {
		if err := move(pa, toA); err != nil {
			return err
		}
		if err := move(pb, toB); err != nil {
			return err
		}
		return b.settle(*ca, *cb)
	}
	name := fmt.Sprintf("swap ports node%d %s %s", i, a, bNet)
	at, err := linkOp(b.sw, pa, func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetMasterByIndex(l, brb) })
	if err == nil {
		err = move(pb, bra)
	}
	f := b.addFault(name, at, func() error { return swap(bra, brb) })
	if err != nil {
		b.t.Fatalf("testbed: %s: %v", name, err)
	}
	if err := b.settle(*ca, *cb); err != nil {
		b.t.Fatalf("testbed: %s: %v", name, err)
	}
	return f
}
