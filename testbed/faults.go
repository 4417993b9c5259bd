package testbed

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Fault is an injected failure.
//
// At is when it took effect: for faults applied with netlink (CablePull,
// IfDown, Blackhole, MovePort, SetPortMTU) the time taken right before the
// syscall that applies it; for nftables faults (EgressDrop, RandomLoss,
// NFT) the time right after the nft command returned, by which the rules
// are active (they become active at most a few milliseconds earlier).
//
// Undo restores what the fault changed. It is idempotent and fails the
// test if restoring fails. Faults not undone are undone at cleanup, last
// first. Faults on the same port interact (a port that goes down and up
// forwards again, which ends a Blackhole): undo them in reverse order.
type Fault struct {
	Name string // e.g. "blackhole node0 hb0"
	At   time.Time
	Undo func()
}

type faultRec struct {
	name string
	once sync.Once
	undo func() error
}

func (r *faultRec) run(report func(string, ...any)) {
	r.once.Do(func() {
		if err := r.undo(); err != nil {
			report("testbed: undo %s: %v", r.name, err)
		}
	})
}

func (b *Bed) addFault(name string, at time.Time, undo func() error) Fault {
	r := &faultRec{name: name, undo: undo}
	b.mu.Lock()
	b.faults = append(b.faults, r)
	b.mu.Unlock()
	return Fault{Name: name, At: at, Undo: func() {
		b.t.Helper()
		r.run(b.t.Fatalf)
	}}
}

// undoFaults undoes outstanding faults, last first, logging failures.
func (b *Bed) undoFaults() {
	b.mu.Lock()
	fs := b.faults
	b.faults = nil
	b.mu.Unlock()
	for k := len(fs) - 1; k >= 0; k-- {
		fs[k].run(b.t.Logf)
	}
}

// linkOp looks up link name in s and runs op on it; at is taken right
// before op.
func linkOp(s *nsState, name string, op func(h *netlink.Handle, l netlink.Link) error) (at time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return time.Time{}, fmt.Errorf("namespace %s is closed", s.name)
	}
	l, err := s.h.LinkByName(name)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s in %s: %w", name, s.name, err)
	}
	at = time.Now()
	if err := op(s.h, l); err != nil {
		return at, fmt.Errorf("%s in %s: %w", name, s.name, err)
	}
	return at, nil
}

// netlinkFault applies a netlink change to link in s and returns a Fault
// whose undo runs undo and then, if settleAfter is set, waits for that
// cable to carry frames again.
func (b *Bed) netlinkFault(name string, s *nsState, link string, apply, undo func(h *netlink.Handle, l netlink.Link) error, settleAfter *cable) Fault {
	b.t.Helper()
	at, err := linkOp(s, link, apply)
	if err != nil {
		b.t.Fatalf("testbed: %s: %v", name, err)
	}
	return b.addFault(name, at, func() error {
		if _, err := linkOp(s, link, undo); err != nil {
			return err
		}
		if settleAfter != nil {
			return b.settle(*settleAfter)
		}
		return nil
	})
}

// nodeCable returns node i's cable on net.
func (b *Bed) nodeCable(i int, net string) *cable {
	b.t.Helper()
	return &cable{ns: b.node(i).ns, iface: b.Iface(i, net), port: b.Port(i, net)}
}

func setDown(h *netlink.Handle, l netlink.Link) error { return h.LinkSetDown(l) }
func setUp(h *netlink.Handle, l netlink.Link) error   { return h.LinkSetUp(l) }

// CablePull unplugs node i's cable on net: the switch-side port goes
// down, so the node's interface stays administratively up but loses
// carrier (no LOWER_UP, operstate lowerlayerdown) exactly as when a cable
// is pulled. Undo sets the port up and returns once the interface is
// operationally up and the port forwards again.
func (b *Bed) CablePull(i int, net string) Fault {
	b.t.Helper()
	c := b.nodeCable(i, net)
	return b.netlinkFault(fmt.Sprintf("cable pull node%d %s", i, net), b.sw, c.port, setDown, setUp, c)
}

