package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// newBed is New for the bed's own tests: 3 nodes, hb0 and hb1.
func newBed(t *testing.T) *Bed {
	t.Helper()
	RequireRoot(t)
	return New(t, Options{})
}

// link returns the attributes of link name in s.
func link(t *testing.T, s *nsState, name string) *netlink.LinkAttrs {
	t.Helper()
	var attrs *netlink.LinkAttrs
	if _, err := linkOp(s, name, func(_ *netlink.Handle, l netlink.Link) error { attrs = l.Attrs(); return nil }); err != nil {
		t.Fatal(err)
	}
	return attrs
}

// waitLink polls link name in s until cond holds (kernel state changes
// are synchronous here; the bound only guards against a hang).
func waitLink(t *testing.T, s *nsState, name, what string, cond func(*netlink.LinkAttrs) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		a := link(t, s, name)
		if cond(a) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %s not reached: flags %v raw %#x oper %v", s.name, name, what, a.Flags, a.RawFlags, a.OperState)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func namespacesWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, prefix+"-") {
			found = append(found, name)
		}
	}
	return found
}

func TestTopology(t *testing.T) {
	b := newBed(t)
	if got := b.Port(2, "hb1"); got != "n2-hb1" {
		t.Errorf("Port(2, hb1) = %q", got)
	}
	if got := b.MAC(0, "hb0").String(); got != "02:74:68:00:01:01" {
		t.Errorf("MAC(0, hb0) = %s", got)
	}
	if got := b.MAC(2, "hb1").String(); got != "02:74:68:00:02:03" {
		t.Errorf("MAC(2, hb1) = %s", got)
	}
	if got := b.IP(1, "hb1"); got != netip.MustParseAddr("10.77.1.2") {
		t.Errorf("IP(1, hb1) = %v", got)
	}
	if !strings.HasPrefix(b.NodeNS(1), fmt.Sprintf("tb%d-", os.Getpid())) || !strings.HasSuffix(b.NodeNS(1), "-n1") {
		t.Errorf("NodeNS(1) = %q", b.NodeNS(1))
	}
	for i := range b.N() {
		s := b.nodes[i].ns
		for _, net := range []string{"hb0", "hb1"} {
			a := link(t, s, b.Iface(i, net))
			if a.HardwareAddr.String() != b.MAC(i, net).String() {
				t.Errorf("node %d %s: MAC %s, want %s", i, net, a.HardwareAddr, b.MAC(i, net))
			}
			if a.RawFlags&unix.IFF_LOWER_UP == 0 {
				t.Errorf("node %d %s: no carrier (flags %v)", i, net, a.Flags)
			}
			p := link(t, b.sw, b.Port(i, net))
			br := link(t, b.sw, b.Bridge(net))
			if p.MasterIndex != br.Index {
				t.Errorf("port %s: master %d, want %s (%d)", b.Port(i, net), p.MasterIndex, b.Bridge(net), br.Index)
			}
		}
		if a := link(t, s, "lo"); a.Flags&net.FlagUp == 0 {
			t.Errorf("node %d: lo is down", i)
		}
	}
	// Nothing of the bed is in the root namespace.
	for _, name := range []string{"eth1", "eth2", "n0-hb0", "br-hb0"} {
		if _, err := net.InterfaceByName(name); err == nil {
			t.Errorf("interface %s exists in the root namespace", name)
		}
	}
}

// listenOn listens on an ephemeral TCP port of node i's address on network,
// inside node i's namespace.
func listenOn(t *testing.T, b *Bed, i int, network string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := InNS(b.NodeNS(i), func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(b.IP(i, network), 0).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// acceptOne listens on node i's address on network and reports the source IP
// of the first connection it accepts (or the accept error).
func acceptOne(t *testing.T, b *Bed, i int, network string) (netip.AddrPort, <-chan string) {
	t.Helper()
	ln := listenOn(t, b, i, network)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- err.Error()
			return
		}
		defer c.Close()
		accepted <- c.RemoteAddr().(*net.TCPAddr).IP.String()
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), accepted
}

func TestTCPBetweenNodes(t *testing.T) {
	b := newBed(t)
	addr, accepted := acceptOne(t, b, 1, "hb1")
	mustDial(t, b, 0, addr)
	if got := <-accepted; got != b.IP(0, "hb1").String() {
		t.Errorf("peer address %s, want %s", got, b.IP(0, "hb1"))
	}
}

