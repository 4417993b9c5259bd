package main

import (
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/idle"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
)

// Results is everything one run measured; written as detect.json.
type Results struct {
	bedutil.Run
	Seed     uint64           `json:"seed"` // of the pre-fault random delays
	Profiles []*ProfileResult `json:"profiles"`
	Soak     *SoakResult      `json:"soak,omitempty"`
	Errors   []string         `json:"errors,omitempty"`
}

// ProfileResult is one timer profile on one 3-node × 2-network bed.
type ProfileResult struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config_timers"` // written to the config; empty: agent defaults
	Timers bedutil.Timers    `json:"timers"`
	Idle   *IdleResult       `json:"idle,omitempty"`
	Faults []*FaultResult    `json:"faults"`
	// RSS of each agent after all trials (leak check).
	RSSAfterKiB []int64 `json:"rss_after_trials_kib,omitempty"`
	Error       string  `json:"error,omitempty"`
}

// FaultResult is the trials of one fault kind in one profile.
type FaultResult struct {
	Fault  string `json:"fault"` // carrier, blackhole
	Trials int    `json:"trials"`
	// Target is the p99 the issue asks for; it applies to the samples of
	// TargetView ("all" = every view).
	TargetMs   float64 `json:"target_p99_ms"`
	TargetView string  `json:"target_view"`
	Met        bool    `json:"met"`
	// Views: "faulted node" (the node whose cable was pulled or whose
	// switch port was blackholed, about its links to each peer), "peers"
	// (each peer about its link to the faulted node), "all".
	Views map[string]stats.Dist `json:"views"`
	// Trouble is the time to link.trouble, where the link went through
	// TROUBLE before DOWN (all views).
	Trouble stats.Dist `json:"trouble"`
	// Recovery is from the start of the undo to the last link.up of the
	// links involved (informational; CablePull's undo waits for the cable).
	Recovery stats.Dist `json:"recovery"`
	// Missed counts expected link.down events that did not come in time.
	Missed int `json:"missed"`
	// Reasons counts the reason of each detection, per view.
	Reasons map[string]int `json:"reasons"`
	// Corrected counts detections whose reason changed (link.reason)
	// before the fault was undone: "view: first → last".
	Corrected map[string]int `json:"reasons_corrected,omitempty"`
	// Collateral counts link.down events on links the fault does not
	// touch, and second link.down events of links it does (flaps while
	// recovering); should be 0. The first few are kept as evidence.
	Collateral         int      `json:"collateral_downs"`
	CollateralEvidence []string `json:"collateral_evidence,omitempty"`
	LoadBefore         string   `json:"loadavg_before"`
	LoadAfter          string   `json:"loadavg_after"`
	Samples            []Sample `json:"samples"`
	Error              string   `json:"error,omitempty"`
}

// Sample is one detection: observer's link to peer on network went down.
type Sample struct {
	Trial       int     `json:"trial"`
	Faulted     int     `json:"faulted_node"`
	Network     string  `json:"network"`
	Observer    int     `json:"observer"`
	Peer        int     `json:"peer"`
	View        string  `json:"view"`
	LatencyMs   float64 `json:"latency_ms"` // -1: missed
	TroubleMs   float64 `json:"trouble_ms,omitempty"`
	Reason      string  `json:"reason"`       // of the link.down event
	FinalReason string  `json:"final_reason"` // last logged before the undo
}

// IdleResult is CPU and memory of idle agents with every link up, and
// the verdict against the targets (on the /proc/<pid>/stat figures).
type IdleResult struct {
	*idle.Result
	TargetCPU float64 `json:"target_cpu_percent"`
	TargetRSS float64 `json:"target_rss_mib"`
	Met       bool    `json:"met"`
}

// SoakResult is the false-DOWN soak: random loss on every egress and a
// saturated CPU for a while.
type SoakResult struct {
	Profile    string  `json:"profile"`
	Seconds    float64 `json:"seconds"`
	LossPct    int     `json:"loss_percent"`
	Burner     string  `json:"cpu_burner"`
	SystemBusy float64 `json:"system_busy_percent"`
	LoadBefore string  `json:"loadavg_before"`
	LoadAfter  string  `json:"loadavg_after"`
	// Events counts events logged during the soak by id, all nodes.
	Events   map[string]int `json:"events"`
	Downs    int            `json:"link_downs"`
	Troubles int            `json:"link_troubles"`
	NodeDown int            `json:"node_state_changes"`
	// Evidence: the first link.down / node.state events, one line each.
	Evidence []string       `json:"evidence,omitempty"`
	Links    []SoakLink     `json:"links"`
	Nets     []SoakNet      `json:"networks"`
	Agents   []proc.Stat    `json:"agents"` // CPU during the soak, RSS at its end
	Met      bool           `json:"met"`
	Error    string         `json:"error,omitempty"`
	Timers   bedutil.Timers `json:"timers"`
}

// SoakLink is one observer's link to a peer during the soak (deltas).
type SoakLink struct {
	Observer int     `json:"observer"`
	Peer     int     `json:"peer"`
	Network  string  `json:"network"`
	Received uint64  `json:"received"`
	Lost     uint64  `json:"lost"`
	LossPct  float64 `json:"loss_percent"` // lost / (received + lost)
	Downs    uint64  `json:"downs"`
}

// SoakNet is one node's network counters during the soak (deltas).
type SoakNet struct {
	Node     int    `json:"node"`
	Network  string `json:"network"`
	TxFrames uint64 `json:"tx_frames"`
	TxErrors uint64 `json:"tx_errors"`
}
