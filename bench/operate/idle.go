package main

import (
	"context"
	"sync"
	"time"

	"github.com/tether-ha/tether/bench/internal/idle"
	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// measureIdle measures the agents of the public bed over dur (package
// idle: CPU from /proc at both ends of the window, RSS at its end); with
// scrape, this process meanwhile scrapes every agent's /metrics on the
// public network every promScrapeInterval, the first just after the start
// of the window (so that a 60 s window holds four rounds), as a
// Prometheus at a 15 s interval does. config names the configuration.
// windowStartDelay is how long after calling idle.Measure the first
// round of scrapes starts: inside the CPU window.
const windowStartDelay = 200 * time.Millisecond

func measureIdle(b *testbed.Bed, dur time.Duration, config string, scrape bool) (*IdleResult, error) {
	scrapers := make([]*scraper, b.N())
	for i := range scrapers {
		scrapers[i] = newScraper(b.NodeNS(i), publicMetricsAddr(b, i))
	}
	r := &IdleResult{Config: config, TargetCPU: idleCPUTarget, TargetRSS: idleRSSTarget}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	if scrape {
		r.ScrapeEveryS = promScrapeInterval.Seconds()
		wg.Add(1)
		go scrapeLoop(ctx, &wg, scrapers, &mu, &lat, &r.ScrapeErrors)
	}
	m, err := idle.Measure(b, dur)
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	r.Result = m
	r.Scrapes = len(lat)
	r.ScrapeLatency = stats.Summarize(lat)
	r.Met = m.MeanCPU <= idleCPUTarget && m.MaxCPU <= idleCPUTarget && m.MaxRSSMiB <= idleRSSTarget
	return r, nil
}

// scrapeLoop scrapes every agent every promScrapeInterval until ctx is
// done, collecting the latencies and counting the errors (under mu).
func scrapeLoop(ctx context.Context, wg *sync.WaitGroup, scrapers []*scraper, mu *sync.Mutex, lat *[]time.Duration, errs *int) {
	defer wg.Done()
	// idle.Measure reads the statuses, then starts the window.
	select {
	case <-ctx.Done():
		return
	case <-time.After(windowStartDelay):
	}
	tick := time.NewTicker(promScrapeInterval)
	defer tick.Stop()
	for {
		for _, s := range scrapers {
			sc, err := s.get(ctx, encGzip)
			mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					*errs++
				}
			} else {
				*lat = append(*lat, sc.latency)
			}
			mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