func TestBroadcastStaysOnItsNetwork(t *testing.T) {
	b := newBed(t)
	n0 := nodeTap(t, b, 0, "hb0")
	n1, n2 := nodeTap(t, b, 1, "hb0"), nodeTap(t, b, 2, "hb0")
	other := []*tap{nodeTap(t, b, 0, "hb1"), nodeTap(t, b, 1, "hb1"), nodeTap(t, b, 2, "hb1")}

	tok := newToken(t)
	n0.mustSend(t, tok, 64)
	n1.expect(t, tok, "broadcast from node0 hb0")
	n2.expect(t, tok, "broadcast from node0 hb0")
	for _, tp := range other {
		tp.expectNone(t, tok, "hb0 frame on hb1")
	}
}

func TestBlackhole(t *testing.T) {
	b := newBed(t)
	n0, n1, n2 := nodeTap(t, b, 0, "hb0"), nodeTap(t, b, 1, "hb0"), nodeTap(t, b, 2, "hb0")

	f := b.Blackhole(0, "hb0")
	if f.At.IsZero() || time.Since(f.At) > time.Minute {
		t.Errorf("Fault.At = %v", f.At)
	}
	if a := link(t, b.nodes[0].ns, "eth1"); a.RawFlags&unix.IFF_LOWER_UP == 0 {
		t.Error("blackhole dropped the carrier; it must stay up")
	}
	out := newToken(t)
	n0.mustSend(t, out, 64)
	in := newToken(t)
	n1.mustSend(t, in, 64)
	n2.expect(t, in, "control: node1 still reaches node2")
	n1.expectNone(t, out, "blackholed node0 -> node1")
	n2.expectNone(t, out, "blackholed node0 -> node2")
	n0.expectNone(t, in, "node1 -> blackholed node0")

	f.Undo()
	f.Undo() // idempotent
	out = newToken(t)
	n0.mustSend(t, out, 64)
	n1.expect(t, out, "node0 -> node1 after undo")
	in = newToken(t)
	n1.mustSend(t, in, 64)
	n0.expect(t, in, "node1 -> node0 after undo")
}

func TestCablePull(t *testing.T) {
	b := newBed(t)
	n0, n1 := nodeTap(t, b, 0, "hb0"), nodeTap(t, b, 1, "hb0")
	s := b.nodes[0].ns

	f := b.CablePull(0, "hb0")
	waitLink(t, s, "eth1", "carrier lost, admin up", func(a *netlink.LinkAttrs) bool {
		return a.RawFlags&unix.IFF_LOWER_UP == 0 && a.Flags&net.FlagUp != 0
	})
	in := newToken(t)
	n1.mustSend(t, in, 64)
	n0.expectNone(t, in, "frame to a node whose cable is pulled")

	f.Undo()
	waitLink(t, s, "eth1", "carrier back", func(a *netlink.LinkAttrs) bool { return a.RawFlags&unix.IFF_LOWER_UP != 0 })
	out := newToken(t)
	n0.mustSend(t, out, 64)
	n1.expect(t, out, "node0 -> node1 after the cable is back")
}

func TestIfDown(t *testing.T) {
	b := newBed(t)
	s := b.nodes[1].ns
	f := b.IfDown(1, "hb1")
	waitLink(t, s, "eth2", "admin down", func(a *netlink.LinkAttrs) bool { return a.Flags&net.FlagUp == 0 })
	f.Undo()
	waitLink(t, s, "eth2", "up with carrier", func(a *netlink.LinkAttrs) bool {
		return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
	})
}

func TestEgressDrop(t *testing.T) {
	b := newBed(t)
	n0, n1, n2 := nodeTap(t, b, 0, "hb0"), nodeTap(t, b, 1, "hb0"), nodeTap(t, b, 2, "hb0")

	f := b.EgressDrop(0, "hb0")
	out := newToken(t)
	if err := n0.send(t, out, 64); err != nil && !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("send under egress drop: %v (want success or ENOBUFS)", err)
	}
	in := newToken(t)
	n1.mustSend(t, in, 64)
	n0.expect(t, in, "node0 still receives under egress drop")
	n2.expect(t, in, "control")
	n1.expectNone(t, out, "node0's frame under egress drop")

	f.Undo()
	out = newToken(t)
	n0.mustSend(t, out, 64)
	n1.expect(t, out, "node0 -> node1 after undo")
	if rules, err := b.Exec(b.NodeNS(0), "nft", "list", "ruleset"); err != nil || strings.Contains(rules, "table") {
		t.Errorf("nft ruleset after undo: %q %v", rules, err)
	}
}

