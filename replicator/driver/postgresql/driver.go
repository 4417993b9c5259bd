package postgresql

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tether-ha/tether/replicator/driver"
)

// Driver drives the local PostgreSQL server. It keeps no state that
// matters across restarts: the role, the fence and the upstream are read
// from the server (and the markers in DataDir) each time.
type Driver struct {
	cfg   Config
	user  osUser
	pgcfg map[string]*pgx.ConnConfig // node -> parsed Conninfo
	conns map[string]*connSlot
	ends  map[string][]endpoint // node -> where a replica may stream from it

	mu     sync.Mutex
	sample lagSample // the last primary WAL position read
}

// lagSample is a primary's pg_current_wal_lsn() and when it was read: the
// lag is measured against it, and stays measured against it while the
// primary cannot be reached.
type lagSample struct {
	node string
	lsn  uint64
	at   time.Time
}

var _ driver.Driver = (*Driver)(nil)

// New checks cfg and the data directory; it does not need the server up.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	fi, err := os.Stat(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("postgresql: data directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("postgresql: data directory %s is not a directory", cfg.DataDir)
	}
	if _, err := os.Stat(filepath.Join(cfg.BinDir, "pg_ctl")); err != nil {
		return nil, fmt.Errorf("postgresql: BinDir: %w", err)
	}
	u, err := resolveOSUser(cfg.OSUser, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	d := &Driver{
		cfg:   cfg,
		user:  u,
		pgcfg: map[string]*pgx.ConnConfig{},
		conns: map[string]*connSlot{},
		ends:  map[string][]endpoint{},
	}
	for node, ci := range cfg.Conninfo {
		pc, err := pgx.ParseConfig(ci)
		if err != nil {
			return nil, fmt.Errorf("postgresql: Conninfo[%s]: %v", node, err)
		}
		if _, ok := pc.RuntimeParams["application_name"]; !ok {
			pc.RuntimeParams["application_name"] = "tether" // to tell our sessions apart in pg_stat_activity
		}
		d.pgcfg[node] = pc
		d.conns[node] = &connSlot{}
		// The replication conninfo first: it is what primary_conninfo
		// holds, so what sender_host shows.
		d.ends[node] = append(endpoints(cfg.ReplicationConninfo[node]), endpoints(ci)...)
	}
	return d, nil
}

// LagUnit: Status.Lag is in bytes of WAL.
func (d *Driver) LagUnit() string { return "bytes" }

// Close closes the kept connections.
func (d *Driver) Close() error {
	for _, s := range d.conns {
		s.drop(true)
	}
	return nil
}

// reading is one look at the local server.
type reading struct {
	inRecovery   bool
	lsn          *string // replay position on a replica, write position on a primary
	readOnly     string  // default_transaction_read_only
	timeline     *int32
	wrStatus     *string // pg_stat_wal_receiver: absent when no receiver runs
	senderHost   *string
	senderPort   *int32
	primaryConn  *string // primary_conninfo, when no receiver says where it streams from
	primaryConnE error
}

const readingSQL = `SELECT pg_is_in_recovery(),
	(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text,
	current_setting('default_transaction_read_only'),
	CASE WHEN pg_is_in_recovery()
		THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
		-- The WAL file name starts with the timeline; the control file's
		-- lags behind a promotion until the next checkpoint.
		ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
	(SELECT status FROM pg_stat_wal_receiver),
	(SELECT sender_host FROM pg_stat_wal_receiver),
	(SELECT sender_port FROM pg_stat_wal_receiver)`

func (d *Driver) read(ctx context.Context) (reading, error) {
	var r reading
	err := d.withConn(ctx, d.cfg.Self, queryTimeout, func(ctx context.Context, c *pgx.Conn) error {
		r = reading{}
		if err := c.QueryRow(ctx, readingSQL).Scan(&r.inRecovery, &r.lsn, &r.readOnly, &r.timeline,
			&r.wrStatus, &r.senderHost, &r.senderPort); err != nil {
			return err
		}
		if r.inRecovery && r.senderHost == nil {
			// Superusers only; without it a replica's upstream is unknown
			// while its link is down.
			r.primaryConnE = c.QueryRow(ctx, "SELECT current_setting('primary_conninfo')").Scan(&r.primaryConn)
			var pgErr *pgconn.PgError
			if r.primaryConnE != nil && !errors.As(r.primaryConnE, &pgErr) {
				return r.primaryConnE
			}
		}
		return nil
	})
	return r, err
}

