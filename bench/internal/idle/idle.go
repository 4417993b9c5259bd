// Package idle measures agents that have nothing to do but heartbeat: CPU
// time per agent over a window in which nothing touches them, and the
// frames each sent and received on every network and channel meanwhile.
package idle

import (
	"fmt"
	"runtime"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// Channel is one agent's frames on one network and channel over the
// window (status counters tx_frames and rx_frames).
type Channel struct {
	Network  string  `json:"network"`
	Channel  string  `json:"channel"`
	TxFrames uint64  `json:"tx_frames"`
	RxFrames uint64  `json:"rx_frames"`
	TxPerS   float64 `json:"tx_per_s"`
	RxPerS   float64 `json:"rx_per_s"`
	// TxSource says where TxFrames comes from: "counters" (tx_frames), or
	// "connections" for a tcp channel whose tx_frames stayed 0 while its
	// connections sent frames: the sum of the connections' frames_out.
	TxSource string `json:"tx_source,omitempty"`
}

// Node is one agent over the window: its CPU and memory (proc.Stat) and
// its frames.
type Node struct {
	proc.Stat
	Channels []Channel `json:"channels"`
	TxPerS   float64   `json:"tx_frames_per_s"` // all channels
	RxPerS   float64   `json:"rx_frames_per_s"`
	// CPUPerFrameMicros is the schedstat CPU time over the window divided
	// by the frames sent and received: what one frame costs, everything
	// the agent does included.
	CPUPerFrameMicros float64 `json:"cpu_us_per_frame"`
}

// Result is one measurement of every agent of a bed.
type Result struct {
	Seconds    float64 `json:"seconds"`
	Nodes      []Node  `json:"nodes"`
	SystemBusy float64 `json:"system_busy_percent"` // all CPUs, whole machine, during the window
	OtherBusy  float64 `json:"other_busy_percent"`  // SystemBusy minus the agents: other work on the machine
	Steal      float64 `json:"steal_percent"`       // all CPUs: time the hypervisor ran something else
	// MajorFaults counts the agents' page faults that read from disk
	// during the window, all agents.
	MajorFaults uint64 `json:"major_faults"`
	LoadBefore  string `json:"loadavg_before"`
	LoadAfter   string `json:"loadavg_after"`
	// Transitions counts link.* and node.state events logged during the
	// window (should be 0).
	Transitions int `json:"link_transitions"`
	// Means and maxima over the agents; CPU in % of one core, from
	// /proc/<pid>/stat ticks (CPU) and from schedstat (Sched).
	MeanCPU      float64 `json:"mean_cpu_percent"`
	MaxCPU       float64 `json:"max_cpu_percent"`
	MeanSchedCPU float64 `json:"mean_sched_cpu_percent"`
	MaxSchedCPU  float64 `json:"max_sched_cpu_percent"`
	MaxRSSMiB    float64 `json:"max_rss_mib"`
	TxPerS       float64 `json:"tx_frames_per_s_per_node"`
	RxPerS       float64 `json:"rx_frames_per_s_per_node"`
	// CPUPerFrameMicros is all agents' schedstat CPU over all their frames
	// sent and received.
	CPUPerFrameMicros float64 `json:"cpu_us_per_frame"`
}

// Measure measures the agents of b for dur, all links up and nothing else
// happening: CPU from /proc at both ends of the window (nothing polls the
// agents meanwhile), RSS at its end, frames from the status counters read
// just before and just after it.
func Measure(b *testbed.Bed, dur time.Duration) (*Result, error) {
	r := &Result{LoadBefore: proc.LoadAvg()}
	pids, before, cur, err := bedutil.Begin(b)
	if err != nil {
		return nil, err
	}
	w, err := proc.StartWindow(pids)
	if err != nil {
		return nil, err
	}
	time.Sleep(dur)
	procStats, busy, err := w.Stop()
	if err != nil {
		return nil, err
	}
	r.Seconds = stats.Round3(time.Since(w.Start()).Seconds())
	after, err := bedutil.Statuses(b)
	if err != nil {
		return nil, err
	}
	r.LoadAfter = proc.LoadAvg()
	r.SystemBusy, r.Steal = busy, w.StealPercent()
	for _, e := range cur.Poll() {
		if bedutil.IsTransition(e) {
			r.Transitions++
		}
	}
	var sumCPU, sumSched, sumTx, sumRx float64
	var schedNs, frames float64
	for k, ps := range procStats {
		n, err := node(ps, before[k], after[k])
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", k, err)
		}
		r.Nodes = append(r.Nodes, n)
		r.MajorFaults += ps.MajorFaults
		sumCPU += ps.CPUPercent
		sumSched += ps.SchedCPUPercent
		sumTx += n.TxPerS
		sumRx += n.RxPerS
		r.MaxCPU = max(r.MaxCPU, ps.CPUPercent)
		r.MaxSchedCPU = max(r.MaxSchedCPU, ps.SchedCPUPercent)
		r.MaxRSSMiB = max(r.MaxRSSMiB, ps.RSSMiB)
		// Frames per second of the status interval times the CPU window:
		// the frames of the CPU window.
		schedNs += float64(ps.SchedCPU)
		frames += (n.TxPerS + n.RxPerS) * float64(w.Wall()) / float64(time.Second)
	}
	nn := float64(len(procStats))
	r.MeanCPU, r.MeanSchedCPU = stats.Round3(sumCPU/nn), stats.Round3(sumSched/nn)
	r.TxPerS, r.RxPerS = stats.Round3(sumTx/nn), stats.Round3(sumRx/nn)
	if frames > 0 {
		r.CPUPerFrameMicros = stats.Round3(schedNs / 1e3 / frames)
	}
	// What the rest of the machine did, as a share of all CPUs.
	r.OtherBusy = stats.Round3(max(0, r.SystemBusy-sumCPU/float64(runtime.NumCPU())))
	return r, nil
}

