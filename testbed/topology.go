package testbed

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where ip(8) keeps named namespaces.
const netnsDir = "/run/netns"

// bedNSRE matches the namespaces of any bed; group 1 is the creator's pid.
var bedNSRE = regexp.MustCompile(`^tb([0-9]+)-[0-9a-f]{4}-`)

// nsState is one namespace the bed created, with handles opened into it.
// mu serializes netlink use: a netlink.Handle is not safe for concurrent
// requests.
type nsState struct {
	name string

	mu  sync.Mutex
	fd  netns.NsHandle
	h   *netlink.Handle
	raw *nl.SocketHandle // NETLINK_ROUTE socket for requests netlink lacks
}

// New builds a bed: the namespaces, bridges, routers and cables of o, a key
// file and one config file per node (nothing is started). It registers a Cleanup
// that stops every process, undoes faults and deletes every namespace and
// file of the bed, even if the test fails. New first deletes namespaces left
// by beds of processes that no longer exist. It needs root (RequireRoot).
func New(t T, o Options) *Bed {
	t.Helper()
	opt, err := normalize(o)
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("testbed: New needs root (call testbed.RequireRoot first)")
	}
	dir, err := tempDir()
	if err != nil {
		t.Fatalf("testbed: temp dir: %v", err)
	}
	b := &Bed{t: t, opt: opt, dir: dir, netIdx: map[string]int{}}
	for k, n := range opt.Networks {
		b.netIdx[n.Name] = k
	}
	t.Cleanup(b.cleanup)

	sweepStale(t)
	b.claimPrefix()
	b.nodes = make([]*node, opt.Nodes)
	names := make([]string, opt.Nodes)
	for i := range b.nodes {
		names[i] = fmt.Sprintf("%s-n%d", b.prefix, i)
		b.nodes[i] = &node{idx: i, log: fmt.Sprintf("%s/n%d.log", dir, i)}
	}
	b.routers = make([]*nsState, len(opt.Networks))
	var routed []int
	for k, n := range opt.Networks {
		if n.Routed {
			routed = append(routed, k)
			names = append(names, fmt.Sprintf("%s-rt-%s", b.prefix, n.Name))
		}
	}
	created := b.addNamespaces(names...)
	for i := range b.nodes {
		b.nodes[i].ns = created[i]
	}
	for r, k := range routed {
		b.routers[k] = created[opt.Nodes+r]
	}
	b.prepareNS(b.sw)
	for _, n := range b.nodes {
		b.prepareNS(n.ns)
	}
	for _, k := range routed {
		b.prepareRouter(b.routers[k])
	}
	for k, spec := range opt.Networks {
		if !spec.Routed {
			b.addBridge("br-"+spec.Name, k)
		}
	}
	var cables []cable
	for i, n := range b.nodes {
		for k, spec := range opt.Networks {
			if spec.Routed {
				cables = append(cables, b.addLeg(i, k)...)
				continue
			}
			c := cable{ns: n.ns, iface: ifaceName(k), port: fmt.Sprintf("n%d-%s", i, spec.Name)}
			b.plug(c, mac(0, k, i), ipAddr(k, i+1), "br-"+spec.Name, spec.MTU)
			cables = append(cables, c)
		}
	}
	if err := b.settle(cables...); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	b.writeFiles()
	return b
}

// claimPrefix picks tb<pid>-<rand> and creates the switch namespace with
// it; ip(8) creates the name exclusively, so two beds cannot share it.
func (b *Bed) claimPrefix() {
	b.t.Helper()
	var last error
	for range 20 {
		var r [2]byte
		if _, err := rand.Read(r[:]); err != nil {
			b.t.Fatalf("testbed: random: %v", err)
		}
		prefix := fmt.Sprintf("tb%d-%04x", os.Getpid(), binary.BigEndian.Uint16(r[:]))
		name := prefix + "-sw"
		_, err := runCmd("", "ip", "netns", "add", name)
		if err == nil {
			b.prefix = prefix
			s := &nsState{name: name, fd: -1}
			b.mu.Lock()
			b.nsAll = append(b.nsAll, s)
			b.mu.Unlock()
			b.sw = s
			return
		}
		last = err
		if !strings.Contains(err.Error(), "exists") {
			break
		}
	}
	b.t.Fatalf("testbed: create switch namespace: %v", last)
}

// addNamespaces creates namespaces (one ip(8) run) and registers them for
// deletion at cleanup; the handles are opened by prepareNS.
func (b *Bed) addNamespaces(names ...string) []*nsState {
	b.t.Helper()
	out := make([]*nsState, len(names))
	var batch strings.Builder
	b.mu.Lock()
	for i, name := range names {
		out[i] = &nsState{name: name, fd: -1}
		b.nsAll = append(b.nsAll, out[i])
		fmt.Fprintf(&batch, "netns add %s\n", name)
	}
	b.mu.Unlock()
	if _, err := runCmd(batch.String(), "ip", "-batch", "-"); err != nil {
		b.t.Fatalf("testbed: create namespaces: %v", err)
	}
	return out
}

