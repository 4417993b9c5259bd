// Package grafana builds tether's Grafana dashboard (tether.json) from the
// metrics of docs/METRICS.md with the Grafana Foundation SDK, so that the
// committed JSON is generated, never hand-edited: `go run ./contrib/grafana/gen`
// rewrites it, and the package's test fails when the two differ.
package grafana

// The classic (v1) dashboard model is deprecated in the SDK in favour of
// dashboardv2, which needs the v2 dashboard API of Grafana 12; v1 JSON imports
// into every Grafana.
//lint:file-ignore SA1019 v1 dashboards on purpose, see above

//go:generate go run ./gen

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID and Title identify the dashboard; a stable uid keeps links to it
// (and provisioning that replaces it) working across regenerations.
const (
	UID   = "tether"
	Title = "tether interconnect"
)

// State is one value of a state-set metric and how the dashboard shows it.
// A state set has one series per state (1 for the current one), which a
// state timeline cannot draw; the queries fold it into one series per
// link or peer whose value is the state's index in these lists, and value
// mappings turn the index back into the name and a colour.
type State struct {
	Name  string
	Color string
}

// The state sets of docs/METRICS.md, from good to bad, so that a higher
// code is worse and "sort descending" puts the broken ones first.
var (
	LinkStates = []State{{"UP", "green"}, {"TROUBLE", "orange"}, {"DOWN", "red"}}
	NodeStates = []State{
		{"OPEN", "green"}, {"CONNWAIT", "blue"}, {"JEOPARDY", "orange"},
		{"PARTITIONED", "purple"}, {"DOWN", "red"},
	}
	LocalStates = []State{{"OPEN", "green"}, {"JEOPARDY", "orange"}, {"DOWN", "red"}}
	// MirrorStates are a mirror topic's states (docs/METRICS.md).
	MirrorStates = []State{
		{"PRIMARY", "green"}, {"ACTIVE", "green"}, {"PENDING_STOPPED", "blue"}, {"STOPPED", "blue"},
		{"PAUSED", "yellow"}, {"SOURCE_UNAVAILABLE", "orange"}, {"FAILED", "red"}, {"DIVERGED", "red"},
	}
	// FailoverRoles are a copy's roles as the failover supervisor reports
	// them (label role; none: no copy, a witness).
	FailoverRoles = []State{{"primary", "green"}, {"mirror", "blue"}, {"none", "text"}, {"stopped", "yellow"}, {"diverged", "red"}}
	// FailoverDecisions are the mirror's decision reasons (label reason):
	// nothing to do, waiting, then the refusals the operator must know
	// about (orange, red for a split-brain risk), and the failover.
	FailoverDecisions = []State{
		{"primary-up", "green"}, {"not-mirror", "text"}, {"auto-off", "text"}, {"primary-never-seen", "blue"},
		{"within-grace", "yellow"}, {"not-fenced", "yellow"}, {"primary-jeopardy", "orange"}, {"one-way", "orange"},
		{"flapping", "orange"}, {"no-quorum-possible", "orange"}, {"no-quorum", "orange"}, {"mirror-unusable", "orange"},
		{"lag-stale", "orange"}, {"lag-above-max", "orange"}, {"primary-partitioned", "red"}, {"epoch-changed", "red"},
		{"primary-dead", "purple"}, {"primary-resigned", "purple"},
	}
)

// Label selectors by what the metric is labelled with: Grafana expands a
// multi-value or All variable to a regex, hence =~ everywhere.
const (
	selNode = `node=~"$node"`
	selPeer = `node=~"$node", peer=~"$peer"`
	selNet  = `node=~"$node", network=~"$network"`
	selLink = `node=~"$node", peer=~"$peer", network=~"$network"`
)

// Legends name a link from the reporting node's side: both ends report
// the same link, and a one-way fault shows as the two disagreeing.
const (
	legendLink    = "{{node}} → {{peer}} {{network}}"
	legendChannel = "{{node}} → {{peer}} {{network}}/{{channel}}"
)

