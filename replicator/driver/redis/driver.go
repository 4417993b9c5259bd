// Package redis is the failover supervisor's driver for a Redis back end:
// it reads and steers the redis-server on this node only (INFO
// replication, CONFIG SET min-replicas-to-write as a fence, REPLICAOF,
// FAILOVER), and reads the peers' INFO to sample a replica's lag.
package redis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/tether-ha/tether/replicator/driver"
)

var (
	_ driver.Driver     = (*Driver)(nil)
	_ driver.Switchover = (*Driver)(nil)
)

// Driver drives the local redis-server of one resource.
type Driver struct {
	cfg   Config
	local *goredis.Client
	peers map[string]*goredis.Client // by node name, Self excluded

	mu     sync.Mutex
	sample lagSample // last reading of the primary the local replica follows
	reason string    // of the last Fence by this process, for Detail
}

// lagSample is a primary's offset as read while it answered.
type lagSample struct {
	primary string // Status.Following at the time
	offset  uint64 // its master_repl_offset
	at      time.Time
}

// New returns a driver for cfg. It does not contact any server: a redis
// that is down now is Status's business, not a configuration error.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d := &Driver{cfg: cfg, peers: map[string]*goredis.Client{}}
	for name, addr := range cfg.Addrs {
		c := newClient(addr, cfg)
		if name == cfg.Self {
			d.local = c
		} else {
			d.peers[name] = c
		}
	}
	return d, nil
}

