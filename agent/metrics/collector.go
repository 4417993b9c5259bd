package metrics

import (
	"context"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/replicator/failover"
)

// Source takes a snapshot for a scrape; it fails when the engine does not
// answer within the context (a wedged agent must not look healthy).
type Source func(ctx context.Context) (*Snapshot, error)

// ScrapeTimeout bounds how long a scrape waits for the engine.
const ScrapeTimeout = 2 * time.Second

// reasonNone is the tether_link_reason value of a healthy link.
const reasonNone = "none"

// Label values every state set emits.
var (
	linkStates  = []string{status.LinkUp, status.LinkTrouble, status.LinkDown}
	nodeStates  = []string{status.NodeOpen, status.NodeJeopardy, status.NodeConnWait, status.NodeDown, status.NodePartitioned}
	localStates = []string{status.NodeOpen, status.NodeJeopardy, status.NodeDown}
	// netReasons are the reasons that concern a whole network.
	netReasons = []string{llt.ReasonNICSilent.String(), llt.ReasonSharedSegment.String(), llt.ReasonForeignCluster.String(),
		llt.ReasonAuthFailure.String(), llt.ReasonDuplicateNodeID.String(), llt.ReasonCarrierLost.String()}
	// decodeCauses are the drop causes of frames that could not be decoded.
	decodeCauses = []string{"truncated", "bad-magic", "bad-version", "malformed"}
	// resourceRoles and topicStates are the builtin replicator's roles of
	// a resource and states of its topics on a node.
	resourceRoles = []string{status.RolePrimary, status.RoleMirror, status.RoleStopped, status.RoleDiverged}
	topicStates   = []string{status.TopicActive, status.TopicPaused, status.TopicSourceUnavailable, status.TopicDiverged,
		status.TopicFailed, status.TopicPrimary, status.TopicPendingStopped, status.TopicStopped}
	// failoverRoles are the roles of this node's copy as the failover
	// supervisor sees it: the replicator's, or none (a witness, a node
	// that holds no copy of the resource).
	failoverRoles = []string{status.RolePrimary, status.RoleMirror, status.RoleStopped, status.RoleDiverged, roleNone}
)

// roleNone is the failover role of a node without a copy.
const roleNone = "none"

// linkReasons returns every reason label value: none, then llt's reasons.
func linkReasons() []string {
	out := []string{reasonNone}
	for r := llt.Reason(1); r < llt.NumReasons; r++ {
		out = append(out, r.String())
	}
	return out
}

// Collector exports a Snapshot per scrape as const metrics.
type Collector struct {
	all     []*prometheus.Desc // every desc of d, for Describe
	pairs   pairCache
	src     Source
	version string
	reasons []string
	d       descs
}

type descs struct {
	linkUp, linkState, linkReason, linkRTT, linkSent, linkReceived, linkLost, linkLoss, linkTransitions, linkFlaps,
	nodeState, nodeLinksUp, nodeLinks, nodeRestarts, nodePublic, localState,
	netCarrier, netMTU, netReason, netAuth, netDecode, netForeign, netDropped, netRx, netTx, netTxErr,
	tcpUp, tcpBuf, tcpLimit,
	buildInfo, startTime, claiming, pauses, pauseLast, schedDelay, messages, logDropped,
	resRole, resEpoch, topicState, lagRecords, lagSeconds, sinceFetch, logEnd, sourceHW, confirmed,
	mirRecords, mirBytes, mirFetches, mirFetchErrors,
	foRole, foEpoch, foAuto, foPossible, foQuorum, foVotes, foVoters, foFenced, foLease, foDecision, foAlert,
	foTotal, foLast, foRejected *prometheus.Desc
}

