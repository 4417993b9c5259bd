package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/links/tcp"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/replicator/driver/builtin"
)

// Status builds the status document with the agent locked. Its counters
// count from the last tetherstat -z. The mirrors are added once the lock
// is released: the replicator takes its own locks, never under the
// engine's.
func (a *Agent) Status(ctx context.Context) (*status.Status, error) {
	var st *status.Status
	err := a.do(ctx, func(now time.Time) {
		st = a.buildStatus(now, a.m.Snapshot(now), true)
		a.base.apply(st)
	})
	if err != nil {
		return st, err
	}
	st.Mirrors = a.mirrorDocs()
	st.Failover = a.failoverDocs()
	return st, nil
}

// failoverDocs copies the supervisor's state into the status document.
func (a *Agent) failoverDocs() []status.Failover {
	if a.sup == nil {
		return nil
	}
	var out []status.Failover
	for _, r := range a.sup.Status() {
		out = append(out, status.Failover{Resource: r.Resource, Role: r.Role, Epoch: r.Epoch, Primary: r.Primary, Auto: r.Auto,
			QuorumPossible: r.Possible, Voters: r.Voters, Votes: r.Votes, Quorum: r.Quorum, Fenced: r.Fenced, LeaseLeft: r.LeaseLeft,
			Reason: r.Reason, Detail: r.Detail, Alert: r.Alert, Witness: r.Witness, Failovers: r.Failovers, LastAt: r.LastAt,
			Promoting: r.Promoting, Error: r.Error, Backend: r.Backend})
	}
	return out
}

// mirrorDocs describes the builtin resources of this node; nil without
// any. It calls the replicator: never with a.mu held.
func (a *Agent) mirrorDocs() []status.Mirror {
	if a.mirrorStatus == nil {
		return nil
	}
	return mirrorDocs(a.mirrorStatus())
}

// mirrorDocs converts the replicator's resource states into the status
// document's (a copy: the document does not depend on the replicator).
func mirrorDocs(rs []builtin.ResourceStatus) []status.Mirror {
	if len(rs) == 0 {
		return nil
	}
	out := make([]status.Mirror, 0, len(rs))
	for _, r := range rs {
		m := status.Mirror{
			Resource: r.Name, Role: r.Role, Epoch: r.Epoch, Primary: r.Primary, Mirror: r.Mirror, Peer: r.Peer,
			Acks: r.Acks, FrozenBy: r.FrozenBy, Promoting: r.Promoting, Restoring: r.Restoring, Starting: r.Starting,
			PeerEpoch: r.PeerEpoch, PeerRole: r.PeerRole, PeerSeen: r.PeerSeen, PeerError: r.PeerError,
			Changed: r.Changed, Why: r.Why, Topics: make([]status.MirrorTopic, 0, len(r.Topics)),
		}
		if d := r.Diverged; d != nil {
			m.Diverged = &status.MirrorDivergence{Epoch: d.Epoch, Primary: d.Primary, At: d.At}
		}
		for _, t := range r.Topics {
			mt := status.MirrorTopic{
				Topic: t.Topic, State: t.State, LogEndOffset: t.LogEndOffset, HighWatermark: t.HighWatermark,
				LagRecords: t.LagRecords, LagMs: t.LagMs, SinceLastFetchMs: t.SinceLastFetchMs,
				MirrorConfirmed: t.MirrorConfirmed, Fetches: t.Fetches, FetchErrors: t.FetchErrors,
				Records: t.Records, Bytes: t.Bytes, Error: t.Error,
			}
			if p := t.Pending; p != nil {
				mt.Pending = &status.MirrorTruncation{At: p.At, From: p.From, To: p.To, AckedRecords: p.AckedRecords}
			}
			m.Topics = append(m.Topics, mt)
		}
		out = append(out, m)
	}
	return out
}

// ResetCounters shows every counter from zero (tetherstat -z): the
// counters themselves go on (Prometheus's must never go back), the status
// document counts from their values now. RTT extremes and the longest
// pause start again.
func (a *Agent) ResetCounters(ctx context.Context) error {
	return a.do(ctx, func(now time.Time) {
		a.base.capture(a.buildStatus(now, a.m.Snapshot(now), false))
		a.m.ResetExtremes(now)
		a.log.Info("counters reset", "event", EvCountersReset)
	})
}

