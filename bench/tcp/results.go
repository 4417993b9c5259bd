package main

import (
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/idle"
	"github.com/tether-ha/tether/bench/internal/stats"
)

// Results is everything one run measured; written as tcp.json.
type Results struct {
	bedutil.Run
	CPU []*CPURun `json:"cpu,omitempty"`
	// CPUDerived is, per timer profile, what the tcp channel costs.
	CPUDerived []TCPCost  `json:"cpu_derived,omitempty"`
	Mem        *MemResult `json:"memory,omitempty"`
	Msg        *MsgResult `json:"messages,omitempty"`
	Errors     []string   `json:"errors,omitempty"`
}

// CPURun is one channel configuration at one timer profile: 3 idle
// agents, 2 networks, every link up.
type CPURun struct {
	Profile  string         `json:"profile"`
	Timers   bedutil.Timers `json:"timers"`
	Channels []string       `json:"channels"` // of both networks
	Idle     *idle.Result   `json:"idle,omitempty"`
	// ByChannel is the mean frames per second per agent by channel kind,
	// both networks together.
	ByChannel map[string]idle.Channel `json:"by_channel,omitempty"`
	Error     string                  `json:"error,omitempty"`
}

// TCPCost is what adding the tcp channel costs at one timer profile,
// derived from the runs with channels [ether], [tcp] and [ether, tcp].
type TCPCost struct {
	Profile string `json:"profile"`
	// Marginal: (CPU of [ether, tcp] − CPU of [ether]) / (frames of
	// [ether, tcp] − frames of [ether]), per agent, frames sent plus
	// received: what one more frame on the tcp channel costs when the
	// agent wakes up for its ether heartbeats anyway.
	MarginalMicrosPerFrame float64 `json:"marginal_cpu_us_per_tcp_frame"`
	// Alone: CPU per frame of [tcp] and of [ether], every cost included.
	TCPMicrosPerFrame   float64 `json:"tcp_only_cpu_us_per_frame"`
	EtherMicrosPerFrame float64 `json:"ether_only_cpu_us_per_frame"`
	// ExtraCPUPercent is CPU of [ether, tcp] minus CPU of [ether], % of
	// one core per agent.
	ExtraCPUPercent float64 `json:"extra_cpu_percent"`
	// TCPFramesPerHeartbeat is tcp frames sent per agent per heartbeat
	// interval per (peer, network): how many frames one tcp heartbeat is.
	TCPFramesPerHeartbeat float64 `json:"tcp_frames_per_heartbeat_per_link"`
	// MicrosPerHeartbeat is the marginal cost of one tcp heartbeat on one
	// link: the frames it sends and the peer's frames it receives.
	MicrosPerHeartbeat float64 `json:"marginal_cpu_us_per_tcp_heartbeat"`
}

// MemResult is node 0's memory in beds of growing size, one network.
type MemResult struct {
	SettleSeconds float64    `json:"settle_seconds"`
	Points        []MemPoint `json:"points"`
	// Fits are least-squares lines of each metric against the number of
	// peers, per channel series.
	Fits []MemFit `json:"fits"`
	// PerConnection is, per metric, (slope per peer of the tcp series −
	// slope per peer of the ether series) / 2: the bytes one TCP
	// connection adds, the protocol state of a peer (present in both
	// series) taken out.
	PerConnection map[string]float64 `json:"bytes_per_connection,omitempty"`
}

// Memory metrics, the keys of MemPoint.Bytes.
const (
	memHeapInuse   = "HeapInuse"
	memStackInuse  = "StackInuse"
	memSys         = "Sys"
	memRSS         = "RSS"
	memHeapAllocGC = "HeapAlloc after GC"
	memHeapInuseGC = "HeapInuse after GC"
)

// memMetrics lists the metrics in report order.
var memMetrics = []string{memHeapInuse, memStackInuse, memSys, memRSS, memHeapInuseGC, memHeapAllocGC}

// MemPoint is node 0 of one bed.
type MemPoint struct {
	Channel string `json:"channel"` // of the bed's one network: tcp or ether
	Nodes   int    `json:"nodes"`
	Peers   int    `json:"peers"`
	// Connections is node 0's tcp connections that are UP (2 per peer).
	Connections int `json:"connections"`
	Goroutines  int `json:"goroutines"`
	Threads     int `json:"threads"`
	// Bytes by metric: runtime.MemStats HeapInuse, StackInuse and Sys from
	// /debug/vars, VmRSS, and HeapInuse and HeapAlloc right after a forced
	// GC (HeapAlloc is then the live heap).
	Bytes map[string]uint64 `json:"bytes"`
	Error string            `json:"error,omitempty"`
}

// MemFit is one metric of one series against the number of peers.
type MemFit struct {
	Channel string    `json:"channel"`
	Metric  string    `json:"metric"`
	Fit     stats.Fit `json:"fit"` // bytes = Intercept + Slope × peers
}

// MsgResult is the message API between two nodes.
type MsgResult struct {
	// Latency: window 1, one echo at a time, per payload size, Reps
	// times; bed "ether+tcp" (messages take tcp) and "ether" (network with
	// the ether channel only).
	Reps    int       `json:"reps"`
	Latency []*MsgRun `json:"latency"`
	// Throughput: many echoes in flight, bed "ether+tcp".
	Throughput []*MsgRun `json:"throughput"`
	Errors     []string  `json:"errors,omitempty"`
}

// MsgRun is one status.Client.Ping.
type MsgRun struct {
	Bed    string             `json:"bed"` // channels of the network: "ether+tcp" or "ether"
	Rep    int                `json:"rep"` // 1, 2, ...: repetitions of the same measurement
	Window int                `json:"window"`
	Size   int                `json:"size"`
	Count  int                `json:"count"`
	Ping   *status.PingResult `json:"ping,omitempty"`
	// SystemBusy is the share of all CPUs the machine was busy during the
	// run (the agents included).
	SystemBusy float64 `json:"system_busy_percent"`
	// Probe is the short run that sized a throughput run.
	Probe *MsgRun `json:"probe,omitempty"`
	// MBPerS is payload megabytes (10^6) per second, each echo counted
	// once.
	MBPerS float64 `json:"payload_mb_per_s"`
	// CPUMicrosPerMsg is both agents' CPU (schedstat) during the run per
	// echo received.
	CPUMicrosPerMsg float64 `json:"cpu_us_per_echo"`
	// Events counts the log events of both agents during the run, by id
	// (tcp.down, link.down, ... show a run that disturbed the links).
	Events map[string]int `json:"events,omitempty"`
	Error  string         `json:"error,omitempty"`
}
