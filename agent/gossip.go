package agent

import (
	"context"
	"time"

	"github.com/tether-ha/tether/agent/public"
	"github.com/tether-ha/tether/llt"
)

// The public channel (memberlist on the public network) feeds the machine
// which peers are alive outside the private interconnect (PARTITIONED or
// DOWN), and carries link tables to peers no link reaches.

// startPublic opens the public channel when one is configured.
func (a *Agent) startPublic(keys [][]byte) error {
	pc := a.cfg.Public
	if pc == nil {
		return nil
	}
	names := map[string]uint16{}
	for _, n := range a.cfg.Nodes {
		names[n.Name] = n.ID
	}
	ch, err := public.Start(public.Config{Bind: pc.Bind, Join: pc.Join, Cluster: a.cfg.Cluster.ID,
		Node: a.cfg.Node.ID, Name: a.cfg.Node.Name, Nodes: names, Keys: keys, Log: a.log}, a.inc, gossip{a})
	if err != nil {
		return err
	}
	a.pub = ch
	return nil
}

// gossip is the public channel's handler.
type gossip struct{ a *Agent }

func (g gossip) Alive(peer uint16, alive bool, _ uint64) {
	a := g.a
	_ = a.do(context.Background(), func(now time.Time) {
		if !a.stopped {
			a.m.SetPublic(now, llt.NodeID(peer), alive)
		}
	})
	msg := "public channel: peer gone"
	if alive {
		msg = "public channel: peer alive"
	}
	a.log.Info(msg, "event", EvPublicMember, "peer", a.peerName(llt.NodeID(peer)), "peer_id", peer, "alive", alive)
}

func (g gossip) Message(from uint16, b []byte) {
	switch {
	case len(b) > 0 && b[0] == TopicLinkTable:
		g.a.receiveTable(llt.NodeID(from), b[1:])
	case len(b) > 0 && b[0] == TopicTableDigest:
		g.a.receiveDigest(llt.NodeID(from), b[1:])
	case len(b) > 0 && b[0] == TopicTablePull:
		g.a.receivePull(llt.NodeID(from))
	case len(b) > 0 && b[0] == TopicFailover:
		g.a.receiveView(llt.NodeID(from), b[1:])
	}
}

// publicAlive returns which peers are alive on the public channel (nil
// without one), for the metrics.
func (a *Agent) publicAlive(peers []llt.PeerSnapshot) map[uint16]bool {
	if a.pub == nil {
		return nil
	}
	out := map[uint16]bool{}
	for _, p := range peers {
		out[uint16(p.ID)] = p.Public
	}
	return out
}