// Dashboard builds the dashboard.
func Dashboard() (dashboard.Dashboard, error) {
	b := &board{DashboardBuilder: dashboard.NewDashboardBuilder(Title).
		Uid(UID).
		Description("Heartbeat links, node states and agent health of tether clusters, from tetherd's Prometheus metrics (docs/METRICS.md).").
		Tags([]string{"tether", "cluster", "heartbeat"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Time("now-3h", "now").
		Refresh("30s").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Description("The Prometheus that scrapes tetherd.").
			Type("prometheus")).
		Annotation(dashboard.NewAnnotationQueryBuilder().
			Name("tetherd starts").
			Datasource(datasource()).
			Enable(true).
			IconColor("blue").
			// The start time changes when an agent (re)starts: peers
			// then see CONNWAIT → OPEN, which is not a fault.
			Expr(`changes(tether_agent_start_time_seconds{` + selNode + `}[2m]) > 0`).
			Step("1m").
			TitleFormat("tetherd started on {{node}}").
			TagKeys("node")).
		WithVariable(labelVariable("node", "label_values(tether_link_up, node)",
			"The node whose view is shown: every tether_ series carries the reporting node's name.")).
		WithVariable(labelVariable("peer", `label_values(tether_link_up{node=~"$node"}, peer)`,
			"The peer at the other end of a link, as the reporting node names it.")).
		WithVariable(labelVariable("network", `label_values(tether_network_carrier{node=~"$node"}, network)`,
			"The heartbeat network, by its configured name."))}

	b.row("Now")
	b.add(statPanel("Links not UP",
		"How many links (node → peer on one network, counted from each end) are TROUBLE or DOWN right now. 0 is healthy. "+
			"Anything else: read the link matrix and the reasons table below, or run `tetherstat -m` on any node.",
		`count(tether_link_state{state!="UP", `+selLink+`} == 1) or vector(0)`, 1))
	b.add(statPanel("Peers not OPEN",
		"How many (node, peer) pairs are not OPEN: JEOPARDY means one more fault cuts the peer off, DOWN means it is lost. "+
			"0 is healthy. A peer that every node reports DOWN is itself down or cut off.",
		`count(tether_node_state{state!="OPEN", `+selPeer+`} == 1) or vector(0)`, 1))
	b.add(statPanel("Nodes short of working NICs",
		"How many nodes say their own NICs are not enough (local state JEOPARDY or DOWN): a cable, NIC or switch port on that node. "+
			"0 is healthy; see the local state panel for which.",
		`count(tether_local_state{state!="OPEN", `+selNode+`} == 1) or vector(0)`, 1))
	b.add(statPanel("Agents reporting",
		"How many tetherd agents Prometheus scrapes now. A node missing here has no metrics at all, so every other panel is silent about it: "+
			"check the agent (systemctl status tetherd) and the scrape target. Its peers still report it DOWN.",
		`count(tether_build_info{`+selNode+`}) or vector(0)`, -1).
		Thresholds(thresholds([]float64{0, 1}, []string{"red", "red", "green"})))
	b.add(statPanel("Flaps in the time range",
		"Link downs that counted towards flap damping over the dashboard's time range (a peer stopping or restarting is not a flap). "+
			"More than a few: a link is bouncing; see the flaps panel for which.",
		`sum(increase(tether_link_flaps_total{`+selLink+`}[$__range])) or vector(0)`, 1))
	b.add(statPanel("Agent pauses in the time range",
		"Times an agent did not run for longer than half its margin between heartbeat and peer trouble, over the time range. "+
			"Pauses make peers see false heartbeat loss: look for CPU starvation, swapping or a frozen VM on that node.",
		`sum(increase(tether_agent_pauses_total{`+selNode+`}[$__range])) or vector(0)`, 1))

	b.row("Links")
	b.add(linkMatrix())
	b.add(tablePanel("Why links are not healthy",
		"The one primary reason of every link that is not healthy, from the reporting node's side: carrier-lost (our cable or port), "+
			"peer-silent (nothing from the peer), one-way-out/-in (only one direction works), cross-connected (cables swapped), "+
			"shared-segment (two networks on one switch/VLAN), tcp-blocked, lossy, flapping, auth-failure, peer-stopped, nic-silent, … "+
			"README.md's reason table says where to look. Empty means every link is healthy.",
		`max by (node, peer, network, reason) (tether_link_reason{reason!="none", `+selLink+`} == 1)`,
		[]string{"node", "peer", "network", "reason"}).
		Span(12).Height(10))
	b.add(stateTimeline("Link state history",
		"Every link's state over time, one row per node → peer on a network: green UP, orange TROUBLE (usable, but heartbeats are late or lost), red DOWN. "+
			"A row that turns red on one node only is a one-way fault; a network red on every row is a switch or VLAN.",
		stateCode("tether_link_state", selLink, "node, peer, network", LinkStates), legendLink, LinkStates).
		Span(24).Height(10))

	b.row("Nodes")
	b.add(stateTimeline("Peer state, as each node sees it",
		"Each node's verdict on each peer: OPEN (enough links), CONNWAIT (never heard since this agent started), "+
			"JEOPARDY (a single private link left: restore redundancy now), PARTITIONED (all private links lost but alive on the public channel), "+
			"DOWN (heard before, every link lost). A peer DOWN on all nodes is down itself; DOWN on one node only is that node's problem.",
		stateCode("tether_node_state", selPeer, "node, peer", NodeStates), "{{node}} → {{peer}}", NodeStates).
		Span(12).Height(9))
	b.add(tablePanel("Network-wide problems",
		"Problems a node finds with a whole network rather than one link: nic-silent (our NIC passes nothing), shared-segment "+
			"(two networks are one broadcast domain: the redundancy is not real), foreign-cluster, auth-failure (wrong key), "+
			"duplicate-node-id, carrier-lost. Empty means none. Details: `tetherstat -l` on that node.",
		`max by (node, network, reason) (tether_network_reason{`+selNet+`} == 1)`,
		[]string{"node", "network", "reason"}).
		Span(12).Height(9))
	b.add(stateTimeline("Local node state (own NICs)",
		"What each node's own NICs allow: OPEN (enough working private networks), JEOPARDY (fewer), DOWN (none: the node is cut off). "+
			"Not OPEN: check carrier and network-wide problems for that node.",
		stateCode("tether_local_state", selNode, "node", LocalStates), "{{node}}", LocalStates).
		Span(8).Height(8))
	b.add(stateTimeline("NIC carrier",
		"Whether each node's NIC on each heartbeat network is up and running. No carrier: cable, switch port or NIC of that node.",
		`max by (node, network) (tether_network_carrier{`+selNet+`})`, "{{node}} {{network}}",
		[]State{{"no carrier", "red"}, {"carrier", "green"}}).
		Span(8).Height(8))
	b.add(timeseriesPanel("Usable links per peer",
		"Links per peer that are UP or TROUBLE (solid) against the links configured (dashed). Below configured means lost redundancy; "+
			"one usable link is JEOPARDY.",
		"short",
		query(`tether_node_links_up{`+selPeer+`}`, "{{node}} → {{peer}} usable"),
		query(`tether_node_links{`+selPeer+`}`, "{{node}} → {{peer}} configured")).
		Decimals(0).
		OverrideByRegexp(".* configured$", []dashboard.DynamicConfigValue{
			{Id: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}},
		}).
		Span(8).Height(8))

	b.row("Latency")
	b.add(rttHeatmap())
	b.add(timeseriesPanel("Heartbeat RTT p99 per link",
		"99th percentile heartbeat round-trip time per link and channel (ether or tcp). A link whose RTT climbs towards the heartbeat "+
			"timeout turns TROUBLE. A flat line at 0.5 s means beyond the histogram's last bucket (500 ms).",
		"s",
		query(`histogram_quantile(0.99, sum by (node, peer, network, channel, le) (rate(tether_link_rtt_seconds_bucket{`+selLink+`}[$__rate_interval])))`, legendChannel)).
		Span(12).Height(9))

	b.row("Loss and stability")
	b.add(timeseriesPanel("Heartbeat loss ratio",
		"Share of heartbeats lost over the loss window, rx (the peer's frames we missed) and tx (ours the peer missed, from its report). "+
			"Loss on one network only points at that path; rx loss on one node only at its NIC or cable. Gaps: not known yet.",
		"percentunit",
		query(`tether_link_loss_ratio{`+selLink+`}`, legendLink+" {{direction}}")).
		Min(0).Max(1).
		Span(12).Height(8))
	b.add(timeseriesPanel("Heartbeats lost",
		"Heartbeats missing from the peer's sequence numbers, per second, per link and channel. Short bursts with agent pauses are the "+
			"agent, not the network.",
		"short",
		query(`sum by (node, peer, network, channel) (rate(tether_link_heartbeats_lost_total{`+selLink+`}[$__rate_interval]))`, legendChannel)).
		AxisLabel("heartbeats/s").Min(0).
		Span(12).Height(8))
	b.add(barsPanel("Link state transitions",
		"Changes of link state (UP, TROUBLE, DOWN) per link. Steady bars: a link going in and out of TROUBLE, usually loss or latency on that path.",
		`sum by (node, peer, network) (increase(tether_link_transitions_total{`+selLink+`}[$__rate_interval]))`, legendLink).
		Span(12).Height(8))
	b.add(barsPanel("Link flaps",
		"Link downs that count towards flap damping (a peer's stop or restart does not). A flapping link is damped (reason flapping) "+
			"until it stays up: look at its cable, port and the loss panel.",
		`sum by (node, peer, network) (increase(tether_link_flaps_total{`+selLink+`}[$__rate_interval]))`, legendLink).
		Span(12).Height(8))

	b.row("Agent")
	b.add(barsPanel("Agent pauses",
		"Times tetherd did not run for longer than half the margin between heartbeat and peer trouble. Peers then see heartbeats late "+
			"or lost without any network fault: CPU starvation, swapping, a VM paused or migrated, a stuck disk write.",
		`sum by (node) (increase(tether_agent_pauses_total{`+selNode+`}[$__rate_interval]))`, "{{node}}").
		Span(8).Height(8))
	b.add(timeseriesPanel("Last agent pause",
		"Length of each agent's most recent pause (0 before any). Compare with the heartbeat timeout: a pause near it makes peers declare links down.",
		"s",
		query(`tether_agent_pause_last_seconds{`+selNode+`}`, "{{node}}")).
		Min(0).
		Span(8).Height(8))
	b.add(timeseriesPanel("Timer scheduling delay",
		"How late the agent's engine timer ran past its deadline, p50 and p99. Rising delay precedes pauses: the node is overloaded.",
		"s",
		query(`histogram_quantile(0.99, sum by (node, le) (rate(tether_agent_schedule_delay_seconds_bucket{`+selNode+`}[$__rate_interval])))`, "{{node}} p99"),
		query(`histogram_quantile(0.5, sum by (node, le) (rate(tether_agent_schedule_delay_seconds_bucket{`+selNode+`}[$__rate_interval])))`, "{{node}} p50")).
		Min(0).
		Span(8).Height(8))

	b.row("Networks and TCP")
	b.add(timeseriesPanel("Rejected frames per network",
		"Frames a node threw away, per second: auth failures (wrong or missing cluster key, also TCP handshakes), decode errors "+
			"(truncated or malformed frames, per channel) and frames of another cluster on our network. Any of these on a heartbeat "+
			"network means something else is on it or the keys differ.",
		"short",
		query(`sum by (node, network) (rate(tether_network_auth_failures_total{`+selNet+`}[$__rate_interval]))`, "{{node}} {{network}} auth failures"),
		query(`sum by (node, network, channel) (rate(tether_network_decode_errors_total{`+selNet+`}[$__rate_interval]))`, "{{node}} {{network}}/{{channel}} decode errors"),
		query(`sum by (node, network) (rate(tether_network_foreign_frames_total{`+selNet+`}[$__rate_interval]))`, "{{node}} {{network}} foreign frames")).
		AxisLabel("frames/s").Min(0).
		Span(12).Height(8))
	b.add(timeseriesPanel("Dropped frames by cause",
		"Every dropped frame per second by cause (the list of `tetherstat`). Helps when the rejected-frames panel is quiet but heartbeats are still lost.",
		"short",
		query(`sum by (node, network, cause) (rate(tether_network_frames_dropped_total{`+selNet+`}[$__rate_interval]))`, "{{node}} {{network}} {{cause}}")).
		AxisLabel("frames/s").Min(0).
		Span(12).Height(8))
	b.add(timeseriesPanel("TCP send buffer",
		"Bytes queued to send per TCP connection (direction to: we dialled, from: the peer did). A queue that grows and does not drain: "+
			"the peer or the path is not reading; at the limit the connection is dropped (sendbuf-limit).",
		"bytes",
		query(`tether_tcp_send_buffer_bytes{`+selLink+`}`, legendLink+" {{direction}}")).
		Min(0).
		Span(12).Height(8))
	b.add(timeseriesPanel("TCP send buffer fill",
		"Queued bytes as a share of the queue's limit per TCP connection. Near 100% the connection is about to be dropped.",
		"percentunit",
		query(`tether_tcp_send_buffer_bytes{`+selLink+`} / tether_tcp_send_buffer_limit_bytes{`+selLink+`}`, legendLink+" {{direction}}")).
		Min(0).Max(1).
		Thresholds(thresholds([]float64{0.8}, []string{"green", "red"})).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
		Span(12).Height(8))
	b.add(stateTimeline("TCP connections",
		"Whether each TCP heartbeat connection is connected and authenticated, per direction (to: we dial, from: the peer dials). "+
			"Down with the ether channel up: a firewall or the TCP port; `tetherstat -L` shows the last error.",
		`max by (node, peer, network, direction) (tether_tcp_connection_up{`+selLink+`})`, legendLink+" {{direction}}",
		[]State{{"down", "red"}, {"connected", "green"}}).
		Span(24).Height(8))

	b.row("Mirrors")
	b.add(stateTimeline("Mirror topic states",
		"Each topic of each resource on each node: PRIMARY where it is written, ACTIVE where it is mirrored and fetching; "+
			"PAUSED by an operator, SOURCE_UNAVAILABLE (the primary does not answer), FAILED, DIVERGED (an operator must act: "+
			"`tetherctl mirror describe`).",
		stateCode("tether_mirror_topic_state", selNode, "node, resource, topic", MirrorStates), "{{node}} {{resource}}/{{topic}}",
		MirrorStates).
		Span(24).Height(8))
	b.add(timeseriesPanel("Mirror lag",
		"How far each mirror topic is behind its primary: the age of its oldest record not yet mirrored. A forced failover gives "+
			"this up (acks: local); TetherMirrorLagHigh fires above 30 s.",
		"s",
		query(`tether_mirror_lag_seconds{`+selNode+`}`, "{{node}} {{resource}}/{{topic}}")).
		Min(0).
		Span(12).Height(8))
	b.add(timeseriesPanel("Mirror throughput",
		"Bytes of record batches appended to mirror topics per second, per node and topic.",
		"Bps",
		query(`rate(tether_mirror_bytes_total{`+selNode+`}[$__rate_interval])`, "{{node}} {{resource}}/{{topic}}")).
		Min(0).
		Span(12).Height(8))

	b.row("Failover")
	b.add(stateTimeline("Failover role per node",
		"Each node's copy of each resource as its failover supervisor sees it: primary (takes writes while it holds its lease), "+
			"mirror, none (no copy: a witness or a third node), stopped (an old primary after a graceful promote), diverged "+
			"(an old primary after a failover: an operator restores it). A role that changes on two nodes at once is a failover or a promote.",
		stateCodeOf("tether_failover_role", "role", selNode, "node, resource", FailoverRoles), "{{node}} {{resource}}", FailoverRoles).
		Span(12).Height(8))
	b.add(stateTimeline("The mirror's decision",
		"The last failover decision of each resource's mirror: primary-up, within-grace (the primary DOWN, not for grace yet), "+
			"then the refusals an operator must know about (orange; TetherFailoverRefused), red for a split-brain risk "+
			"(primary-partitioned: alive on the public channel; epoch-changed: somebody else promoted), purple when it fails over "+
			"(primary-dead, or primary-resigned: its back end died under a live tetherd). `tetherctl failover status` on the mirror says why.",
		stateCodeOf("tether_failover_decision", "reason", selNode, "node, resource", FailoverDecisions), "{{node}} {{resource}}",
		FailoverDecisions).
		Span(12).Height(8))
	b.add(stateTimeline("Primary fenced or writable",
		"Each primary copy: writable (under a lease a majority of voters renews, or not supervised: automatic failover off) or "+
			"fenced (no lease: it refuses writes; TetherNoQuorum after a minute). A primary fenced while its mirror fails over is the design working.",
		`max by (node, resource) (1 - tether_failover_fenced{`+selNode+`} and on(node, resource) (tether_failover_role{role="primary", `+selNode+`} == 1))`,
		"{{node}} {{resource}}", []State{{"fenced", "red"}, {"writable", "green"}}).
		Span(12).Height(8))
	b.add(timeseriesPanel("Writable primaries per resource",
		"Primary copies that are not fenced, per resource, counted over the nodes: 1 is healthy, 0 means nobody takes writes, "+
			"more than 1 is a split brain (TetherSplitBrainRisk; a moment of 2 around a failover is scrape skew).",
		"short",
		query(`count by (resource) ((tether_failover_role{role="primary", `+selNode+`} == 1) unless on(node, resource) (tether_failover_fenced{`+selNode+`} == 1))`, "{{resource}}")).
		Decimals(0).Min(0).
		Thresholds(thresholds([]float64{0, 1, 2}, []string{"red", "red", "green", "red"})).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
		Span(12).Height(8))
	b.add(timeseriesPanel("Epoch",
		"The highest epoch of each resource each node knows: every promotion bumps it. Nodes that disagree for more than a "+
			"moment did not hear each other (a witness relays epochs).",
		"short",
		query(`tether_failover_epoch{`+selNode+`}`, "{{node}} {{resource}}")).
		Decimals(0).
		Span(8).Height(8))
	b.add(timeseriesPanel("Quorum votes",
		"The votes of each node's last count (solid: on the primary the voters renewing its lease, on the mirror those confirming "+
			"the primary gone, 0 while it is up) against the voters (dashed). A primary needs a majority to take writes; fewer than "+
			"three voters: no quorum is possible.",
		"short",
		query(`tether_failover_votes{`+selNode+`} and on(node, resource) (tether_failover_role{role=~"primary|mirror", `+selNode+`} == 1)`, "{{node}} {{resource}} votes"),
		query(`max by (resource) (tether_failover_voters{`+selNode+`})`, "{{resource}} voters")).
		Decimals(0).Min(0).
		OverrideByRegexp(".* voters$", []dashboard.DynamicConfigValue{
			{Id: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}},
		}).
		Span(8).Height(8))
	b.add(barsPanel("Failovers",
		"Automatic failovers, on the node that became the primary. Each one leaves the old primary diverged: restore it "+
			"(`tetherctl mirror truncate-and-restore`) once it is back.",
		`sum by (node, resource) (increase(tether_failovers_total{`+selNode+`}[$__rate_interval]))`, "{{node}} {{resource}}").
		Span(8).Height(8))

	if b.err != nil {
		return dashboard.Dashboard{}, b.err
	}
	return b.Build()
}

