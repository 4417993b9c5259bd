package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/agent/status/render"
)

// view is what tetherstat shows; one per run.
type view int

const (
	viewCounters view = iota // no view flag
	viewNodes
	viewNodesVerbose
	viewNetworks
	viewConfig
	viewReset
	viewBrief
	viewConnections
	viewMatrix
	viewDot
)

// viewFlag is one of the mutually exclusive view flags. A new view (e.g.
// -L) is a new entry here, a case in show, and a line in usageText.
type viewFlag struct {
	name string
	view view
}

func viewFlags() []viewFlag {
	return []viewFlag{
		{"n", viewNodes},
		{"nvv", viewNodesVerbose},
		{"l", viewNetworks},
		{"c", viewConfig},
		{"z", viewReset},
		{"b", viewBrief},
		{"L", viewConnections},
		{"m", viewMatrix},
		{"dot", viewDot},
	}
}

// options is a parsed command line.
type options struct {
	view     view
	filter   string // after -nvv: "", "active" or "configured"
	json     bool
	watch    bool
	interval time.Duration
	socket   string
	cmdline  string // the arguments as given, for the --watch header
}

const usageText = `Usage: tetherstat [view] [options]

Shows what the local tetherd knows about the cluster interconnect: every
link to every peer on every network, and why a link is not healthy.
Flags and layouts follow Veritas lltstat.

Views (at most one; without one, the counters since start or the last -z,
then the mirrors as -n shows them):
  -n              node table: state and number of links up per node
                  (* marks the local node); then, on a node with resources
                  of the built-in replicator, one line per topic: role,
                  epoch, peer, state, log end, the primary's high
                  watermark, lag in records and ms, time since the last
                  fetch, and what needs an operator (a divergence, writes
                  frozen, the peer not answering)
  -nvv [active|configured]
                  per node, one line per link: status, peer address, RTT,
                  channel states (when a network has tcp) and reason;
                  "active" lists only the local node and nodes with a link
                  up, "configured" (the default) every node
  -l              networks: interface, channels, MTU, carrier, driver, MAC,
                  address and tcp port, what is wrong with a network as a
                  whole, and which one is the primary heartbeat
  -L              tcp connections (like Redis CLUSTER LINKS): per peer and
                  network the one we dial ("to") and the one the peer dials
                  ("from"): state, addresses, age, send buffer used/allocated
                  bytes, last frame, RTT, and why a missing one is missing
  -m              the cluster link matrix: every node's view of its link to
                  every other, per network ("!" where the two ends
                  disagree: a one-way fault), what is wrong with each
                  broken link, and the suspect of each broken network or
                  path (a node's NIC, cable or port; a switch or VLAN; one
                  path; a cable in the wrong place)
  --dot           the cluster's link graph in Graphviz DOT: one edge per
                  network and pair of nodes, coloured by state, labelled
                  with the reasons (tetherstat --dot | dot -Tsvg > c.svg)
  -c              configuration values
  -z              reset the counters
  -b              brief: link health summary and the links that are not
                  healthy, with what is wrong; the exit status tells whether
                  all are healthy

Options:
  --json          print the status document as JSON instead (with -nvv
                  active only the selected nodes)
  --watch         redraw every --interval until interrupted
  --interval DURATION
                  time between redraws with --watch (default 1s)
  --socket PATH   the agent's status socket (default $TETHER_SOCKET if set,
                  else ` + status.DefaultSocket + `)
  -h, --help      show this help

Options may come before or after the word that follows -nvv, and may be
spelt with one or two dashes (--json or -json).

Exit status:
  0  success; with -b: every link is healthy
  1  with -b: at least one link is not healthy; otherwise: output failed
  2  the agent cannot be reached or did not return its status
  3  usage error
`

// usageError is a command line that cannot be run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

// newFlagSet defines every flag on a fresh set. views receives one
// pointer per view flag; nv catches lltstat users typing -nv.
func newFlagSet(o *options, views map[view]*bool, nv *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("tetherstat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, vf := range viewFlags() {
		views[vf.view] = fs.Bool(vf.name, false, "view")
	}
	fs.BoolVar(nv, "nv", false, "not a view: hint to use -nvv")
	fs.BoolVar(&o.json, "json", false, "print JSON")
	fs.BoolVar(&o.watch, "watch", false, "redraw until interrupted")
	fs.DurationVar(&o.interval, "interval", time.Second, "time between redraws")
	fs.StringVar(&o.socket, "socket", "", "status socket")
	return fs
}

// parseArgs parses the command line. Flags may come before and after the
// words that follow -nvv (`tetherstat -nvv active --json`). It returns
// flag.ErrHelp for -h/--help and a *usageError for a bad command line.
func parseArgs(args []string, getenv func(string) string) (options, error) {
	o := options{cmdline: strings.Join(args, " ")}
	views := map[view]*bool{}
	var nv bool
	fs := newFlagSet(&o, views, &nv)

	var words []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, flag.ErrHelp
			}
			return o, &usageError{err.Error()}
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if used := len(rest) - len(left); used > 0 && rest[used-1] == "--" {
			words = append(words, left...) // after "--" everything is a word
			break
		}
		words = append(words, left[0])
		rest = left[1:]
	}

	if nv {
		return o, usagef("-nv is not a view: use -n for the node table or -nvv for one line per link (lltstat's forms)")
	}
	var chosen []string
	for _, vf := range viewFlags() {
		if *views[vf.view] {
			o.view = vf.view
			chosen = append(chosen, "-"+vf.name)
		}
	}
	if len(chosen) > 1 {
		return o, usagef("choose one view, not %s", strings.Join(chosen, " and "))
	}

	switch {
	case o.view == viewNodesVerbose && len(words) == 1:
		if words[0] != render.FilterActive && words[0] != render.FilterConfigured {
			return o, usagef("-nvv takes %q or %q, not %q", render.FilterActive, render.FilterConfigured, words[0])
		}
		o.filter = words[0]
	case o.view == viewNodesVerbose && len(words) > 1:
		return o, usagef("-nvv takes one of %q or %q, not %q", render.FilterActive, render.FilterConfigured, strings.Join(words, " "))
	case len(words) > 0:
		return o, usagef("unexpected argument %q", words[0])
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.view == viewReset && (o.json || o.watch) {
		return o, usagef("-z cannot be combined with --json or --watch")
	}
	if o.view == viewDot && (o.json || o.watch) {
		return o, usagef("--dot cannot be combined with --json or --watch")
	}
	if set["interval"] && !o.watch {
		return o, usagef("--interval needs --watch")
	}
	if o.interval <= 0 {
		return o, usagef("--interval must be positive, not %s", o.interval)
	}

	if !set["socket"] {
		o.socket = getenv("TETHER_SOCKET")
		if o.socket == "" {
			o.socket = status.DefaultSocket
		}
	}
	if o.socket == "" {
		return o, usagef("--socket needs a path")
	}
	return o, nil
}