// NewCollector returns a collector of src's snapshots, every series
// labelled node=node (the local node's name); version goes into
// tether_build_info. (The label is in the descs, not added by wrapping the
// registerer: a wrapping registerer builds a new desc per metric per
// scrape, a fifth of a scrape's cost.)
func NewCollector(src Source, version, node string) *Collector {
	constLabels := prometheus.Labels{"node": node}
	var all []*prometheus.Desc
	d := func(name, help string, labels ...string) *prometheus.Desc {
		desc := prometheus.NewDesc(name, help, labels, constLabels)
		all = append(all, desc)
		return desc
	}
	link, linkCh := []string{"peer", "network"}, []string{"peer", "network", "channel"}
	tcpConn := []string{"peer", "network", "direction"}
	netCh := []string{"network", "channel"}
	topic := []string{"resource", "topic"}
	c := &Collector{src: src, version: version, reasons: linkReasons(), d: descs{
		linkUp:          d(LinkUp, "1 when the link to the peer on the network is usable (UP or TROUBLE).", link...),
		linkState:       d(LinkState, "The link's state: 1 for the current one of UP, TROUBLE, DOWN.", append(link, "state")...),
		linkReason:      d(LinkReason, "The link's primary reason (none when healthy): 1 for the current one.", append(link, "reason")...),
		linkRTT:         d(LinkRTT, "Heartbeat round-trip times on the channel.", linkCh...),
		linkSent:        d(LinkSent, "Heartbeats sent to the peer on the channel.", linkCh...),
		linkReceived:    d(LinkReceived, "Heartbeats accepted from the peer on the channel.", linkCh...),
		linkLost:        d(LinkLost, "Heartbeats of the peer lost on the channel (gaps in its sequence numbers).", linkCh...),
		linkLoss:        d(LinkLoss, "Loss over the loss window: rx the peer's frames we missed, tx ours it missed.", append(link, "direction")...),
		linkTransitions: d(LinkTransitions, "Changes of the link's state.", link...),
		linkFlaps:       d(LinkFlaps, "Downs of the link that count towards flap damping.", link...),
		nodeState:       d(NodeState, "The peer's state: 1 for the current one.", "peer", "state"),
		nodeLinksUp:     d(NodeLinksUp, "Usable links to the peer.", "peer"),
		nodeLinks:       d(NodeLinks, "Configured links to the peer.", "peer"),
		nodeRestarts:    d(NodeRestarts, "Restarts of the peer's agent seen.", "peer"),
		nodePublic:      d(NodePublicAlive, "1 when the peer is alive on the public channel.", "peer"),
		localState:      d(LocalState, "The local node's own state from its NICs: 1 for the current one.", "state"),
		netCarrier:      d(NetCarrier, "1 when the network's NIC is up and running.", "network"),
		netMTU:          d(NetMTU, "The network interface's MTU.", "network"),
		netReason:       d(NetReason, "1 for each network-wide reason in force on the network.", "network", "reason"),
		netAuth:         d(NetAuthFailures, "Frames and TCP handshakes on the network that failed authentication.", "network"),
		netDecode:       d(NetDecodeErrors, "Frames dropped as undecodable (truncated, bad magic or version, malformed).", netCh...),
		netForeign:      d(NetForeignFrames, "Frames of another cluster seen on the network.", "network"),
		netDropped:      d(NetDropped, "Frames dropped, by cause.", append(netCh, "cause")...),
		netRx:           d(NetRxFrames, "Frames that reached the decoder.", netCh...),
		netTx:           d(NetTxFrames, "Frames sent.", netCh...),
		netTxErr:        d(NetTxErrors, "Send failures (tolerated).", netCh...),
		tcpUp:           d(TCPConnUp, "1 when the TCP connection is connected and authenticated (to: we dial, from: the peer dials).", tcpConn...),
		tcpBuf:          d(TCPSendBuf, "Bytes queued to send on the TCP connection.", tcpConn...),
		tcpLimit:        d(TCPSendBufLimit, "The TCP connection's send queue limit.", tcpConn...),
		buildInfo:       d(BuildInfo, "Always 1: the agent's version.", "version", "goversion"),
		startTime:       d(AgentStartTime, "When the agent started, in seconds since the Unix epoch."),
		claiming:        d(AgentClaiming, "1 during the start-up claim phase (no heartbeats yet)."),
		pauses:          d(AgentPauses, "Times the agent did not run for longer than half the margin between heartbeat and peertrouble."),
		pauseLast:       d(AgentPauseLast, "Length of the agent's last pause."),
		schedDelay:      d(AgentScheduleDelay, "How late the engine's timer ran past its deadline."),
		messages:        d(Messages, "Message API traffic by result.", "result"),
		logDropped:      d(LogDropped, "Log records dropped because the log output did not keep up."),
		resRole:         d(ResourceRole, "This node's role for the resource, 1 for the current one of primary, mirror, stopped, diverged; peer is the other node of the pair.", "resource", "peer", "role"),
		resEpoch:        d(ResourceEpoch, "The resource's epoch as this node knows it (bumped by every promotion).", "resource"),
		topicState:      d(MirrorTopicState, "The topic's state on this node: 1 for the current one.", "resource", "topic", "state"),
		lagRecords:      d(MirrorLagRecords, "Records behind: on a mirror the primary's high watermark (last seen) minus the log end; on the primary the records the mirror has not confirmed.", topic...),
		lagSeconds:      d(MirrorLagSeconds, "On a mirror, the age of the oldest record not mirrored yet (0 when none).", topic...),
		sinceFetch:      d(MirrorSinceFetch, "On a mirror, the time since the last fetch answered; absent before the first and on the primary.", topic...),
		logEnd:          d(MirrorLogEnd, "The topic's durable log end offset on this node.", topic...),
		sourceHW:        d(MirrorSourceHW, "On a mirror, the primary's high watermark as last fetched; on the primary, its own log end.", topic...),
		confirmed:       d(MirrorConfirmed, "On the primary, the offset up to which the mirror confirmed it has the topic's records.", topic...),
		mirRecords:      d(MirrorRecords, "Records the mirror fetched and appended.", topic...),
		mirBytes:        d(MirrorBytes, "Bytes of record batches the mirror fetched and appended.", topic...),
		mirFetches:      d(MirrorFetches, "The mirror's fetches the primary answered and that were applied.", topic...),
		mirFetchErrors:  d(MirrorFetchErrors, "The mirror's fetches that failed: transport, decode and primary errors.", topic...),
		foRole:          d(FailoverRole, "This node's copy of the resource as the failover supervisor sees it, 1 for the current one of primary, mirror, stopped, diverged, none (no copy: a witness, a third node).", "resource", "role"),
		foEpoch:         d(FailoverEpoch, "The highest epoch of the resource this node knows.", "resource"),
		foAuto:          d(FailoverAuto, "1 when automatic failover is configured for the resource (failover.auto).", "resource"),
		foPossible:      d(FailoverQuorumPossible, "1 when a majority can exist: three voters or more (a two-node cluster needs a witness or quorum.etcd).", "resource"),
		foQuorum:        d(FailoverQuorum, "1 when this node counted a majority in its last count (the primary's lease, or the mirror's confirmations that the primary is gone).", "resource"),
		foVotes:         d(FailoverVotes, "The votes of this node's last count, itself included.", "resource"),
		foVoters:        d(FailoverVoters, "The voters of the cluster: nodes and witnesses.", "resource"),
		foFenced:        d(FailoverFenced, "1 when this node is the resource's primary and holds no lease: it refuses writes.", "resource"),
		foLease:         d(FailoverLease, "The lease left to this node as the resource's primary (0 otherwise).", "resource"),
		foDecision:      d(FailoverDecision, "The mirror's last failover decision, 1 for its reason; all 0 on a node that is not the mirror.", "resource", "reason"),
		foAlert:         d(FailoverAlert, "1 when the mirror's last decision is one the operator must know about (partition, one-way loss, flapping, no quorum, lag, epoch changed).", "resource"),
		foTotal:         d(Failovers, "Automatic failovers of the resource made by this node since it started.", "resource"),
		foLast:          d(FailoverLast, "When this node last failed the resource over automatically, in seconds since the Unix epoch (0: never since start).", "resource"),
		foRejected:      d(FailoverViewsRejected, "Peers' failover views rejected: they did not decode or came from a node that is not a peer."),
	}}
	c.all = all
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.all {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot, then const
// metrics. A snapshot that fails (the engine did not answer) fails the
// scrape, so the target shows down.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	s, err := c.src(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.d.linkUp, err)
		return
	}
	e := emitter{ch, &c.pairs}
	c.agent(e, s)
	c.nodes(e, s)
	c.networks(e, s)
	c.connections(e, s)
	c.mirrors(e, s)
	c.failover(e, s)
}