// JSON is the dashboard as committed in tether.json: indented, with a
// final newline. encoding/json sorts map keys, so the bytes are the same
// on every run.
func JSON() ([]byte, error) {
	d, err := Dashboard()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// board numbers panels as they are added: Grafana would otherwise assign
// ids on load, and links to a panel (viewPanel=N) would not be stable.
type board struct {
	*dashboard.DashboardBuilder
	id  uint32
	err error
}

func (b *board) next() uint32 {
	b.id++
	return b.id
}

func (b *board) row(title string) {
	b.WithRow(dashboard.NewRowBuilder(title).Id(b.next()))
}

// panelBuilder is what every panel builder of the SDK has in common.
type panelBuilder interface {
	cog.Builder[dashboard.Panel]
}

func (b *board) add(p panelBuilder) {
	built, err := p.Build()
	if err != nil {
		if b.err == nil {
			b.err = err
		}
		return
	}
	built.Id = cog.ToPtr(b.next())
	// Stable refIds: overrides and links refer to a query by them.
	for i, t := range built.Targets {
		if q, ok := t.(prometheus.Dataquery); ok && q.RefId == nil {
			q.RefId = cog.ToPtr(string(rune('A' + i)))
			built.Targets[i] = q
		}
	}
	b.WithPanel(built2builder{built})
}

// built2builder hands an already built panel (with its id set) back to
// the dashboard builder, which lays it out on the grid.
type built2builder struct{ p dashboard.Panel }

func (b built2builder) Build() (dashboard.Panel, error) { return b.p, nil }

func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

func labelVariable(name, query, description string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(name).
		Description(description).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Multi(true).
		IncludeAll(true).
		// .* rather than the list of values: a node or peer added after
		// the dashboard loaded still shows under All.
		AllValue(".*").
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
}

// stateCode folds a state set into one series per `by` group whose value
// is the current state's index in states.
func stateCode(metric, sel, by string, states []State) string {
	return stateCodeOf(metric, "state", sel, by, states)
}

// stateCodeOf is stateCode of a state set whose label is label.
func stateCodeOf(metric, label, sel, by string, states []State) string {
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = fmt.Sprintf("  %d * (%s{%s=%q, %s} == 1)", i, metric, label, s.Name, sel)
	}
	return "max by (" + by + ") (\n" + strings.Join(parts, "\nor\n") + "\n)"
}

