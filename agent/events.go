package agent

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tether-ha/tether/llt"
)

// Stable event ids (the "event" attribute of every log record). Scripts and
// alerts may match on them; never rename one.
const (
	EvAgentStart       = "agent.start"
	EvAgentStop        = "agent.stop"
	EvLinkUp           = "link.up"
	EvLinkDown         = "link.down"
	EvLinkTrouble      = "link.trouble"
	EvLinkReason       = "link.reason" // still not healthy, but for another reason
	EvChannelState     = "channel.state"
	EvNodeState        = "node.state"
	EvPeerRestart      = "peer.restart"
	EvNICCarrier       = "nic.carrier"
	EvFrameEncodeError = "frame.encode_error"     // a bug: the machine built a frame the codec refuses
	EvStatusError      = "status.error"           // the status server failed: the agent stops
	EvMetricsError     = "metrics.error"          // the metrics server failed: the agent stops
	EvReplicatorError  = "replicator.error"       // the topic API server failed (the agent stops), or retention failed
	EvRetention        = "replicator.retention"   // retention deleted old segments
	EvTableRejected    = "table.rejected"         // a peer's link table could not be taken (rate-limited)
	EvViewRejected     = "failover.view_rejected" // a peer's failover view did not decode, or came from a node that is not a peer
	EvAgentPaused      = "agent.paused"           // this node did not run for a while (not scheduled, VM paused, SIGSTOP)
	EvNetworkReason    = "network.reason"         // a network's network-wide reasons changed
	EvLocalState       = "node.local_state"       // this node's own state changed (its NICs)
	EvClaimed          = "agent.claimed"          // the claim phase ended: no other node uses our id; heartbeats start
	EvDuplicateID      = "node.duplicate_id"      // another node uses our node id (at start-up: tetherd refuses to start)
	EvCountersReset    = "counters.reset"         // tetherstat -z
	EvPublicMember     = "public.member"          // a peer became alive or gone on the public channel
	EvKeysReload       = "keys.reload"            // the key file was re-read (SIGHUP), or could not be
)

func (a *Agent) peerName(id llt.NodeID) string {
	if n, ok := a.peerNames[id]; ok {
		return n
	}
	return fmt.Sprintf("node%d", id)
}

