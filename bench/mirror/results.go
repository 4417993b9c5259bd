package main

import (
	"strconv"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/stats"
)

// Dist is a latency distribution (min, p50, p90, p99, max).
type Dist = stats.Dist

// Results is everything one run measured; written as mirror.json.
type Results struct {
	bedutil.Run
	Options    OptionsRecord     `json:"options"`
	Timers     bedutil.Timers    `json:"timers"`
	RTT        *RTTResult        `json:"rtt,omitempty"`
	Throughput *ThroughputResult `json:"throughput,omitempty"`
	Latency    *PacedSeries      `json:"latency,omitempty"`
	Control    *PacedSeries      `json:"latency_control,omitempty"`         // the same producer, a bare append + fsync server
	Chained    *PacedSeries      `json:"latency_chained_control,omitempty"` // … that forwards to another on node1
	Acks       *PacedSeries      `json:"acks,omitempty"`
	Redis      *RedisResult      `json:"redis,omitempty"`
	Reopen     *ReopenResult     `json:"reopen,omitempty"`
	Errors     []string          `json:"errors,omitempty"`
}

// OptionsRecord is the options a run used.
type OptionsRecord struct {
	Parts      []string `json:"parts"`
	GiB        float64  `json:"gib"`
	Producers  int      `json:"producers"`
	Batch      int      `json:"records_per_produce"`
	RecordSize int      `json:"record_bytes"`
	SustainS   float64  `json:"sustain_s"`
	IdleS      float64  `json:"idle_s"`
	Rate       int      `json:"rate_per_s"`
	Records    int      `json:"records"`
	Warmup     int      `json:"warmup"`
	Reps       int      `json:"reps"`
	Trials     int      `json:"trials"`
	AgentProcs string   `json:"agent_gomaxprocs"`
	Pprof      string   `json:"pprof_dir,omitempty"`
}

func (o options) record() OptionsRecord {
	procs := "2 (tetherd's default with a replicator, agent.Procs)"
	if o.agentProcs > 0 {
		procs = strconv.Itoa(o.agentProcs)
	}
	return OptionsRecord{Parts: o.parts, GiB: o.gib, Producers: o.producers, Batch: o.batch, RecordSize: recordSize,
		SustainS: o.sustain.Seconds(), IdleS: o.idle.Seconds(), Rate: o.rate, Records: o.records, Warmup: o.warmup, Reps: o.reps,
		Trials: o.trials, AgentProcs: procs, Pprof: o.pprof}
}
