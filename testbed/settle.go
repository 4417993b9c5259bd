package testbed

import (
	"fmt"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// settleTimeout bounds the wait for cables to carry frames.
const settleTimeout = 5 * time.Second

// cable is one veth pair between an end namespace and the switch.
type cable struct {
	ns    *nsState
	iface string // in ns
	port  string // in the switch namespace
}

// settle waits until every cable carries frames: the end's interface is
// operationally up and its switch port is forwarding. The kernel applies
// carrier changes asynchronously (linkwatch), so right after a veth comes
// up its bridge port can stay disabled for tens of milliseconds or more;
// New and the undo of carrier faults wait here so that the bed is fully
// usable when they return.
func (b *Bed) settle(cables ...cable) error {
	deadline := time.Now().Add(settleTimeout)
	for {
		var pending []string
		for _, c := range cables {
			if why, err := b.cableReady(c); err != nil {
				return err
			} else if why != "" {
				pending = append(pending, why)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cables not ready after %v: %s", settleTimeout, strings.Join(pending, "; "))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// cableReady returns "" when c carries frames, else what is missing.
func (b *Bed) cableReady(c cable) (string, error) {
	var oper netlink.LinkOperState
	if _, err := linkOp(c.ns, c.iface, func(_ *netlink.Handle, l netlink.Link) error {
		oper = l.Attrs().OperState
		return nil
	}); err != nil {
		return "", err
	}
	if oper != netlink.OperUp {
		return fmt.Sprintf("%s:%s is %v", c.ns.name, c.iface, oper), nil
	}
	var state byte
	if _, err := linkOp(b.sw, c.port, func(_ *netlink.Handle, l netlink.Link) error {
		var err error
		state, err = portState(b.sw, l.Attrs().Index)
		return err
	}); err != nil {
		return "", err
	}
	if state != brStateForwarding {
		return fmt.Sprintf("switch port %s is in state %d, not forwarding", c.port, state), nil
	}
	return "", nil
}

// portState reads the STP state of bridge port index (`bridge link`).
// s.mu is held.
func portState(s *nsState, index int) (byte, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: s.raw}
	req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return 0, fmt.Errorf("bridge port dump: %w", err)
	}
	for _, m := range msgs {
		info := nl.DeserializeIfInfomsg(m)
		if int(info.Index) != index {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[info.Len():])
		if err != nil {
			return 0, err
		}
		for _, a := range attrs {
			if a.Attr.Type&nlaTypeMask != unix.IFLA_PROTINFO {
				continue
			}
			sub, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return 0, err
			}
			for _, x := range sub {
				if x.Attr.Type&nlaTypeMask == nl.IFLA_BRPORT_STATE && len(x.Value) == 1 {
					return x.Value[0], nil
				}
			}
		}
		return 0, fmt.Errorf("bridge port %d: no state attribute", index)
	}
	return 0, fmt.Errorf("link %d is not a bridge port", index)
}

// nlaTypeMask strips the nested and byte-order flags from an attribute type.
const nlaTypeMask = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
