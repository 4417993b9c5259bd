package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/replicator/driver/builtin"
	"github.com/tether-ha/tether/replicator/topicapi"
)

const mirrorUsage = `Usage: tetherctl mirror COMMAND RESOURCE [options]

The mirrors of the local tetherd's resources (the builtin driver): a
resource's topics are written on its primary and mirrored byte for byte,
at the same offsets, to its mirror node, which refuses writes.

Commands:
  list                      every resource of this node: role, epoch, peer
  describe RESOURCE         per topic: State DestLogEndOffset
                            LastFetchSourceHighWatermark Lag
                            TimeSinceLastFetchMs (and LagMs)
  create RESOURCE --topic T add topic T to the resource on both nodes
  pause RESOURCE            stop mirroring (all topics, or --topic T);
                            kept across restarts
  resume RESOURCE           mirror again from the log end
  promote RESOURCE          on the mirror, graceful: the primary freezes its
                            writes, the mirror reaches lag 0 within
                            --timeout and takes the final consumer offsets,
                            then becomes the primary at the next epoch and
                            the old primary read-only; if lag 0 is not
                            reached, nothing changes (exit 1)
  failover RESOURCE         on the mirror, forced: the primary now, whatever
                            the lag and whether the old primary is
                            reachable; prints the records and milliseconds
                            given up
  reverse-and-start RESOURCE
                            on the mirror: promote, and make the old primary
                            the new one's mirror (a planned switchover)
  truncate-and-restore RESOURCE
                            on a stopped or DIVERGED old primary: cut each
                            topic back to what the new primary has (the
                            records cut are exported to files under the
                            replicator's dir/exports first) and mirror it

Promote, failover and reverse-and-start bump the resource's epoch; they
are irreversible.

Options:
  --api ADDR      the replicator API (default $TETHER_API, else ` + config.DefaultReplicatorAPI + `)
  --topic T       pause, resume: only T (repeatable, or comma-separated);
                  create: the topic to add
  --timeout D     promote, reverse-and-start, truncate-and-restore: how long
                  to wait (default 30s, at most 1m)
  --json          machine-readable output

Exit status: 0 success; 1 refused (wrong node or role, paused, lag not 0,
the other node unreachable) and nothing changed; 2 usage error or the API
cannot be reached.
`

func runMirror(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("mirror")
	api := fs.String("api", "", "")
	asJSON := fs.Bool("json", false, "")
	timeout := fs.Duration("timeout", 0, "")
	var topicsFlag []string
	fs.Func("topic", "", func(s string) error {
		for _, t := range strings.Split(s, ",") {
			if t = strings.TrimSpace(t); t != "" {
				topicsFlag = append(topicsFlag, t)
			}
		}
		return nil
	})
	help := fs.Bool("h", false, "")
	fs.BoolVar(help, "help", false, "")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return usageErr(e.stderr, "mirror", err.Error())
	}
	if *help {
		fmt.Fprint(e.stdout, mirrorUsage)
		return exitOK
	}
	if len(words) == 0 {
		return usageErr(e.stderr, "mirror", "a command is needed: list, describe, create, pause, resume, promote, failover, reverse-and-start or truncate-and-restore")
	}
	if *api == "" {
		*api = e.getenv("TETHER_API")
	}
	if *api == "" {
		*api = config.DefaultReplicatorAPI
	}
	if *timeout < 0 {
		return usageErr(e.stderr, "mirror", "--timeout must not be negative")
	}
	c := topicapi.NewClient(*api)
	cmd, rest := words[0], words[1:]
	if cmd == "list" {
		if len(rest) != 0 {
			return usageErr(e.stderr, "mirror", "list takes no argument")
		}
		rs, err := c.Mirrors(ctx)
		if err != nil {
			return topicFailure(e.stderr, err, *api)
		}
		if *asJSON {
			return printJSON(e.stdout, rs)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "Resource\tRole\tEpoch\tPrimary\tMirror\tAcks\tTopics\tMaxLag")
		for _, r := range rs {
			var lag uint64
			for _, t := range r.Topics {
				lag = max(lag, t.LagRecords)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%d\n", r.Name, r.Role, r.Epoch, r.Primary, r.Mirror, r.Acks, len(r.Topics), lag)
		}
		tw.Flush()
		return exitOK
	}
	if len(rest) != 1 {
		return usageErr(e.stderr, "mirror", cmd+" takes one resource name")
	}
	name := rest[0]
	if cmd != "pause" && cmd != "resume" && cmd != "create" && len(topicsFlag) > 0 {
		return usageErr(e.stderr, "mirror", "--topic is for create, pause and resume; "+cmd+" acts on every topic of the resource")
	}
	// show prints an answer: its JSON with --json, else text.
	show := func(v any, err error, text func()) int {
		if err != nil {
			return topicFailure(e.stderr, err, *api)
		}
		if *asJSON {
			return printJSON(e.stdout, v)
		}
		text()
		return exitOK
	}
	switch cmd {
	case "describe":
		r, err := c.Mirror(ctx, name)
		return show(r, err, func() { describeMirror(e.stdout, r) })
	case "create":
		if len(topicsFlag) != 1 {
			return usageErr(e.stderr, "mirror", "create needs one --topic")
		}
		r, err := c.AddMirrorTopic(ctx, name, topicsFlag[0])
		return show(r, err, func() { fmt.Fprintf(e.stdout, "Created mirror topic %s of resource %s.\n", topicsFlag[0], name) })
	case "pause", "resume":
		f := c.PauseMirror
		if cmd == "resume" {
			f = c.ResumeMirror
		}
		r, err := f(ctx, name, topicsFlag)
		return show(r, err, func() { describeMirror(e.stdout, r) })
	case "promote", "reverse-and-start":
		fmt.Fprintf(e.stderr, "Calculating max offset and ms lag for the mirror topics of %s: freezing the primary's writes.\n", name)
		res, err := c.Promote(ctx, name, *timeout, cmd == "reverse-and-start")
		return show(res, err, func() { printPromote(e.stdout, res) })
	case "failover":
		res, err := c.Failover(ctx, name)
		return show(res, err, func() { printPromote(e.stdout, res) })
	case "truncate-and-restore":
		res, err := c.TruncateAndRestore(ctx, name, *timeout)
		return show(res, err, func() { printRestore(e.stdout, res) })
	}
	return usageErr(e.stderr, "mirror", fmt.Sprintf("unknown command %q", cmd))
}

