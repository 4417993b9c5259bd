package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/testbed"
)

// scenario is one reason and the fault that causes it.
type scenario struct {
	name   string // the reason id
	fault  string // what the trials do, for the report
	bed    func() testbed.Options
	target func(bedutil.Timers) time.Duration
	// inject applies trial k's fault (trials vary the node and network).
	inject func(b *testbed.Bed, k int) fault
}

// Windows of the reasons named over a window (llt defaults).
const (
	lossWindow = 10 * time.Second
	flapWindow = 10 * time.Second
)

func twoPeerInact(t bedutil.Timers) time.Duration {
	return time.Duration(2 * t.PeerInactMs * float64(time.Millisecond))
}

func threeNodes() testbed.Options { return testbed.Options{} }

// pick is trial k's node and network.
func pick(b *testbed.Bed, k int) (int, string) {
	nets := b.Networks()
	return k % b.N(), nets[(k/b.N())%len(nets)].Name
}

// both expects reason on both ends of every link of node n on net.
func both(b *testbed.Bed, n int, net, atNode, atPeers string) []expect {
	var out []expect
	for p := range b.N() {
		if p != n {
			out = append(out, expect{node: n, peer: p, net: net, reason: atNode}, expect{node: p, peer: n, net: net, reason: atPeers})
		}
	}
	return out
}

func fromFault(f testbed.Fault, ex []expect) fault { return fault{at: f.At, expects: ex, undo: f.Undo} }

