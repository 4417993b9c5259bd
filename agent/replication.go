package agent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/replicator/driver/builtin"
	"github.com/tether-ha/tether/replicator/logstore"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/supervisor"
	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/replicator/topics"
)

// replication is the replicator of this node: the topic store, the
// builtin driver of its resources (nil without any) and the topic API.
type replication struct {
	store *topics.Store
	mgr   *builtin.Manager
	api   *topicapi.Server
}

// openReplicator opens the topic store, the resources' driver (which
// sets every topic's gate before anything can write) and the topic API,
// when the configuration has a replicator section; nil without one.
func openReplicator(cfg *config.Config, a *Agent, log *slog.Logger) (*replication, error) {
	rc := cfg.Replicator
	if rc == nil {
		return nil, nil
	}
	st, err := topics.Open(rc.Dir, topics.Options{Epoch: resource.FirstEpoch,
		Log: logstore.Options{RetentionBytes: rc.RetentionBytes, RetentionAge: rc.RetentionAge}})
	if err != nil {
		return nil, fmt.Errorf("replicator.dir %s: %w", rc.Dir, err)
	}
	r := &replication{store: st}
	var opts []topicapi.Option
	if rs := builtinResources(cfg); len(rs) > 0 {
		states, err := resource.Open(nil, rc.Dir)
		if err == nil {
			r.mgr, err = builtin.New(builtin.Config{Self: cfg.Node.Name, Resources: rs, Store: st, States: states,
				Dialer: a, Log: log})
		}
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("resources: %w", err)
		}
		opts = append(opts, topicapi.WithMirrors(r.mgr, filepath.Join(rc.Dir, "exports")))
	}
	r.api, err = topicapi.Listen(rc.API, st, opts...)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("replicator.api: %w", err)
	}
	return r, nil
}

// builtinResources are the resources this node is primary or mirror of.
func builtinResources(cfg *config.Config) []builtin.ResourceConfig {
	var out []builtin.ResourceConfig
	for _, r := range cfg.Resources {
		if r.Driver != config.DriverBuiltin || (r.Primary != cfg.Node.Name && r.Mirror != cfg.Node.Name) {
			continue
		}
		out = append(out, builtin.ResourceConfig{Name: r.Name, Primary: r.Primary, Mirror: r.Mirror,
			Topics: r.Topics, AcksMirror: r.Acks == config.AcksMirror, AcksTimeout: r.AcksTimeout,
			Leased: supervisor.Supervised(r.Failover, cfg.Voters())})
	}
	return out
}

// retentionEvery is how often retention is applied.
const retentionEvery = time.Minute

// retain applies the topics' retention every minute until ctx ends.
func (r *replication) retain(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := r.store.ApplyRetention()
		if err != nil {
			log.Error("retention failed", "event", EvReplicatorError, "err", err)
		}
		if n > 0 {
			log.Info("retention deleted old segments", "event", EvRetention, "segments", n)
		}
	}
}
