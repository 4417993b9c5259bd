package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/logsink"
	"github.com/tether-ha/tether/agent/metrics"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/agent/status/render"
	"github.com/tether-ha/tether/replicator/driver/builtin"
)

// Daemon runs a whole tetherd: the agent, its status socket, systemd
// readiness and watchdog, and key reloads.
type Daemon struct {
	ConfigPath string
	// Log is where the daemon's records go. The daemon never waits for
	// it: records pass through a logsink (a bounded queue and one writer),
	// so a stalled journald costs records, counted in the status, never
	// heartbeats.
	Log *slog.Logger
	// Reload delivers a value for every SIGHUP: the key file is re-read and
	// the new keys installed without a restart (key rotation).
	Reload <-chan struct{}
	// SetProcs lets the daemon choose GOMAXPROCS for its configuration
	// (Procs); tetherd sets it unless GOMAXPROCS is in the environment.
	SetProcs bool

	run func(a *Agent, ctx context.Context) error // the agent's run loop; (*Agent).Run unless a test sets it
}

// Check loads and validates the configuration and the key file.
func Check(path string) (*config.Config, [][]byte, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	keys, err := config.LoadKeys(cfg.Cluster.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	return cfg, keys, nil
}

// Procs is the GOMAXPROCS tetherd runs with: one P for the heartbeat
// engine alone (a second costs thread wakeups for nothing: measured idle
// 0.45 % -> 0.40 % of a core), two with a replicator, so that produce,
// consume and mirror traffic run beside the engine instead of queueing it
// (measured on one P at full produce speed: heartbeat RTT p99 40-97 x its
// idle value and links in TROUBLE, docs/BENCHMARKS.md "Issue 8").
func Procs(cfg *config.Config) int {
	if cfg.Replicator == nil {
		return 1
	}
	return max(1, min(2, runtime.NumCPU()))
}

// Run starts everything and blocks until ctx is done or something fails.
// Every startup failure (bad config, key file, missing interface, missing
// CAP_NET_RAW, socket in use) is returned before anything runs.
func (d *Daemon) Run(ctx context.Context) error {
	cfg, keys, err := Check(d.ConfigPath)
	if err != nil {
		return err
	}
	if d.SetProcs {
		runtime.GOMAXPROCS(Procs(cfg))
	}
	sink := logsink.New(d.Log.Handler(), 0)
	go sink.Run()
	defer sink.Close(2 * time.Second) // after everything below has stopped: the last records are written
	log := slog.New(sink.Handler())
	a, err := New(cfg, keys, log)
	if err != nil {
		return err
	}
	a.logDropped = sink.Dropped
	// What opens sockets opens them now, so that a port in use stops
	// tetherd at start; undo closes them again on a later failure. The
	// status socket first: a second agent started by mistake is told so
	// ("another agent is listening"), not that some port is taken.
	closers := []func(){a.close}
	undo := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	srv, err := status.Listen(cfg.Status.Socket, a, log)
	if err != nil {
		undo()
		return err
	}
	closers = append(closers, srv.Close)
	if err := a.startPublic(keys); err != nil {
		undo()
		return err
	}
	if a.pub != nil {
		closers = append(closers, a.pub.Close)
	}
	var msrv *metrics.Server
	if cfg.Metrics.Listen != "" {
		reg := metrics.NewRegistry(a.MetricsSnapshot, Version, cfg.Node.Name)
		if msrv, err = metrics.Listen(cfg.Metrics.Listen, reg); err != nil {
			undo()
			return err
		}
		closers = append(closers, func() { _ = msrv.Close() })
	}
	repl, err := openReplicator(cfg, a, log)
	if err != nil {
		undo()
		return err
	}
	if repl != nil {
		defer repl.store.Close() // after the API server and the driver have stopped (the wait below)
	}
	bk, err := openBackends(cfg, log)
	if err != nil {
		undo()
		return err
	}
	defer bk.close() // after the reconcilers have stopped (the wait below)
	voter, err := openQuorum(cfg, log)
	if err != nil {
		undo()
		return err
	}
	if voter != nil {
		defer voter.Close() // after its loop and the supervisor's failovers have stopped (the wait below)
	}
	sup, hist, err := openSupervisor(cfg, a, repl, bk, voter)
	if err != nil {
		undo()
		return err
	}
	if hist != nil {
		defer hist.Close() // after the supervisor has stopped (the wait below)
	}
	// Everything below stops when the agent's run loop returns, for
	// whatever reason: the status server, key reloads and the watchdog (a
	// dead engine must not look alive to systemd). Cancel first, then wait.
	runCtx, cancel := context.WithCancelCause(ctx)
	if repl != nil && repl.mgr != nil {
		// Set before any goroutine that reads them starts (the status
		// server reads mirrorStatus, the channels streamHandler).
		mgr := repl.mgr
		a.mirrorStatus = mgr.Status
		a.streamHandler = func(peer string, s builtin.Stream) { mgr.ServeStream(runCtx, peer, s) }
	}
	a.sup = sup
	var wg sync.WaitGroup
	defer func() {
		cancel(nil)
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(runCtx); err != nil {
			log.Error("status server failed", "event", EvStatusError, "err", err)
			cancel(fmt.Errorf("status server: %w", err))
		}
	}()
	if a.pub != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.pub.Run(runCtx) // leaves the public channel when the agent stops
		}()
	}
	if repl != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			repl.retain(runCtx, log)
		}()
		go func() {
			defer wg.Done()
			if err := repl.api.Serve(runCtx); err != nil {
				log.Error("topic API server failed", "event", EvReplicatorError, "err", err)
				cancel(fmt.Errorf("topic API: %w", err))
			}
		}()
	}
	if repl != nil && repl.mgr != nil {
		mgr := repl.mgr
		wg.Add(2)
		go func() {
			defer wg.Done()
			mgr.Run(runCtx)
		}()
		go func() {
			defer wg.Done()
			a.streamWatch(runCtx)
		}()
	}
	if sup != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.failoverLoop(runCtx, sup)
		}()
	}
	if voter != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			voter.Run(runCtx)
		}()
	}
	if bk != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bk.run(runCtx)
		}()
	}
	if msrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := msrv.Serve(runCtx); err != nil {
				log.Error("metrics server failed", "event", EvMetricsError, "err", err)
				cancel(fmt.Errorf("metrics server: %w", err))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.background(runCtx, a, cfg, log)
	}()
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady) // an error here changes nothing we do
	run := d.run
	if run == nil {
		run = (*Agent).Run
	}
	err = run(a, runCtx)
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	if err == nil && ctx.Err() == nil {
		err = context.Cause(runCtx) // a part failed and stopped the agent
	}
	return err
}