// IfDown sets node i's interface on net administratively down, like
// `ip link set eth1 down` on the node. Undo sets it up and returns once it
// is operationally up and its switch port forwards again. On a routed
// network, where the kernel deletes the node's route through the router
// with the link down, Undo also puts that route back.
func (b *Bed) IfDown(i int, net string) Fault {
	b.t.Helper()
	c := b.nodeCable(i, net)
	k := b.net(net)
	up := setUp
	if b.opt.Networks[k].Routed {
		up = func(h *netlink.Handle, l netlink.Link) error {
			if err := h.LinkSetUp(l); err != nil {
				return err
			}
			r := routedRoute(k, i, l.Attrs().Index)
			if err := h.RouteReplace(r); err != nil {
				return fmt.Errorf("restore route %v via %v: %w", r.Dst, r.Gw, err)
			}
			return nil
		}
	}
	return b.netlinkFault(fmt.Sprintf("ifdown node%d %s", i, net), c.ns, c.iface, setDown, up, c)
}

// Bridge port states (include/uapi/linux/if_bridge.h).
const (
	brStateDisabled   = 0
	brStateForwarding = 3
)

// Blackhole makes node i's switch port on net silently drop everything in
// both directions while carrier stays up (bridge port state disabled). On
// a routed network that cuts the node's leg off its router: the node
// reaches no one on that network and no one reaches it. Undo sets the port
// forwarding again.
func (b *Bed) Blackhole(i int, net string) Fault {
	b.t.Helper()
	port := b.Port(i, net)
	state := func(st byte) func(*netlink.Handle, netlink.Link) error {
		return func(_ *netlink.Handle, l netlink.Link) error { return setPortState(b.sw, l.Attrs().Index, st) }
	}
	return b.netlinkFault(fmt.Sprintf("blackhole node%d %s", i, net), b.sw, port, state(brStateDisabled), state(brStateForwarding), nil)
}

// Sever makes the switch of net drop every frame between nodes i and j,
// both ways, broadcasts included, while both still reach every other node
// (an nftables bridge-family forward filter on their two ports): the
// interconnect between two nodes broken, a third node seeing both.
func (b *Bed) Sever(i, j int, net string) Fault {
	b.t.Helper()
	pi, pj := b.Port(i, net), b.Port(j, net)
	b.mu.Lock()
	b.nftSeq++
	table := fmt.Sprintf("tbf%d", b.nftSeq)
	b.mu.Unlock()
	rs := fmt.Sprintf("table bridge %s {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n"+
		"\t\tiifname %q oifname %q drop\n\t\tiifname %q oifname %q drop\n\t}\n}\n", table, pi, pj, pj, pi)
	f := b.NFT(b.SwitchNS(), rs)
	f.Name = fmt.Sprintf("sever node%d-node%d %s", i, j, net)
	return f
}

// setPortState sets a bridge port's STP state (`bridge link set dev P
// state N`), which the netlink package has no call for. s.mu is held.
func setPortState(s *nsState, index int, state byte) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: s.raw}
	msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
	info.AddRtAttr(nl.IFLA_BRPORT_STATE, []byte{state})
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("set bridge port state %d: %w", state, err)
	}
	return nil
}

// MovePort moves node i's switch port on net to the bridge of toNet, as
// with a swapped cable or a port in the wrong VLAN: node i's net interface
// then shares a segment with everyone's toNet. MovePort and Undo return
// once the port forwards on its new bridge. toNet must be bridged; net may
// be routed (the port leaves the node's leg bridge).
func (b *Bed) MovePort(i int, net, toNet string) Fault {
	b.t.Helper()
	port := b.Port(i, net)
	if b.opt.Networks[b.net(toNet)].Routed {
		b.t.Fatalf("testbed: MovePort node%d %s to %s: %s is routed, it has no shared bridge to move a port to", i, net, toNet, toNet)
	}
	to, back := b.linkIndex(b.sw, b.Bridge(toNet)), b.linkIndex(b.sw, b.portBridge(i, b.net(net)))
	master := func(br int) func(*netlink.Handle, netlink.Link) error {
		return func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetMasterByIndex(l, br) }
	}
	c := b.nodeCable(i, net)
	f := b.netlinkFault(fmt.Sprintf("move port node%d %s to %s", i, net, toNet), b.sw, port, master(to), master(back), c)
	if err := b.settle(*c); err != nil {
		b.t.Fatalf("testbed: %s: %v", f.Name, err)
	}
	return f
}

// linkIndex returns the index of link name in s.
func (b *Bed) linkIndex(s *nsState, name string) int {
	b.t.Helper()
	idx := 0
	_, err := linkOp(s, name, func(_ *netlink.Handle, l netlink.Link) error { idx = l.Attrs().Index; return nil })
	if err != nil {
		b.t.Fatalf("testbed: %v", err)
	}
	return idx
}

