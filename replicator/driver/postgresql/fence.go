package postgresql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Fence makes the local server refuse writes until Unfence, Promote or
// Follow.
//
// "read-only": default_transaction_read_only = on by ALTER SYSTEM (so it
// survives a restart), then every other client session is terminated, so
// that none keeps writing in a transaction (or with a setting) it opened
// before. A client can still SET transaction_read_only = off in a new
// session and write: the fence stops well-behaved clients, not hostile
// ones; "stop" closes that hole.
//
// "stop": the same setting (so a server someone restarts comes up
// read-only), a marker in DataDir (so Status says fenced, not down), then
// pg_ctl stop -m fast.
func (d *Driver) Fence(ctx context.Context, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var err error
	if d.cfg.Fence == FenceStop {
		err = d.fenceStop(ctx, reason)
	} else {
		err = d.fenceReadOnly(ctx)
	}
	if err != nil {
		return fmt.Errorf("postgresql: fence (%s) %s: %w", d.cfg.Fence, d.cfg.DataDir, err)
	}
	return nil
}

func (d *Driver) fenceReadOnly(ctx context.Context) error {
	err := d.withConn(ctx, d.cfg.Self, d.cfg.Timeout, func(ctx context.Context, c *pgx.Conn) error {
		if err := setReadOnly(ctx, c, true); err != nil {
			return err
		}
		var inRecovery bool
		if err := c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return err
		}
		if inRecovery {
			return nil // a replica takes no writes: its readers may stay
		}
		return terminateClients(ctx, c)
	})
	if err == nil {
		return nil
	}
	// A stopped server takes no writes; written into its configuration,
	// the fence also holds when someone starts it again.
	if up, rerr := d.running(ctx); rerr == nil && !up {
		return d.editAutoConf(map[string]string{"default_transaction_read_only": "on"})
	}
	return err
}

// terminateClients ends every other client session and waits until they
// are gone, so that none can write once Fence returns. Sessions opened
// from now on start read-only (setReadOnly waited for the reload).
func terminateClients(ctx context.Context, c *pgx.Conn) error {
	var pids []int32
	err := c.QueryRow(ctx, `SELECT coalesce(array_agg(pid), '{}') FROM (
		SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()) t`).Scan(&pids)
	if err != nil {
		return fmt.Errorf("terminate sessions: %w", err)
	}
	if len(pids) == 0 {
		return nil
	}
	var left []int32
	return poll(ctx, func() (bool, string, error) {
		if err := c.QueryRow(ctx, "SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity WHERE pid = ANY($1)", pids).Scan(&left); err != nil {
			return false, "", err
		}
		return len(left) == 0, fmt.Sprintf("sessions %v still there", left), nil
	})
}

// setReadOnly sets or resets default_transaction_read_only in
// postgresql.auto.conf, reloads, and waits until the postmaster has the
// new value: our own session sees it only after the postmaster reloaded
// and signalled it, and sessions forked from then on inherit it.
func setReadOnly(ctx context.Context, c *pgx.Conn, on bool) error {
	stmt, want := "ALTER SYSTEM RESET default_transaction_read_only", "off"
	if on {
		stmt, want = "ALTER SYSTEM SET default_transaction_read_only = on", "on"
	}
	if _, err := c.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	if _, err := c.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("pg_reload_conf: %w", err)
	}
	return poll(ctx, func() (bool, string, error) {
		var have string
		if err := c.QueryRow(ctx, "SHOW default_transaction_read_only").Scan(&have); err != nil {
			return false, "", err
		}
		return have == want, "default_transaction_read_only = " + have + " after the reload", nil
	})
}

func (d *Driver) fenceStop(ctx context.Context, reason string) error {
	up, err := d.running(ctx)
	if err != nil {
		return err
	}
	if !up {
		if _, diverged := d.readMarker(divergedMarker); diverged {
			return nil // stopped by Follow: fenced already, and Unfence must not start it
		}
	}
	if up {
		err = d.withConn(ctx, d.cfg.Self, queryTimeout, func(ctx context.Context, c *pgx.Conn) error {
			return setReadOnly(ctx, c, true)
		})
	}
	if !up || err != nil {
		// Down, or not answering: stopping it is the fence; the file
		// edit covers a later start.
		if ferr := d.editAutoConf(map[string]string{"default_transaction_read_only": "on"}); ferr != nil {
			return errors.Join(err, ferr)
		}
	}
	if reason == "" {
		reason = "no reason given"
	}
	note := fmt.Sprintf("%s (%s)\n", strings.ReplaceAll(reason, "\n", " "), time.Now().UTC().Format(time.RFC3339))
	if old, ok := d.readMarker(fenceMarker); ok {
		note = old + "\n" // the first reason is the one that stopped it
	}
	if err := d.writeFile(fenceMarker, []byte(note)); err != nil {
		return err
	}
	return d.stop(ctx)
}

// Unfence lifts Fence: it starts a server a "stop" fence stopped, then
// resets default_transaction_read_only. A server that is down for another
// reason (a crash, an operator, a diverged copy Follow left) is not
// started.
func (d *Driver) Unfence(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	if err := d.unfence(ctx); err != nil {
		return fmt.Errorf("postgresql: unfence %s: %w", d.cfg.DataDir, err)
	}
	return nil
}

func (d *Driver) unfence(ctx context.Context) error {
	if err := d.startIfOurs(ctx); err != nil {
		return err
	}
	if err := d.withConn(ctx, d.cfg.Self, d.cfg.Timeout, func(ctx context.Context, c *pgx.Conn) error {
		return setReadOnly(ctx, c, false)
	}); err != nil {
		return err
	}
	return d.removeMarker(fenceMarker)
}

// startIfOurs starts the server when a "stop" fence stopped it; down for
// another reason, it says why not.
func (d *Driver) startIfOurs(ctx context.Context) error {
	up, err := d.running(ctx)
	if err != nil || up {
		return err
	}
	if why, ok := d.readMarker(divergedMarker); ok {
		return fmt.Errorf("server stopped by Follow, not starting it: %s", why)
	}
	if _, ok := d.readMarker(fenceMarker); !ok {
		return fmt.Errorf("server is not running and no fence of ours stopped it; not starting it")
	}
	return d.start(ctx)
}

// poll calls check every 50ms until it is done or ctx ends; then the error
// says what check saw last.
func poll(ctx context.Context, check func() (done bool, seen string, err error)) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	last := "nothing yet"
	for {
		done, seen, err := check()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w; last seen: %s", ctx.Err(), last)
			}
			return err
		}
		if done {
			return nil
		}
		last = seen
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last seen: %s", ctx.Err(), last)
		case <-t.C:
		}
	}
}