// logEvent writes one machine event as one log record.
func (a *Agent) logEvent(e llt.Event) {
	ctx := context.Background()
	peer := []any{"peer", a.peerName(e.Peer), "peer_id", uint16(e.Peer)}
	switch e.Kind {
	case llt.EventLink:
		net := a.nets[e.Network].cfg.Name
		attrs := append([]any{"network", net}, peer...)
		attrs = append(attrs, "state", e.Link.String(), "prev_state", e.PrevLink.String(), "reason", e.Reason.String())
		if e.RemoteReason != llt.ReasonNone {
			attrs = append(attrs, "remote_reason", e.RemoteReason.String())
		}
		id, level, msg := EvLinkReason, slog.LevelInfo, "link reason changed"
		switch {
		case e.Link != e.PrevLink && e.Link == llt.LinkUp:
			id, msg = EvLinkUp, "link up"
		case e.Link != e.PrevLink && e.Link == llt.LinkDown:
			id, level, msg = EvLinkDown, slog.LevelWarn, "link down"
		case e.Link != e.PrevLink && e.Link == llt.LinkTrouble:
			id, level, msg = EvLinkTrouble, slog.LevelWarn, "link in trouble"
		case e.Reason == e.PrevReason:
			// Only the peer's own report changed: worth a debug line.
			level, msg = slog.LevelDebug, "peer's view of the link changed"
			attrs = append(attrs, "prev_remote_reason", e.PrevRemoteReason.String())
		default:
			attrs = append(attrs, "prev_reason", e.PrevReason.String())
			if e.Reason != llt.ReasonNone {
				level = slog.LevelWarn // an UP link found lossy, mtu-mismatch, ...: worth a look
			}
		}
		a.log.Log(ctx, level, msg, append([]any{"event", id}, attrs...)...)
	case llt.EventSession:
		a.log.Debug("channel state", "event", EvChannelState, "network", a.nets[e.Network].cfg.Name,
			"channel", e.Channel.String(), "peer", a.peerName(e.Peer), "peer_id", uint16(e.Peer),
			"state", e.Session.String(), "prev_state", e.PrevSession.String(), "diag", e.Diag.String())
	case llt.EventNode:
		level := slog.LevelInfo
		if e.Node == llt.NodeDown || e.Node == llt.NodeJeopardy || e.Node == llt.NodePartitioned {
			level = slog.LevelWarn
		}
		a.log.Log(ctx, level, "node "+e.Node.String(), append([]any{"event", EvNodeState}, append(peer,
			"state", e.Node.String(), "prev_state", e.PrevNode.String(), "reason", a.nodeReason(e))...)...)
	case llt.EventPause:
		a.log.Warn("agent paused: this node did not run; the pause is not counted as silence of its peers",
			"event", EvAgentPaused, "pause_ms", float64(e.Pause.Microseconds())/1000)
	case llt.EventNetwork:
		net := a.nets[e.Network].cfg.Name
		level := slog.LevelInfo
		if len(e.NetReasons) > 0 {
			level = slog.LevelWarn
		}
		msg := "network healthy again"
		if len(e.NetReasons) > 0 {
			msg = "network reasons changed"
		}
		a.log.Log(ctx, level, msg, "event", EvNetworkReason, "network", net,
			"reasons", reasonList(e.NetReasons), "prev_reasons", reasonList(e.PrevNetReasons))
	case llt.EventLocal:
		level := slog.LevelInfo
		if e.Node != llt.NodeOpen {
			level = slog.LevelWarn
		}
		a.log.Log(ctx, level, "this node "+e.Node.String(), "event", EvLocalState, "state", e.Node.String(), "prev_state", e.PrevNode.String())
	case llt.EventClaimed:
		a.log.Info("node id claimed: no other node uses it; heartbeats start", "event", EvClaimed, "node_id", a.cfg.Node.ID)
	case llt.EventDuplicateID:
		attrs := []any{"event", EvDuplicateID, "network", a.nets[e.Network].cfg.Name, "node_id", a.cfg.Node.ID,
			"other", formatAddr(llt.ChannelEther, e.Addr), "other_incarnation", fmt.Sprintf("%016x", e.Incarnation), "fatal", e.Fatal}
		if e.Fatal {
			a.log.Error("node id already in use by another node: refusing to start", attrs...)
		} else {
			a.log.Warn("another node uses our node id", attrs...)
		}
	case llt.EventPeerRestart:
		a.log.Info("peer restarted", append([]any{"event", EvPeerRestart}, append(peer,
			"incarnation", fmt.Sprintf("%016x", e.Incarnation),
			"prev_incarnation", fmt.Sprintf("%016x", e.PrevIncarnation))...)...)
	}
}

// nodeReason summarises why a node left OPEN: the reasons of its links.
func (a *Agent) nodeReason(e llt.Event) string {
	if e.Node == llt.NodeOpen || e.Node == llt.NodeConnWait {
		return ""
	}
	snap := a.m.Snapshot(e.At)
	for _, p := range snap.Peers {
		if p.ID != e.Peer {
			continue
		}
		seen := map[llt.Reason]bool{}
		out := ""
		for _, l := range p.Links {
			if l.Reason == llt.ReasonNone || seen[l.Reason] {
				continue
			}
			seen[l.Reason] = true
			if out != "" {
				out += ","
			}
			out += l.Reason.String()
		}
		return out
	}
	return ""
}

// reasonList is reasons as ids, comma separated ("" for none).
func reasonList(rs []llt.Reason) string {
	out := ""
	for i, r := range rs {
		if i > 0 {
			out += ","
		}
		out += r.String()
	}
	return out
}