// buildStatus builds the status document from snap with the counters as
// they are (since start), the agent locked. Without full it leaves out
// what only people read (the matrix, the detail sentences): a scrape
// needs neither, and holds the lock less long.
func (a *Agent) buildStatus(now time.Time, snap llt.Snapshot, full bool) *status.Status {
	cfg := a.cfg
	st := &status.Status{
		Claiming: snap.Claiming,
		Version:  Version, Cluster: cfg.Cluster.ID, ClusterName: cfg.Cluster.Name,
		LocalNode: cfg.Node.ID, LocalName: cfg.Node.Name, Incarnation: fmt.Sprintf("%016x", a.inc),
		StartedAt: a.startedAt, Now: now,
		Config:   a.configDoc(),
		Counters: status.Counters{ResetAt: a.startedAt, Pauses: pausesDoc(a.m.Pauses()), Messages: a.msgs},
	}
	if a.logDropped != nil {
		st.Counters.LogDropped = a.logDropped()
	}
	st.Counters.LinkTables = status.LinkTables{Sent: a.tableStats.sent, SendFailed: a.tableStats.sendFailed,
		Received: a.tableStats.received, Rejected: a.tableStats.rejected, Public: a.tableStats.public, Digests: a.tableStats.digests, Pulls: a.tableStats.pulls}
	order := map[int]int{}
	for k, i := range snap.Routes {
		order[i] = k + 1
	}
	self := a.cfg.Self()
	for _, n := range a.nets {
		nd := a.networkDoc(n, self)
		a.networkDiag(&nd, n.idx, snap.Networks[n.idx], order[n.idx])
		st.Networks = append(st.Networks, nd)
		if n.ether != nil {
			n.ether.PollKernelDrops()
			st.Counters.Networks = append(st.Counters.Networks, countersDoc(n.cfg.Name, config.ChannelEther, n.etherCtr))
		}
		if n.tcp != nil {
			st.Counters.Networks = append(st.Counters.Networks, countersDoc(n.cfg.Name, config.ChannelTCP, n.tcpCtr))
		}
	}
	peers := map[llt.NodeID]llt.PeerSnapshot{}
	for _, p := range snap.Peers {
		peers[p.ID] = p
	}
	conns := a.connections()
	for _, node := range cfg.Nodes {
		if node.ID == cfg.Node.ID {
			st.Nodes = append(st.Nodes, a.localNodeDoc(node, snap))
			continue
		}
		st.Nodes = append(st.Nodes, a.peerDoc(now, node, peers[llt.NodeID(node.ID)], conns, full))
	}
	st.Connections = connectionDocs(now, a, peers, conns)
	if full {
		st.Matrix = a.matrixDoc(a.m.Matrix(now))
	}
	return st
}

// netConn is a tcp connection listing entry with its network.
type netConn struct {
	net int
	tcp.ConnInfo
}

func (a *Agent) connections() []netConn {
	var out []netConn
	for _, n := range a.nets {
		if n.tcp == nil {
			continue
		}
		for _, c := range n.tcp.Connections() {
			out = append(out, netConn{n.idx, c})
		}
	}
	return out
}

func connectionDocs(now time.Time, a *Agent, peers map[llt.NodeID]llt.PeerSnapshot, conns []netConn) []status.Connection {
	out := []status.Connection{}
	for _, c := range conns {
		d := status.Connection{
			Direction: c.Direction, Peer: uint16(c.Peer), PeerName: c.PeerName, Network: a.nets[c.net].cfg.Name,
			State: status.LinkDown, LocalAddress: c.Local, RemoteAddress: c.Remote, CreateTime: c.Created,
			Events: c.Events, SendBufferUsed: c.SendBufUsed, SendBufferAllocated: c.SendBufAlloc, LastFrameMs: -1,
			FramesIn: c.FramesIn, FramesOut: c.FramesOut, BytesIn: c.BytesIn, BytesOut: c.BytesOut,
		}
		if c.Up {
			d.State = status.LinkUp
			d.LastFrameMs = now.Sub(c.LastRx).Milliseconds()
		} else if c.LastError != "" {
			d.LastError = c.LastError
			if !c.LastErrorAt.IsZero() {
				at := c.LastErrorAt
				d.LastErrorAt = &at
			}
		}
		ch := llt.ChannelTCPTo
		if c.Direction == "from" {
			ch = llt.ChannelTCPFrom
		}
		d.Session = status.ChannelDown
		if p, ok := peers[c.Peer]; ok {
			for _, s := range p.Links[c.net].Sessions {
				if s.Channel == ch {
					d.Session = sessionState(s)
					if s.State == llt.SessionUp {
						d.RTTMicros = s.RTT.Microseconds()
					}
				}
			}
		}
		out = append(out, d)
	}
	return out
}

