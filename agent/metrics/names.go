// Package metrics exports the agent's state to Prometheus (docs/METRICS.md):
// a collector that turns one status snapshot into const metrics at every
// scrape, so a scrape costs one engine lock and nothing is updated on the
// heartbeat path.
package metrics

// Metric family names, as exported (histograms and counters by their
// family name: tether_link_rtt_seconds, not _bucket).
const (
	LinkUp             = "tether_link_up"
	LinkState          = "tether_link_state"
	LinkReason         = "tether_link_reason"
	LinkRTT            = "tether_link_rtt_seconds"
	LinkSent           = "tether_link_heartbeats_sent_total"
	LinkReceived       = "tether_link_heartbeats_received_total"
	LinkLost           = "tether_link_heartbeats_lost_total"
	LinkLoss           = "tether_link_loss_ratio"
	LinkTransitions    = "tether_link_transitions_total"
	LinkFlaps          = "tether_link_flaps_total"
	NodeState          = "tether_node_state"
	NodeLinksUp        = "tether_node_links_up"
	NodeLinks          = "tether_node_links"
	NodeRestarts       = "tether_node_restarts_total"
	NodePublicAlive    = "tether_node_public_alive"
	LocalState         = "tether_local_state"
	NetCarrier         = "tether_network_carrier"
	NetMTU             = "tether_network_mtu_bytes"
	NetReason          = "tether_network_reason"
	NetAuthFailures    = "tether_network_auth_failures_total"
	NetDecodeErrors    = "tether_network_decode_errors_total"
	NetForeignFrames   = "tether_network_foreign_frames_total"
	NetDropped         = "tether_network_frames_dropped_total"
	NetRxFrames        = "tether_network_rx_frames_total"
	NetTxFrames        = "tether_network_tx_frames_total"
	NetTxErrors        = "tether_network_tx_errors_total"
	TCPConnUp          = "tether_tcp_connection_up"
	TCPSendBuf         = "tether_tcp_send_buffer_bytes"
	TCPSendBufLimit    = "tether_tcp_send_buffer_limit_bytes"
	BuildInfo          = "tether_build_info"
	AgentStartTime     = "tether_agent_start_time_seconds"
	AgentClaiming      = "tether_agent_claiming"
	AgentPauses        = "tether_agent_pauses_total"
	AgentPauseLast     = "tether_agent_pause_last_seconds"
	AgentScheduleDelay = "tether_agent_schedule_delay_seconds"
	Messages           = "tether_messages_total"
	LogDropped         = "tether_log_records_dropped_total"
	ResourceRole       = "tether_resource_role"
	ResourceEpoch      = "tether_resource_epoch"
	MirrorTopicState   = "tether_mirror_topic_state"
	MirrorLagRecords   = "tether_mirror_lag_records"
	MirrorLagSeconds   = "tether_mirror_lag_seconds"
	MirrorSinceFetch   = "tether_mirror_since_last_fetch_seconds"
	MirrorLogEnd       = "tether_mirror_log_end_offset"
	MirrorSourceHW     = "tether_mirror_source_high_watermark"
	MirrorConfirmed    = "tether_mirror_confirmed_offset"
	MirrorRecords      = "tether_mirror_records_total"
	MirrorBytes        = "tether_mirror_bytes_total"
	MirrorFetches      = "tether_mirror_fetches_total"
	MirrorFetchErrors  = "tether_mirror_fetch_errors_total"
	// The failover supervisor's, per resource of the cluster.
	FailoverRole           = "tether_failover_role"
	FailoverEpoch          = "tether_failover_epoch"
	FailoverAuto           = "tether_failover_auto"
	FailoverQuorumPossible = "tether_failover_quorum_possible"
	FailoverQuorum         = "tether_failover_quorum"
	FailoverVotes          = "tether_failover_votes"
	FailoverVoters         = "tether_failover_voters"
	FailoverFenced         = "tether_failover_fenced"
	FailoverLease          = "tether_failover_lease_seconds"
	FailoverDecision       = "tether_failover_decision"
	FailoverAlert          = "tether_failover_alert"
	Failovers              = "tether_failovers_total"
	FailoverLast           = "tether_failover_last_timestamp_seconds"
	FailoverViewsRejected  = "tether_failover_views_rejected_total"
)

// Names returns every tether_ metric family the agent exports.
func Names() []string {
	return []string{LinkUp, LinkState, LinkReason, LinkRTT, LinkSent, LinkReceived, LinkLost, LinkLoss,
		LinkTransitions, LinkFlaps, NodeState, NodeLinksUp, NodeLinks, NodeRestarts, NodePublicAlive,
		LocalState, NetCarrier, NetMTU, NetReason, NetAuthFailures, NetDecodeErrors, NetForeignFrames,
		NetDropped, NetRxFrames, NetTxFrames, NetTxErrors, TCPConnUp, TCPSendBuf, TCPSendBufLimit,
		BuildInfo, AgentStartTime, AgentClaiming, AgentPauses, AgentPauseLast, AgentScheduleDelay,
		Messages, LogDropped, ResourceRole, ResourceEpoch, MirrorTopicState, MirrorLagRecords, MirrorLagSeconds,
		MirrorSinceFetch, MirrorLogEnd, MirrorSourceHW, MirrorConfirmed, MirrorRecords, MirrorBytes, MirrorFetches,
		MirrorFetchErrors, FailoverRole, FailoverEpoch, FailoverAuto, FailoverQuorumPossible, FailoverQuorum,
		FailoverVotes, FailoverVoters, FailoverFenced, FailoverLease, FailoverDecision, FailoverAlert, Failovers,
		FailoverLast, FailoverViewsRejected}
}