// emitter sends const metrics; label values are never wrong in number
// (the descs are built above), so Must is safe.
type emitter struct {
	ch    chan<- prometheus.Metric
	pairs *pairCache
}

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- &constSeries{desc: d, pairs: e.pairs.get(d, labels), value: v}
}

func (e emitter) counter(d *prometheus.Desc, v uint64, labels ...string) {
	e.ch <- &constSeries{desc: d, pairs: e.pairs.get(d, labels), counter: true, value: float64(v)}
}

func (e emitter) histogram(d *prometheus.Desc, h Histogram, labels ...string) {
	n, buckets := h.cumulative()
	e.ch <- prometheus.MustNewConstHistogram(d, n, h.Sum, buckets, labels...)
}

// stateSet emits every value of a state set, 1 for cur.
func (e emitter) stateSet(d *prometheus.Desc, values []string, cur string, labels ...string) {
	for _, v := range values {
		e.gauge(d, b2f(v == cur), append(labels, v)...)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *Collector) agent(e emitter, s *Snapshot) {
	st := s.Status
	e.gauge(c.d.buildInfo, 1, c.version, runtime.Version())
	e.gauge(c.d.startTime, float64(st.StartedAt.UnixNano())/1e9)
	e.gauge(c.d.claiming, b2f(st.Claiming))
	e.counter(c.d.pauses, st.Counters.Pauses.Count)
	e.gauge(c.d.pauseLast, st.Counters.Pauses.LastMs/1000)
	e.histogram(c.d.schedDelay, s.ScheduleDelay)
	m := st.Counters.Messages
	for _, r := range []struct {
		name string
		n    uint64
	}{{"sent", m.Sent}, {"received", m.Received}, {"busy", m.Busy}, {"no_route", m.NoRoute},
		{"too_large", m.TooLarge}, {"echo_shed", m.EchoShed}, {"unrouted", m.Unrouted}} {
		e.counter(c.d.messages, r.n, r.name)
	}
	e.counter(c.d.logDropped, st.Counters.LogDropped)
}

func (c *Collector) nodes(e emitter, s *Snapshot) {
	for _, n := range s.Status.Nodes {
		if n.Local {
			e.stateSet(c.d.localState, localStates, n.State)
			continue
		}
		e.stateSet(c.d.nodeState, nodeStates, n.State, n.Name)
		e.gauge(c.d.nodeLinksUp, float64(n.LinksUp), n.Name)
		e.gauge(c.d.nodeLinks, float64(len(n.Links)), n.Name)
		e.counter(c.d.nodeRestarts, n.Restarts, n.Name)
		if s.PublicAlive != nil {
			e.gauge(c.d.nodePublic, b2f(s.PublicAlive[n.ID]), n.Name)
		}
		for _, l := range n.Links {
			c.link(e, s, n, l)
		}
	}
}

func (c *Collector) link(e emitter, s *Snapshot, n status.Node, l status.Link) {
	lv := []string{n.Name, l.Network}
	e.gauge(c.d.linkUp, b2f(l.State != status.LinkDown), lv...)
	e.stateSet(c.d.linkState, linkStates, l.State, lv...)
	reason := l.Reason
	if reason == "" {
		reason = reasonNone
	}
	e.stateSet(c.d.linkReason, c.reasons, reason, lv...)
	for _, x := range []struct {
		dir string
		pct int
	}{{"rx", l.RxLossPct}, {"tx", l.TxLossPct}} {
		if x.pct >= 0 {
			e.gauge(c.d.linkLoss, float64(x.pct)/100, n.Name, l.Network, x.dir)
		}
	}
	e.counter(c.d.linkTransitions, l.Transitions, lv...)
	e.counter(c.d.linkFlaps, l.FlapDowns, lv...)
	for _, ch := range s.Channels[LinkKey{n.ID, l.Network}] {
		cv := []string{n.Name, l.Network, ch.Name}
		e.histogram(c.d.linkRTT, ch.RTT, cv...)
		e.counter(c.d.linkSent, ch.Sent, cv...)
		e.counter(c.d.linkReceived, ch.Received, cv...)
		e.counter(c.d.linkLost, ch.Lost, cv...)
	}
}

func (c *Collector) networks(e emitter, s *Snapshot) {
	st := s.Status
	foreign := map[string]uint64{}
	for _, nc := range st.Counters.Networks {
		var decode uint64
		for _, cause := range decodeCauses {
			decode += nc.Dropped[cause]
		}
		foreign[nc.Network] += nc.Dropped[llt.ReasonForeignCluster.String()]
		cv := []string{nc.Network, nc.Channel}
		e.counter(c.d.netDecode, decode, cv...)
		// Only the causes seen: of the two dozen a channel has, most never
		// happen, and a scrape costs per series. The causes are a fixed
		// list (links.Counters), never a value from the wire.
		for cause, n := range nc.Dropped {
			e.counter(c.d.netDropped, n, nc.Network, nc.Channel, cause)
		}
		e.counter(c.d.netRx, nc.RxFrames, cv...)
		e.counter(c.d.netTx, nc.TxFrames, cv...)
		e.counter(c.d.netTxErr, nc.TxErrors, cv...)
	}
	for _, n := range st.Networks {
		e.gauge(c.d.netCarrier, b2f(n.Carrier), n.Name)
		e.gauge(c.d.netMTU, float64(n.MTU), n.Name)
		in := map[string]bool{}
		for _, r := range n.Reasons {
			in[r.Reason] = true
		}
		for _, r := range netReasons {
			e.gauge(c.d.netReason, b2f(in[r]), n.Name, r)
		}
		var auth uint64
		if n.AuthFailures != nil {
			auth = n.AuthFailures.Count
		}
		e.counter(c.d.netAuth, auth, n.Name)
		e.counter(c.d.netForeign, foreign[n.Name], n.Name)
	}
}

func (c *Collector) connections(e emitter, s *Snapshot) {
	for _, k := range s.Status.Connections {
		lv := []string{k.PeerName, k.Network, k.Direction}
		e.gauge(c.d.tcpUp, b2f(k.State == status.LinkUp), lv...)
		e.gauge(c.d.tcpBuf, float64(k.SendBufferUsed), lv...)
		e.gauge(c.d.tcpLimit, float64(k.SendBufferAllocated), lv...)
	}
}

// mirrors exports the builtin resources: per resource its role (a state
// set labelled with the other node, for joins with tether_node_state)
// and epoch; per topic its state set, lag, offsets and the fetcher's
// counters. The counters are 0 on the primary, and start again from 0
// when this node starts mirroring anew (a promote, reverse-and-start):
// a counter reset to Prometheus.
func (c *Collector) mirrors(e emitter, s *Snapshot) {
	for _, m := range s.Status.Mirrors {
		e.stateSet(c.d.resRole, resourceRoles, m.Role, m.Resource, m.Peer)
		e.gauge(c.d.resEpoch, float64(m.Epoch), m.Resource)
		for _, t := range m.Topics {
			lv := []string{m.Resource, t.Topic}
			e.stateSet(c.d.topicState, topicStates, t.State, lv...)
			e.gauge(c.d.lagRecords, float64(t.LagRecords), lv...)
			e.gauge(c.d.lagSeconds, float64(max(t.LagMs, 0))/1000, lv...)
			if t.SinceLastFetchMs >= 0 {
				e.gauge(c.d.sinceFetch, float64(t.SinceLastFetchMs)/1000, lv...)
			}
			e.gauge(c.d.logEnd, float64(t.LogEndOffset), lv...)
			e.gauge(c.d.sourceHW, float64(t.HighWatermark), lv...)
			if m.Role == status.RolePrimary {
				e.gauge(c.d.confirmed, float64(t.MirrorConfirmed), lv...)
			}
			e.counter(c.d.mirRecords, t.Records, lv...)
			e.counter(c.d.mirBytes, t.Bytes, lv...)
			e.counter(c.d.mirFetches, t.Fetches, lv...)
			e.counter(c.d.mirFetchErrors, t.FetchErrors, lv...)
		}
	}
}

// failover exports the supervisor's state of every resource of the
// cluster (on every node, witnesses included): this node's copy, epoch,
// quorum, lease and, on the mirror, its last decision; and the views it
// rejected. Nothing without a supervisor.
func (c *Collector) failover(e emitter, s *Snapshot) {
	if s.Supervisor == nil {
		return
	}
	e.counter(c.d.foRejected, s.Supervisor.ViewsRejected)
	for _, f := range s.Status.Failover {
		r := f.Resource
		e.stateSet(c.d.foRole, failoverRoles, f.Role, r)
		e.gauge(c.d.foEpoch, float64(f.Epoch), r)
		e.gauge(c.d.foAuto, b2f(f.Auto), r)
		e.gauge(c.d.foPossible, b2f(f.QuorumPossible), r)
		e.gauge(c.d.foQuorum, b2f(f.Quorum), r)
		e.gauge(c.d.foVotes, float64(f.Votes), r)
		e.gauge(c.d.foVoters, float64(f.Voters), r)
		primary := f.Role == status.RolePrimary
		e.gauge(c.d.foFenced, b2f(primary && f.Fenced), r)
		lease := 0.0
		if primary {
			lease = max(f.LeaseLeft, 0)
		}
		e.gauge(c.d.foLease, lease, r)
		mirror := f.Role == status.RoleMirror
		reason := ""
		if mirror {
			reason = f.Reason
		}
		e.stateSet(c.d.foDecision, failover.Reasons, reason, r)
		e.gauge(c.d.foAlert, b2f(mirror && f.Alert), r)
		e.counter(c.d.foTotal, f.Failovers, r)
		last := 0.0
		if !f.LastAt.IsZero() {
			last = float64(f.LastAt.UnixNano()) / 1e9
		}
		e.gauge(c.d.foLast, last, r)
	}
}
