package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	execdriver "github.com/tether-ha/tether/replicator/driver/exec"
	"github.com/tether-ha/tether/replicator/driver/postgresql"
	"github.com/tether-ha/tether/replicator/driver/redis"
)

// Back-end drivers: a resource whose primary and mirror are a real
// back end's servers, which tether promotes, fences and re-points.
const (
	DriverRedis      = "redis"
	DriverPostgreSQL = "postgresql"
	DriverExec       = "exec"
)

// RedisBackend is a resource's redis: section.
type RedisBackend struct {
	Addresses    map[string]string // node name -> host:port of its redis-server
	PasswordFile string
	Timeout      time.Duration
}

// PostgresBackend is a resource's postgresql: section.
type PostgresBackend struct {
	Conninfo            map[string]string // node name -> libpq conninfo
	ReplicationConninfo map[string]string
	DataDir             string
	BinDir              string
	OSUser              string
	Fence               string
	Rewind              bool
	Timeout             time.Duration
}

// ExecBackend is a resource's exec: section (argv of each hook).
type ExecBackend struct {
	Status, Promote, Fence, Unfence, Follow []string
	Timeout                                 time.Duration
	Env                                     []string
	LagUnit                                 string
}

func (w *walker) strMap(dst *map[string]string) decodeFunc {
	return func(v *yaml.Node, p string) {
		m := map[string]string{}
		w.dict(v, p, func(k string, v *yaml.Node, p string) {
			var s string
			w.str(&s, nil)(v, p)
			if w.ok(p) {
				m[k] = s
			}
		})
		*dst = m
	}
}

func (r *Resource) backendFields(w *walker) []field {
	return []field{
		{DriverRedis, optional, func(v *yaml.Node, p string) {
			r.Redis = &RedisBackend{}
			w.mapping(v, p, []field{
				{"addresses", required, w.strMap(&r.Redis.Addresses)},
				{"password_file", optional, w.str(&r.Redis.PasswordFile, checkAbsPath)},
				{"timeout", optional, w.duration(&r.Redis.Timeout)},
			})
		}},
		{DriverPostgreSQL, optional, func(v *yaml.Node, p string) {
			r.Postgres = &PostgresBackend{Rewind: true}
			pg := r.Postgres
			w.mapping(v, p, []field{
				{"conninfo", required, w.strMap(&pg.Conninfo)},
				{"replication_conninfo", optional, w.strMap(&pg.ReplicationConninfo)},
				{"data_dir", required, w.str(&pg.DataDir, checkAbsPath)},
				{"bin_dir", optional, w.str(&pg.BinDir, checkAbsPath)},
				{"os_user", optional, w.str(&pg.OSUser, nil)},
				{"fence", optional, w.str(&pg.Fence, nil)},
				{"rewind", optional, w.boolean(&pg.Rewind)},
				{"timeout", optional, w.duration(&pg.Timeout)},
			})
		}},
		{DriverExec, optional, func(v *yaml.Node, p string) {
			r.Exec = &ExecBackend{}
			x := r.Exec
			w.mapping(v, p, []field{
				{"status", required, w.strList(&x.Status, nil)},
				{"promote", required, w.strList(&x.Promote, nil)},
				{"fence", required, w.strList(&x.Fence, nil)},
				{"unfence", required, w.strList(&x.Unfence, nil)},
				{"follow", required, w.strList(&x.Follow, nil)},
				{"timeout", optional, w.duration(&x.Timeout)},
				{"env", optional, w.strList(&x.Env, nil)},
				{"lag_unit", optional, w.str(&x.LagUnit, nil)},
			})
		}},
	}
}

// validateBackend checks the driver section of resource r (at path p):
// the one its driver needs and no other; on a node holding a copy, the
// driver's own checks as that node.
func validateBackend(c *Config, w *walker, r *Resource, p string) {
	sections := map[string]bool{DriverRedis: r.Redis != nil, DriverPostgreSQL: r.Postgres != nil, DriverExec: r.Exec != nil}
	for name, set := range sections {
		if set && name != r.Driver {
			w.failf(p+"."+name, "a %s section on a resource of driver %q", name, r.Driver)
		}
	}
	if r.Driver == DriverBuiltin {
		if !w.given(p + ".topics") {
			w.failf(p, "missing required key \"topics\" (driver builtin)")
		}
		return
	}
	if w.given(p + ".topics") {
		w.failf(p+".topics", "topics belong to the builtin driver; a %s resource is the back end's own data", r.Driver)
	}
	if w.given(p+".acks") || w.given(p+".acks_timeout") {
		w.failf(p, "acks and acks_timeout belong to the builtin driver: a %s back end replicates with its own settings", r.Driver)
	}
	if !sections[r.Driver] {
		w.failf(p, "driver %s needs a %s: section", r.Driver, r.Driver)
		return
	}
	if !r.Members(c.Node.Name) || !w.ok(p) {
		return
	}
	sp := p + "." + r.Driver
	if err := r.checkDriver(c.Node.Name); err != nil {
		w.failf(sp, "%v", err)
	}
}

// checkDriver runs the driver's own validation as node self.
func (r *Resource) checkDriver(self string) error {
	switch r.Driver {
	case DriverRedis:
		cfg, err := r.RedisConfig(self)
		if err != nil {
			return err
		}
		return cfg.Validate()
	case DriverPostgreSQL:
		return r.PostgresConfig(self).Validate()
	case DriverExec:
		return r.ExecConfig(self).Validate()
	}
	return nil
}

// RedisConfig is the redis driver's configuration on node self (the
// password read from its file).
func (r *Resource) RedisConfig(self string) (redis.Config, error) {
	c := redis.Config{Self: self, Addrs: r.Redis.Addresses, Timeout: r.Redis.Timeout}
	if f := r.Redis.PasswordFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return c, fmt.Errorf("password_file: %w", err)
		}
		c.Password = strings.TrimRight(string(b), "\r\n")
	}
	return c, nil
}

// PostgresConfig is the postgresql driver's configuration on node self.
func (r *Resource) PostgresConfig(self string) postgresql.Config {
	p := r.Postgres
	return postgresql.Config{Self: self, Conninfo: p.Conninfo, ReplicationConninfo: p.ReplicationConninfo, DataDir: p.DataDir,
		BinDir: p.BinDir, OSUser: p.OSUser, Fence: p.Fence, Rewind: p.Rewind, Timeout: p.Timeout}
}

// ExecConfig is the exec driver's configuration on node self.
func (r *Resource) ExecConfig(self string) execdriver.Config {
	x := r.Exec
	return execdriver.Config{Resource: r.Name, Self: self, Status: x.Status, Promote: x.Promote, Fence: x.Fence,
		Unfence: x.Unfence, Follow: x.Follow, Timeout: x.Timeout, Env: x.Env, LagUnit: x.LagUnit}
}
