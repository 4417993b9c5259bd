package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/llt"
)

// Status builds the status document on the engine goroutine.
func (a *Agent) Status(ctx context.Context) (*status.Status, error) {
	var st *status.Status
	err := a.do(ctx, func(now time.Time) { st = a.buildStatus(now) })
	return st, err
}

// ResetCounters zeroes every counter (tetherstat -z).
func (a *Agent) ResetCounters(ctx context.Context) error {
	return a.do(ctx, func(now time.Time) {
		a.m.ResetCounters(now)
		for _, n := range a.nets {
			if n.ctr != nil {
				n.ether.PollKernelDrops() // the kernel's count resets on read
				n.ctr.Reset()
			}
		}
		a.log.Info("counters reset", "event", "counters.reset")
	})
}

func (a *Agent) buildStatus(now time.Time) *status.Status {
	snap := a.m.Snapshot(now)
	cfg := a.cfg
	st := &status.Status{
		Version: Version, Cluster: cfg.Cluster.ID, ClusterName: cfg.Cluster.Name,
		LocalNode: cfg.Node.ID, LocalName: cfg.Node.Name, Incarnation: fmt.Sprintf("%016x", a.inc),
		StartedAt: a.startedAt, Now: now,
		Config:   a.configDoc(),
		Counters: status.Counters{ResetAt: snap.CountersAt},
	}
	self := a.cfg.Self()
	for _, n := range a.nets {
		st.Networks = append(st.Networks, a.networkDoc(n, self))
		if n.ctr != nil {
			n.ether.PollKernelDrops()
			st.Counters.Networks = append(st.Counters.Networks, countersDoc(n.cfg.Name, config.ChannelEther, n.ctr))
		}
	}
	peers := map[llt.NodeID]llt.PeerSnapshot{}
	for _, p := range snap.Peers {
		peers[p.ID] = p
	}
	for _, node := range cfg.Nodes {
		if node.ID == cfg.Node.ID {
			st.Nodes = append(st.Nodes, a.localNodeDoc(node))
			continue
		}
		st.Nodes = append(st.Nodes, a.peerDoc(now, node, peers[llt.NodeID(node.ID)]))
	}
	return st
}

func (a *Agent) configDoc() status.Config {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	t := a.cfg.Timers
	c := status.Config{
		ConfigFile: a.cfg.File, HeartbeatMs: ms(t.Heartbeat), PeerTroubleMs: ms(t.PeerTrouble), PeerInactMs: ms(t.PeerInact),
		HeartbeatLoMs: ms(t.HeartbeatLo), PeerTroubleLoMs: ms(t.PeerTroubleLo), PeerInactLoMs: ms(t.PeerInactLo),
		StatusSocket: a.cfg.Status.Socket, MetricsListen: a.cfg.Metrics.Listen, MaxNodeID: uint16(llt.MaxNodeID),
	}
	for _, id := range a.keys.IDs() {
		c.KeyIDs = append(c.KeyIDs, fmt.Sprintf("%08x", id))
	}
	return c
}

func (a *Agent) networkDoc(n *network, self config.Node) status.Network {
	d := status.Network{
		Name: n.cfg.Name, Interface: n.cfg.Interface, Channels: n.cfg.Channels, Lowpri: n.cfg.Lowpri,
		MTU: n.nic.MTU, ConfigMTU: n.cfg.MTU, Carrier: n.nic.Carrier, OperState: n.nic.OperState,
		Driver: n.driver, MAC: n.nic.MAC.String(), EtherType: fmt.Sprintf("%#04x", n.cfg.EtherType),
	}
	if ip, ok := self.Addresses[n.cfg.Name]; ok {
		d.Address = ip.String()
	}
	switch {
	case !n.nic.Exists:
		d.Error = fmt.Sprintf("interface %s does not exist", n.cfg.Interface)
	case !n.nic.AdminUp:
		d.Error = fmt.Sprintf("interface %s is administratively down", n.cfg.Interface)
	case !n.nic.Carrier:
		d.Error = fmt.Sprintf("interface %s has no carrier (cable, switch port or peer NIC down)", n.cfg.Interface)
	}
	return d
}

func countersDoc(net, channel string, c *links.Counters) status.NetworkCounters {
	return status.NetworkCounters{
		Network: net, Channel: channel,
		TxFrames: c.TxFrames.Load(), TxBytes: c.TxBytes.Load(), TxErrors: c.TxErrors.Load(),
		RxFrames: c.RxFrames.Load(), RxBytes: c.RxBytes.Load(), RxQueueDrops: c.RxQueueDrops.Load(),
		Dropped: c.Dropped(),
	}
}

