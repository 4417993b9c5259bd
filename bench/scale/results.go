package main

import (
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/stats"
)

// Results is everything one run measured; written to -out as JSON.
type Results struct {
	bedutil.Run
	Seed     uint64         `json:"seed"`
	Nodes    int            `json:"nodes"`
	Networks []string       `json:"networks"`
	Timers   bedutil.Timers `json:"timers"` // as node 0 reports them
	// Goals of the issue, reported, not asserted.
	GoalIdleCPU     float64       `json:"goal_idle_cpu_percent_per_agent"`
	GoalBlackholeMs float64       `json:"goal_blackhole_p99_ms"`
	Bed             BedResult     `json:"bed"`
	Up              UpResult      `json:"up"`
	Idle            *IdleResult   `json:"idle,omitempty"`
	Faults          []*FaultStats `json:"faults,omitempty"`
	// Census is every node's view once the run is over (or when it gave
	// up): links by state and reason, peers by state.
	Census *Census  `json:"census_at_end,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

// BedResult is what building and starting the bed took.
type BedResult struct {
	Namespaces   int     `json:"namespaces"`
	VethPairs    int     `json:"veth_pairs"`
	BuildSeconds float64 `json:"build_seconds"` // testbed.New: namespaces, bridges, cables, configs
	StartSeconds float64 `json:"start_seconds"` // starting every tetherd process
	StaggerMs    float64 `json:"stagger_ms"`    // pause between two starts
}

// UpResult is the wait for every link of every node to be healthy.
type UpResult struct {
	AllOpen bool `json:"all_open"`
	// Seconds from the first agent's start to the last link healthy (the
	// agents' log time), when AllOpen.
	Seconds float64 `json:"seconds,omitempty"`
	// AgentCPUSeconds is the CPU time all agents used from their start
	// until every link was up (or the wait gave up).
	AgentCPUSeconds float64 `json:"agent_cpu_seconds"`
	// Timeline samples the wait every few seconds: links healthy by the
	// logs, nodes confirmed by their status.
	Timeline []UpSample `json:"timeline"`
	// Census is every node's view when the wait gave up.
	Census *Census `json:"census,omitempty"`
	Error  string  `json:"error,omitempty"`
	Load   string  `json:"loadavg_at_end"`
}

// UpSample is one point of the wait.
type UpSample struct {
	Seconds   float64 `json:"seconds"`
	Healthy   int     `json:"links_healthy"`
	Links     int     `json:"links"`
	Confirmed int     `json:"nodes_confirmed"`
	Nodes     int     `json:"nodes"`
}

// Census is every node's status at one moment, summed over the nodes.
type Census struct {
	Reachable   int            `json:"reachable"`
	Unreachable int            `json:"unreachable"` // status read failed
	Links       map[string]int `json:"links"`       // "UP", "DOWN peer-silent", ... over every observer
	Peers       map[string]int `json:"peers"`       // node states as the observers see their peers
	// Pauses and LongestPauseMs are the agent.paused counters (the agent
	// did not run for a while) summed and maximised over the nodes.
	Pauses         uint64  `json:"pauses"`
	LongestPauseMs float64 `json:"longest_pause_ms"`
	LogDropped     uint64  `json:"log_dropped"`
	Load           string  `json:"loadavg"`
}

// IdleResult is the idle window: CPU and memory of every agent, and
// every change of state while nothing was injected.
type IdleResult struct {
	Converged bool    `json:"converged"` // every link was up when it began
	Seconds   float64 `json:"seconds"`
	Agents    []Agent `json:"agents"`
	CPU       Spread  `json:"cpu_percent_of_one_core"` // per agent, utime+stime of /proc/<pid>/stat
	SchedCPU  Spread  `json:"sched_cpu_percent_of_one_core"`
	RSSMiB    Spread  `json:"rss_mib"`
	// The agents together: CPU as a share of the whole machine (all
	// cores), RSS in MiB and as a share of its memory.
	TotalCPUPercentOfMachine float64 `json:"total_cpu_percent_of_machine"`
	TotalRSSMiB              float64 `json:"total_rss_mib"`
	TotalRSSPercentOfMachine float64 `json:"total_rss_percent_of_machine"`
	MachineBusy              float64 `json:"machine_busy_percent"` // all CPUs, during the window
	OtherBusy                float64 `json:"other_busy_percent"`   // the machine minus the agents
	Steal                    float64 `json:"steal_percent"`
	LoadBefore               string  `json:"loadavg_before"`
	LoadAfter                string  `json:"loadavg_after"`
	// False DOWNs: links that went down while nothing was injected, from
	// the agents' own counters (status "downs", every link of every node,
	// after minus before) and from their logs (link.down events).
	FalseDowns      uint64 `json:"false_downs"`
	Counted         int    `json:"agents_counted"` // whose status could be read before and after the window
	LoggedDowns     int    `json:"logged_link_downs"`
	Transitions     uint64 `json:"link_transitions"` // status "transitions", all links
	LoggedTroubles  int    `json:"logged_link_troubles"`
	LoggedNodeState int    `json:"logged_node_state_changes"`
	Pauses          uint64 `json:"pauses"` // agent.paused, all agents, during the window
	// Evidence: the first few link.down / node.state events, one line each.
	Evidence []string `json:"evidence,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// Agent is one agent over the idle window.
type Agent struct {
	Node         int     `json:"node"`
	Pid          int     `json:"pid"`
	CPUPercent   float64 `json:"cpu_percent"`
	SchedPercent float64 `json:"sched_cpu_percent"`
	RSSMiB       float64 `json:"rss_mib"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	Threads      int     `json:"threads"`
	SwitchesPerS float64 `json:"context_switches_per_s"`
	Counted      bool    `json:"counted"`         // its status could be read before and after the window
	TxPerS       float64 `json:"tx_frames_per_s"` // status counters, every network and channel
	RxPerS       float64 `json:"rx_frames_per_s"`
	Downs        uint64  `json:"link_downs"` // during the window, status counters
}

// Spread summarizes one figure over the agents.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	Max    float64 `json:"max"`
	Sum    float64 `json:"sum"`
}

// FaultStats is every trial of one fault kind.
type FaultStats struct {
	Fault  string `json:"fault"` // blackhole, cable-pull
	Trials int    `json:"trials"`
	// Views: "faulted node" (the node whose port or cable failed, about
	// each peer), "peers" (each peer about it), "all".
	Views map[string]stats.Dist `json:"views"`
	// Missed counts involved links with no link.down within the trial's
	// timeout.
	Missed int `json:"missed"`
	// Reasons counts the reason of each detection (link.down), per view:
	// "peers: peer-silent (peer: carrier-lost)".
	Reasons map[string]int `json:"reasons_at_down"`
	// WrongReasons counts detections whose primary reason at link.down is
	// not the expected one.
	WrongReasons int `json:"wrong_reasons_at_down"`
	// StateChecks: for each trial, once the reasons settled, the status
	// of the faulted node and of a few peers, compared with the reasons
	// the fault must end with (Expect); a check fails if one link is off.
	Expect      map[string]string `json:"expect"`
	StateChecks int               `json:"state_checks"`
	StateFailed int               `json:"state_checks_failed"`
	// Collateral counts link.down events of links the fault does not
	// touch, between the fault and the end of the recovery.
	Collateral int        `json:"collateral_downs"`
	Recovery   stats.Dist `json:"recovery"` // undo → every link of the cluster up again
	Evidence   []string   `json:"evidence,omitempty"`
	LoadBefore string     `json:"loadavg_before"`
	LoadAfter  string     `json:"loadavg_after"`
	Samples    []Sample   `json:"samples"`
	Error      string     `json:"error,omitempty"`
}

// Sample is one trial's detections, per view.
type Sample struct {
	Trial    int       `json:"trial"`
	Node     int       `json:"faulted_node"`
	Network  string    `json:"network"`
	Faulted  []float64 `json:"faulted_node_ms"` // its links to each peer; -1 missed
	Peers    []float64 `json:"peers_ms"`        // each peer's link to it
	MaxMs    float64   `json:"max_ms"`
	Recovery float64   `json:"recovery_ms"`
	State    string    `json:"state_check"` // "ok" or what was off
}