// following names the node a replica streams from (or is configured to),
// else its address ("" when unknown).
func (d *Driver) following(r reading) string {
	var at []endpoint
	if r.senderHost != nil && r.senderPort != nil {
		at = []endpoint{{*r.senderHost, uint16(*r.senderPort)}}
	} else if r.primaryConn != nil && *r.primaryConn != "" {
		at = endpoints(*r.primaryConn)
	}
	for _, e := range at {
		for _, node := range sortedKeys(d.cfg.Conninfo) {
			if node == d.cfg.Self {
				continue
			}
			for _, ne := range d.ends[node] {
				if ne == e {
					return node
				}
			}
		}
	}
	if len(at) > 0 {
		return at[0].String()
	}
	return ""
}

// Status reads the local server. Down: RoleDown and an error, except when
// it was stopped by a "stop" fence (RoleFenced).
func (d *Driver) Status(ctx context.Context) (driver.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	r, err := d.read(ctx)
	if err != nil {
		return d.downStatus(ctx, err)
	}
	var offset uint64
	if r.lsn != nil {
		if offset, err = parseLSN(*r.lsn); err != nil {
			return driver.Status{Role: driver.RoleDown, Detail: err.Error()}, fmt.Errorf("postgresql: local server: %w", err)
		}
	}
	tl := ""
	if r.timeline != nil {
		tl = fmt.Sprintf(", timeline %d", *r.timeline)
	}
	if !r.inRecovery {
		st := driver.Status{Role: driver.RolePrimary, Offset: offset,
			Detail: fmt.Sprintf("primary at %s%s", formatLSN(offset), tl)}
		if r.readOnly == "on" {
			st.Role = driver.RoleFenced
			st.Detail = "fenced (default_transaction_read_only = on), " + st.Detail
		}
		return st, nil
	}
	st := driver.Status{Role: driver.RoleReplica, Offset: offset, Following: d.following(r)}
	link := "no WAL receiver"
	if r.wrStatus != nil {
		link = "WAL receiver " + *r.wrStatus
		st.LinkUp = *r.wrStatus == "streaming"
	}
	st.Detail = fmt.Sprintf("replica of %s (%s), replayed to %s%s", orUnknown(st.Following), link, formatLSN(offset), tl)
	if _, isNode := d.cfg.Conninfo[st.Following]; isNode {
		s, serr := d.samplePrimary(ctx, st.Following)
		if serr != nil {
			st.Detail += "; primary WAL position: " + serr.Error()
		}
		if s.node == st.Following && !s.at.IsZero() {
			if s.lsn > offset {
				st.Lag = s.lsn - offset
			}
			st.LagAt = s.at
		}
	}
	return st, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown primary"
	}
	return s
}

// samplePrimary reads node's WAL position; when it does not answer, the
// last sample stands (with its time).
func (d *Driver) samplePrimary(ctx context.Context, node string) (lagSample, error) {
	var text string
	err := d.withConn(ctx, node, queryTimeout, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&text)
	})
	at := time.Now()
	var lsn uint64
	if err == nil {
		lsn, err = parseLSN(text)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && (d.sample.node != node || at.After(d.sample.at)) {
		d.sample = lagSample{node: node, lsn: lsn, at: at}
	}
	return d.sample, err
}

// downStatus is Status when the local server does not answer.
func (d *Driver) downStatus(ctx context.Context, connErr error) (driver.Status, error) {
	reason, fenced := d.readMarker(fenceMarker)
	if fenced {
		up, err := d.running(ctx)
		if err == nil && !up {
			return driver.Status{Role: driver.RoleFenced, Detail: "stopped by the fence: " + reason}, nil
		}
	}
	detail := connErr.Error()
	if why, ok := d.readMarker(divergedMarker); ok {
		detail = "left stopped by Follow, " + strings.ReplaceAll(why, "\n", "; ") + "; " + detail
	}
	return driver.Status{Role: driver.RoleDown, Detail: detail}, fmt.Errorf("postgresql: local server down: %w", connErr)
}