func sessionState(s llt.SessionSnapshot) string {
	if s.Trouble {
		return status.ChannelTrouble
	}
	return s.State.String()
}

func (a *Agent) configDoc() status.Config {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	t := a.cfg.Timers
	c := status.Config{
		ConfigFile: a.cfg.File, HeartbeatMs: ms(t.Heartbeat), PeerTroubleMs: ms(t.PeerTrouble), PeerInactMs: ms(t.PeerInact),
		HeartbeatLoMs: ms(t.HeartbeatLo), PeerTroubleLoMs: ms(t.PeerTroubleLo), PeerInactLoMs: ms(t.PeerInactLo),
		StatusSocket: a.cfg.Status.Socket, MaxNodeID: uint16(llt.MaxNodeID),
		TCPSendBufLimit: a.cfg.TCP.SendBufLimit, TCPHandshakeTimeoutMs: ms(a.cfg.TCP.HandshakeTimeout),
		TCPConnectTimeoutMs: ms(a.cfg.TCP.ConnectTimeout), TCPBackoffMaxMs: ms(a.cfg.TCP.BackoffMax),
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
	if n.tcp != nil {
		d.TCPPort = int(n.cfg.Port)
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
		RxFrames: c.RxFrames.Load(), RxBytes: c.RxBytes.Load(),
		Dropped: c.Dropped(), Connections: c.ConnEvents(),
	}
}

// localNodeDoc describes this node: its "links" are its own NICs, and
// its state what they allow (OPEN, JEOPARDY with one working private
// network, DOWN with none): the machine's own view, not a constant.
func (a *Agent) localNodeDoc(node config.Node, snap llt.Snapshot) status.Node {
	d := status.Node{ID: node.ID, Name: node.Name, Local: true, State: snap.Local.State.String(), Since: snap.Local.Since,
		Incarnation: fmt.Sprintf("%016x", a.inc), LinksUp: snap.Local.Working}
	for _, n := range a.nets {
		l := status.Link{Network: n.cfg.Name, State: status.LinkUp, Channels: map[string]string{},
			PeerAddress: n.nic.MAC.String(), LastHeardMs: -1, RxLossPct: -1, TxLossPct: -1}
		for _, c := range n.cfg.Channels {
			l.Channels[c] = status.ChannelUp
		}
		ns := snap.Networks[n.idx]
		switch {
		case !n.nic.Carrier:
			l.State, l.Reason = status.LinkDown, llt.ReasonCarrierLost.String()
			l.Detail = fmt.Sprintf("%s has no carrier", n.cfg.Interface)
		case !ns.SilentSince.IsZero():
			l.State, l.Reason = status.LinkDown, llt.ReasonNICSilent.String()
			l.Detail = fmt.Sprintf("%s has carrier but passes nothing: no peer hears us and we hear no one, while the peers hear each other", n.cfg.Interface)
		}
		if l.State == status.LinkDown {
			for c := range l.Channels {
				l.Channels[c] = status.ChannelDown
			}
		}
		d.Links = append(d.Links, l)
	}
	return d
}

func (a *Agent) peerDoc(now time.Time, node config.Node, p llt.PeerSnapshot, conns []netConn, full bool) status.Node {
	d := status.Node{ID: node.ID, Name: node.Name, State: p.State.String(), LinksUp: p.LinksUp,
		Since: p.Since, Restarts: p.Restarts}
	if a.pub != nil {
		d.Public = "gone"
		if p.Public {
			d.Public = "alive"
		}
	}
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
			LastHeardMs: -1, Since: l.Since, Downs: l.Downs, Transitions: l.Transitions, FlapDowns: l.FlapDowns,
		}
		if !l.LastRx.IsZero() {
			ld.LastHeardMs = now.Sub(l.LastRx).Milliseconds()
		}
		if l.State == llt.LinkDown {
			ld.RTTMicros = 0 // no current round trip; min/max keep the history
		}
		ld.PeerAddress = formatAddr(l.Channel, l.PeerAddr)
		var to, from *llt.SessionSnapshot
		for i, s := range l.Sessions {
			switch s.Channel {
			case llt.ChannelTCPTo:
				to = &l.Sessions[i]
			case llt.ChannelTCPFrom:
				from = &l.Sessions[i]
			default:
				ld.Channels[s.Channel.String()] = sessionState(s)
			}
		}
		if to != nil && from != nil {
			ld.Channels[config.ChannelTCP] = tcpState(*to, *from)
		}
		a.linkDiag(&ld, l, now)
		if full && (l.State != llt.LinkUp || l.Reason != llt.ReasonNone) {
			toErr, fromErr := tcpErrors(conns, n.idx, llt.NodeID(node.ID))
			ld.Detail = detail(node.Name, n.cfg, l, ld.LastHeardMs, toErr, fromErr)
			if ld.Detail == l.Reason.String() {
				ld.Detail = diagDetail(node.Name, n.cfg.Name, &ld, now)
			}
		}
		d.Links = append(d.Links, ld)
	}
	return d
}