// background serves key reloads, the systemd watchdog and the status line
// systemd shows. The watchdog is fed only while the agent can take its
// lock, so a wedged agent gets restarted. The status line (STATUS=, see
// render.Summary) is sent when a link or network changes and at every
// watchdog tick, when it differs from the last one sent, and only under
// systemd (NOTIFY_SOCKET set): building it takes the engine's lock.
func (d *Daemon) background(ctx context.Context, a *Agent, cfg *config.Config, log *slog.Logger) {
	var tick <-chan time.Time
	if iv, err := daemon.SdWatchdogEnabled(false); err == nil && iv > 0 {
		t := time.NewTicker(iv / 3)
		defer t.Stop()
		tick = t.C
	}
	var changes <-chan struct{}
	var last string
	notifyStatus := func() {}
	if os.Getenv("NOTIFY_SOCKET") != "" {
		changes = a.changes
		notifyStatus = func() {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := a.Status(sctx)
			cancel()
			if err != nil {
				return
			}
			if s := render.Summary(st); s != last {
				last = s
				_, _ = daemon.SdNotify(false, "STATUS="+s)
			}
		}
	}
	notifyStatus()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.Reload:
			keys, err := config.LoadKeys(cfg.Cluster.KeyFile)
			if err == nil {
				err = a.SetKeys(ctx, keys)
			}
			if err != nil {
				log.Error("key reload failed, keeping the old keys", "event", EvKeysReload, "err", err)
				continue
			}
			log.Info("keys reloaded", "event", EvKeysReload, "key_ids", a.keyIDs())
		case <-changes:
			notifyStatus()
		case <-tick:
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := a.do(pctx, func(time.Time) {})
			cancel()
			if err == nil {
				_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
				notifyStatus()
			}
		}
	}
}

func (a *Agent) keyIDs() string {
	s := ""
	for i, id := range a.keys.IDs() {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%08x", id)
	}
	return s
}
