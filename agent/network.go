package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/links/ether"
	"github.com/tether-ha/tether/links/nicwatch"
	"github.com/tether-ha/tether/links/tcp"
	"github.com/tether-ha/tether/llt"
)

// network is the runtime state of one configured network: its channels
// and what the kernel says about its NIC.
type network struct {
	idx      int
	cfg      config.Network
	ether    *ether.Channel // nil without the ether channel
	etherCtr *links.Counters
	tcp      *tcp.Channel // nil without the tcp channel
	tcpCtr   *links.Counters
	nic      nicwatch.State // latest NIC state (under the agent's mu)
	driver   string
}

// openNetwork checks the interface and opens the network's channels.
func openNetwork(cfg *config.Config, i int, names []string, kr *llt.Keyring, log *slog.Logger, onAuthFailure func(llt.NodeID), onStream func(*tcp.Stream)) (*network, error) {
	n := cfg.Networks[i]
	nw := &network{idx: i, cfg: n, nic: nicwatch.Lookup(n.Interface)}
	if !nw.nic.Exists {
		return nil, fmt.Errorf("network %s: interface %s not found", n.Name, n.Interface)
	}
	nw.driver = driverName(n.Interface)
	if n.HasChannel(config.ChannelEther) {
		nw.etherCtr = links.NewCounters(ether.DropCauses, nil)
		ch, err := ether.NewChannel(ether.Config{
			Network: i, Name: n.Name, Interface: n.Interface, EtherType: n.EtherType,
			Names: names, Keys: kr, Counters: nw.etherCtr, Log: log,
			Filter: &ether.Filter{Cluster: cfg.Cluster.ID, Self: cfg.Node.ID},
		})
		if err != nil {
			return nil, fmt.Errorf("network %s: %w", n.Name, err)
		}
		nw.ether = ch
	}
	if n.HasChannel(config.ChannelTCP) {
		self, ok := cfg.Self().Addresses[n.Name]
		if !ok {
			nw.close()
			return nil, fmt.Errorf("network %s: node %s has no address on it for the tcp channel", n.Name, cfg.Node.Name)
		}
		var peers []tcp.Peer
		for _, p := range cfg.Peers() {
			peers = append(peers, tcp.Peer{ID: llt.NodeID(p.ID), Name: p.Name, Addr: netip.AddrPortFrom(p.Addresses[n.Name], n.Port)})
		}
		t := cfg.Timers
		inact, hb := t.PeerInact, t.Heartbeat
		if n.Lowpri {
			inact, hb = t.PeerInactLo, t.HeartbeatLo
		}
		nw.tcpCtr = links.NewCounters(tcp.DropCauses, tcp.ConnCauses)
		ch, err := tcp.New(tcp.Config{
			Network: i, Name: n.Name, Cluster: cfg.Cluster.ID, Self: llt.NodeID(cfg.Node.ID),
			Listen: netip.AddrPortFrom(self, n.Port), Peers: peers, Names: names, Keys: kr,
			Counters: nw.tcpCtr, Log: log,
			// The connection is recycled a heartbeat after llt has
			// declared its session down, so the reason comes from llt.
			IdleTimeout:  inact + hb,
			SendBufLimit: cfg.TCP.SendBufLimit, HandshakeTimeout: cfg.TCP.HandshakeTimeout,
			DialTimeout: cfg.TCP.ConnectTimeout, BackoffMax: cfg.TCP.BackoffMax,
			OnAuthFailure: onAuthFailure,
			OnStream:      onStream,
		})
		if err != nil {
			nw.close()
			return nil, fmt.Errorf("network %s: %w", n.Name, err)
		}
		nw.tcp = ch
	}
	return nw, nil
}

// close releases the sockets of a network that never ran.
func (nw *network) close() {
	if nw.ether != nil {
		nw.ether.Close()
	}
	if nw.tcp != nil {
		nw.tcp.Close()
	}
}

// run starts the network's channels; they stop when ctx is done.
func (nw *network) run(ctx context.Context, wg *sync.WaitGroup, deliver links.Deliver) {
	if nw.ether != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nw.ether.Run(ctx, deliver)
		}()
	}
	if nw.tcp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nw.tcp.Run(ctx, deliver)
		}()
	}
}

// send hands an encoded frame to the channel the machine chose.
func (nw *network) send(o *llt.Outgoing, b []byte) {
	switch {
	case o.Channel == llt.ChannelEther && nw.ether != nil:
		nw.ether.Send(o.To, b)
	case o.Channel.IsTCP() && nw.tcp != nil:
		nw.tcp.Send(o.Peer, o.Channel, b)
	}
}

// counters returns the counters of a channel of this network.
func (nw *network) counters(c llt.Channel) *links.Counters {
	if c.IsTCP() {
		return nw.tcpCtr
	}
	return nw.etherCtr
}

func (nw *network) setKeys(kr *llt.Keyring) {
	if nw.ether != nil {
		nw.ether.SetKeys(kr)
	}
	if nw.tcp != nil {
		nw.tcp.SetKeys(kr)
	}
}

// maxEtherPayload is the largest message that fits the network's MTU.
func (nw *network) maxEtherPayload() int {
	mtu := nw.cfg.MTU
	if mtu == 0 {
		mtu = nw.nic.MTU
	}
	if mtu == 0 {
		mtu = 1500
	}
	return max(mtu-llt.MaxOverhead, 0)
}
