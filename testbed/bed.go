package testbed

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sync"
)

// NetworkSpec describes one interconnect network of a Bed.
type NetworkSpec struct {
	// Name is the cluster-wide network name, [a-z0-9]+; it becomes part of
	// interface names, so keep it short ("hb0").
	Name string
	// Channels written to the config; default [ether].
	Channels []string
	// Lowpri marks the network lowpri in the config.
	Lowpri bool
	// MTU, when > 0, is set on both ends of every veth of this network and
	// written to the config as the network's mtu. 0: kernel default (1500)
	// and no mtu key.
	MTU int
	// Routed makes the network layer 3: every node sits in its own /24
	// behind a router namespace instead of sharing one bridge (see the
	// package documentation). Ethernet frames do not cross the router, so
	// a routed network cannot have the ether channel; its Channels
	// default to [tcp]. Hosts cannot join a routed network.
	Routed bool
}

// Options configures New. The zero value is a 3-node, 2-network bed.
type Options struct {
	// Nodes is the number of nodes, 1..MaxNodes; default 3.
	Nodes int
	// Networks default to hb0 and hb1 with channels [ether].
	Networks []NetworkSpec
	// Timers are written verbatim to the config's timers section, e.g.
	// {"heartbeat": "10ms"}; empty: no timers section (agent defaults).
	Timers map[string]string
	// BinDir is the directory holding tetherd (and tetherstat), usually
	// from Build. Only Start and its relatives need it.
	BinDir string
	// ClusterID is the cluster id in the config; 0 means the default 7.
	ClusterID uint16
	// ExtraArgs are appended to every tetherd command line.
	ExtraArgs []string
	// EditConfig, if set, may change node i's config document (the YAML
	// mapping as generic Go values) before it is written; for keys the
	// bed does not know. Tests can also rewrite ConfigPath(i) before Start.
	EditConfig func(i int, doc map[string]any)
}

// MaxNodes is the largest Options.Nodes (the last MAC and IP byte is i+1;
// addresses above it are left for hosts).
const MaxNodes = 200

// DefaultClusterID is the cluster id used when Options.ClusterID is 0.
const DefaultClusterID = 7

// EtherType is tether's default EtherType (IEEE local experimental).
const EtherType = 0x88B5

var nameRE = regexp.MustCompile(`^[a-z0-9]+$`)

// Bed is a running test topology. Create it with New; it is removed by the
// Cleanup New registers.
type Bed struct {
	t      T
	opt    Options
	prefix string // tb<pid>-<rand>
	dir    string // short temp dir: configs, key, sockets, logs
	netIdx map[string]int

	sw      *nsState
	nodes   []*node
	routers []*nsState // by network index; nil for bridged networks

	mu      sync.Mutex // guards the fields below
	nsAll   []*nsState // every namespace created, in creation order
	hosts   []*Host
	faults  []*faultRec
	nftSeq  int
	closing bool
}

// node is one node namespace and its tetherd.
type node struct {
	idx int
	ns  *nsState
	log string // log file path

	mu   sync.Mutex
	proc *proc // current or last process; nil before the first Start
	runs int

	ev eventLog
}

// Prefix returns the common prefix of the bed's namespace names,
// "tb<pid>-<rand>".
func (b *Bed) Prefix() string { return b.prefix }

// Dir returns the bed's temporary directory (configs, key, sockets, logs).
func (b *Bed) Dir() string { return b.dir }

// N returns the number of nodes.
func (b *Bed) N() int { return len(b.nodes) }

// Networks returns the networks, defaults filled in.
func (b *Bed) Networks() []NetworkSpec {
	out := make([]NetworkSpec, len(b.opt.Networks))
	for i, n := range b.opt.Networks {
		n.Channels = slices.Clone(n.Channels)
		out[i] = n
	}
	return out
}

// NodeNS returns node i's network namespace name.
func (b *Bed) NodeNS(i int) string { return b.node(i).ns.name }

// SwitchNS returns the switch namespace name.
func (b *Bed) SwitchNS() string { return b.sw.name }

// NodeName returns node i's name in the config, "node<i>"; its id is i.
func (b *Bed) NodeName(i int) string { b.node(i); return fmt.Sprintf("node%d", i) }

// Bridge returns the switch bridge of network net, "br-<net>". A routed
// network has no shared bridge: Bridge fails the test for it.
func (b *Bed) Bridge(net string) string {
	b.t.Helper()
	if b.opt.Networks[b.net(net)].Routed {
		b.t.Fatalf("testbed: network %q is routed: it has one bridge per node, no shared bridge", net)
	}
	return "br-" + net
}

// portBridge returns the switch bridge node i's port on network k belongs
// to: br-<net>, or the node's own leg bridge b<i>-<net> on a routed network.
func (b *Bed) portBridge(i, k int) string {
	n := b.opt.Networks[k]
	if n.Routed {
		return fmt.Sprintf("b%d-%s", i, n.Name)
	}
	return "br-" + n.Name
}

// RouterNS returns the router namespace of routed network net,
// <prefix>-rt-<net>. It fails the test for a bridged network.
func (b *Bed) RouterNS(net string) string {
	b.t.Helper()
	r := b.routers[b.net(net)]
	if r == nil {
		b.t.Fatalf("testbed: network %q is not routed: it has no router", net)
	}
	return r.name
}

// RouterIface returns the router's interface toward node i on routed
// network net, r<i>-<net> in RouterNS(net), with address
// 10.<80+k>.<i>.254/24. It fails the test for a bridged network.
func (b *Bed) RouterIface(i int, net string) string {
	b.t.Helper()
	b.node(i)
	b.RouterNS(net)
	return fmt.Sprintf("r%d-%s", i, net)
}