func scenarios() []scenario {
	return []scenario{
		{name: "carrier-lost", fault: "cable pull (switch-side port down)", bed: threeNodes, target: twoPeerInact,
			inject: func(b *testbed.Bed, k int) fault {
				n, net := pick(b, k)
				f := b.CablePull(n, net)
				var ex []expect
				for p := range b.N() {
					if p != n {
						ex = append(ex, expect{node: n, peer: p, net: net, reason: "carrier-lost"})
					}
				}
				return fromFault(f, ex)
			}},
		{name: "peer-silent", fault: "switch port blackhole, 2 nodes", bed: func() testbed.Options { return testbed.Options{Nodes: 2} },
			target: twoPeerInact,
			inject: func(b *testbed.Bed, k int) fault {
				n, net := pick(b, k)
				return fromFault(b.Blackhole(n, net), both(b, n, net, "peer-silent", "peer-silent"))
			}},
		{name: "nic-silent", fault: "a NIC that keeps carrier but drops all it sends and receives (nftables ingress and egress), 3 nodes", bed: threeNodes, target: twoPeerInact,
			inject: func(b *testbed.Bed, k int) fault {
				n, net := pick(b, k)
				f := b.NICSilent(n, net)
				ex := []expect{{node: n, peer: -1, net: net, reason: "nic-silent"}}
				for p := range b.N() {
					if p != n {
						ex = append(ex, expect{node: n, peer: p, net: net, reason: "nic-silent"})
					}
				}
				return fromFault(f, ex)
			}},
		{name: "one-way", fault: "egress drop on one node's NIC (nftables)", bed: threeNodes, target: twoPeerInact,
			inject: func(b *testbed.Bed, k int) fault {
				n, net := pick(b, k)
				return fromFault(b.EgressDrop(n, net), both(b, n, net, "one-way-out", "one-way-in"))
			}},
		{name: "cross-connected", fault: "a node's two cables swapped at the switch", bed: threeNodes, target: twoPeerInact,
			inject: func(b *testbed.Bed, k int) fault {
				n := k % b.N()
				f := b.SwapPorts(n, "hb0", "hb1")
				return fromFault(f, append(both(b, n, "hb0", "cross-connected", "cross-connected"), both(b, n, "hb1", "cross-connected", "cross-connected")...))
			}},
		{name: "shared-segment", fault: "a node's hb1 cable in the hb0 switch", bed: threeNodes, target: twoPeerInact,
			inject: func(b *testbed.Bed, k int) fault {
				n := k % b.N()
				f := b.MovePort(n, "hb1", "hb0")
				return fromFault(f, []expect{{node: n, peer: -1, net: "hb0", reason: "shared-segment"}, {node: n, peer: -1, net: "hb1", reason: "shared-segment"}})
			}},
		{name: "mtu-mismatch", fault: "MTU 9000 on the hosts, one switch port at 1500", target: twoPeerInact,
			bed: func() testbed.Options {
				return testbed.Options{Networks: []testbed.NetworkSpec{{Name: "hb0", MTU: 9000}, {Name: "hb1", MTU: 9000}}}
			},
			inject: func(b *testbed.Bed, k int) fault {
				n, net := pick(b, k)
				return fromFault(b.SetPortMTU(n, net, 1500), both(b, n, net, "mtu-mismatch", "mtu-mismatch"))
			}},
		{name: "tcp-blocked", fault: "TCP port 7947 dropped on one node's NIC (nftables), ether works", target: twoPeerInact,
			bed: func() testbed.Options {
				return testbed.Options{Networks: []testbed.NetworkSpec{{Name: "hb0", Channels: []string{"ether", "tcp"}}, {Name: "hb1", Channels: []string{"ether", "tcp"}}}}
			},
			inject: func(b *testbed.Bed, k int) fault {
				n, net := pick(b, k)
				ifc := b.Iface(n, net)
				rs := fmt.Sprintf("table inet tbr%d {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tiifname %q tcp dport 7947 drop\n\t\tiifname %q tcp sport 7947 drop\n\t}\n\tchain out {\n\t\ttype filter hook output priority 0; policy accept;\n\t\toifname %q tcp dport 7947 drop\n\t\toifname %q tcp sport 7947 drop\n\t}\n}\n", k, ifc, ifc, ifc, ifc)
				return fromFault(b.NFT(b.NodeNS(n), rs), both(b, n, net, "tcp-blocked", "tcp-blocked"))
			}},
		{name: "flapping", fault: "a cable pulled and put back three times, 300 ms apart (named within the flap window)", bed: threeNodes,
			target: func(bedutil.Timers) time.Duration { return flapWindow },
			inject: func(b *testbed.Bed, k int) fault {
				n, net := pick(b, k)
				var at time.Time
				for i := range 3 {
					f := b.CablePull(n, net)
					if i == 0 {
						at = f.At
					}
					time.Sleep(300 * time.Millisecond)
					f.Undo()
					time.Sleep(300 * time.Millisecond)
				}
				return fault{at: at, expects: both(b, n, net, "flapping", "flapping"), undo: func() {}}
			}},
		{name: "lossy", fault: "30 % random loss on one node's NIC egress (named within the loss window)", bed: threeNodes,
			target: func(bedutil.Timers) time.Duration { return lossWindow },
			inject: func(b *testbed.Bed, k int) fault {
				n, net := pick(b, k)
				return fromFault(b.RandomLoss(n, net, 30), both(b, n, net, "lossy", "lossy"))
			}},
		{name: "duplicate-node-id", fault: "a second agent started with an existing node id (named by the holder; the newcomer refuses to start)", bed: threeNodes, target: twoPeerInact,
			inject: func(b *testbed.Bed, k int) fault {
				n := k % b.N()
				h := b.AddHost(fmt.Sprintf("dup%d", k))
				at := time.Now()
				a := h.StartAgent(h.AgentConfig(n))
				ex := []expect{{node: n, peer: -1, net: "hb0", reason: "duplicate-node-id"}, {node: n, peer: -1, net: "hb1", reason: "duplicate-node-id"}}
				return fault{at: at, expects: ex, undo: func() {
					if a.Wait(10*time.Second) == nil {
						panic("the agent with a taken node id exited with status 0")
					}
				}}
			}},
		{name: "foreign-cluster", fault: "an agent of another cluster (own id, own key) on the same switches", bed: threeNodes, target: twoPeerInact,
			inject: func(b *testbed.Bed, k int) fault {
				h := b.AddHost(fmt.Sprintf("other%d", k))
				doc := h.AgentConfig(0)
				doc["cluster"] = map[string]any{"id": 8, "name": "other", "key_file": b.WriteKey(fmt.Sprintf("other%d.key", k))}
				doc["node"] = map[string]any{"id": 0, "name": "f0"}
				doc["nodes"] = []any{map[string]any{"id": 0, "name": "f0"}, map[string]any{"id": 1, "name": "f1"}}
				at := time.Now()
				a := h.StartAgent(doc)
				var ex []expect
				for i := range b.N() {
					for _, net := range []string{"hb0", "hb1"} {
						ex = append(ex, expect{node: i, peer: -1, net: net, reason: "foreign-cluster"})
					}
				}
				return fault{at: at, expects: ex, undo: func() { _ = a.Stop() }}
			}},
		{name: "peer-stopped", fault: "a node's agent stopped (SIGTERM)", bed: threeNodes, target: twoPeerInact,
			inject: func(b *testbed.Bed, k int) fault {
				n := k % b.N()
				at := time.Now()
				_ = b.Stop(n)
				var ex []expect
				for p := range b.N() {
					if p != n {
						for _, net := range []string{"hb0", "hb1"} {
							ex = append(ex, expect{node: p, peer: n, net: net, reason: "peer-stopped"})
						}
					}
				}
				return fault{at: at, expects: ex, undo: func() { b.Start(n) }}
			}},
		{name: "auth-failure", fault: "a node restarted with another cluster key (ether and tcp)", target: twoPeerInact,
			bed: func() testbed.Options {
				return testbed.Options{Networks: []testbed.NetworkSpec{{Name: "hb0", Channels: []string{"ether", "tcp"}}, {Name: "hb1", Channels: []string{"ether", "tcp"}}}}
			},
			inject: func(b *testbed.Bed, k int) fault {
				n := k % b.N()
				_ = b.Stop(n)
				restore := useKey(b, n, fmt.Sprintf("%064x", k+1))
				at := time.Now()
				b.Start(n)
				var ex []expect
				for p := range b.N() {
					if p != n {
						for _, net := range []string{"hb0", "hb1"} {
							ex = append(ex, expect{node: p, peer: n, net: net, reason: "auth-failure"})
						}
					}
				}
				return fault{at: at, expects: ex, undo: func() { _ = b.Stop(n); restore(); b.Start(n) }}
			}},
	}
}

// useKey points node n's config at a key file holding hexKey and returns
// the function that puts the bed's key back.
func useKey(b *testbed.Bed, n int, hexKey string) func() {
	path := filepath.Join(b.Dir(), fmt.Sprintf("wrong-%d.key", n))
	if err := os.WriteFile(path, []byte(hexKey+"\n"), 0o600); err != nil {
		panic(err)
	}
	cfg, err := os.ReadFile(b.ConfigPath(n))
	if err != nil {
		panic(err)
	}
	orig := string(cfg)
	if err := os.WriteFile(b.ConfigPath(n), []byte(strings.Replace(orig, b.KeyPath(), path, 1)), 0o644); err != nil {
		panic(err)
	}
	return func() {
		if err := os.WriteFile(b.ConfigPath(n), []byte(orig), 0o644); err != nil {
			panic(err)
		}
	}
}