// mappings shows state codes by name and colour.
func mappings(states []State) []dashboard.ValueMapping {
	opts := make(map[string]dashboard.ValueMappingResult, len(states))
	for i, s := range states {
		opts[fmt.Sprint(i)] = dashboard.ValueMappingResult{
			Text:  cog.ToPtr(s.Name),
			Color: cog.ToPtr(s.Color),
			Index: cog.ToPtr(int32(i)),
		}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}

// thresholds steps through colours: colors[0] from -Inf, colors[i+1] from
// at[i].
func thresholds(at []float64, colors []string) *dashboard.ThresholdsConfigBuilder {
	steps := []dashboard.Threshold{{Value: nil, Color: colors[0]}}
	for i, v := range at {
		steps = append(steps, dashboard.Threshold{Value: cog.ToPtr(v), Color: colors[i+1]})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		LegendFormat(legend).
		Range()
}

func instantTable(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		Format(prometheus.PromQueryFormatTable).
		Instant()
}

// statPanel shows one number; red from redAt (-1: the caller sets the
// thresholds).
func statPanel(title, description, expr string, redAt float64) *stat.PanelBuilder {
	p := stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		WithTarget(instantTable(expr).Format(prometheus.PromQueryFormatTimeSeries)).
		Decimals(0).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		TextMode(common.BigValueTextModeValue).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)).
		Span(4).Height(4)
	if redAt >= 0 {
		p.Thresholds(thresholds([]float64{redAt}, []string{"green", "red"}))
	}
	return p
}