func newClient(addr string, cfg Config) *goredis.Client {
	return goredis.NewClient(&goredis.Options{
		Addr:     addr,
		Password: cfg.Password,
		// RESP2: no HELLO round trip, and INFO/CONFIG read the same.
		Protocol:              2,
		DialTimeout:           cfg.Timeout,
		ReadTimeout:           cfg.Timeout,
		WriteTimeout:          cfg.Timeout,
		PoolTimeout:           cfg.Timeout,
		ContextTimeoutEnabled: true,
		// One retry covers a pooled connection the server closed (a
		// restart); more would only delay reporting a dead server.
		MaxRetries:    1,
		DialerRetries: 1,
		PoolSize:      4,
		// CLIENT SETINFO is Redis ≥ 7.2 and maintenance notifications
		// are for managed clusters: both only cost round trips here.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// Close releases the connections.
func (d *Driver) Close() error {
	errs := []error{d.local.Close()}
	for _, c := range d.peers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// LagUnit: Status.Lag is in replication-stream bytes.
func (d *Driver) LagUnit() string { return "bytes" }

// Status reads INFO replication on the local redis. On a replica it also
// reads the primary's INFO, when it answers, to measure the lag.
func (d *Driver) Status(ctx context.Context) (driver.Status, error) {
	info, err := d.info(ctx, d.cfg.Self, d.local)
	if err != nil {
		return driver.Status{Role: driver.RoleDown, Detail: err.Error()}, err
	}
	switch role := info["role"]; role {
	case "master":
		return d.primaryStatus(ctx, info)
	case "slave":
		return d.replicaStatus(ctx, info), nil
	default:
		err := d.errorf(d.cfg.Self, "INFO replication", "unknown role %q", role)
		return driver.Status{Role: driver.RoleDown, Detail: err.Error()}, err
	}
}

func (d *Driver) primaryStatus(ctx context.Context, info map[string]string) (driver.Status, error) {
	st := driver.Status{Role: driver.RolePrimary, Offset: infoUint(info, "master_repl_offset")}
	detail := fmt.Sprintf("master, offset %d, %s replica(s) connected", st.Offset, info["connected_slaves"])
	if fs := info["master_failover_state"]; fs != "" && fs != "no-failover" {
		detail += ", failover " + fs
	}
	// The fence is read from the server, not remembered: it must show
	// after an agent restart.
	fenced, err := d.fenced(ctx)
	if err != nil {
		st.Detail = detail + "; fence unknown: " + err.Error()
		return st, err
	}
	if fenced {
		st.Role = driver.RoleFenced
		detail = fmt.Sprintf("fenced (min-replicas-to-write %d), %s", fenceValue, detail)
		d.mu.Lock()
		if d.reason != "" {
			detail += "; reason: " + d.reason
		}
		d.mu.Unlock()
	}
	st.Detail = detail
	return st, nil
}

func (d *Driver) replicaStatus(ctx context.Context, info map[string]string) driver.Status {
	host, port := info["master_host"], info["master_port"]
	addr := net.JoinHostPort(host, port)
	name := d.nodeAt(ctx, host, port)
	st := driver.Status{
		Role:      driver.RoleReplica,
		Following: addr,
		LinkUp:    info["master_link_status"] == "up",
		Offset:    infoUint(info, "slave_repl_offset"),
	}
	if name != "" {
		st.Following = name
	}
	var b strings.Builder
	fmt.Fprintf(&b, "replica of %s (%s), link %s, offset %d", st.Following, addr, info["master_link_status"], st.Offset)
	if info["master_sync_in_progress"] == "1" {
		b.WriteString(", full sync in progress")
	}
	if s := info["master_link_down_since_seconds"]; !st.LinkUp && s != "" && s != "-1" {
		fmt.Fprintf(&b, ", link down for %ss", s)
	}

	// The primary's offset is read after the replica's, so the lag is
	// never under-estimated.
	if c := d.peers[name]; c != nil {
		pinfo, err := d.info(ctx, name, c)
		if err == nil {
			now := time.Now()
			d.mu.Lock()
			if now.After(d.sample.at) { // a concurrent Status may have a newer one
				d.sample = lagSample{primary: st.Following, offset: infoUint(pinfo, "master_repl_offset"), at: now}
			}
			d.mu.Unlock()
			if pinfo["master_replid"] != info["master_replid"] {
				b.WriteString(", replication ids differ (resync pending)")
			}
		} else {
			fmt.Fprintf(&b, "; primary unreachable, lag as of the last sample: %v", err)
		}
	} else {
		b.WriteString("; not a node of this resource, lag unknown")
	}
	d.mu.Lock()
	s := d.sample
	d.mu.Unlock()
	if s.primary == st.Following && !s.at.IsZero() {
		if s.offset > st.Offset {
			st.Lag = s.offset - st.Offset
		}
		st.LagAt = s.at
	}
	st.Detail = b.String()
	return st
}

// nodeAt names the node whose redis is host:port, "" if none. A replica
// shows its master as REPLICAOF or FAILOVER named it, an IP where the
// configuration may have a host name: those are resolved.
func (d *Driver) nodeAt(ctx context.Context, host, port string) string {
	names := slices.Sorted(maps.Keys(d.cfg.Addrs))
	for _, name := range names {
		h, p, _ := net.SplitHostPort(d.cfg.Addrs[name])
		if p == port && sameHost(h, host) {
			return name
		}
	}
	for _, name := range names {
		if h, p, _ := net.SplitHostPort(d.cfg.Addrs[name]); p == port && net.ParseIP(h) == nil && d.resolvesTo(ctx, h, host) {
			return name
		}
	}
	return ""
}

func sameHost(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	return ia != nil && ib != nil && ia.Equal(ib)
}

func (d *Driver) resolvesTo(ctx context.Context, name, ip string) bool {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(addrs, func(a string) bool { return sameHost(a, ip) })
}

// info runs INFO replication on node's redis.
func (d *Driver) info(ctx context.Context, node string, c *goredis.Client) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	s, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return nil, d.wrap(node, "INFO replication", err)
	}
	return parseInfo(s), nil
}

func parseInfo(s string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

func infoUint(info map[string]string, key string) uint64 {
	n, err := strconv.ParseUint(info[key], 10, 64)
	if err != nil {
		return 0 // absent, or -1 for "none"
	}
	return n
}

// replicaEntry is one slaveN line of a primary's INFO replication.
type replicaEntry struct {
	ip, port, state string
	offset          uint64
}

func infoReplicas(info map[string]string) []replicaEntry {
	var rs []replicaEntry
	for i := 0; ; i++ {
		v, ok := info["slave"+strconv.Itoa(i)]
		if !ok {
			return rs
		}
		var r replicaEntry
		for f := range strings.SplitSeq(v, ",") {
			k, val, _ := strings.Cut(f, "=")
			switch k {
			case "ip":
				r.ip = val
			case "port":
				r.port = val
			case "state":
				r.state = val
			case "offset":
				r.offset, _ = strconv.ParseUint(val, 10, 64)
			}
		}
		rs = append(rs, r)
	}
}

// do runs one command on the local redis.
func (d *Driver) do(ctx context.Context, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	err := d.local.Do(ctx, args...).Err()
	if err != nil {
		return d.wrap(d.cfg.Self, cmdString(args), err)
	}
	return nil
}

func (d *Driver) configGet(ctx context.Context, param string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	m, err := d.local.ConfigGet(ctx, param).Result()
	if err != nil {
		return "", d.wrap(d.cfg.Self, "CONFIG GET "+param, err)
	}
	v, ok := m[param]
	if !ok {
		return "", d.errorf(d.cfg.Self, "CONFIG GET "+param, "no such parameter")
	}
	return v, nil
}

func (d *Driver) configSet(ctx context.Context, param, value string) error {
	return d.do(ctx, "CONFIG", "SET", param, value)
}

func cmdString(args []any) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = fmt.Sprint(a)
	}
	return strings.Join(s, " ")
}

// wrap says which node, address and command failed.
func (d *Driver) wrap(node, cmd string, err error) error {
	return fmt.Errorf("redis %s (%s): %s: %w", node, d.cfg.Addrs[node], cmd, err)
}

func (d *Driver) errorf(node, cmd, format string, args ...any) error {
	return d.wrap(node, cmd, fmt.Errorf(format, args...))
}
