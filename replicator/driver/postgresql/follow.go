package postgresql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tether-ha/tether/replicator/driver"
)

// Follow makes the local server a streaming replica of node primary.
//
//   - Streaming from it already: the fence is lifted, nothing else.
//   - A running replica of another upstream (or not streaming): its
//     primary_conninfo is changed and reloaded; if it then streams, done.
//   - Otherwise (a primary, stopped, or a replica that does not stream)
//     the server is stopped (fast) and pg_rewind decides: with Rewind, it
//     rewinds the data directory onto primary's history (a no-op when it
//     has not diverged) and writes standby.signal and primary_conninfo
//     (-R); without, pg_rewind --dry-run says whether a rewind is needed,
//     and if not the driver writes those itself. The server is then
//     started and Follow waits until it streams.
//
// A copy that needs a rewind it does not get (Rewind off, or pg_rewind
// failed) stays stopped, and Follow returns a *driver.DivergedError with
// the pg_rewind command to run.
//
// Each step (checks, retargeting, stop, pg_rewind, start, catching up) is
// bounded by Config.Timeout; the whole call by ctx.
func (d *Driver) Follow(ctx context.Context, primary string) error {
	if primary == d.cfg.Self {
		return fmt.Errorf("postgresql: follow %s: that is this node", primary)
	}
	if _, ok := d.cfg.Conninfo[primary]; !ok {
		return fmt.Errorf("postgresql: follow %s: not a node of Conninfo (have %v)", primary, sortedKeys(d.cfg.Conninfo))
	}
	err := d.follow(ctx, primary)
	var div *driver.DivergedError
	if err != nil && !errors.As(err, &div) {
		return fmt.Errorf("postgresql: follow %s: %w", primary, err)
	}
	return err
}

func (d *Driver) step(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.cfg.Timeout)
}

func (d *Driver) follow(ctx context.Context, primary string) error {
	sctx, cancel := d.step(ctx)
	defer cancel()
	// Nothing to follow unless it is a primary now; this also spares the
	// local server a stop for a primary that is not there.
	if err := d.checkPrimary(sctx, primary); err != nil {
		return err
	}
	up, err := d.running(sctx)
	if err != nil {
		return err
	}
	var notStreaming error
	if up {
		r, err := d.read(sctx)
		if err != nil {
			return err
		}
		if r.inRecovery {
			if d.following(r) == primary && r.wrStatus != nil && *r.wrStatus == "streaming" {
				return d.followed(sctx, r.readOnly == "on")
			}
			rctx, cancel := d.step(ctx)
			defer cancel()
			if notStreaming = d.retarget(rctx, primary); notStreaming == nil {
				return d.followed(rctx, false)
			}
		}
	}

	// pg_rewind reads the source's timeline from its control file, which
	// a just-promoted server updates only at its next checkpoint: without
	// one, pg_rewind would see one timeline and no divergence.
	cctx, cancel := d.step(ctx)
	defer cancel()
	if err := d.withConn(cctx, primary, d.cfg.Timeout, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CHECKPOINT")
		return err
	}); err != nil {
		return fmt.Errorf("checkpoint on the primary (so that pg_rewind sees its timeline): %w", err)
	}
	stctx, cancel := d.step(ctx)
	defer cancel()
	if err := d.stop(stctx); err != nil {
		return err
	}

	wctx, cancel := d.step(ctx)
	defer cancel()
	if d.cfg.Rewind {
		if err := d.rewind(wctx, primary); err != nil {
			return err
		}
	} else if err := d.followWithoutRewind(wctx, primary); err != nil {
		return err
	}
	if err := errors.Join(d.removeMarker(fenceMarker), d.removeMarker(divergedMarker)); err != nil {
		return err
	}

	sctx2, cancel := d.step(ctx)
	defer cancel()
	if err := d.start(sctx2); err != nil {
		return err
	}
	ectx, cancel := d.step(ctx)
	defer cancel()
	if err := d.waitStreaming(ectx, primary); err != nil {
		if notStreaming != nil {
			err = fmt.Errorf("%w (before the restart: %v)", err, notStreaming)
		}
		return fmt.Errorf("started as a replica, but: %w; log %s: %s", err, d.path(logFile), tailOf(d.path(logFile)))
	}
	return nil
}

// checkPrimary: node answers and is not in recovery.
func (d *Driver) checkPrimary(ctx context.Context, node string) error {
	var inRecovery bool
	if err := d.withConn(ctx, node, queryTimeout, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
	}); err != nil {
		return err
	}
	if inRecovery {
		return fmt.Errorf("%s (%s) is in recovery, not a primary", node, d.addr(node))
	}
	return nil
}

// followed finishes a Follow that needed no restart: Follow lifts the
// fence (so that a later promotion is writable).
func (d *Driver) followed(ctx context.Context, readOnly bool) error {
	if readOnly {
		if err := d.withConn(ctx, d.cfg.Self, d.cfg.Timeout, func(ctx context.Context, c *pgx.Conn) error {
			return setReadOnly(ctx, c, false)
		}); err != nil {
			return err
		}
	}
	return errors.Join(d.removeMarker(fenceMarker), d.removeMarker(divergedMarker))
}

