package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/bench/internal/idle"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// cpuConfigs are the channel configurations of the cpu part, each used on
// both networks.
var cpuConfigs = [][]string{{"ether"}, {"tcp"}, {"ether", "tcp"}}

// runCPU measures every profile × channel configuration on a fresh 3-node,
// 2-network bed each, then derives the tcp channel's cost per profile.
func runCPU(t testbed.T, o options) ([]*CPURun, []TCPCost) {
	var runs []*CPURun
	var costs []TCPCost
	for _, p := range o.profiles {
		var mine []*CPURun
		for _, ch := range cpuConfigs {
			r := cpuRun(t, o, p, ch)
			if r.Idle != nil {
				t.Logf("cpu %s %v: %.3f %% of a core (schedstat, mean of 3), %.1f frames/s sent + %.1f received, %.1f µs per frame",
					p.name, ch, r.Idle.MeanSchedCPU, r.Idle.TxPerS, r.Idle.RxPerS, r.Idle.CPUPerFrameMicros)
			}
			mine = append(mine, r)
		}
		runs = append(runs, mine...)
		if c, err := tcpCost(p.name, mine); err == nil {
			costs = append(costs, c)
		} else {
			t.Logf("cpu %s: no tcp cost derived: %v", p.name, err)
		}
	}
	return runs, costs
}

// cpuRun measures one configuration.
func cpuRun(t testbed.T, o options, p profile, channels []string) *CPURun {
	r := &CPURun{Profile: p.name, Channels: channels}
	b := testbed.New(t, testbed.Options{BinDir: o.bin, Timers: p.timers, Networks: []testbed.NetworkSpec{
		{Name: "hb0", Channels: channels}, {Name: "hb1", Channels: channels}}})
	defer bedutil.Finish(t, b, o.out, "tcp-cpu-"+p.name+"-"+strings.Join(channels, "+"))
	b.StartAll()
	if err := bedutil.WaitAllChannelsUp(b, upTimeout); err != nil {
		r.Error = err.Error()
		return r
	}
	tm, err := bedutil.EffectiveTimers(b)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Timers = tm
	time.Sleep(startupSettle)
	t.Logf("cpu %s %v: measuring %v", p.name, channels, o.window)
	if r.Idle, err = idle.Measure(b, o.window); err != nil {
		r.Error = err.Error()
		return r
	}
	r.ByChannel = r.Idle.ChannelRates()
	return r
}

// tcpCost derives the tcp channel's cost from one profile's runs.
func tcpCost(profile string, runs []*CPURun) (TCPCost, error) {
	c := TCPCost{Profile: profile}
	find := func(channels string) (*idle.Result, error) {
		for _, r := range runs {
			if strings.Join(r.Channels, "+") == channels && r.Idle != nil {
				return r.Idle, nil
			}
		}
		return nil, fmt.Errorf("no measurement with channels %s", channels)
	}
	ether, err := find("ether")
	if err != nil {
		return c, err
	}
	tcp, err := find("tcp")
	if err != nil {
		return c, err
	}
	both, err := find("ether+tcp")
	if err != nil {
		return c, err
	}
	c.EtherMicrosPerFrame, c.TCPMicrosPerFrame = ether.CPUPerFrameMicros, tcp.CPUPerFrameMicros
	c.ExtraCPUPercent = stats.Round3(both.MeanSchedCPU - ether.MeanSchedCPU)
	dFrames := (both.TxPerS + both.RxPerS) - (ether.TxPerS + ether.RxPerS)
	if dFrames <= 0 {
		return c, fmt.Errorf("[ether, tcp] moved no more frames than [ether] (%.1f/s)", dFrames)
	}
	c.MarginalMicrosPerFrame = stats.Round3(c.ExtraCPUPercent / 100 * 1e6 / dFrames)
	rates := both.ChannelRates()
	etherTx, tcpTx := rates["ether"].TxPerS, rates["tcp"].TxPerS
	if etherTx <= 0 {
		return c, fmt.Errorf("[ether, tcp]: no ether frames sent")
	}
	// Ether sends one heartbeat frame per link per interval: its rate is
	// the heartbeat rate.
	c.TCPFramesPerHeartbeat = stats.Round3(tcpTx / etherTx)
	c.MicrosPerHeartbeat = stats.Round3(c.ExtraCPUPercent / 100 * 1e6 / etherTx)
	return c, nil
}