// Iface returns node i's interface on network net, eth<k+1>.
func (b *Bed) Iface(i int, net string) string {
	b.node(i)
	return ifaceName(b.net(net))
}

// Port returns the switch-side name of node i's cable on net, n<i>-<net>.
func (b *Bed) Port(i int, net string) string {
	b.node(i)
	b.net(net)
	return fmt.Sprintf("n%d-%s", i, net)
}

// MAC returns node i's MAC on net, 02:74:68:00:<k+1>:<i+1>.
func (b *Bed) MAC(i int, net string) net.HardwareAddr {
	b.node(i)
	return mac(0, b.net(net), i)
}

// IP returns node i's address on net: 10.77.<k>.<i+1> (/24) on a bridged
// network, 10.<80+k>.<i>.1 (/24) on a routed one.
func (b *Bed) IP(i int, net string) netip.Addr {
	b.node(i)
	return b.nodeAddr(b.net(net), i)
}

// nodeAddr returns node i's address on network k.
func (b *Bed) nodeAddr(k, i int) netip.Addr {
	if b.opt.Networks[k].Routed {
		return routedAddr(k, i, 1)
	}
	return ipAddr(k, i+1)
}

// Socket returns node i's status socket path.
func (b *Bed) Socket(i int) string { b.node(i); return fmt.Sprintf("%s/n%d.sock", b.dir, i) }

// ConfigPath returns node i's config file, written by New.
func (b *Bed) ConfigPath(i int) string { b.node(i); return fmt.Sprintf("%s/n%d.yaml", b.dir, i) }

// LogPath returns node i's log file (stdout and stderr of every run).
func (b *Bed) LogPath(i int) string { return b.node(i).log }

// KeyPath returns the cluster key file shared by all nodes.
func (b *Bed) KeyPath() string { return b.dir + "/cluster.key" }

func (b *Bed) node(i int) *node {
	b.t.Helper()
	if i < 0 || i >= len(b.nodes) {
		b.t.Fatalf("testbed: no node %d (bed has %d nodes)", i, len(b.nodes))
	}
	return b.nodes[i]
}

// net returns the index k of network name.
func (b *Bed) net(name string) int {
	b.t.Helper()
	k, ok := b.netIdx[name]
	if !ok {
		b.t.Fatalf("testbed: no network %q in this bed", name)
	}
	return k
}

func ifaceName(k int) string { return fmt.Sprintf("eth%d", k+1) }

// mac returns 02:74:68:<kind>:<k+1>:<i+1>; kind 0 for nodes, 1 for hosts,
// 2 for router legs.
func mac(kind byte, k, i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x74, 0x68, kind, byte(k + 1), byte(i + 1)}
}

func ipAddr(k, last int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 77, byte(k), byte(last)})
}

// normalize fills defaults and validates o.
func normalize(o Options) (Options, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > MaxNodes {
		return o, fmt.Errorf("Options.Nodes = %d: want 1..%d", o.Nodes, MaxNodes)
	}
	if o.ClusterID == 0 {
		o.ClusterID = DefaultClusterID
	}
	if len(o.Networks) == 0 {
		o.Networks = []NetworkSpec{{Name: "hb0"}, {Name: "hb1"}}
	}
	if len(o.Networks) > 254 {
		return o, fmt.Errorf("%d networks: at most 254", len(o.Networks))
	}
	nets := make([]NetworkSpec, len(o.Networks))
	seen := map[string]bool{}
	for k, n := range o.Networks {
		if !nameRE.MatchString(n.Name) {
			return o, fmt.Errorf("network %d: name %q: want [a-z0-9]+", k, n.Name)
		}
		if seen[n.Name] {
			return o, fmt.Errorf("network %q given twice", n.Name)
		}
		seen[n.Name] = true
		port := fmt.Sprintf("n%d-%s", o.Nodes-1, n.Name)
		if len(port) > 15 || len("br-"+n.Name) > 15 {
			return o, fmt.Errorf("network name %q too long: switch port %q and bridge %q must fit 15 characters", n.Name, port, "br-"+n.Name)
		}
		if n.MTU < 0 || n.MTU > 65535 || (n.MTU > 0 && n.MTU < 68) {
			return o, fmt.Errorf("network %q: MTU %d: want 0 or 68..65535", n.Name, n.MTU)
		}
		switch {
		case len(n.Channels) > 0:
			n.Channels = slices.Clone(n.Channels)
		case n.Routed:
			n.Channels = []string{"tcp"}
		default:
			n.Channels = []string{"ether"}
		}
		if n.Routed {
			if slices.Contains(n.Channels, "ether") {
				return o, fmt.Errorf("network %q: routed networks carry no Ethernet frames between nodes, so channel ether cannot work on them: use channels [tcp]", n.Name)
			}
			if k > maxRoutedIndex {
				return o, fmt.Errorf("network %q: a routed network must be among the first %d networks (its addresses are 10.%d+<index>.0.0/16)", n.Name, maxRoutedIndex+1, routedBase)
			}
		}
		nets[k] = n
	}
	o.Networks = nets
	o.ExtraArgs = slices.Clone(o.ExtraArgs)
	return o, nil
}

// tempDir makes a directory short enough for unix socket paths (108 bytes).
func tempDir() (string, error) {
	dir, err := os.MkdirTemp("", "tb")
	if err != nil {
		return "", err
	}
	if len(dir) <= 80 {
		return dir, nil
	}
	os.Remove(dir)
	return os.MkdirTemp("/tmp", "tb")
}