// prepareNS opens handles into s, disables IPv6 (no stray router
// solicitations or MLD reports on the wires) and sets lo up.
func (b *Bed) prepareNS(s *nsState) {
	b.t.Helper()
	if err := s.open(); err != nil {
		b.t.Fatalf("testbed: %v", err)
	}
	err := inNS(s.fd, s.name, func() error {
		for _, f := range []string{"default", "all"} {
			p := "/proc/sys/net/ipv6/conf/" + f + "/disable_ipv6"
			if err := os.WriteFile(p, []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("disable IPv6: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		b.t.Fatalf("testbed: %s: %v", s.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lo, err := s.h.LinkByName("lo")
	if err == nil {
		err = s.h.LinkSetUp(lo)
	}
	if err != nil {
		b.t.Fatalf("testbed: %s: set lo up: %v", s.name, err)
	}
}

// addBridge creates bridge name in the switch namespace: STP off (the
// kernel default, so ports forward at once), multicast snooping off (every
// multicast frame is flooded like a dumb switch would).
func (b *Bed) addBridge(name string, k int) {
	b.t.Helper()
	s := b.sw
	s.mu.Lock()
	defer s.mu.Unlock()
	off := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}, MulticastSnooping: &off}
	if mtu := b.opt.Networks[k].MTU; mtu > 0 {
		br.MTU = mtu
	}
	if err := s.h.LinkAdd(br); err != nil {
		b.t.Fatalf("testbed: %s: add bridge %s: %v", s.name, name, err)
	}
	if err := s.h.LinkSetUp(br); err != nil {
		b.t.Fatalf("testbed: %s: set bridge %s up: %v", s.name, name, err)
	}
}

// plug creates cable c to bridge br: veth c.iface (in c.ns, with hw and
// ip/24) to c.port (in the switch, enslaved to br), both up. The veth is
// created in c.ns with its peer created directly in the switch namespace.
func (b *Bed) plug(c cable, hw net.HardwareAddr, ip netip.Addr, br string, mtu int) {
	b.t.Helper()
	if err := b.plugErr(c.ns, c.iface, hw, net.IP(ip.AsSlice()), c.port, br, mtu); err != nil {
		b.t.Fatalf("testbed: cable %s:%s to %s:%s: %v", c.ns.name, c.iface, b.sw.name, c.port, err)
	}
}

func (b *Bed) plugErr(s *nsState, eth string, hw net.HardwareAddr, ip net.IP, port, br string, mtu int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: eth, HardwareAddr: hw, MTU: mtu},
		PeerName:      port,
		PeerNamespace: netlink.NsFd(int(b.sw.fd)),
	}
	if err := s.h.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth: %w", err)
	}
	l, err := s.h.LinkByName(eth)
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}}
	if err := s.h.AddrAdd(l, addr); err != nil {
		return fmt.Errorf("add address %v: %w", addr.IPNet, err)
	}
	if err := s.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", eth, err)
	}

	sw := b.sw
	sw.mu.Lock()
	defer sw.mu.Unlock()
	p, err := sw.h.LinkByName(port)
	if err != nil {
		return err
	}
	bridge, err := sw.h.LinkByName(br)
	if err != nil {
		return err
	}
	if err := sw.h.LinkSetMaster(p, bridge); err != nil {
		return fmt.Errorf("enslave %s to %s: %w", port, br, err)
	}
	if err := sw.h.LinkSetUp(p); err != nil {
		return fmt.Errorf("set %s up: %w", port, err)
	}
	return nil
}

func (s *nsState) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fd, err := netns.GetFromName(s.name)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", s.name, err)
	}
	h, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		fd.Close()
		return fmt.Errorf("netlink handle in %s: %w", s.name, err)
	}
	sock, err := nl.GetNetlinkSocketAt(fd, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		fd.Close()
		return fmt.Errorf("netlink socket in %s: %w", s.name, err)
	}
	s.fd, s.h, s.raw = fd, h, &nl.SocketHandle{Socket: sock}
	return nil
}

// close releases the handles, which otherwise keep the namespace alive in
// the kernel after its name is deleted.
func (s *nsState) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.raw != nil {
		s.raw.Close()
		s.raw = nil
	}
	if s.h != nil {
		s.h.Close()
		s.h = nil
	}
	if s.fd >= 0 {
		s.fd.Close()
		s.fd = -1
	}
}

// deleteNamespaces deletes names with one ip(8) run and returns an error
// naming those still present afterwards.
func deleteNamespaces(names []string) error {
	if len(names) == 0 {
		return nil
	}
	var batch strings.Builder
	for _, n := range names {
		fmt.Fprintf(&batch, "netns del %s\n", n)
	}
	_, runErr := runCmd(batch.String(), "ip", "-force", "-batch", "-")
	var left []string
	for _, n := range names {
		if _, err := os.Stat(netnsDir + "/" + n); err == nil {
			left = append(left, n)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("namespaces still present: %s (%v)", strings.Join(left, " "), runErr)
	}
	return nil
}

// sweepStale deletes namespaces of beds whose creating process is gone.
func sweepStale(t T) {
	t.Helper()
	stale := staleNamespaces(os.Getpid())
	if len(stale) == 0 {
		return
	}
	t.Logf("testbed: removing %d namespaces left by dead processes: %s", len(stale), strings.Join(stale, " "))
	if err := deleteNamespaces(stale); err != nil {
		t.Logf("testbed: sweep: %v", err)
	}
}

// staleNamespaces lists bed namespaces whose pid is neither self nor alive.
func staleNamespaces(self int) []string {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		m := bedNSRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == self || pidAlive(pid) {
			continue
		}
		out = append(out, e.Name())
	}
	return out
}

func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// cleanup undoes everything New and later calls created.
func (b *Bed) cleanup() {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()

	b.stopAll()
	if b.t.Failed() {
		b.dumpLogs()
	}
	b.undoFaults()

	b.mu.Lock()
	all := slices.Clone(b.nsAll)
	b.mu.Unlock()
	names := make([]string, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- { // switch (the name claim) last
		all[i].close()
		names = append(names, all[i].name)
	}
	if err := deleteNamespaces(names); err != nil {
		b.t.Logf("testbed: cleanup: %v", err)
	}
	if err := os.RemoveAll(b.dir); err != nil {
		b.t.Logf("testbed: cleanup: %v", err)
	}
}
