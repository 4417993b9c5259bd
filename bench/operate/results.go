package main

import (
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/idle"
	"github.com/tether-ha/tether/bench/internal/stats"
)

// Dist is a latency distribution (min, p50, p90, p99, max).
type Dist = stats.Dist

// Results is everything one run measured; written as operate.json.
type Results struct {
	bedutil.Run
	Seed   uint64         `json:"seed"` // of the pre-fault random delays
	Scrape *ScrapeResult  `json:"scrape,omitempty"`
	Timers bedutil.Timers `json:"public_bed_timers"`
	// PrivateChannels are the channels of the public bed's hb0 and hb1.
	PrivateChannels []string    `json:"public_bed_private_channels,omitempty"`
	Idle            *IdleResult `json:"idle,omitempty"` // the target's configuration
	// IdleCompare is every idle window: Idle, the same bed unscraped, and
	// a bed without the public channel (-compare).
	IdleCompare []*IdleResult `json:"idle_compare,omitempty"`
	// Partition and Down are the trials on the public bed.
	Partition *TrialsResult `json:"partition,omitempty"`
	Down      *TrialsResult `json:"down,omitempty"`
	// RSS of each agent of the public bed after everything (leak check;
	// node 2 restarted by the down trials).
	RSSAfterKiB []int64  `json:"rss_after_kib,omitempty"`
	Errors      []string `json:"errors,omitempty"`
}

// ScrapeResult is GET /metrics of node 0 on a 3-node × 3-network bed.
type ScrapeResult struct {
	Scrapes     int     `json:"scrapes_per_encoding"`
	GapMs       float64 `json:"gap_ms"` // pause between two requests
	TargetP99Ms float64 `json:"target_p99_ms"`
	Met         bool    `json:"met"`
	// SettleMs is how long the loss gauges took to be known on every
	// link after all channels were up; LossUnknown says why they were
	// not, if they were not within lossSettle.
	SettleMs    float64 `json:"loss_settle_ms"`
	LossUnknown string  `json:"loss_unknown,omitempty"`
	// The formula of docs/METRICS.md: the symbols read from node 0's
	// status, every term and the total.
	Shape        Shape        `json:"shape"`
	Formula      []Term       `json:"formula"`
	FormulaTotal int          `json:"formula_total"`
	Runs         []*ScrapeRun `json:"runs"`
	// Profile is where node0's CPU profile went (-pprof), over
	// ProfileScrapes back-to-back identity scrapes.
	Profile        string `json:"cpu_profile,omitempty"`
	ProfileScrapes int    `json:"cpu_profile_scrapes,omitempty"`
	Error          string `json:"error,omitempty"`
}

// ScrapeRun is -scrapes requests in a row with one Accept-Encoding.
type ScrapeRun struct {
	Encoding string  `json:"accept_encoding"`
	Seconds  float64 `json:"seconds"`
	Latency  Dist    `json:"latency"`
	Met      bool    `json:"met"`
	// WireBytes is the body as sent (gzip: compressed), TextBytes the
	// exposition.
	WireBytes int    `json:"wire_bytes"`
	TextBytes int    `json:"text_bytes"`
	Series    Series `json:"series"` // of the last body
	// SeriesFirst is the tether_ series of the first body when it differs
	// from the last's (0: the same).
	SeriesFirst int `json:"series_first,omitempty"`
	// The agent's CPU over the run (scrapes and its own heartbeats).
	AgentCPUPercent     float64 `json:"agent_cpu_percent"`
	AgentCPUPerScrapeMs float64 `json:"agent_cpu_ms_per_scrape"`
	LoadBefore          string  `json:"loadavg_before"`
	LoadAfter           string  `json:"loadavg_after"`
}

// IdleResult is CPU and memory of the idle agents of the public bed,
// scraped every ScrapeEveryS, and the verdict against the targets (on
// the /proc/<pid>/stat figures, mean and max agent).
type IdleResult struct {
	Config string `json:"config"`
	*idle.Result
	ScrapeEveryS  float64 `json:"scrape_every_s"`
	Scrapes       int     `json:"scrapes"` // all agents, during the window
	ScrapeErrors  int     `json:"scrape_errors"`
	ScrapeLatency Dist    `json:"scrape_latency"`
	TargetCPU     float64 `json:"target_cpu_percent"`
	TargetRSS     float64 `json:"target_rss_mib"`
	Met           bool    `json:"met"`
}

// TrialsResult is the trials of one kind (partition or down).
type TrialsResult struct {
	Kind   string `json:"kind"`
	Victim string `json:"victim"`
	Trials int    `json:"trials"`
	// TargetMs applies to every sample of the kind's measure (the max):
	// Partitioned for a partition, Down for a kill.
	TargetMs float64 `json:"target_max_ms"`
	Met      bool    `json:"met"`
	// Readme is the range the README states; InReadme counts the samples
	// within it.
	Readme   [2]float64 `json:"readme_range_ms"`
	InReadme int        `json:"samples_in_readme_range"`
	// Fault → node.state PARTITIONED, DOWN at each observer (node0,
	// node1) about the victim.
	Partitioned Dist `json:"partitioned"`
	Down        Dist `json:"down"`
	// Fault → the observer's last link.down about the victim, and from it
	// to PARTITIONED.
	LastLinkDown             Dist `json:"last_link_down"`
	PartitionedAfterLinkDown Dist `json:"partitioned_after_last_link_down"`
	// VictimView: partition only, the blackholed node's own PARTITIONED of
	// each other node.
	VictimView Dist `json:"victim_view"`
	// Recovery is from the undo (or the restart) until every node is
	// ready again: links up, peers OPEN and alive on the public channel,
	// no link in its flap window (10 s).
	Recovery Dist `json:"ready_again"`
	// Violations: partition, a DOWN of the victim logged before the undo
	// (it is alive on the public channel). NotPartitionedFirst: down, a
	// DOWN not preceded by PARTITIONED.
	Violations          int            `json:"violations"`
	NotPartitionedFirst int            `json:"not_partitioned_first,omitempty"`
	Evidence            []string       `json:"evidence,omitempty"`
	Missed              int            `json:"missed"`
	Sequences           map[string]int `json:"state_sequences"` // states logged per observer and trial
	LoadBefore          string         `json:"loadavg_before"`
	LoadAfter           string         `json:"loadavg_after"`
	Samples             []Sample       `json:"samples"`
	Error               string         `json:"error,omitempty"`
}

// Sample is one observer in one trial.
type Sample struct {
	Trial          int     `json:"trial"`
	Observer       string  `json:"observer"`
	PartitionedMs  float64 `json:"partitioned_ms"` // -1: not logged
	DownMs         float64 `json:"down_ms"`        // -1: not logged
	LastLinkDownMs float64 `json:"last_link_down_ms,omitempty"`
	States         string  `json:"states"` // node.state values logged about the victim, in order
}
