package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// result is one cluster size's figures.
type result struct {
	Nodes    int     `json:"nodes"`
	Networks int     `json:"networks"`
	Seed     uint64  `json:"seed"`
	Links    int     `json:"links"` // (node, peer, network) in the cluster
	AllUpMs  float64 `json:"all_up_ms"`

	// Per node, per simulated second of idle.
	EngineNsPerNodeSec float64 `json:"engine_ns_per_node_s"`
	EngineNsPerLinkSec float64 `json:"engine_ns_per_link_s"`
	CodecNsPerNodeSec  float64 `json:"codec_ns_per_node_s"`
	FramesPerNodeSec   float64 `json:"frames_sent_per_node_s"`
	BytesPerNodeSec    float64 `json:"bytes_sent_per_node_s"`
	RecvPerNodeSec     float64 `json:"frames_received_per_node_s"`
	TableBytesNodeSec  float64 `json:"table_bytes_per_node_s"`
	MemPerNodeKiB      float64 `json:"mem_per_node_kib"`
	AdvancesPerNodeSec float64 `json:"advances_per_node_s"` // timer runs of the engine
	// OnCPU: the share of the idle window's wall time the simulator ran
	// (a busy machine preempts it); the timings are scaled by it.
	OnCPU float64 `json:"on_cpu"`

	FalseDownsIdle    int           `json:"false_downs_idle"`
	FalseDownsLoss    int           `json:"false_downs_10pct_loss"`
	FalseDownExamples []string      `json:"false_down_examples,omitempty"`
	Faults            []faultResult `json:"faults"`
	WallSeconds       float64       `json:"wall_s"`
}

func (r *result) idle(c *cluster, d time.Duration) {
	var s nodeStats
	for _, nd := range c.nodes {
		s.engine += nd.stats.engine
		s.codec += nd.stats.codec
		s.framesSent += nd.stats.framesSent
		s.bytesSent += nd.stats.bytesSent
		s.framesRecv += nd.stats.framesRecv
		s.tableBytes += nd.stats.tableBytes
		s.advances += nd.stats.advances
	}
	per := float64(len(c.nodes)) * d.Seconds()
	r.EngineNsPerNodeSec = float64(s.engine.Nanoseconds()) * r.OnCPU / per
	r.EngineNsPerLinkSec = r.EngineNsPerNodeSec / float64((len(c.nodes)-1)*len(c.nets))
	r.CodecNsPerNodeSec = float64(s.codec.Nanoseconds()) * r.OnCPU / per
	r.FramesPerNodeSec = float64(s.framesSent) / per
	r.BytesPerNodeSec = float64(s.bytesSent) / per
	r.RecvPerNodeSec = float64(s.framesRecv) / per
	r.TableBytesNodeSec = float64(s.tableBytes) / per
	r.AdvancesPerNodeSec = float64(s.advances) / per
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func printTable(w io.Writer, o options, rs []result) {
	fmt.Fprintf(w, "Simulated cluster, %d networks (ether), default timers, seed %d, latency %v + jitter %v, %v idle, %v at 10 %% loss, %d trials per fault\n\n",
		o.networks, o.seed, o.wire.Latency, o.wire.Jitter, o.idle, o.loss, o.trials)
	fmt.Fprintln(w, "| nodes | engine µs/node/s | engine ns/link/s | vs first | codec µs/node/s | frames/node/s sent | recv | KB/node/s | table KB/node/s | mem KiB/node | all UP ms | false DOWN idle / 10 % loss | on CPU |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.2f× | %.0f | %.0f | %.0f | %.1f | %.1f | %.0f | %.0f | %d / %d | %.2f |\n",
			r.Nodes, r.EngineNsPerNodeSec/1000, r.EngineNsPerLinkSec, r.EngineNsPerLinkSec/rs[0].EngineNsPerLinkSec,
			r.CodecNsPerNodeSec/1000, r.FramesPerNodeSec, r.RecvPerNodeSec, r.BytesPerNodeSec/1000, r.TableBytesNodeSec/1000,
			r.MemPerNodeKiB, r.AllUpMs, r.FalseDownsIdle, r.FalseDownsLoss, r.OnCPU)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| nodes | fault | links watched | missed / late / wrong reason | bound ms | p50 ms | p99 ms | max ms |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		for _, f := range r.Faults {
			fmt.Fprintf(w, "| %d | %s | %d | %d / %d / %d | %.1f | %.1f | %.1f | %.1f |\n",
				r.Nodes, f.Fault, f.Watched, f.Missed, f.Late, f.WrongCause, f.BoundMs, f.P50Ms, f.P99Ms, f.MaxMs)
		}
	}
	for _, r := range rs {
		for _, f := range r.Faults {
			for _, e := range f.Examples {
				fmt.Fprintf(w, "\n%d nodes, %s: %s", r.Nodes, f.Fault, e)
			}
		}
		for _, e := range r.FalseDownExamples {
			fmt.Fprintf(w, "\n%d nodes, false DOWN at 10 %% loss: %s", r.Nodes, e)
		}
	}
	fmt.Fprintln(w)
}