// retarget points a running replica at primary (primary_conninfo takes a
// reload since PostgreSQL 13) and waits until it streams from it.
func (d *Driver) retarget(ctx context.Context, primary string) error {
	err := d.withConn(ctx, d.cfg.Self, d.cfg.Timeout, func(ctx context.Context, c *pgx.Conn) error {
		// ALTER SYSTEM takes no parameters: a quoted literal.
		if _, err := c.Exec(ctx, "ALTER SYSTEM SET primary_conninfo = "+quoteLiteral(d.cfg.ReplicationConninfo[primary])); err != nil {
			return fmt.Errorf("ALTER SYSTEM SET primary_conninfo: %w", err)
		}
		return setReadOnly(ctx, c, false)
	})
	if err != nil {
		return err
	}
	return d.waitStreaming(ctx, primary)
}

// waitStreaming waits until the local server is a replica streaming from
// primary.
func (d *Driver) waitStreaming(ctx context.Context, primary string) error {
	return poll(ctx, func() (bool, string, error) {
		r, err := d.read(ctx)
		if err != nil {
			return false, err.Error(), nil // starting up: not an answer yet
		}
		if !r.inRecovery {
			return false, "", errors.New("the local server is not in recovery (a primary)")
		}
		status := "no WAL receiver"
		if r.wrStatus != nil {
			status = "WAL receiver " + *r.wrStatus
		}
		f := d.following(r)
		return f == primary && status == "WAL receiver streaming",
			fmt.Sprintf("replica of %s, %s", orUnknown(f), status), nil
	})
}

// rewindArgs are pg_rewind's arguments; the source is the conninfo the
// replica will stream from, which -R writes as primary_conninfo.
func (d *Driver) rewindArgs(conninfo string) []string {
	return []string{"--target-pgdata=" + d.cfg.DataDir, "--source-server=" + conninfo, "-R"}
}

// rewindCommand is the command line an operator runs (password elided: it
// belongs in the OS user's ~/.pgpass).
func (d *Driver) rewindCommand(primary string) string {
	return shellQuote(d.cfg.BinDir+"/pg_rewind") + " --target-pgdata=" + shellQuote(d.cfg.DataDir) +
		" --source-server=" + shellQuote(redactConninfo(d.cfg.ReplicationConninfo[primary])) + " -R"
}

// rewind runs pg_rewind on the stopped server. pg_rewind copies the
// source's configuration files too: the local postgresql.conf, pg_hba.conf
// and pg_ident.conf (its port, its addresses) are put back afterwards,
// and default_transaction_read_only is taken out of postgresql.auto.conf
// (the source's, plus -R's primary_conninfo) so that a later promotion is
// writable.
func (d *Driver) rewind(ctx context.Context, primary string) error {
	saved, err := d.saveConfig()
	if err != nil {
		return err
	}
	_, _, rerr := d.run(ctx, []string{"LC_ALL=C"}, "pg_rewind", d.rewindArgs(d.cfg.ReplicationConninfo[primary])...)
	// Put them back even after a failure: pg_rewind may have copied them.
	if err := d.restoreConfig(saved); err != nil {
		return fmt.Errorf("after pg_rewind: %w", err)
	}
	if rerr != nil {
		return d.diverged(primary, fmt.Sprintf("pg_rewind from %s failed: %v", primary, rerr))
	}
	return d.editAutoConf(nil, "default_transaction_read_only")
}

// followWithoutRewind: Rewind is off. pg_rewind --dry-run (which changes
// nothing) tells whether the local history is a prefix of primary's (a
// clean switchover: the old primary stopped before the promotion); then
// the server only needs standby.signal and primary_conninfo.
func (d *Driver) followWithoutRewind(ctx context.Context, primary string) error {
	args := d.rewindArgs(d.cfg.ReplicationConninfo[primary])
	out, _, err := d.run(ctx, []string{"LC_ALL=C"}, "pg_rewind", append([]string{"--dry-run"}, args[:2]...)...)
	if err != nil {
		return d.diverged(primary, fmt.Sprintf("pg_rewind --dry-run could not tell whether it diverged from %s: %v", primary, err))
	}
	if !strings.Contains(out, "no rewind required") {
		what := out
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "diverged at") {
				what = strings.TrimSpace(strings.TrimPrefix(line, "pg_rewind: "))
			}
		}
		return d.diverged(primary, fmt.Sprintf("its history diverged from %s's (%s) and Rewind is off", primary, what))
	}
	if err := d.editAutoConf(map[string]string{"primary_conninfo": d.cfg.ReplicationConninfo[primary]}, "default_transaction_read_only"); err != nil {
		return err
	}
	return d.writeFile("standby.signal", nil)
}

// diverged leaves the server stopped, marked so that Status explains and
// Unfence does not start it, and says what to run.
func (d *Driver) diverged(primary, why string) error {
	why += fmt.Sprintf("; the server is left stopped: as OS user %s, rewind it (below), then start it (pg_ctl start -D %s)", d.user.name, shellQuote(d.cfg.DataDir))
	cmd := d.rewindCommand(primary)
	if err := d.writeFile(divergedMarker, []byte(why+"\nrun: "+cmd+"\n")); err != nil {
		why += "; " + err.Error()
	}
	if err := d.removeMarker(fenceMarker); err != nil {
		why += "; " + err.Error()
	}
	return &driver.DivergedError{Why: why, Command: cmd}
}

// quoteLiteral is an SQL string literal for s.
func quoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}
