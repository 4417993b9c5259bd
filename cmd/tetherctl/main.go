// Command tetherctl is tether's admin command: `ping NODE` and
// `ping-cluster` test the interconnect paths to the peers through the
// local tetherd, and the far tetherds answer (nothing is started on them).
// Run `tetherctl -h` for the commands and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// Exit codes (DESIGN.md: 0 success, 1 the check failed, 2 usage or agent
// error).
const (
	exitOK     = 0
	exitFailed = 1 // no reply; a path failed
	exitError  = 2 // usage error, or the agent cannot be reached or refused
)

const usageText = `Usage: tetherctl [--socket PATH] COMMAND [arguments] [options]

Administers the local tetherd. The ping commands test the interconnect
paths to the peers through the message API; each peer's tetherd answers
(its echo service): nothing has to be started on the other nodes.

Commands:
  ping NODE       echo messages to one node, over the best route or over a
                  pinned network and channel (both ways), like ping(8)
  ping-cluster    test every network x peer x channel at 64 bytes, at the
                  network's MTU and beyond it, like ONTAP's cluster
                  ping-cluster
  topic           create, list, describe, produce to and consume from the
                  replicator's topics ('tetherctl topic -h')
  mirror          the resources' mirrors: list, describe, pause, resume,
                  promote, failover, ... ('tetherctl mirror -h')

  failover status the failover supervisor's view of every resource: quorum,
                  fence, the mirror's last decision ('tetherctl failover -h')
  history         every failover decision taken or refused, and why
                  ('tetherctl history -h')

  import-llttab   write the tether config of a VCS node from its /etc/llttab
                  and /etc/llthosts ('tetherctl import-llttab -h')
  import-corosync write the tether config of a corosync node from its
                  corosync.conf ('tetherctl import-corosync -h')

Options:
  --socket PATH   the agent's status socket (default $TETHER_SOCKET if set,
                  else ` + status.DefaultSocket + `)
  -h, --help      show this help; 'tetherctl COMMAND -h' shows a command's

Exit status:
  0  success
  1  the check failed: no reply, a path failed
  2  usage error, or the agent cannot be reached or refused the request
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is tetherctl with its arguments (without the program name); it
// returns the exit code. SIGINT and SIGTERM end a ping early (with its
// summary, as ping(8) does).
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, os.Getenv, os.Stdin, stdout, stderr)
}

// env is what a command needs besides its arguments.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	socket string // from the global --socket, "" if not given
}

func runContext(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	// Global options before the command.
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		switch {
		case name == "h" || name == "help":
			fmt.Fprint(stdout, usageText)
			return exitOK
		case name == "socket" && hasVal:
			e.socket, args = val, args[1:]
		case name == "socket" && len(args) > 1:
			e.socket, args = args[1], args[2:]
		case name == "socket":
			return usageErr(stderr, "", "flag needs an argument: --socket")
		default:
			return usageErr(stderr, "", fmt.Sprintf("unknown option %s before the command", args[0]))
		}
		if e.socket == "" {
			return usageErr(stderr, "", "--socket needs a path")
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitError
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "ping":
		return runPing(ctx, e, rest)
	case "ping-cluster":
		return runPingCluster(ctx, e, rest)
	case "topic":
		return runTopic(ctx, e, rest)
	case "mirror":
		return runMirror(ctx, e, rest)
	case "failover":
		return runFailover(ctx, e, rest)
	case "history":
		return runHistory(ctx, e, rest)
	case "import-llttab":
		return runImportLLTTab(e, rest)
	case "import-corosync":
		return runImportCorosync(e, rest)
	case "help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	}
	return usageErr(stderr, "", fmt.Sprintf("unknown command %q (commands: ping, ping-cluster, topic, mirror, failover, history, import-llttab, import-corosync)", cmd))
}

// usageErr reports a bad command line and returns exitError. cmd is the
// subcommand whose help to point at, "" for the top level.
func usageErr(stderr io.Writer, cmd, msg string) int {
	help := "tetherctl -h"
	if cmd != "" {
		help = "tetherctl " + cmd + " -h"
	}
	fmt.Fprintf(stderr, "tetherctl: %s\nRun '%s' for usage.\n", msg, help)
	return exitError
}

// parseInterleaved parses args with fs, allowing flags before and after
// the words (`tetherctl ping node1 --count 3`); after "--" everything is a
// word. It returns the words.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
				return nil, fmt.Errorf("unknown option %s", name)
			}
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return words, nil
		}
		if used := len(rest) - len(left); used > 0 && rest[used-1] == "--" {
			return append(words, left...), nil
		}
		words = append(words, left[0])
		rest = left[1:]
	}
}

// newFlagSet is a flag set that prints nothing (errors are reported by
// the caller, help by usage texts).
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// socketPath is the socket to use: the command's --socket, the global
// one, $TETHER_SOCKET, the default.
func (e *env) socketPath(flagValue string) string {
	switch {
	case flagValue != "":
		return flagValue
	case e.socket != "":
		return e.socket
	case e.getenv("TETHER_SOCKET") != "":
		return e.getenv("TETHER_SOCKET")
	}
	return status.DefaultSocket
}

// durationValue is a duration flag that also takes a bare number of
// seconds, as ping(8) does (--interval 0.2).
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*v.d = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 1s, 200ms or 0.5")
	}
	*v.d = d
	return nil
}

// agentFailure prints why the agent could not be used and returns
// exitError: unreachable (with a hint), or its error answer.
func agentFailure(stderr io.Writer, err error, socket string) int {
	fmt.Fprintln(stderr, describe(err, socket))
	return exitError
}

// describe is the one-line message for a failure to talk to the agent.
func describe(err error, socket string) string {
	var ae *status.AgentError
	if errors.As(err, &ae) {
		msg := strings.ReplaceAll(ae.Message, "\n", " ")
		if ae.StatusCode == 404 {
			msg = "this tetherd does not know the request (" + ae.Status + "): upgrade it"
		}
		return "tetherctl: tetherd at " + socket + ": " + msg
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	if !errors.Is(err, status.ErrUnreachable) {
		return "tetherctl: " + msg
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
	return fmt.Sprintf("tetherctl: cannot reach tetherd at %s: %s%s", socket, cause, hint)
}