func TestRandomLoss(t *testing.T) {
	b := newBed(t)
	n0, n1 := nodeTap(t, b, 0, "hb0"), nodeTap(t, b, 1, "hb0")

	const sent = 400
	f := b.RandomLoss(0, "hb0", 50)
	tok := newToken(t)
	for range sent {
		if err := n0.send(t, tok, 64); err != nil && !errors.Is(err, unix.ENOBUFS) {
			t.Fatalf("send: %v", err)
		}
	}
	// 50% of 400: mean 200, sd 10; accept ±8 sd.
	if got := n1.count(t, tok, 300*time.Millisecond); got < 120 || got > 280 {
		t.Errorf("with 50%% loss %d of %d frames arrived, want about %d", got, sent, sent/2)
	}
	f.Undo()
	tok = newToken(t)
	for range 50 {
		n0.mustSend(t, tok, 64)
	}
	if got := n1.count(t, tok, 300*time.Millisecond); got != 50 {
		t.Errorf("after undo %d of 50 frames arrived", got)
	}
}

func TestMovePort(t *testing.T) {
	b := newBed(t)
	n0 := nodeTap(t, b, 0, "hb0")
	n1hb0, n1hb1, n2hb1 := nodeTap(t, b, 1, "hb0"), nodeTap(t, b, 1, "hb1"), nodeTap(t, b, 2, "hb1")

	f := b.MovePort(0, "hb0", "hb1")
	tok := newToken(t)
	n0.mustSend(t, tok, 64)
	n1hb1.expect(t, tok, "node0's hb0 frame on node1's hb1 after the move")
	n2hb1.expect(t, tok, "node0's hb0 frame on node2's hb1 after the move")
	n1hb0.expectNone(t, tok, "node0's hb0 frame on hb0 after the move")

	f.Undo()
	tok = newToken(t)
	n0.mustSend(t, tok, 64)
	n1hb0.expect(t, tok, "node0 hb0 -> node1 hb0 after undo")
	n1hb1.expectNone(t, tok, "node0's hb0 frame on hb1 after undo")
}

func TestSetPortMTU(t *testing.T) {
	b := newBed(t)
	n0, n1, n2 := nodeTap(t, b, 0, "hb0"), nodeTap(t, b, 1, "hb0"), nodeTap(t, b, 2, "hb0")
	const big = 1200 // payload; the node interfaces keep MTU 1500

	f := b.SetPortMTU(0, "hb0", 1000)
	if got := link(t, b.sw, "n0-hb0").MTU; got != 1000 {
		t.Fatalf("port MTU = %d, want 1000", got)
	}
	small := newToken(t)
	n0.mustSend(t, small, 64)
	n1.expect(t, small, "small frame from node0 passes the lowered MTU")
	bigOut := newToken(t)
	if err := n0.send(t, bigOut, big); err != nil && !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("send big frame: %v (want success or ENOBUFS: the veth drops it)", err)
	}
	bigIn := newToken(t)
	n1.mustSend(t, bigIn, big)
	n2.expect(t, bigIn, "control: big frame node1 -> node2")
	n1.expectNone(t, bigOut, "big frame from node0 through a 1000-byte port")
	n0.expectNone(t, bigIn, "big frame to node0 through a 1000-byte port")

	f.Undo()
	if got := link(t, b.sw, "n0-hb0").MTU; got != 1500 {
		t.Errorf("port MTU after undo = %d, want 1500", got)
	}
	bigOut = newToken(t)
	n0.mustSend(t, bigOut, big)
	n1.expect(t, bigOut, "big frame after undo")
}

func TestNetworkMTUAndLowpri(t *testing.T) {
	RequireRoot(t)
	b := New(t, Options{Nodes: 2, Networks: []NetworkSpec{{Name: "jumbo", MTU: 9000}, {Name: "pub", Lowpri: true, Channels: []string{"tcp"}}}})
	for i := range 2 {
		if got := link(t, b.nodes[i].ns, "eth1").MTU; got != 9000 {
			t.Errorf("node %d eth1 MTU %d, want 9000", i, got)
		}
		if got := link(t, b.sw, b.Port(i, "jumbo")).MTU; got != 9000 {
			t.Errorf("port %s MTU %d, want 9000", b.Port(i, "jumbo"), got)
		}
	}
	n0, n1 := nodeTap(t, b, 0, "jumbo"), nodeTap(t, b, 1, "jumbo")
	tok := newToken(t)
	n0.mustSend(t, tok, 8000)
	n1.expect(t, tok, "jumbo frame")
}

