package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"
)

// newRoutedBed is a 3-node bed with a bridged hb0 and a routed wan.
func newRoutedBed(t *testing.T) *Bed {
	t.Helper()
	RequireRoot(t)
	return New(t, Options{Networks: []NetworkSpec{{Name: "hb0"}, {Name: "wan", Routed: true}}})
}

// echoServer listens on node i's address on network and echoes what it
// reads on every connection, until the test ends.
func echoServer(t *testing.T, b *Bed, i int, network string) netip.AddrPort {
	t.Helper()
	ln := listenOn(t, b, i, network)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// dialFrom dials to from node i's namespace; the connection is closed at
// the end of the test.
func dialFrom(t *testing.T, b *Bed, i int, to netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	err := InNS(b.NodeNS(i), func() (err error) {
		c, err = net.DialTimeout("tcp", to.String(), timeout)
		return err
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func mustDial(t *testing.T, b *Bed, i int, to netip.AddrPort) net.Conn {
	t.Helper()
	c, err := dialFrom(t, b, i, to, deliveryTimeout)
	if err != nil {
		t.Fatalf("node%d dial %v: %v", i, to, err)
	}
	return c
}

// echo sends a fresh token on c and waits up to d for it to come back.
func echo(t *testing.T, c net.Conn, d time.Duration) error {
	t.Helper()
	tok := newToken(t)
	if err := c.SetDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(tok); err != nil {
		return err
	}
	got := make([]byte, len(tok))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, tok) {
		t.Fatalf("echo: got %q, want %q", got, tok)
	}
	return nil
}

// isTimeout reports whether err is a timeout: what a silent drop gives,
// unlike a refusal or an unreachable route.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestRoutedTopology(t *testing.T) {
	b := newRoutedBed(t)
	if got := b.IP(0, "wan"); got != netip.MustParseAddr("10.81.0.1") {
		t.Errorf("IP(0, wan) = %v", got)
	}
	if got := b.IP(2, "wan"); got != netip.MustParseAddr("10.81.2.1") {
		t.Errorf("IP(2, wan) = %v", got)
	}
	if got := b.IP(1, "hb0"); got != netip.MustParseAddr("10.77.0.2") {
		t.Errorf("IP(1, hb0) = %v", got)
	}
	if got := b.Networks()[1].Channels; len(got) != 1 || got[0] != "tcp" {
		t.Errorf("routed network channels %v, want [tcp]", got)
	}
	rt := b.RouterNS("wan")
	if !strings.HasPrefix(rt, b.Prefix()+"-") || !strings.HasSuffix(rt, "-rt-wan") {
		t.Errorf("RouterNS(wan) = %q", rt)
	}
	if got := b.RouterIface(1, "wan"); got != "r1-wan" {
		t.Errorf("RouterIface(1, wan) = %q", got)
	}
	if out, err := b.Exec(rt, "cat", "/proc/sys/net/ipv4/ip_forward"); err != nil || strings.TrimSpace(out) != "1" {
		t.Errorf("router ip_forward %q %v", out, err)
	}
	for i := range b.N() {
		s := b.nodes[i].ns
		if a := link(t, s, "eth2"); a.RawFlags&unix.IFF_LOWER_UP == 0 || a.HardwareAddr.String() != b.MAC(i, "wan").String() {
			t.Errorf("node %d eth2: flags %v MAC %s", i, a.Flags, a.HardwareAddr)
		}
		out, err := b.Exec(b.NodeNS(i), "ip", "-4", "-o", "route", "show", "dev", "eth2")
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("10.81.0.0/16 via 10.81.%d.254", i)
		if !strings.Contains(out, want) {
			t.Errorf("node %d routes on eth2:\n%s\nwant %q", i, out, want)
		}
		// The leg is the node's own: the bridge holds the node's port
		// and the router's uplink, nothing else.
		br := link(t, b.sw, b.portBridge(i, 1))
		for _, p := range []string{b.Port(i, "wan"), fmt.Sprintf("u%d-wan", i)} {
			if a := link(t, b.sw, p); a.MasterIndex != br.Index {
				t.Errorf("port %s: master %d, want leg bridge %d", p, a.MasterIndex, br.Index)
			}
		}
	}
	raw, err := os.ReadFile(b.ConfigPath(0))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Nodes []struct {
			Addresses map[string]string `yaml:"addresses"`
		} `yaml:"nodes"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Nodes) != 3 || doc.Nodes[1].Addresses["wan"] != "10.81.1.1" || doc.Nodes[1].Addresses["hb0"] != "10.77.0.2" {
		t.Errorf("config addresses: %+v", doc.Nodes)
	}
}

func TestRoutedTCPCrossesTheRouter(t *testing.T) {
	b := newRoutedBed(t)
	addr, accepted := acceptOne(t, b, 1, "wan")
	mustDial(t, b, 0, addr)
	// Different subnets, the source unchanged: routed, not NATed.
	if got := <-accepted; got != b.IP(0, "wan").String() {
		t.Errorf("peer address %s, want %s", got, b.IP(0, "wan"))
	}
	if a := link(t, b.routers[1], b.RouterIface(1, "wan")); a.Statistics == nil || a.Statistics.TxPackets == 0 {
		t.Errorf("router leg to node1 sent nothing: %+v", a.Statistics)
	}
}

func TestRoutedNetworkCarriesNoEtherFrames(t *testing.T) {
	b := newRoutedBed(t)
	n0, n1, n2 := nodeTap(t, b, 0, "wan"), nodeTap(t, b, 1, "wan"), nodeTap(t, b, 2, "wan")
	leg := openTap(t, b.RouterNS("wan"), b.RouterIface(0, "wan"), nil)
	tok := newToken(t)
	n0.mustSend(t, tok, 64)
	leg.expect(t, tok, "node0's frame on its own router leg")
	n1.expectNone(t, tok, "node0's wan frame at node1")
	n2.expectNone(t, tok, "node0's wan frame at node2")
}

func TestRoutedBlackhole(t *testing.T) {
	b := newRoutedBed(t)
	srv1, srv2 := echoServer(t, b, 1, "wan"), echoServer(t, b, 2, "wan")
	c1, c2 := mustDial(t, b, 0, srv1), mustDial(t, b, 0, srv2)
	for _, c := range []net.Conn{c1, c2} {
		if err := echo(t, c, deliveryTimeout); err != nil {
			t.Fatalf("before the fault: %v", err)
		}
	}

	const silence = 300 * time.Millisecond
	f := b.Blackhole(1, "wan")
	if a := link(t, b.nodes[1].ns, "eth2"); a.RawFlags&unix.IFF_LOWER_UP == 0 {
		t.Error("blackhole dropped the carrier; it must stay up")
	}
	if err := echo(t, c2, deliveryTimeout); err != nil {
		t.Fatalf("control: node0 -> node2 under node1's blackhole: %v", err)
	}
	if err := echo(t, c1, silence); !isTimeout(err) {
		t.Errorf("echo through the blackholed leg: %v, want a timeout", err)
	}
	if _, err := dialFrom(t, b, 0, srv1, silence); !isTimeout(err) {
		t.Errorf("dial to the blackholed node: %v, want a timeout", err)
	}
	if _, err := dialFrom(t, b, 1, srv2, silence); !isTimeout(err) {
		t.Errorf("dial from the blackholed node: %v, want a timeout", err)
	}

	f.Undo()
	c := mustDial(t, b, 0, srv1)
	if err := echo(t, c, deliveryTimeout); err != nil {
		t.Errorf("new connection after undo: %v", err)
	}
	// The old connection recovers by retransmission (backoff: seconds).
	if err := c1.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c1, make([]byte, len(newToken(t)))); err != nil {
		t.Errorf("data sent during the blackhole not delivered after undo: %v", err)
	}
}

// The faults of a node's cable work on its routed leg, and Undo leaves a
// working route.
func TestRoutedLegFaults(t *testing.T) {
	b := newRoutedBed(t)
	srv := echoServer(t, b, 1, "wan")
	const silence = 300 * time.Millisecond
	works := func(what string) {
		t.Helper()
		if err := echo(t, mustDial(t, b, 0, srv), deliveryTimeout); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	works("before any fault")
	for _, fault := range []struct {
		name  string
		apply func() Fault
	}{
		{"ifdown", func() Fault { return b.IfDown(0, "wan") }},
		{"cable pull", func() Fault { return b.CablePull(0, "wan") }},
		{"egress drop", func() Fault { return b.EgressDrop(0, "wan") }},
		{"nft forward drop in the router", func() Fault {
			return b.NFT(b.RouterNS("wan"), `table inet tbtest { chain leg { type filter hook forward priority 0; policy accept; iifname "r0-wan" drop; }; }`)
		}},
	} {
		f := fault.apply()
		if _, err := dialFrom(t, b, 0, srv, silence); err == nil {
			t.Errorf("%s: node0 still reaches node1", fault.name)
		}
		f.Undo()
		works("after undoing " + fault.name)
	}
	// IfDown deletes the route with the link; Undo put it back.
	if out, err := b.Exec(b.NodeNS(0), "ip", "-4", "-o", "route", "show", "dev", "eth2"); err != nil || !strings.Contains(out, "10.81.0.0/16 via 10.81.0.254") {
		t.Errorf("route after the faults: %q %v", out, err)
	}
	waitLink(t, b.nodes[0].ns, "eth2", "up with carrier", func(a *netlink.LinkAttrs) bool {
		return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
	})
}

func TestRoutedMisuseFails(t *testing.T) {
	RequireRoot(t)
	for name, call := range map[string]func(*Bed){
		"Bridge of a routed network":  func(b *Bed) { b.Bridge("wan") },
		"RouterNS of a bridged one":   func(b *Bed) { b.RouterNS("hb0") },
		"AddHost on a routed network": func(b *Bed) { b.AddHost("x", "wan") },
		"MovePort to a routed one":    func(b *Bed) { b.MovePort(0, "hb0", "wan") },
	} {
		var out bytes.Buffer
		code := runMain(func(mt T) {
			b := New(mt, Options{Nodes: 1, Networks: []NetworkSpec{{Name: "hb0"}, {Name: "wan", Routed: true}}})
			call(b)
		}, &out, nil)
		if code != ExitFailed || !strings.Contains(out.String(), "routed") {
			t.Errorf("%s: exit %d, output:\n%s", name, code, out.String())
		}
	}
}

func TestRoutedCleanupRemovesEverything(t *testing.T) {
	RequireRoot(t)
	var prefix string
	t.Run("bed", func(t *testing.T) {
		b := New(t, Options{Nodes: 2, Networks: []NetworkSpec{{Name: "hb0"}, {Name: "wan", Routed: true}, {Name: "wan2", Routed: true}}})
		prefix = b.Prefix()
		b.Blackhole(1, "wan")
		b.IfDown(0, "wan2")
		b.NFT(b.RouterNS("wan"), "table inet tbtest { }")
		// 2 nodes, the switch, 2 routers.
		if got := len(namespacesWithPrefix(t, prefix)); got != 5 {
			t.Fatalf("%d namespaces with prefix %s, want 5", got, prefix)
		}
	})
	if left := namespacesWithPrefix(t, prefix); len(left) > 0 {
		t.Errorf("namespaces left after cleanup: %v", left)
	}
}