// tablePanel lists the label sets of an instant query, one row per
// series; the value (always 1) and the time are hidden.
func tablePanel(title, description, expr string, columns []string) *table.PanelBuilder {
	index := map[string]any{}
	for i, c := range columns {
		index[c] = i
	}
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		WithTarget(instantTable(expr)).
		WithTransformation(dashboard.DataTransformerConfig{
			Id: "organize",
			Options: map[string]any{
				"excludeByName": map[string]any{"Time": true, "Value": true},
				"indexByName":   index,
			},
		}).
		Footer(footer()).
		SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName(columns[0]),
		}).
		NoValue("none")
}

// linkMatrix is the table to read first: one row per link as seen from
// each end, its state coloured, the broken ones on top.
func linkMatrix() *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title("Link matrix: every link now").
		Description("One row per link as each end sees it (node → peer on a network), worst first: green UP, orange TROUBLE "+
			"(usable but late or lossy heartbeats), red DOWN. Both ends DOWN: the path (cable, switch, VLAN); only one end DOWN: "+
			"a one-way fault at that end. The reasons table says why; `tetherstat -m` on any node shows the same matrix with suspects.").
		Datasource(datasource()).
		WithTarget(instantTable(stateCode("tether_link_state", selLink, "node, peer, network", LinkStates))).
		WithTransformation(dashboard.DataTransformerConfig{
			Id: "organize",
			Options: map[string]any{
				"excludeByName": map[string]any{"Time": true},
				"indexByName":   map[string]any{"node": 0, "peer": 1, "network": 2, "Value": 3},
				"renameByName":  map[string]any{"Value": "state"},
			},
		}).
		OverrideByName("state", []dashboard.DynamicConfigValue{
			{Id: "mappings", Value: mappings(LinkStates)},
			{Id: "custom.cellOptions", Value: map[string]any{"type": "color-background"}},
		}).
		Footer(footer()).
		SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName("state").Desc(true),
		}).
		NoValue("no links").
		Span(12).Height(10)
}