// describeMirror prints a resource the way kafka-mirrors --describe does,
// one line a topic.
func describeMirror(w io.Writer, r builtin.ResourceStatus) {
	fmt.Fprintf(w, "Resource: %s  Role: %s  Epoch: %d  Primary: %s  Mirror: %s  Acks: %s\n", r.Name, r.Role, r.Epoch, r.Primary, r.Mirror, r.Acks)
	switch {
	case r.Diverged != nil:
		fmt.Fprintf(w, "  DIVERGED: node %s was promoted at epoch %d (%s); this node accepts no writes: truncate-and-restore it\n",
			r.Diverged.Primary, r.Diverged.Epoch, r.Diverged.At.Format(time.RFC3339))
	case r.FrozenBy != "":
		fmt.Fprintf(w, "  Writes frozen: %s is promoting\n", r.FrozenBy)
	}
	if r.PeerError != "" {
		fmt.Fprintf(w, "  Peer %s unreachable: %s\n", r.Peer, r.PeerError)
	}
	if r.Why != "" {
		fmt.Fprintf(w, "  Last change: %s (%s)\n", r.Why, r.Changed.Format(time.RFC3339))
	}
	for _, t := range r.Topics {
		fmt.Fprintf(w, "Topic: %s  State: %s  DestLogEndOffset: %d  LastFetchSourceHighWatermark: %d  Lag: %d  LagMs: %d  TimeSinceLastFetchMs: %d\n",
			t.Topic, t.State, t.LogEndOffset, t.HighWatermark, t.LagRecords, t.LagMs, t.SinceLastFetchMs)
		if t.Error != "" {
			fmt.Fprintf(w, "  Error: %s\n", t.Error)
		}
		if p := t.Pending; p != nil {
			fmt.Fprintf(w, "  Pending truncation: %d -> %d (%d records the primary never had)\n", p.From, p.To, p.From-p.To)
		}
	}
}

func printPromote(w io.Writer, res builtin.PromoteResult) {
	fmt.Fprintf(w, "%s of %s done: this node is the primary at epoch %d (was %d, primary %s).\n",
		res.Kind, res.Resource, res.EpochAfter, res.EpochBefore, res.OldPrimary)
	if res.Note != "" {
		fmt.Fprintln(w, "Note: "+res.Note)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Topic\tLogEndOffset\tLastSourceHighWatermark\tLagGivenUp\tLagMsGivenUp")
	for _, t := range res.Topics {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", t.Topic, t.LogEndOffset, t.HighWatermark, t.LagRecords, t.LagMs)
	}
	tw.Flush()
}

// printRestore prints what truncate-and-restore cut, a line a topic.
func printRestore(w io.Writer, res builtin.RestoreResult) {
	fmt.Fprintf(w, "Resource %s now mirrors %s at epoch %d.\n", res.Resource, res.Primary, res.Epoch)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Topic\tLogEndBefore\tTruncatedTo\tRecordsTruncated\tExportedTo")
	for _, c := range res.Cuts {
		file := c.File
		if file == "" {
			file = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", c.Topic, c.From, c.To, c.Records, file)
	}
	tw.Flush()
}