// tcpState folds the two connections' sessions into the tcp channel state.
func tcpState(to, from llt.SessionSnapshot) string {
	switch up := func(s llt.SessionSnapshot) bool { return s.State == llt.SessionUp }; {
	case up(to) && up(from):
		if to.Trouble && from.Trouble {
			return status.ChannelTrouble
		}
		return status.ChannelUp
	case up(to):
		return status.ChannelToOnly
	case up(from):
		return status.ChannelFromOnly
	}
	return status.ChannelDown
}

// tcpErrors returns why the connections to peer on a network are down:
// the last outbound and inbound errors ("" when up).
func tcpErrors(conns []netConn, net int, peer llt.NodeID) (to, from string) {
	for _, c := range conns {
		if c.net != net || c.Peer != peer || c.Up {
			continue
		}
		if c.Direction == "to" {
			to = c.LastError
		} else {
			from = c.LastError
		}
	}
	return to, from
}

// formatAddr shows a channel address: a MAC for ether, the IP for tcp.
func formatAddr(c llt.Channel, a string) string {
	if a == "" {
		return ""
	}
	if c == llt.ChannelEther && len(a) == 6 {
		return net.HardwareAddr(a).String()
	}
	if ap, err := netip.ParseAddrPort(a); err == nil {
		return ap.Addr().String()
	}
	return a
}

// detail is the one sentence an operator reads at 3 a.m.
func detail(peer string, n config.Network, l llt.LinkSnapshot, lastHeardMs int64, tcpTo, tcpFrom string) string {
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
	case llt.ReasonAuthFailure:
		s = fmt.Sprintf("frames claiming to be %s on %s fail authentication: wrong cluster key or forgery", peer, n.Name)
	case llt.ReasonPeerStopped:
		s = fmt.Sprintf("%s's agent stopped cleanly", peer)
	case llt.ReasonTCPBlocked:
		s = tcpDetail(peer, n, l, tcpTo, tcpFrom)
	default:
		s = l.Reason.String()
	}
	return s
}

// tcpDetail says which TCP direction fails on a link that is up, and the
// last error of each.
func tcpDetail(peer string, n config.Network, l llt.LinkSnapshot, toErr, fromErr string) string {
	var toUp, fromUp bool
	for _, s := range l.Sessions {
		switch s.Channel {
		case llt.ChannelTCPTo:
			toUp = s.State == llt.SessionUp
		case llt.ChannelTCPFrom:
			fromUp = s.State == llt.SessionUp
		}
	}
	why := func(e string) string {
		if e == "" {
			return ""
		}
		return " (" + e + ")"
	}
	other := "ether"
	if !n.HasChannel(config.ChannelEther) {
		other = "the other connection"
	}
	switch {
	case !toUp && !fromUp:
		return fmt.Sprintf("%s works on %s but TCP does not, either way: we cannot connect to %s%s and it cannot connect to us%s: an L3/L4 problem (firewall, routing, port %d)",
			other, n.Name, peer, why(toErr), why(fromErr), n.Port)
	case !toUp:
		return fmt.Sprintf("TCP on %s works one way only: %s connects to us, but we cannot connect to it%s", n.Name, peer, why(toErr))
	default:
		return fmt.Sprintf("TCP on %s works one way only: we connect to %s, but it cannot connect to us%s: inbound port %d blocked?", n.Name, peer, why(fromErr), n.Port)
	}
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

func pausesDoc(p llt.PauseStats) status.Pauses {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return status.Pauses{Count: p.Count, LastMs: ms(p.Last), LastAt: p.LastAt, LongestMs: ms(p.Longest)}
}
