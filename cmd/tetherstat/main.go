// Command tetherstat shows the status of the local tetherd, with lltstat's
// flags and layouts: -n, -nvv [active|configured], -l, -c, -z, plus -L
// (the tcp connections, like Redis CLUSTER LINKS), -b (brief, with an exit
// status for scripts), --json and --watch. Run
// `tetherstat -h` for the flags and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/agent/status/render"
)

// Exit codes (see usageText).
const (
	exitOK          = 0
	exitUnhealthy   = 1 // -b: a link is not healthy
	exitOutput      = 1 // writing the output failed
	exitUnreachable = 2 // the agent cannot be reached or gave no status
	exitUsage       = 3
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is tetherstat with its arguments (without the program name); it
// returns the exit code. SIGINT and SIGTERM end --watch.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, os.Getenv, stdout, stderr)
}

func runContext(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageText)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "tetherstat: %v\nRun 'tetherstat -h' for usage.\n", err)
		return exitUsage
	}

	c := status.NewClient(o.socket)
	switch {
	case o.view == viewReset:
		if err := c.ResetCounters(ctx); err != nil {
			fmt.Fprintln(stderr, describe(err, o.socket))
			return exitUnreachable
		}
		if _, err := fmt.Fprintln(stdout, "tether counters reset"); err != nil {
			return exitOutput
		}
		return exitOK
	case o.watch:
		return watch(ctx, c, o, stdout, stderr)
	}

	st, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintln(stderr, describe(err, o.socket))
		return exitUnreachable
	}
	healthy, err := show(stdout, st, o)
	if err != nil {
		fmt.Fprintf(stderr, "tetherstat: %v\n", err)
		return exitOutput
	}
	if o.view == viewBrief && !healthy {
		return exitUnhealthy
	}
	return exitOK
}

// show writes st as o asks. healthy is meaningful for -b only.
func show(w io.Writer, st *status.Status, o options) (healthy bool, err error) {
	st, err = render.Filter(st, o.filter)
	if err != nil {
		return false, err
	}
	if o.json {
		if o.view == viewBrief {
			healthy, _ = render.Brief(io.Discard, st)
		}
		return healthy, render.JSON(w, st)
	}
	switch o.view {
	case viewNodes:
		return true, withMirrors(w, st, render.Nodes)
	case viewNodesVerbose:
		return true, render.NodesVerbose(w, st)
	case viewNetworks:
		return true, render.Networks(w, st)
	case viewConfig:
		return true, render.ConfigInfo(w, st)
	case viewBrief:
		return render.Brief(w, st)
	case viewConnections:
		return true, render.Connections(w, st)
	case viewMatrix:
		return true, render.Matrix(w, st)
	case viewDot:
		return true, render.Dot(w, st)
	default:
		return true, withMirrors(w, st, render.Counters)
	}
}

// withMirrors writes a view followed by the mirrors of the built-in
// replicator and the failover supervisor's view (nothing more on a node
// without resources).
func withMirrors(w io.Writer, st *status.Status, view func(io.Writer, *status.Status) error) error {
	if err := view(w, st); err != nil {
		return err
	}
	if err := render.Mirrors(w, st); err != nil {
		return err
	}
	return render.Failover(w, st)
}

// describe is the one-line message for a failure to get the agent's
// status. The client does not wrap the dial error itself, only
// status.ErrUnreachable, so the cause is the last part of its text
// ("connection refused", "no such file or directory", ...).
func describe(err error, socket string) string {
	// One line, even when the agent's answer ends with a newline.
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	if !errors.Is(err, status.ErrUnreachable) {
		return "tetherstat: " + msg
	}
	cause := msg
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		cause = msg[i+2:]
	}
	hint := ""
	switch {
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such file or directory"):
		hint = " (is tetherd running?)"
	case strings.Contains(msg, "permission denied"):
		hint = " (run as root or as a member of the socket's group)"
	}
	return fmt.Sprintf("tetherstat: cannot reach tetherd at %s: %s%s", socket, cause, hint)
}
