package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/replicator/topicapi"
)

const topicUsage = `Usage: tetherctl topic COMMAND [arguments] [options]

Topics of the local tetherd's replicator (replicator.api in its
configuration; a topic lives on its resource's primary).

Commands:
  create TOPIC             create a topic
  list                     the topics: log start and end offsets, size, role
  describe TOPIC           one topic, with its consumer groups' offsets
  produce TOPIC            append the lines of standard input, one record
                           each (acknowledged when fsynced on this node);
                           prints the first and last offset
  consume TOPIC            print records, one a line, from --offset (default
                           the group's committed offset with --group, else
                           the log start) to the log end, or on with --follow

Options:
  --api ADDR        the topic API (default $TETHER_API, else ` + config.DefaultReplicatorAPI + `)
  --json            machine-readable output (list, describe, consume)
  --offset N        consume: the first offset
  --max N           consume: at most N records
  --group G         consume: start at G's committed offset, and commit
                    after printing (with --commit)
  --commit          consume: commit the next offset to --group
  --follow          consume: wait for new records until interrupted
  --batch N         produce: lines a request (default 500)

Exit status: 0 success; 1 the request was refused (unknown topic, offset
out of range, ...); 2 usage error or the API cannot be reached.
`

type topicOpts struct {
	api     string
	json    bool
	offset  int64
	max     int64
	group   string
	commit  bool
	follow  bool
	batch   int
	hasFrom bool
}

func runTopic(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("topic")
	var o topicOpts
	fs.StringVar(&o.api, "api", "", "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.Int64Var(&o.offset, "offset", -1, "")
	fs.Int64Var(&o.max, "max", 0, "")
	fs.StringVar(&o.group, "group", "", "")
	fs.BoolVar(&o.commit, "commit", false, "")
	fs.BoolVar(&o.follow, "follow", false, "")
	fs.IntVar(&o.batch, "batch", 500, "")
	help := fs.Bool("h", false, "")
	fs.BoolVar(help, "help", false, "")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return usageErr(e.stderr, "topic", err.Error())
	}
	if *help {
		fmt.Fprint(e.stdout, topicUsage)
		return exitOK
	}
	if len(words) == 0 {
		return usageErr(e.stderr, "topic", "a command is needed: create, list, describe, produce or consume")
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "offset" {
			o.hasFrom = true
		}
	})
	if o.api == "" {
		o.api = e.getenv("TETHER_API")
	}
	if o.api == "" {
		o.api = config.DefaultReplicatorAPI
	}
	if o.batch < 1 {
		return usageErr(e.stderr, "topic", "--batch must be at least 1")
	}
	if o.commit && o.group == "" {
		return usageErr(e.stderr, "topic", "--commit needs --group")
	}
	c := topicapi.NewClient(o.api)
	cmd, rest := words[0], words[1:]
	need := func(n int) bool { return len(rest) == n }
	switch cmd {
	case "create":
		if !need(1) {
			return usageErr(e.stderr, "topic", "create takes one topic name")
		}
		t, err := c.CreateTopic(ctx, rest[0])
		if err != nil {
			return topicFailure(e.stderr, err, o.api)
		}
		fmt.Fprintf(e.stdout, "Created topic %s.\n", t.Name)
		return exitOK
	case "list":
		if !need(0) {
			return usageErr(e.stderr, "topic", "list takes no argument")
		}
		ts, err := c.ListTopics(ctx)
		if err != nil {
			return topicFailure(e.stderr, err, o.api)
		}
		if o.json {
			return printJSON(e.stdout, ts)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "Topic\tRole\tLogStartOffset\tLogEndOffset\tSize\tEpoch")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", t.Name, t.Role, t.LogStartOffset, t.LogEndOffset, t.SizeBytes, t.Epoch)
		}
		tw.Flush()
		return exitOK
	case "describe":
		if !need(1) {
			return usageErr(e.stderr, "topic", "describe takes one topic name")
		}
		t, err := c.DescribeTopic(ctx, rest[0])
		if err != nil {
			return topicFailure(e.stderr, err, o.api)
		}
		if o.json {
			return printJSON(e.stdout, t)
		}
		fmt.Fprintf(e.stdout, "Topic: %s  Role: %s  Epoch: %d\n", t.Name, t.Role, t.Epoch)
		fmt.Fprintf(e.stdout, "LogStartOffset: %d  LogEndOffset: %d  Size: %d bytes  Segments: %d\n",
			t.LogStartOffset, t.LogEndOffset, t.SizeBytes, t.Segments)
		for _, g := range slices.Sorted(maps.Keys(t.Groups)) {
			off := t.Groups[g]
			fmt.Fprintf(e.stdout, "Group: %s  CommittedOffset: %d  Lag: %d\n", g, off, t.LogEndOffset-off)
		}
		return exitOK
	case "produce":
		if !need(1) {
			return usageErr(e.stderr, "topic", "produce takes one topic name; the records come from standard input")
		}
		return produceLines(ctx, e, c, o, rest[0])
	case "consume":
		if !need(1) {
			return usageErr(e.stderr, "topic", "consume takes one topic name")
		}
		return consume(ctx, e, c, o, rest[0])
	}
	return usageErr(e.stderr, "topic", fmt.Sprintf("unknown topic command %q", cmd))
}

