package llt

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkNodeCost is one node's engine work in a cluster of n nodes at
// default timers, 4 networks: every peer's heartbeats on every link
// arrive (synthesised, echoing ours, so every link is UP) and the node's
// timers run. Reported per link per second of virtual time: flat in n is
// the design (O(1) per frame received, O(links) per heartbeat). One hot
// engine, unlike bench/sim, where hundreds share the caches.
func BenchmarkNodeCost(b *testing.B) {
	for _, n := range []int{8, 32, 64, 128, 256} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchNodeCost(b, n, 4) })
	}
}

func benchNodeCost(b *testing.B, n, nets int) {
	var cfgNets []NetworkConfig
	for k := range nets {
		cfgNets = append(cfgNets, NetworkConfig{Name: fmt.Sprintf("hb%d", k), Ether: true})
	}
	var peers []NodeID
	for i := 1; i < n; i++ {
		peers = append(peers, NodeID(i))
	}
	timers := DefaultTimers()
	m, err := New(Config{Cluster: 7, Self: 0, Incarnation: 1, Epoch: simEpoch, Networks: cfgNets, Peers: peers, Timers: timers,
		Diagnostics: Diagnostics{Claim: -1}})
	if err != nil {
		b.Fatal(err)
	}
	type key struct {
		peer NodeID
		net  int
	}
	ours := map[key]Echo{}           // the newest frame of ours per link, to echo
	theirs := map[key]SessionState{} // the peer's session state: the three-way handshake's answer to ours
	seq := map[key]uint64{}
	acks := map[key]uint64{}
	advances := 0
	now := simEpoch
	drain := func() {
		out := m.Ready()
		for _, o := range out.Frames {
			kk := key{o.Peer, o.Network}
			ours[kk] = Echo{Incarnation: o.Frame.Incarnation, Seq: o.Frame.Seq, Timestamp: o.Frame.Timestamp}
			if o.Frame.Flags&FlagProbe != 0 {
				acks[kk] = o.Frame.Seq // the peer acknowledges our MTU probes
			}
			switch o.Frame.State {
			case SessionDown:
				theirs[kk] = SessionInit
			default:
				theirs[kk] = SessionUp
			}
		}
		m.Release(out)
	}
	vec := make([]VectorEntry, nets)
	for k := range vec {
		vec[k] = VectorEntry{Network: cfgNets[k].Name, State: LinkUp, HearsYou: true, Carrier: true, Loss: 0}
	}
	links := (n - 1) * nets
	step := timers.Heartbeat / time.Duration(links) // every link hears a heartbeat per interval
	round := func() {
		for _, p := range peers {
			for k := range nets {
				now = now.Add(step)
				if !m.NextDeadline(now).After(now) {
					m.Advance(now)
					advances++
					drain()
				}
				kk := key{p, k}
				seq[kk]++
				e := ours[kk]
				e.Hold = 0
				f := Frame{Type: FrameHeartbeat, State: theirs[kk], Cluster: 7, Src: p, Dst: 0, Heartbeat: timers.Heartbeat,
					PeerInact: timers.PeerInact, Network: cfgNets[k].Name, Incarnation: uint64(p) + 100, Seq: seq[kk],
					Timestamp: int64(now.Sub(simEpoch)), Echo: e, Vector: vec, ProbeAck: acks[kk]}
				m.Receive(now, Inbound{Network: k, Channel: ChannelEther, From: "peer", Frame: &f})
				drain()
			}
		}
	}
	for range 20 {
		round() // every link UP
	}
	if s := m.Snapshot(now); s.Peers[len(s.Peers)-1].LinksUp != nets {
		b.Fatalf("links not UP: %+v", s.Peers[len(s.Peers)-1])
	}
	b.ResetTimer()
	advances = 0
	for range b.N {
		round()
	}
	// One round is one heartbeat interval of virtual time for every link.
	perLinkSec := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(links) * float64(time.Second/timers.Heartbeat)
	b.ReportMetric(perLinkSec, "ns/link/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*links), "ns/frame")
	b.ReportMetric(float64(advances)/float64(b.N), "advances/heartbeat")
}
