package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tether-ha/tether/replicator/driver"
)

// The hooks' names, as in $TETHER_ACTION and in errors.
const (
	actStatus  = "status"
	actPromote = "promote"
	actFence   = "fence"
	actUnfence = "unfence"
	actFollow  = "follow"
)

// ExitDiverged is the follow hook's exit code for "diverged, cannot follow
// safely".
const ExitDiverged = 3

// ErrClosed is the error of every call after Close, and of a hook that
// Close killed.
var ErrClosed = errors.New("exec driver closed")

// Driver is the exec-hooks driver.Driver of one resource on this node.
type Driver struct {
	cfg Config
	// sem holds the one hook run at a time.
	sem chan struct{}
	// closed ends when Close is called, and with it every run.
	closed context.Context
	close  context.CancelCauseFunc
}

var _ driver.Driver = (*Driver)(nil)

// New validates cfg and returns its driver. It runs no hook.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.LagUnit == "" {
		cfg.LagUnit = DefaultLagUnit
	}
	// The caller's slices stay the caller's.
	for _, s := range []*[]string{&cfg.Status, &cfg.Promote, &cfg.Fence, &cfg.Unfence, &cfg.Follow, &cfg.Env} {
		*s = slices.Clone(*s)
	}
	closed, cancel := context.WithCancelCause(context.Background())
	return &Driver{cfg: cfg, sem: make(chan struct{}, 1), closed: closed, close: cancel}, nil
}

// LagUnit is Config.LagUnit.
func (d *Driver) LagUnit() string { return d.cfg.LagUnit }

// Status runs the status hook. When it fails, or prints what does not
// decode, the back end reads as down, with the error as Detail too.
func (d *Driver) Status(ctx context.Context) (driver.Status, error) {
	out, err := d.run(ctx, actStatus, d.cfg.Status)
	if err == nil {
		var st driver.Status
		if st, err = parseStatus(out); err == nil {
			return st, nil
		}
	}
	return driver.Status{Role: driver.RoleDown, Detail: err.Error()}, err
}

func parseStatus(out output) (driver.Status, error) {
	if out.stdoutDropped > 0 {
		return driver.Status{}, fmt.Errorf("hook status printed more than %d bytes", maxOutput)
	}
	st, err := decodeStatus(out.stdout)
	if err != nil {
		head := out.stdout[:min(len(out.stdout), 120)]
		return driver.Status{}, fmt.Errorf("hook status printed bad output: %w (stdout %q)", err, head)
	}
	return st, nil
}

// Promote runs the promote hook.
func (d *Driver) Promote(ctx context.Context) error {
	_, err := d.run(ctx, actPromote, d.cfg.Promote)
	return err
}

// Fence runs the fence hook, reason in $TETHER_REASON.
func (d *Driver) Fence(ctx context.Context, reason string) error {
	// An environment cannot hold a NUL; the reason is only for logs.
	reason = strings.ReplaceAll(reason, "\x00", "")
	_, err := d.run(ctx, actFence, d.cfg.Fence, "TETHER_REASON="+reason)
	return err
}

// Unfence runs the unfence hook.
func (d *Driver) Unfence(ctx context.Context) error {
	_, err := d.run(ctx, actUnfence, d.cfg.Unfence)
	return err
}

// Follow runs the follow hook, primary in $TETHER_PRIMARY. Its exit code
// ExitDiverged gives a *driver.DivergedError: Why is the last line of its
// stderr, Command the first of its stdout.
func (d *Driver) Follow(ctx context.Context, primary string) error {
	switch {
	case primary == "":
		return errors.New("exec driver: follow: no primary named")
	case primary == d.cfg.Self:
		return fmt.Errorf("exec driver: follow: %s cannot follow itself", primary)
	case strings.ContainsRune(primary, 0):
		return fmt.Errorf("exec driver: follow: primary %q contains a NUL byte", primary)
	}
	out, err := d.run(ctx, actFollow, d.cfg.Follow, "TETHER_PRIMARY="+primary)
	if ee, ok := errors.AsType[*exitError](err); ok && ee.code == ExitDiverged {
		why := lastLine(out.stderr)
		if why == "" {
			why = fmt.Sprintf("hook follow exited with code %d and said nothing on stderr", ExitDiverged)
		}
		return &driver.DivergedError{Why: why, Command: firstLine(out.stdout)}
	}
	return err
}

// Close kills a hook still running and waits for it; later calls fail
// with ErrClosed. It has nothing else to release.
func (d *Driver) Close() error {
	d.close(ErrClosed)
	d.sem <- struct{}{} // the run in flight, if any, is over
	<-d.sem
	return nil
}

// run runs one hook, after any other run of this driver, bounded by ctx,
// Close and the timeout.
func (d *Driver) run(ctx context.Context, action string, argv []string, extraEnv ...string) (output, error) {
	notRun := func(err error) (output, error) {
		return output{code: -1}, fmt.Errorf("hook %s not run: %w", action, err)
	}
	if err := context.Cause(d.closed); err != nil {
		return notRun(err)
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer context.AfterFunc(d.closed, func() { stop(ErrClosed) })()
	select {
	case d.sem <- struct{}{}:
		defer func() { <-d.sem }()
	case <-ctx.Done():
		return notRun(context.Cause(ctx))
	}
	// Checked again, holding sem: AfterFunc's stop may not have run yet,
	// and a Close that came first must win.
	if err := context.Cause(d.closed); err != nil {
		return notRun(err)
	}
	return run(ctx, hook{
		name:    action,
		argv:    argv,
		env:     d.env(action, extraEnv),
		dir:     d.cfg.Dir,
		timeout: d.cfg.Timeout,
	})
}

// env is a run's environment: the agent's without TETHER_*, Config.Env,
// then the driver's variables.
func (d *Driver) env(action string, extra []string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, envPrefix) })
	env = append(env, d.cfg.Env...)
	env = append(env,
		"TETHER_RESOURCE="+d.cfg.Resource,
		"TETHER_NODE="+d.cfg.Self,
		"TETHER_ACTION="+action,
	)
	return append(env, extra...)
}