func produceLines(ctx context.Context, e *env, c *topicapi.Client, o topicOpts, topic string) int {
	in := bufio.NewScanner(e.stdin)
	in.Buffer(make([]byte, 0, 64*1024), 4<<20)
	first, last, n := int64(-1), int64(-1), 0
	var batch [][]byte
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		r, err := c.Produce(ctx, topic, batch)
		if err != nil {
			return err
		}
		if first < 0 {
			first = r.BaseOffset
		}
		last = r.BaseOffset + int64(r.Count) - 1
		n += r.Count
		batch = batch[:0]
		return nil
	}
	for in.Scan() {
		batch = append(batch, append([]byte(nil), in.Bytes()...))
		if len(batch) >= o.batch {
			if err := flush(); err != nil {
				return topicFailure(e.stderr, err, o.api)
			}
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(e.stderr, "tetherctl: reading standard input: %v\n", err)
		return exitError
	}
	if err := flush(); err != nil {
		return topicFailure(e.stderr, err, o.api)
	}
	if n == 0 {
		fmt.Fprintln(e.stderr, "tetherctl: no records on standard input; nothing was produced")
		return exitFailed
	}
	fmt.Fprintf(e.stdout, "Produced %d records to %s at offsets %d..%d.\n", n, topic, first, last)
	return exitOK
}

func consume(ctx context.Context, e *env, c *topicapi.Client, o topicOpts, topic string) int {
	off := o.offset
	if !o.hasFrom {
		off = -1
		if o.group != "" {
			switch got, err := c.Committed(ctx, o.group, topic); {
			case err == nil:
				off = got
			case !topicapi.IsStatus(err, 404):
				return topicFailure(e.stderr, err, o.api)
			}
		}
		if off < 0 {
			t, err := c.DescribeTopic(ctx, topic)
			if err != nil {
				return topicFailure(e.stderr, err, o.api)
			}
			off = t.LogStartOffset
		}
	}
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	var printed int64
	for o.max == 0 || printed < o.max {
		wait := time.Duration(0)
		if o.follow {
			wait = 10 * time.Second
		}
		f, err := c.Consume(ctx, topic, off, 0, wait)
		if err != nil {
			if ctx.Err() != nil {
				break // interrupted while following
			}
			return topicFailure(e.stderr, err, o.api)
		}
		for _, r := range f.Records {
			if o.max > 0 && printed >= o.max {
				break
			}
			if o.json {
				_ = enc.Encode(map[string]any{"offset": r.Offset, "timestamp": r.Timestamp.Format(time.RFC3339Nano), "value": string(r.Value)})
			} else {
				out.Write(r.Value)
				out.WriteByte('\n')
			}
			printed++
			off = r.Offset + 1
		}
		if len(f.Records) == 0 && !o.follow {
			break
		}
		if !o.follow && off >= f.HighWatermark {
			break
		}
	}
	if err := out.Flush(); err != nil {
		return exitError
	}
	if o.commit {
		if err := c.Commit(context.WithoutCancel(ctx), o.group, topic, off); err != nil {
			return topicFailure(e.stderr, err, o.api)
		}
	}
	return exitOK
}

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitError
	}
	return exitOK
}

// topicFailure reports a failed request: refused by the API (exit 1), or
// the API unreachable (exit 2).
func topicFailure(stderr io.Writer, err error, api string) int {
	var ae *topicapi.APIError
	if errors.As(err, &ae) {
		fmt.Fprintf(stderr, "tetherctl: %s\n", strings.TrimSuffix(ae.Message, "\n"))
		return exitFailed
	}
	hint := ""
	if errors.Is(err, topicapi.ErrUnreachable) {
		hint = " (is tetherd running with a replicator section, and is --api its replicator.api?)"
	}
	fmt.Fprintf(stderr, "tetherctl: topic API at %s: %v%s\n", api, err, hint)
	return exitError
}
