// Package testbed builds network-namespace clusters for end-to-end tests,
// demos and benchmarks of tetherd.
//
// A Bed is N node namespaces and one switch namespace. The switch holds one
// Linux bridge per interconnect network ("br-<net>", STP off, ports forward
// at once); node i reaches network k through a veth pair whose node end is
// eth<k+1> (MAC 02:74:68:00:<k+1>:<i+1>, IP 10.77.<k>.<i+1>/24) and whose
// switch end is n<i>-<net>. Nothing is created in the root namespace and
// IPv6 is disabled in every namespace, so the wires carry only what a test
// sends. Namespaces are named tb<pid>-<rand>-n<i> / -sw / -h<name> /
// -rt-<net>; New removes those left behind by dead processes.
//
// A routed network (NetworkSpec.Routed) is layer 3 only: no two nodes
// share a segment. Each node has its own leg, a bridge b<i>-<net> in the
// switch holding the node's port n<i>-<net> and the uplink u<i>-<net> of a
// router namespace (-rt-<net>, one per routed network, IPv4 forwarding
// on), whose end is r<i>-<net>. Node i's eth<k+1> has 10.<80+k>.<i>.1/24,
// the router's leg 10.<80+k>.<i>.254/24 (MAC 02:74:68:02:<k+1>:<i+1>), and
// the node routes 10.<80+k>.0.0/16 through it. TCP and UDP cross the
// router, Ethernet frames do not, so a routed network carries the tcp
// channel only. The faults of node i's cable (CablePull, IfDown,
// Blackhole, SetPortMTU, EgressDrop) act on its leg as on a bridged
// network; NFT in RouterNS acts on the forwarded traffic.
//
// Typical end-to-end test:
//
//	var binDir string
//
//	func TestMain(m *testing.M) {
//		os.Exit(testbed.Main(func(t testbed.T) {
//			binDir = testbed.Build(t)
//			if code := m.Run(); code != 0 {
//				t.Fatalf("tests failed (exit %d)", code)
//			}
//		}))
//	}
//
//	func TestCablePull(t *testing.T) {
//		testbed.RequireRoot(t)
//		b := testbed.New(t, testbed.Options{BinDir: binDir, Timers: map[string]string{"heartbeat": "20ms"}})
//		b.StartAll()
//		b.WaitAllUp(10 * time.Second)
//		f := b.CablePull(0, "hb0")
//		b.WaitFor(1, "hb0 to node0 down", 2*time.Second, func(st *status.Status) bool {
//			l := testbed.FindLink(st, 0, "hb0")
//			return l != nil && l.State == status.LinkDown
//		})
//		f.Undo()
//	}
//
// Everything a Bed creates (processes, namespaces, temporary files, faults)
// is removed by a Cleanup registered with the T, even when the test fails or
// panics. Like testing.T, the Bed's methods that can fail call T.Fatalf, so
// they must be called from the goroutine running the test.
package testbed