// footer is off; set in full because the SDK's default leaves its
// reducer null, which its own strict decoder rejects.
func footer() *common.TableFooterOptionsBuilder {
	return common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}).CountRows(false)
}

func stateTimeline(title, description, expr, legend string, states []State) *statetimeline.PanelBuilder {
	return statetimeline.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		WithTarget(query(expr, legend)).
		Mappings(mappings(states)).
		Thresholds(thresholds(nil, []string{"text"})).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		MergeValues(true).
		ShowValue(common.VisibilityModeAuto).
		RowHeight(0.8).
		FillOpacity(80).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(false).DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeSingle).Sort(common.SortOrderNone))
}

func timeseriesPanel(title, description, unit string, queries ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		LineWidth(1).
		FillOpacity(0).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementRight).
			Calcs([]string{"max", "lastNotNull"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	for _, q := range queries {
		p.WithTarget(q)
	}
	return p
}

// barsPanel draws counts per interval as bars: a transition or a pause is
// an event, not a level.
func barsPanel(title, description, expr, legend string) *timeseries.PanelBuilder {
	return timeseriesPanel(title, description, "short", query(expr, legend)).
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80).
		Decimals(0).
		Min(0).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

func rttHeatmap() *heatmap.PanelBuilder {
	return heatmap.NewPanelBuilder().
		Title("Heartbeat RTT distribution").
		Description("Round-trip times of all selected links' heartbeats (our frames echoed back), by histogram bucket (50 µs … 500 ms); " +
			"brighter is more heartbeats. A healthy interconnect is a tight band per channel (tcp runs slower than ether, so two bands " +
			"can be normal); a new band or a smear upwards is queueing or a slow path: narrow it down with the peer and network " +
			"selectors, or read the p99 panel, which has one line per link and channel.").
		Datasource(datasource()).
		WithTarget(prometheus.NewDataqueryBuilder().
			Datasource(datasource()).
			Expr(`sum by (le) (rate(tether_link_rtt_seconds_bucket{` + selLink + `}[$__rate_interval]))`).
			LegendFormat("{{le}}").
			Format(prometheus.PromQueryFormatHeatmap).
			Range()).
		Calculate(false).
		RowsFrame(heatmap.NewRowsHeatmapOptionsBuilder().Layout(common.HeatmapCellLayoutLe)).
		YAxis(heatmap.NewYAxisConfigBuilder().Unit("s")).
		CellValues(heatmap.NewCellValuesBuilder().Unit("short")).
		Color(heatmap.NewHeatmapColorOptionsBuilder().
			Mode(heatmap.HeatmapColorModeScheme).
			Scheme("Oranges").
			Fill("dark-orange").
			Scale(heatmap.HeatmapColorScaleExponential).
			Exponent(0.5).
			Steps(64)).
		Tooltip(heatmap.NewHeatmapTooltipBuilder().Mode(common.TooltipDisplayModeSingle).YHistogram(true).ShowColorScale(true)).
		Span(12).Height(9)
}
