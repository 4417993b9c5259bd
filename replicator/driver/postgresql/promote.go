package postgresql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Promote makes the local server a writable primary: it starts it when
// this driver stopped it (fence or Follow), lifts the fence, promotes a
// replica with pg_promote and waits until recovery has ended. A primary
// already: only the fence is lifted.
func (d *Driver) Promote(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	if err := d.promote(ctx); err != nil {
		return fmt.Errorf("postgresql: promote %s: %w", d.cfg.DataDir, err)
	}
	return nil
}

func (d *Driver) promote(ctx context.Context) error {
	up, err := d.running(ctx)
	if err != nil {
		return err
	}
	if !up {
		_, fenced := d.readMarker(fenceMarker)
		_, diverged := d.readMarker(divergedMarker)
		if !fenced && !diverged {
			return errors.New("server is not running and this driver did not stop it; not starting it")
		}
		// The supervisor chose this copy, diverged or not.
		if err := d.start(ctx); err != nil {
			return err
		}
	}
	err = d.withConn(ctx, d.cfg.Self, d.cfg.Timeout, func(ctx context.Context, c *pgx.Conn) error {
		if err := setReadOnly(ctx, c, false); err != nil {
			return err
		}
		var inRecovery bool
		if err := c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return err
		}
		if inRecovery {
			var done bool
			err := c.QueryRow(ctx, "SELECT pg_promote(true, $1)", waitSecondsInt(ctx)).Scan(&done)
			var pgErr *pgconn.PgError
			switch {
			case errors.As(err, &pgErr):
				// "recovery is not in progress" is fine: promoted meanwhile.
				var still bool
				if qerr := c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&still); qerr != nil || still {
					return fmt.Errorf("pg_promote: %w", err)
				}
			case err != nil:
				return fmt.Errorf("pg_promote: %w", err)
			case !done:
				return errors.New("pg_promote: recovery has not ended in time")
			}
		}
		return poll(ctx, func() (bool, string, error) {
			if err := c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
				return false, "", err
			}
			return !inRecovery, "still in recovery", nil
		})
	})
	if err != nil {
		return err
	}
	return errors.Join(d.removeMarker(fenceMarker), d.removeMarker(divergedMarker))
}

// waitSecondsInt is what is left of ctx in whole seconds, for pg_promote's
// wait, a little short of the deadline so that its answer still arrives.
func waitSecondsInt(ctx context.Context) int {
	dl, ok := ctx.Deadline()
	if !ok {
		return 60
	}
	s := int(math.Floor(time.Until(dl).Seconds())) - 1
	if s < 1 {
		s = 1
	}
	return s
}