// SetPortMTU sets the MTU of node i's switch port on net, so that frames
// larger than mtu are dropped in both directions on that cable while
// smaller ones pass. Undo restores the previous MTU.
func (b *Bed) SetPortMTU(i int, net string, mtu int) Fault {
	b.t.Helper()
	port := b.Port(i, net)
	old := 0
	_, err := linkOp(b.sw, port, func(_ *netlink.Handle, l netlink.Link) error { old = l.Attrs().MTU; return nil })
	if err != nil {
		b.t.Fatalf("testbed: SetPortMTU: %v", err)
	}
	setMTU := func(m int) func(*netlink.Handle, netlink.Link) error {
		return func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetMTU(l, m) }
	}
	return b.netlinkFault(fmt.Sprintf("port mtu %d node%d %s", mtu, i, net), b.sw, port, setMTU(mtu), setMTU(old), nil)
}

// EgressDrop drops every frame node i sends on net (nftables netdev egress
// chain on the node's interface): one-way loss, the node still receives.
// The sender's writes fail with ENOBUFS.
func (b *Bed) EgressDrop(i int, net string) Fault {
	b.t.Helper()
	return b.egress(i, net, "drop", fmt.Sprintf("egress drop node%d %s", i, net))
}

// RandomLoss drops pct percent (0..100) of the frames node i sends on net,
// chosen at random (nftables `numgen random mod 100 < pct drop` on egress).
// Only that direction is affected.
func (b *Bed) RandomLoss(i int, net string, pct int) Fault {
	b.t.Helper()
	if pct < 0 || pct > 100 {
		b.t.Fatalf("testbed: RandomLoss %d%%: want 0..100", pct)
	}
	return b.egress(i, net, fmt.Sprintf("numgen random mod 100 < %d drop", pct), fmt.Sprintf("random loss %d%% node%d %s", pct, i, net))
}

func (b *Bed) egress(i int, net, rule, name string) Fault {
	b.t.Helper()
	iface := b.Iface(i, net)
	b.mu.Lock()
	b.nftSeq++
	table := fmt.Sprintf("tbf%d", b.nftSeq)
	b.mu.Unlock()
	rs := fmt.Sprintf("table netdev %s {\n\tchain egress {\n\t\ttype filter hook egress device %q priority 0; policy accept;\n\t\t%s\n\t}\n}\n", table, iface, rule)
	f := b.NFT(b.NodeNS(i), rs)
	f.Name = name
	return f
}

// tableRE finds table declarations in an nft ruleset.
var tableRE = regexp.MustCompile(`(?m)^\s*(?:(?:add|create)\s+)?table\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?([A-Za-z_][A-Za-z0-9_.-]*)`)

// nftTables returns the "family name" of each table ruleset declares.
func nftTables(ruleset string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range tableRE.FindAllStringSubmatch(ruleset, -1) {
		fam := m[1]
		if fam == "" {
			fam = "ip"
		}
		t := fam + " " + m[2]
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// NFT loads ruleset (nft -f syntax) in namespace ns. The ruleset must
// declare its own tables with names not in use in ns (the bed's own use
// the prefix "tbf"); Undo deletes exactly those tables.
func (b *Bed) NFT(ns string, ruleset string) Fault {
	b.t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		b.t.Fatalf("testbed: nftables faults need nft (apt-get install nftables): %v", err)
	}
	tables := nftTables(ruleset)
	if len(tables) == 0 {
		b.t.Fatalf("testbed: NFT: the ruleset declares no table:\n%s", ruleset)
	}
	have, err := execNS(ns, "", "nft", "list", "tables")
	if err != nil {
		b.t.Fatalf("testbed: NFT: %v", err)
	}
	for _, t := range tables {
		for _, line := range strings.Split(have, "\n") {
			if strings.TrimSpace(line) == "table "+t {
				b.t.Fatalf("testbed: NFT: table %s already exists in %s", t, ns)
			}
		}
	}
	if _, err := execNS(ns, ruleset, "nft", "-f", "-"); err != nil {
		b.t.Fatalf("testbed: NFT in %s: %v\nruleset:\n%s", ns, err, ruleset)
	}
	at := time.Now()
	var del strings.Builder
	for _, t := range tables {
		fmt.Fprintf(&del, "delete table %s\n", t)
	}
	return b.addFault(fmt.Sprintf("nft %s in %s", strings.Join(tables, ", "), ns), at, func() error {
		_, err := execNS(ns, del.String(), "nft", "-f", "-")
		return err
	})
}

// Exec runs `ip netns exec ns args...` and returns its combined output;
// the error names the command and includes the output.
func (b *Bed) Exec(ns string, args ...string) (string, error) {
	return execNS(ns, "", args...)
}