// node combines one agent's CPU with its counter deltas between two
// status documents.
func node(ps proc.Stat, before, after *status.Status) (Node, error) {
	n := Node{Stat: ps}
	secs := after.Now.Sub(before.Now).Seconds()
	if secs <= 0 {
		return n, fmt.Errorf("status documents %v and %v are not in order", before.Now, after.Now)
	}
	var tx, rx uint64
	for _, c := range after.Counters.Networks {
		var c0 status.NetworkCounters
		for _, x := range before.Counters.Networks {
			if x.Network == c.Network && x.Channel == c.Channel {
				c0 = x
			}
		}
		ch := Channel{Network: c.Network, Channel: c.Channel, TxFrames: c.TxFrames - c0.TxFrames, RxFrames: c.RxFrames - c0.RxFrames, TxSource: "counters"}
		if ch.TxFrames == 0 {
			if out := connFramesOut(before, after, c.Network); out > 0 {
				ch.TxFrames, ch.TxSource = out, "connections"
			}
		}
		ch.TxPerS, ch.RxPerS = stats.Round3(float64(ch.TxFrames)/secs), stats.Round3(float64(ch.RxFrames)/secs)
		n.Channels = append(n.Channels, ch)
		tx += ch.TxFrames
		rx += ch.RxFrames
	}
	n.TxPerS, n.RxPerS = stats.Round3(float64(tx)/secs), stats.Round3(float64(rx)/secs)
	if fps := n.TxPerS + n.RxPerS; fps > 0 {
		n.CPUPerFrameMicros = stats.Round3(ps.SchedCPUPercent / 100 * 1e6 / fps)
	}
	return n, nil
}

// connFramesOut returns the frames sent over network's tcp connections
// between two status documents: per connection in after, its frames_out
// minus that of the same connection (direction, peer, creation time) in
// before, or all of them if it is new.
func connFramesOut(before, after *status.Status, network string) uint64 {
	var n uint64
	for _, c := range after.Connections {
		if c.Network != network {
			continue
		}
		n += c.FramesOut
		for _, c0 := range before.Connections {
			if c0.Network == c.Network && c0.Direction == c.Direction && c0.Peer == c.Peer && c0.CreateTime.Equal(c.CreateTime) {
				n -= min(c0.FramesOut, c.FramesOut)
				break
			}
		}
	}
	return n
}

// ChannelRates sums the frames of the nodes by channel kind ("ether",
// "tcp", ...) over every network: TxFrames and RxFrames are totals of all
// nodes, TxPerS and RxPerS means per node.
func (r *Result) ChannelRates() map[string]Channel {
	out := map[string]Channel{}
	for _, n := range r.Nodes {
		for _, c := range n.Channels {
			s := out[c.Channel]
			s.Channel = c.Channel
			s.TxFrames += c.TxFrames
			s.RxFrames += c.RxFrames
			s.TxPerS += c.TxPerS / float64(len(r.Nodes))
			s.RxPerS += c.RxPerS / float64(len(r.Nodes))
			out[c.Channel] = s
		}
	}
	for k, s := range out {
		s.TxPerS, s.RxPerS = stats.Round3(s.TxPerS), stats.Round3(s.RxPerS)
		out[k] = s
	}
	return out
}