// localNodeDoc describes this node: its "links" are its own NICs.
func (a *Agent) localNodeDoc(node config.Node) status.Node {
	d := status.Node{ID: node.ID, Name: node.Name, Local: true, State: status.NodeOpen, Since: a.startedAt,
		Incarnation: fmt.Sprintf("%016x", a.inc)}
	for _, n := range a.nets {
		l := status.Link{Network: n.cfg.Name, State: status.LinkUp, Channels: map[string]string{},
			PeerAddress: n.nic.MAC.String(), LastHeardMs: -1}
		for _, c := range n.cfg.Channels {
			l.Channels[c] = status.ChannelUp
		}
		if !n.nic.Carrier {
			l.State, l.Reason = status.LinkDown, llt.ReasonCarrierLost.String()
			l.Detail = fmt.Sprintf("%s has no carrier", n.cfg.Interface)
			for c := range l.Channels {
				l.Channels[c] = status.ChannelDown
			}
		} else {
			d.LinksUp++
		}
		d.Links = append(d.Links, l)
	}
	return d
}

func (a *Agent) peerDoc(now time.Time, node config.Node, p llt.PeerSnapshot) status.Node {
	d := status.Node{ID: node.ID, Name: node.Name, State: p.State.String(), LinksUp: p.LinksUp,
		Since: p.Since, Restarts: p.Restarts}
	if p.Incarnation != 0 {
		d.Incarnation = fmt.Sprintf("%016x", p.Incarnation)
	}
	for _, l := range p.Links {
		n := a.nets[l.Network]
		ld := status.Link{
			Network: n.cfg.Name, State: l.State.String(), Reason: l.Reason.String(),
			RemoteReason: l.RemoteReason.String(), Channels: map[string]string{},
			RTTMicros: l.RTT.Microseconds(), RTTMinMicros: l.RTTMin.Microseconds(), RTTMaxMicros: l.RTTMax.Microseconds(),
			Sent: l.Sent, Received: l.Received, Lost: l.Lost, Replays: l.Replays,
			LastHeardMs: -1, Since: l.Since, Downs: l.Downs,
		}
		if !l.LastRx.IsZero() {
			ld.LastHeardMs = now.Sub(l.LastRx).Milliseconds()
		}
		if l.State == llt.LinkDown {
			ld.RTTMicros = 0 // no current round trip; min/max keep the history
		}
		ld.PeerAddress = formatAddr(l.Channel, l.PeerAddr)
		for _, s := range l.Sessions {
			v := s.State.String()
			if s.Trouble {
				v = status.ChannelTrouble
			}
			ld.Channels[s.Channel.String()] = v
		}
		if l.State != llt.LinkUp {
			ld.Detail = detail(node.Name, n.cfg, l, ld.LastHeardMs)
		}
		d.Links = append(d.Links, ld)
	}
	return d
}

func formatAddr(c llt.Channel, a string) string {
	if a == "" {
		return ""
	}
	if c == llt.ChannelEther && len(a) == 6 {
		return net.HardwareAddr(a).String()
	}
	return a
}

// detail is the one sentence an operator reads at 3 a.m.
func detail(peer string, n config.Network, l llt.LinkSnapshot, lastHeardMs int64) string {
	heard := "never heard"
	if lastHeardMs >= 0 {
		heard = "last heard " + (time.Duration(lastHeardMs) * time.Millisecond).String() + " ago"
	}
	var s string
	switch l.Reason {
	case llt.ReasonCarrierLost:
		s = fmt.Sprintf("our %s (%s) has no carrier: cable, switch port or NIC", n.Interface, n.Name)
	case llt.ReasonPeerSilent:
		s = fmt.Sprintf("nothing from %s on %s (%s)", peer, n.Name, heard)
	case llt.ReasonOneWayOut:
		s = fmt.Sprintf("we hear %s on %s but it does not hear us: our frames are lost on the way to it", peer, n.Name)
	case llt.ReasonOneWayIn:
		s = fmt.Sprintf("%s hears us on %s but its frames do not reach us (%s)", peer, n.Name, heard)
	case llt.ReasonCrossConnected:
		s = fmt.Sprintf("%s's frames for another network arrive on our %s: swapped cables or wrong VLAN", peer, n.Name)
	case llt.ReasonAuthFailure:
		s = fmt.Sprintf("frames claiming to be %s on %s fail authentication: wrong cluster key or forgery", peer, n.Name)
	case llt.ReasonPeerStopped:
		s = fmt.Sprintf("%s's agent stopped cleanly", peer)
	default:
		s = l.Reason.String()
	}
	if l.RemoteReason != llt.ReasonNone && l.RemoteReason != l.Reason {
		s += fmt.Sprintf("; %s reports %s on its side", peer, l.RemoteReason)
	}
	return s
}

// driverName returns the kernel driver of an interface (veth, ixgbe, ...)
// from sysfs, or from ethtool for virtual devices without a device link.
func driverName(ifname string) string {
	if p, err := filepath.EvalSymlinks(filepath.Join("/sys/class/net", ifname, "device", "driver")); err == nil {
		return filepath.Base(p)
	}
	if d, err := ethtoolDriver(ifname); err == nil {
		return d
	}
	if b, err := os.ReadFile(filepath.Join("/sys/class/net", ifname, "uevent")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "DEVTYPE="); ok {
				return v
			}
		}
	}
	return ""
}
