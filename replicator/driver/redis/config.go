package redis

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"
)

// fenceValue is the min-replicas-to-write a fence sets: no deployment has
// that many replicas, so a fenced primary answers every write with
// NOREPLICAS. Redis 7.0 takes 0..INT_MAX (2147483647) and refuses larger
// values ("argument must be between 0 and 2147483647 inclusive").
const fenceValue = 2147483647

// defaultMaxLag is Redis's own default min-replicas-max-lag; the fence
// needs a non-zero one (see Fence).
const defaultMaxLag = 10

// Config is one resource's Redis back end, as seen from node Self.
type Config struct {
	// Self is this node's name, a key of Addrs.
	Self string
	// Addrs maps every node of the resource to the host:port of its
	// redis-server. The driver commands only Addrs[Self]; it reads the
	// others (INFO) to sample a replica's lag.
	Addrs map[string]string
	// Password for every redis (AUTH). The servers' own masterauth must
	// let replicas in; the driver does not set it.
	Password string
	// Timeout bounds each command (dial included); default 1s.
	Timeout time.Duration
	// MinReplicasToWrite is the operator's normal min-replicas-to-write,
	// what Unfence restores; default 0.
	MinReplicasToWrite int
}

// Validate checks c without contacting any server.
func (c Config) Validate() error {
	if c.Self == "" {
		return errors.New("redis: self: empty node name")
	}
	if _, ok := c.Addrs[c.Self]; !ok {
		return fmt.Errorf("redis: self %q has no address in addrs", c.Self)
	}
	if len(c.Addrs) < 2 {
		return fmt.Errorf("redis: addrs: %d node(s), need at least 2", len(c.Addrs))
	}
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Addrs)) {
		addr := c.Addrs[name]
		if name == "" {
			return errors.New("redis: addrs: empty node name")
		}
		if err := checkAddr(addr); err != nil {
			return fmt.Errorf("redis: addrs: node %s: %w", name, err)
		}
		if other, dup := seen[addr]; dup {
			// Following is found by address: two names for one
			// server would make it ambiguous.
			return fmt.Errorf("redis: addrs: nodes %s and %s share address %s", other, name, addr)
		}
		seen[addr] = name
	}
	if c.Timeout < 0 {
		return fmt.Errorf("redis: timeout %v is negative", c.Timeout)
	}
	if c.MinReplicasToWrite < 0 || c.MinReplicasToWrite >= fenceValue {
		return fmt.Errorf("redis: min_replicas_to_write %d: must be in [0, %d)", c.MinReplicasToWrite, fenceValue)
	}
	return nil
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: port %q is not in 1..65535", addr, port)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = time.Second
	}
	c.Addrs = maps.Clone(c.Addrs) // the caller's map may change under us
	return c
}