func TestAddHost(t *testing.T) {
	b := newBed(t)
	h := b.AddHost("rogue", "hb1")
	if h.Iface("hb1") != "eth2" || h.MAC("hb1").String() != "02:74:68:01:02:01" || h.IP("hb1") != netip.MustParseAddr("10.77.1.201") {
		t.Errorf("host addressing: %s %s %s", h.Iface("hb1"), h.MAC("hb1"), h.IP("hb1"))
	}
	ht := openTap(t, h.NS, h.Iface("hb1"), h.MAC("hb1"))
	n2 := nodeTap(t, b, 2, "hb1")
	tok := newToken(t)
	ht.mustSend(t, tok, 64)
	n2.expect(t, tok, "frame injected by a host")
	tok = newToken(t)
	n2.mustSend(t, tok, 64)
	ht.expect(t, tok, "host captures node frames")
}

func TestCleanupRemovesEverything(t *testing.T) {
	RequireRoot(t)
	var prefix, dir string
	t.Run("bed", func(t *testing.T) {
		b := New(t, Options{Nodes: 2})
		prefix, dir = b.Prefix(), b.Dir()
		b.AddHost("x")
		b.Blackhole(1, "hb1")
		b.EgressDrop(0, "hb0")
		if got := len(namespacesWithPrefix(t, prefix)); got != 4 {
			t.Fatalf("%d namespaces with prefix %s, want 4", got, prefix)
		}
	})
	if left := namespacesWithPrefix(t, prefix); len(left) > 0 {
		t.Errorf("namespaces left after cleanup: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("bed dir %s still there (%v)", dir, err)
	}
}

func TestCleanupAfterFailure(t *testing.T) {
	RequireRoot(t)
	for _, how := range []string{"fatal", "panic"} {
		var prefix string
		var out bytes.Buffer
		code := runMain(func(mt T) {
			b := New(mt, Options{Nodes: 2})
			prefix = b.Prefix()
			b.CablePull(0, "hb0")
			if how == "panic" {
				panic("test panic")
			}
			mt.Fatalf("test failure")
		}, &out, nil)
		if code != ExitFailed {
			t.Errorf("%s: exit code %d, want %d", how, code, ExitFailed)
		}
		if prefix == "" {
			t.Fatalf("%s: bed not built:\n%s", how, out.String())
		}
		if left := namespacesWithPrefix(t, prefix); len(left) > 0 {
			t.Errorf("%s: namespaces left: %v", how, left)
		}
	}
}

func TestStaleSweep(t *testing.T) {
	RequireRoot(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("tb%d-beef-n0", dead.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", stale, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", stale).Run() })
	// A namespace of a live process (ours, named unlike any bed's) stays.
	mine := fmt.Sprintf("tb%d-beef-zz", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", mine).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", mine, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", mine).Run() })

	New(t, Options{Nodes: 1, Networks: []NetworkSpec{{Name: "hb0"}}})
	if _, err := os.Stat(netnsDir + "/" + stale); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s not swept (%v)", stale, err)
	}
	if _, err := os.Stat(netnsDir + "/" + mine); err != nil {
		t.Errorf("namespace of a live process was swept: %v", err)
	}
}

func TestParallelBedsDoNotCollide(t *testing.T) {
	RequireRoot(t)
	a := New(t, Options{Nodes: 2})
	b := New(t, Options{Nodes: 2})
	if a.Prefix() == b.Prefix() {
		t.Fatalf("two beds share prefix %s", a.Prefix())
	}
	// Same addresses, separate wires: a frame in one bed is not seen in the other.
	ta, tb := nodeTap(t, a, 1, "hb0"), nodeTap(t, b, 1, "hb0")
	tok := newToken(t)
	nodeTap(t, a, 0, "hb0").mustSend(t, tok, 64)
	ta.expect(t, tok, "frame in bed a")
	tb.expectNone(t, tok, "frame of bed a in bed b")
}

// TestOpenPacketBadNamespace checks the error names what is wrong.
func TestOpenPacketBadNamespace(t *testing.T) {
	_, err := OpenPacket("tb-no-such-ns", "eth1", EtherType)
	if err == nil || !strings.Contains(err.Error(), "tb-no-such-ns") {
		t.Errorf("OpenPacket on a missing namespace: %v", err)
	}
}
