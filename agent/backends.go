package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/replicator/driver"
	"github.com/tether-ha/tether/replicator/driver/backend"
	execdriver "github.com/tether-ha/tether/replicator/driver/exec"
	"github.com/tether-ha/tether/replicator/driver/postgresql"
	"github.com/tether-ha/tether/replicator/driver/redis"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/supervisor"
)

// backends are the resources of this node whose copy is a real back end
// (redis, postgresql, exec hooks), each a driver and the target that
// reconciles it with the resource's epoch and the supervisor's lease.
type backends struct {
	targets map[string]*backend.Target
	drivers []driver.Driver
}

// openBackends opens a driver per back-end resource this node holds a
// copy of; nil without any.
func openBackends(cfg *config.Config, log *slog.Logger) (*backends, error) {
	var b *backends
	self := cfg.Node.Name
	for i := range cfg.Resources {
		r := &cfg.Resources[i]
		if r.Driver == config.DriverBuiltin || !r.Members(self) {
			continue
		}
		if b == nil {
			b = &backends{targets: map[string]*backend.Target{}}
		}
		d, err := openDriver(r, self)
		if err != nil {
			b.close()
			return nil, fmt.Errorf("resource %q: %w", r.Name, err)
		}
		b.drivers = append(b.drivers, d)
		states, err := resource.Open(nil, cfg.Replicator.Dir)
		if err == nil {
			b.targets[r.Name], err = backend.New(backend.Config{Resource: r.Name, Self: self, Primary: r.Primary, Driver: d,
				States: states, Leased: supervisor.Supervised(r.Failover, cfg.Voters()), Log: log.With("resource", r.Name)})
		}
		if err != nil {
			b.close()
			return nil, fmt.Errorf("resource %q: %w", r.Name, err)
		}
	}
	return b, nil
}

func openDriver(r *config.Resource, self string) (driver.Driver, error) {
	switch r.Driver {
	case config.DriverRedis:
		c, err := r.RedisConfig(self)
		if err != nil {
			return nil, err
		}
		return redis.New(c)
	case config.DriverPostgreSQL:
		return postgresql.New(r.PostgresConfig(self))
	case config.DriverExec:
		return execdriver.New(r.ExecConfig(self))
	}
	return nil, fmt.Errorf("driver %q has no back end", r.Driver)
}

// run reconciles every back end until ctx ends.
func (b *backends) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range b.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(ctx)
		}()
	}
	wg.Wait()
}

// close closes the drivers (after run returned).
func (b *backends) close() {
	if b == nil {
		return
	}
	for _, d := range b.drivers {
		_ = d.Close()
	}
}
