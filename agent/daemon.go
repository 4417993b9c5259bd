package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
)

// Daemon runs a whole tetherd: the agent, its status socket, systemd
// readiness and watchdog, and key reloads.
type Daemon struct {
	ConfigPath string
	Log        *slog.Logger
	// Reload delivers a value for every SIGHUP: the key file is re-read and
	// the new keys installed without a restart (key rotation).
	Reload <-chan struct{}
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

// Run starts everything and blocks until ctx is done or something fails.
// Every startup failure (bad config, key file, missing interface, missing
// CAP_NET_RAW, socket in use) is returned before anything runs.
func (d *Daemon) Run(ctx context.Context) error {
	cfg, keys, err := Check(d.ConfigPath)
	if err != nil {
		return err
	}
	a, err := New(cfg, keys, d.Log)
	if err != nil {
		return err
	}
	srv, err := status.Listen(cfg.Status.Socket, a, d.Log)
	if err != nil {
		a.close()
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(runCtx); err != nil {
			d.Log.Error("status server failed", "event", "status.error", "err", err)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.background(runCtx, a, cfg)
	}()
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		d.Log.Debug("sd_notify failed", "err", err)
	}
	err = a.Run(runCtx)
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	return err
}

// background serves key reloads and the systemd watchdog. The watchdog is
// fed only while the agent can take its lock, so a wedged agent gets restarted.
func (d *Daemon) background(ctx context.Context, a *Agent, cfg *config.Config) {
	var tick <-chan time.Time
	if iv, err := daemon.SdWatchdogEnabled(false); err == nil && iv > 0 {
		t := time.NewTicker(iv / 3)
		defer t.Stop()
		tick = t.C
	}
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
				d.Log.Error("key reload failed, keeping the old keys", "event", "keys.reload", "err", err)
				continue
			}
			d.Log.Info("keys reloaded", "event", "keys.reload", "key_ids", a.keyIDs())
		case <-tick:
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := a.do(pctx, func(time.Time) {})
			cancel()
			if err == nil {
				_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
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
